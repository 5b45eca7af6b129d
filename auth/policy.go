package auth

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

// PolicyCode identifies why a password was rejected. Its string values are
// stable, so apps can map them to their own translated messages.
type PolicyCode string

// Reasons a [Policy] rejects a password.
const (
	// CodeTooShort: fewer characters than the minimum in force.
	CodeTooShort PolicyCode = "too_short"
	// CodeTooLong: more characters (or bytes) than the maximum.
	CodeTooLong PolicyCode = "too_long"
	// CodeInvalidCharacter: not valid UTF-8, or contains a control
	// character (tab, line break, NUL…).
	CodeInvalidCharacter PolicyCode = "invalid_character"
	// CodeCommon: in the embedded list of the 100,000 most common
	// passwords.
	CodeCommon PolicyCode = "common"
	// CodeContextWord: built on the user name, e-mail address or site
	// name, so that without them too little remains.
	CodeContextWord PolicyCode = "context_word"
	// CodeTrivial: a repetition or sequence such as "aaaa…", "abcabc…",
	// "1234…" or "qwerty…".
	CodeTrivial PolicyCode = "trivial"
	// CodeBreached: the [BreachChecker] found it in a known breach.
	CodeBreached PolicyCode = "breached"
	// CodeUnchanged: a password change to the current password.
	CodeUnchanged PolicyCode = "unchanged"
)

// PolicyError is a rejected password. Message is written for the user and
// safe to show; it never contains the password.
type PolicyError struct {
	Code    PolicyCode
	Message string
}

// Error returns the code and the user-facing message, prefixed with
// "auth: password rejected".
func (e *PolicyError) Error() string {
	return "auth: password rejected (" + string(e.Code) + "): " + e.Message
}

// ErrBreachCheckFailed means the [BreachChecker] could not answer and the
// policy failed closed (see PolicyConfig.AllowOnBreachCheckError). It is not
// a [PolicyError]: the password may be fine; ask the user to retry later.
var ErrBreachCheckFailed = errors.New("auth: breach check failed")

// maxPolicyInput is the longest input [Policy.Check] normalises. NFKC
// shrinks UTF-8 text at most fourfold (a four-byte letter such as U+1D400
// becomes one ASCII byte; no composition does better), so a longer input
// cannot fit in DefaultMaxPasswordBytes once normalised: it is refused as
// too long before any work proportional to its size.
const maxPolicyInput = 4 * DefaultMaxPasswordBytes

// PolicyConfig tunes a [Policy]. The zero value is ready to use and follows
// NIST SP 800-63B-4 §3.1.1.2.
type PolicyConfig struct {
	// MinLength is the minimum number of characters when the password is
	// the only authentication factor. Default 15, NIST's minimum for
	// single-factor passwords. At least 8.
	MinLength int

	// MinLengthMFA is the minimum when a second factor is in force
	// (PasswordContext.MFA). Default 8, NIST's minimum for passwords used
	// in multi-factor authentication. At least 8.
	MinLengthMFA int

	// MaxLength is the maximum number of characters. Default 256; NIST
	// requires at least 64, and less is refused. Passwords are also capped
	// at [DefaultMaxPasswordBytes] bytes after normalisation, so that every
	// accepted password fits a default [Hasher].
	MaxLength int

	// SiteWords are words tied to the service (its name, domain, product
	// names) that a targeted guess would try. Passwords built on them are
	// rejected like those built on the user's own name.
	SiteWords []string

	// Breach, if set, is asked about every password that passes the local
	// checks, e.g. a [RangeClient] for Have I Been Pwned. Default: none.
	Breach BreachChecker

	// AllowOnBreachCheckError accepts a password when Breach fails (network
	// down, timeout). By default the check fails closed with
	// [ErrBreachCheckFailed]; the embedded common-password list still
	// applies either way.
	AllowOnBreachCheckError bool
}

