package audit

import (
	"bytes"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Redacted replaces the value of every sensitive [Event.Meta] entry.
const Redacted = "[REDACTED]"

// Size limits applied by [Logger.Log], so that an attacker-controlled value
// (a User-Agent, a panic message) cannot bloat the log. Longer values are cut
// at a UTF-8 boundary and end with "…".
const (
	MaxUserAgent = 512     // bytes of Event.UserAgent
	MaxReason    = 1024    // bytes of Event.Reason
	MaxField     = 256     // bytes of Category, Action, Outcome, Target, Actor, RequestID, SessionRef
	MaxMetaKey   = 128     // bytes of each Meta key
	MaxMetaValue = 8 << 10 // bytes of each Meta value (room for a stack trace)
	MaxMeta      = 64      // Meta entries; the rest are dropped and counted
	metaDropped  = "meta_dropped"
)

// sensitiveSubstrings are matched against the key lower-cased with every
// non-alphanumeric character removed, so "X-Auth-Token", "api_key" and
// "refreshToken" are all caught.
var sensitiveSubstrings = [][]byte{
	[]byte("password"), []byte("passwd"), []byte("passphrase"), []byte("secret"),
	[]byte("token"), []byte("cookie"), []byte("authorization"), []byte("apikey"),
	[]byte("privatekey"), []byte("credential"), []byte("recovery"), []byte("bearer"),
	[]byte("sessionid"), []byte("csrf"), []byte("xsrf"),
}

// sensitiveWords are matched against whole words of the key (split at
// punctuation and camelCase boundaries, a trailing "s" ignored).
var sensitiveWords = []string{
	"code", "otp", "totp", "hotp", "pin", "pwd", "pass", "key", "auth",
	"jwt", "sid", "seed", "salt", "ssn", "cvv", "cvc",
}

// notSensitive lists keys (in the joined form) that contain a sensitive
// word but name no secret.
var notSensitive = []string{
	"statuscode", "errorcode", "httpcode", "reasoncode", "exitcode",
	"responsecode", "countrycode", "languagecode", "langcode",
	"currencycode", "zipcode", "postcode", "postalcode",
}

// SensitiveKey reports whether a [Event.Meta] key looks like it names a
// secret: a password, token, secret, one-time or recovery code, cookie,
// authorization header, API or private key, session ID and the like. The
// match is deliberately broad (it fails closed): "public_key" is redacted
// too. A few common harmless keys are let through ("status_code",
// "country_code"); name facts plainly ("status", "method") to keep them.
func SensitiveKey(key string) bool {
	if len(key) > MaxMetaKey {
		return true // a key this long is not a plain name: fail closed
	}
	var buf [MaxMetaKey]byte
	var bounds [MaxMetaKey/2 + 1]uint8 // word start offsets in buf
	n, nw := 0, 0
	prevLower, inWord := false, false
	for i := 0; i < len(key) && n < len(buf); i++ {
		c := key[i]
		switch {
		case c >= 'A' && c <= 'Z':
			if !inWord || prevLower {
				if nw < len(bounds) {
					bounds[nw] = uint8(n)
					nw++
				}
			}
			buf[n] = c + 'a' - 'A'
			n++
			inWord, prevLower = true, false
		case c >= 'a' && c <= 'z' || c >= '0' && c <= '9':
			if !inWord && nw < len(bounds) {
				bounds[nw] = uint8(n)
				nw++
			}
			buf[n] = c
			n++
			inWord, prevLower = true, true
		default:
			inWord, prevLower = false, false
		}
	}
	joined := buf[:n]
	for _, s := range notSensitive {
		if string(joined) == s {
			return false
		}
	}
	for _, s := range sensitiveSubstrings {
		if bytes.Contains(joined, s) {
			return true
		}
	}
	for i := 0; i < nw; i++ {
		end := n
		if i+1 < nw {
			end = int(bounds[i+1]) // #nosec G602 -- i+1 < nw <= len(bounds), checked on the line above
		}
		w := buf[bounds[i]:end]
		if len(w) > 1 && w[len(w)-1] == 's' {
			if wordSensitive(w[:len(w)-1]) {
				return true
			}
		}
		if wordSensitive(w) {
			return true
		}
	}
	return false
}

func wordSensitive(w []byte) bool {
	for _, s := range sensitiveWords {
		if string(w) == s {
			return true
		}
	}
	return false
}

// sensitiveValue reports whether v looks like a credential whatever its
// key: an HTTP Authorization value or a JSON Web Token.
func sensitiveValue(v string) bool {
	if len(v) > 7 && strings.EqualFold(v[:7], "bearer ") || len(v) > 6 && strings.EqualFold(v[:6], "basic ") {
		return true
	}
	if strings.HasPrefix(v, "eyJ") && strings.Count(v, ".") == 2 {
		return true
	}
	return false
}

// cleanMeta returns m with sensitive entries redacted, keys and values cut
// to size and at most MaxMeta entries. It returns m itself when nothing
// changes and a new map otherwise: the caller's map is never modified.
func cleanMeta(m map[string]string) map[string]string {
	if len(m) == 0 {
		return m
	}
	dirty := len(m) > MaxMeta
	if !dirty {
		for k, v := range m {
			if len(k) > MaxMetaKey || len(v) > MaxMetaValue || (v != Redacted && (SensitiveKey(k) || sensitiveValue(v))) {
				dirty = true
				break
			}
		}
	}
	if !dirty {
		return m
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	dropped := 0
	if len(keys) > MaxMeta {
		dropped = len(keys) - (MaxMeta - 1)
		keys = keys[:MaxMeta-1]
	}
	out := make(map[string]string, len(keys)+1)
	for _, k := range keys {
		v := m[k]
		if SensitiveKey(k) || sensitiveValue(v) {
			v = Redacted
		}
		out[truncate(k, MaxMetaKey)] = truncate(v, MaxMetaValue)
	}
	if dropped > 0 {
		out[metaDropped] = strconv.Itoa(dropped)
	}
	return out
}

// truncate cuts s to at most max bytes at a UTF-8 boundary, marking the cut
// with "…".
func truncate(s string, max int) string {
	if len(s) <= max {
		return s
	}
	const ell = "…"
	cut := max - len(ell)
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + ell
}
