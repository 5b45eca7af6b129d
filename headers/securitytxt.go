package headers

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// SecurityTxtConfig is the content of the security.txt file served by
// [NewSecurityTxt] (RFC 9116). Contact is required; everything else is
// optional.
type SecurityTxtConfig struct {
	// Contact lists where to report vulnerabilities, most preferred first:
	// "mailto:security@example.com" or an https URL (RFC 9116 §2.5.3).
	// Required.
	Contact []string

	// Expires is how far after each request the file's Expires field lies
	// (§2.5.5), so the file is never stale while it is served. Default:
	// 180 days. It must be at least one day and under one year, as §2.5.5
	// recommends.
	Expires time.Duration

	// Policy is the https URL of the vulnerability disclosure policy
	// (§2.5.7). Default: none.
	Policy string

	// PreferredLanguages are the language tags reports may be written in,
	// such as "en" (§2.5.8). Default: "en".
	PreferredLanguages []string

	// Canonical lists the https URLs this file is served at (§2.5.2),
	// such as "https://example.com/.well-known/security.txt". Default:
	// none; set it so researchers can tell a copy from the original.
	Canonical []string

	// Encryption lists https, dns: or openpgp4fpr: URIs of keys for
	// encrypted reports (§2.5.4). Default: none.
	Encryption []string

	// Acknowledgments lists https URLs of pages thanking researchers
	// (§2.5.1). Default: none.
	Acknowledgments []string
}

// SecurityTxt serves /.well-known/security.txt (RFC 9116). It is safe for
// concurrent use. Mount it on that path (and, for old tools, /security.txt):
//
//	mux.Handle("GET /.well-known/security.txt", txt)
type SecurityTxt struct {
	before, after string // the file around the Expires value
	expires       time.Duration
}

// NewSecurityTxt validates cfg and returns the handler. Every value must be
// a URI of an allowed scheme without spaces or control characters, so no
// configuration can inject extra fields or lines.
func NewSecurityTxt(cfg SecurityTxtConfig) (*SecurityTxt, error) {
	s := &SecurityTxt{expires: cfg.Expires}
	switch {
	case s.expires == 0:
		s.expires = 180 * 24 * time.Hour
	case s.expires < 24*time.Hour || s.expires >= 365*24*time.Hour:
		return nil, fmt.Errorf("headers: SecurityTxtConfig.Expires %v: want at least a day and under a year (RFC 9116 §2.5.5)", s.expires)
	}
	if len(cfg.Contact) == 0 {
		return nil, errors.New("headers: SecurityTxtConfig.Contact is required (RFC 9116 §2.5.3): add \"mailto:security@…\" or an https URL")
	}
	var b strings.Builder
	fields := []struct {
		name    string
		values  []string
		schemes []string
	}{
		{"Contact", cfg.Contact, []string{"mailto", "https", "tel"}},
		{"Encryption", cfg.Encryption, []string{"https", "dns", "openpgp4fpr"}},
		{"Acknowledgments", cfg.Acknowledgments, []string{"https"}},
		{"Policy", nonEmpty(cfg.Policy), []string{"https"}},
		{"Canonical", cfg.Canonical, []string{"https"}},
	}
	for _, f := range fields {
		for _, v := range f.values {
			if err := checkTxtURI(v, f.schemes); err != nil {
				return nil, fmt.Errorf("headers: SecurityTxtConfig.%s: %w", f.name, err)
			}
			b.WriteString(f.name + ": " + v + "\n")
		}
	}
	langs := cfg.PreferredLanguages
	if len(langs) == 0 {
		langs = []string{"en"}
	}
	for _, l := range langs {
		if !validLangTag(l) {
			return nil, fmt.Errorf("headers: SecurityTxtConfig.PreferredLanguages: %q is not a language tag such as \"en\" or \"pt-BR\"", l)
		}
	}
	s.after = "\nPreferred-Languages: " + strings.Join(langs, ", ") + "\n"
	s.before = b.String() + "Expires: "
	return s, nil
}

func nonEmpty(s string) []string {
	if s == "" {
		return nil
	}
	return []string{s}
}

// checkTxtURI accepts an absolute URI of one of schemes, printable ASCII
// only.
func checkTxtURI(v string, schemes []string) error {
	for i := 0; i < len(v); i++ {
		if v[i] < 0x21 || v[i] > 0x7e {
			return fmt.Errorf("%q contains spaces, control or non-ASCII characters", v)
		}
	}
	u, err := url.Parse(v)
	if err != nil || len(v) > 2048 {
		return fmt.Errorf("%q is not a URI", v)
	}
	for _, s := range schemes {
		if u.Scheme == s && (u.Host != "" || s != "https" && u.Opaque != "") {
			return nil
		}
	}
	return fmt.Errorf("%q: want a URI with scheme %s", v, strings.Join(schemes, ", "))
}

// validLangTag accepts the shape of a BCP 47 tag: a 2–3 letter language,
// then alphanumeric subtags of 1–8 characters.
func validLangTag(s string) bool {
	for i, sub := range strings.Split(s, "-") {
		if len(sub) < 1 || len(sub) > 8 || (i == 0 && (len(sub) < 2 || len(sub) > 3)) {
			return false
		}
		for j := 0; j < len(sub); j++ {
			c := sub[j] | 0x20
			if !('a' <= c && c <= 'z' || i > 0 && '0' <= sub[j] && sub[j] <= '9') {
				return false
			}
		}
	}
	return true
}

// ServeHTTP writes the file as text/plain; charset=utf-8, with Expires set
// to now plus the configured duration. Methods other than GET and HEAD get
// 405.
func (s *SecurityTxt) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		plainError(w, http.StatusMethodNotAllowed)
		return
	}
	body := s.Body()
	h := w.Header()
	h.Set("Content-Type", "text/plain; charset=utf-8")
	h.Set("Content-Length", strconv.Itoa(len(body)))
	if r.Method == http.MethodHead {
		return
	}
	_, _ = w.Write([]byte(body))
}

// Body returns the file as it would be served now.
func (s *SecurityTxt) Body() string {
	exp := time.Now().Add(s.expires).UTC().Truncate(time.Second).Format(time.RFC3339)
	return s.before + exp + s.after
}