// PasswordContext describes whose password is checked, for the
// context-word rule and the length minimum.
type PasswordContext struct {
	// UserName is the name the user logs in with.
	UserName string
	// Email is the user's e-mail address; its local part and domain
	// labels count as context words.
	Email string
	// Words are further user-specific words (display name, company…).
	Words []string
	// MFA reports that a second factor is in force for this account, so
	// that PolicyConfig.MinLengthMFA applies.
	MFA bool
}

// Policy checks new passwords against NIST SP 800-63B-4 §3.1.1.2: a minimum
// length (15 characters, or 8 with MFA), a maximum of at least 64, every
// printable character and space allowed, Unicode normalised with NFKC and
// each code point counted as one character, no composition rules ("one
// upper case, one digit…"), and a blocklist of common, breached, trivial and
// context-specific passwords. It is safe for concurrent use; build it with
// [NewPolicy].
//
// Apply it when a password is chosen (registration, change, reset), never
// at login: a password accepted yesterday must keep working when the policy
// tightens.
type Policy struct {
	minLen, minLenMFA, maxLen int
	siteWords                 []string
	breach                    BreachChecker
	allowBreachErr            bool
}

// NewPolicy returns a Policy configured by cfg, or an error naming the
// field for a length outside NIST's bounds.
func NewPolicy(cfg PolicyConfig) (*Policy, error) {
	p := &Policy{minLen: cfg.MinLength, minLenMFA: cfg.MinLengthMFA, maxLen: cfg.MaxLength,
		breach: cfg.Breach, allowBreachErr: cfg.AllowOnBreachCheckError}
	if p.minLen == 0 {
		p.minLen = 15
	}
	if p.minLenMFA == 0 {
		p.minLenMFA = 8
	}
	if p.maxLen == 0 {
		p.maxLen = 256
	}
	switch {
	case p.minLen < 8:
		return nil, fmt.Errorf("auth: PolicyConfig.MinLength %d: NIST SP 800-63B-4 requires at least 8 (15 without MFA)", p.minLen)
	case p.minLenMFA < 8:
		return nil, fmt.Errorf("auth: PolicyConfig.MinLengthMFA %d: NIST SP 800-63B-4 requires at least 8", p.minLenMFA)
	case p.maxLen < 64:
		return nil, fmt.Errorf("auth: PolicyConfig.MaxLength %d: NIST SP 800-63B-4 requires accepting at least 64 characters", p.maxLen)
	case p.maxLen < p.minLen || p.maxLen < p.minLenMFA:
		return nil, fmt.Errorf("auth: PolicyConfig.MaxLength %d is below a minimum length", p.maxLen)
	}
	for _, w := range cfg.SiteWords {
		p.siteWords = append(p.siteWords, contextWords(w)...)
	}
	return p, nil
}

// Normalize returns password in Unicode Normalization Form KC, as NIST SP
// 800-63B-4 §3.1.1.2 recommends, so that the same password typed on
// different keyboards (composed "é" or "e" + combining accent, full-width
// digits) hashes the same. [Authenticator] normalises before hashing and
// verifying; apps that call [Hasher] directly should too, consistently.
// ASCII is unchanged.
func Normalize(password string) string {
	return norm.NFKC.String(password)
}

// foldPassword is the form compared with blocklists: normalised and lower
// case.
func foldPassword(password string) string {
	return strings.ToLower(Normalize(password))
}

// Check returns nil if password may be chosen by the user described by pc,
// a [*PolicyError] with a code and a user-facing message if it may not, or
// an error wrapping [ErrBreachCheckFailed] or ctx's error if the breach
// checker could not answer. The checks run from the cheapest: characters,
// length, the embedded common-password list, context words, trivial
// patterns, and last the breach checker, so that the network is asked only
// about passwords that pass everything else. Input longer than four times
// DefaultMaxPasswordBytes, which cannot fit once normalised, is refused as
// too long before anything else.
func (p *Policy) Check(ctx context.Context, password string, pc PasswordContext) error {
	if len(password) > maxPolicyInput {
		return p.tooLong()
	}
	if !utf8.ValidString(password) {
		return &PolicyError{CodeInvalidCharacter, "The password is not valid text. Type it again."}
	}
	n := Normalize(password)
	if strings.ContainsFunc(n, unicode.IsControl) {
		return &PolicyError{CodeInvalidCharacter, "Passwords cannot contain control characters such as tabs or line breaks."}
	}
	minLen := p.minLen
	if pc.MFA {
		minLen = p.minLenMFA
	}
	chars := utf8.RuneCountInString(n)
	if chars < minLen {
		return &PolicyError{CodeTooShort, fmt.Sprintf("Use at least %d characters. A few unrelated words make a long password easy to remember.", minLen)}
	}
	if chars > p.maxLen || len(n) > DefaultMaxPasswordBytes {
		return p.tooLong()
	}
	folded := strings.ToLower(n)
	common, err := commonPasswords()
	if err != nil {
		return err // the embedded list is corrupt: fail closed
	}
	if common.contains(folded) {
		return &PolicyError{CodeCommon, "This password is too common and would be guessed quickly. Choose one that is harder to guess."}
	}
	if rest, found := p.withoutContextWords(folded, pc); found &&
		(utf8.RuneCountInString(rest) < minLen || trivial(rest) || common.contains(rest)) {
		return &PolicyError{CodeContextWord, "Don't build the password on your user name, e-mail address or the name of this site."}
	}
	if trivial(folded) {
		return &PolicyError{CodeTrivial, `Avoid repeated characters and sequences such as "aaaa", "abcabc" or "1234".`}
	}
	if p.breach != nil {
		breached, err := p.breach.Breached(ctx, n)
		switch {
		case err != nil && ctx.Err() != nil:
			return fmt.Errorf("auth: breach check: %w", ctx.Err())
		case err != nil && !p.allowBreachErr:
			return fmt.Errorf("%w: %w", ErrBreachCheckFailed, err)
		case breached:
			return &PolicyError{CodeBreached, "This password has appeared in a data breach, so attackers try it. Choose a different one."}
		}
	}
	return nil
}

// tooLong is the rejection of a password over the maximum length.
func (p *Policy) tooLong() *PolicyError {
	return &PolicyError{CodeTooLong, fmt.Sprintf("Use at most %d characters.", p.maxLen)}
}

// withoutContextWords removes every context word from folded, longest
// first, and reports whether any was found. A password must meet the policy
// without the words an attacker targeting this user already knows.
func (p *Policy) withoutContextWords(folded string, pc PasswordContext) (string, bool) {
	words := slices.Clone(p.siteWords)
	words = append(words, contextWords(pc.UserName)...)
	words = append(words, emailWords(pc.Email)...)
	for _, w := range pc.Words {
		words = append(words, contextWords(w)...)
	}
	if len(words) == 0 {
		return folded, false
	}
	slices.SortFunc(words, func(a, b string) int { return len(b) - len(a) })
	rest, found := folded, false
	for _, w := range words {
		if len(w) > len(rest) {
			continue // cannot occur in rest, nor can its reverse (as long)
		}
		for _, form := range []string{w, reverse(w)} {
			if strings.Contains(rest, form) {
				rest, found = strings.ReplaceAll(rest, form, ""), true
			}
		}
	}
	// Separators left at the ends ("-password") add nothing.
	return strings.TrimFunc(rest, func(r rune) bool { return !unicode.IsLetter(r) && !unicode.IsDigit(r) }), found
}

// minContextWord is the shortest context word considered: shorter ones
// ("al", "jo") occur in too many good passwords by chance.
const minContextWord = 3

// contextWords returns the folded forms of s worth blocking: s itself and
// its parts split at anything but letters and digits, each at least
// minContextWord characters. Repeats are kept: removing a word a second
// time finds nothing, whereas looking for them cost time quadratic in the
// number of parts of an app-supplied string.
func contextWords(s string) []string {
	s = foldPassword(strings.TrimSpace(s))
	var out []string
	add := func(w string) {
		if utf8.RuneCountInString(w) >= minContextWord {
			out = append(out, w)
		}
	}
	add(s)
	for _, part := range strings.FieldsFunc(s, func(r rune) bool { return !unicode.IsLetter(r) && !unicode.IsDigit(r) }) {
		add(part)
	}
	return out
}

// emailWords returns the context words of an e-mail address: the address,
// its local part and the parts of it, and the domain's labels but the
// top-level one ("alice.smith@example.org" gives alice.smith@example.org,
// alice.smith, alice, smith, example).
func emailWords(email string) []string {
	email = strings.TrimSpace(email)
	local, domain, ok := strings.Cut(email, "@")
	if !ok {
		return contextWords(email)
	}
	out := contextWords(local)
	if f := foldPassword(email); utf8.RuneCountInString(f) >= minContextWord {
		out = append(out, f)
	}
	labels := strings.Split(domain, ".")
	if len(labels) > 1 {
		labels = labels[:len(labels)-1]
	}
	for _, l := range labels {
		out = append(out, contextWords(l)...)
	}
	return out
}

func reverse(s string) string {
	r := []rune(s)
	slices.Reverse(r)
	return string(r)
}

// Keyboard rows for keyboard-walk detection (US layout, lower case, and the
// shifted digit row).
var keyboardRows = [...]string{"`1234567890-=", "qwertyuiop[]\\", "asdfghjkl;'", "zxcvbnm,./", "~!@#$%^&*()_+"}

// step describes how one character leads to the next: by code point +1, 0
// or -1, or one key right or left on a keyboard row. noStep means no
// pattern.
type step int8

const (
	noStep step = iota
	stepUp
	stepSame
	stepDown
	stepKeyRight
	stepKeyLeft
)

func stepBetween(a, b rune) step {
	switch b - a {
	case 1:
		return stepUp
	case 0:
		return stepSame
	case -1:
		return stepDown
	}
	for _, row := range keyboardRows {
		i, j := strings.IndexRune(row, a), strings.IndexRune(row, b)
		if i < 0 || j < 0 {
			continue
		}
		switch j - i {
		case 1:
			return stepKeyRight
		case -1:
			return stepKeyLeft
		}
	}
	return noStep
}

// trivial reports whether s (folded) is a trivial pattern: at most two
// distinct characters ("abababab", "11112222"), a repetition of a shorter
// unit ("passwordpassword", "abc123abc123"), or made of few runs of
// repeats, alphabetic or numeric sequences and keyboard walks
// ("aaaaaaaa", "abcdefgh", "12345678901234", "qwertyuiop", "aaaa1234"),
// precisely: at most two runs, or runs that average four or more
// characters.
func trivial(s string) bool {
	r := []rune(s)
	n := len(r)
	if n == 0 {
		return true
	}
	distinct := make(map[rune]struct{}, 3)
	for _, c := range r {
		distinct[c] = struct{}{}
		if len(distinct) > 2 {
			break
		}
	}
	if len(distinct) <= 2 {
		return true
	}
	for k := 1; k <= n/2; k++ {
		if slices.Equal(r[k:], r[:n-k]) {
			return true
		}
	}
	// Split greedily into maximal runs in which every step is the same.
	runs := 0
	for i := 0; i < n; {
		runs++
		j := i
		if j+1 < n {
			if st := stepBetween(r[j], r[j+1]); st != noStep {
				for j+1 < n && stepBetween(r[j], r[j+1]) == st {
					j++
				}
			}
		}
		i = j + 1
	}
	return runs <= 2 || runs*4 <= n
}
