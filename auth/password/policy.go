package password

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
	// passwords, or one of them in disguise: with capitals, digits or
	// symbols around it, look-alike characters ("P@ssw0rd"), repeated,
	// reversed or combined with other common passwords or patterns, so
	// that it would be guessed early (see [Policy]).
	CodeCommon PolicyCode = "common"
	// CodeContextWord: built on the user name, e-mail address or site
	// name, as typed or in disguise, so that without them too little
	// remains.
	CodeContextWord PolicyCode = "context_word"
	// CodeTrivial: made of repetitions, sequences, keyboard walks, years
	// or dates, such as "aaaa…", "abcabc…", "1234…", "qwerty…" or
	// "1qaz2wsx…".
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
// "password: rejected".
func (e *PolicyError) Error() string {
	return "password: rejected (" + string(e.Code) + "): " + e.Message
}

// ErrBreachCheckFailed means the [BreachChecker] could not answer and the
// policy failed closed (see PolicyConfig.AllowOnBreachCheckError). It is not
// a [PolicyError]: the password may be fine; ask the user to retry later.
var ErrBreachCheckFailed = errors.New("password: breach check failed")

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
	// (Context.MFA). Default 8, NIST's minimum for passwords used
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

// Context describes whose password is checked, for the
// context-word rule and the length minimum.
type Context struct {
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
// # Common passwords in disguise
//
// With a 15-character minimum, the list's entries (mostly 6 to 8
// characters) rarely match a whole password; users lengthen them instead:
// "Password1234567", "P@ssw0rd12345678", "letmeinletmein1",
// "Alice.Smith!2024". So the policy also estimates how many guesses a
// password needs, as zxcvbn does: it covers the password with the cheapest
// pieces (parts of list entries, read with capitals, look-alike characters
// such as "@" for "a", "0" for "o", "1" for "i" or "l", "3" for "e", "$"
// for "s", "7" for "t", or reversed; context words, read the same ways;
// sequences, keyboard walks, years, dates and repetitions; and 10 guesses
// for each other character), multiplies their guesses, with a factor of
// about 3 for each piece after the first, and refuses the password below
// 10^10 guesses, or below 10^N when the minimum length N in force is under
// 10. 10^N is the most the estimate gives N characters, so with a minimum
// of 10 or less a password of exactly that length must hold no listed word
// or pattern at all, random or not: at the 8-character MFA minimum, 5 to
// 13 in 100 random 8-character passwords are refused (a listed
// three-letter word or a doubled character inside), against fewer than 1
// in 1,000 of 10 characters. A common word inside a longer password is
// therefore fine when enough else remains: four random words
// ("correct horse battery staple") need far more, while a list entry with
// digits, symbols, repeats or a second entry around it needs far fewer.
// Reversed spellings are read as typed only, and a word repeated apart
// ("Summer2024!Summer") counts twice: the estimate errs towards accepting.
// It takes time and memory linear in the password's length: 10 to 20 µs
// for a passphrase, about a millisecond at the 1,024-byte cap
// (BenchmarkPolicyCheck).
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
		return nil, fmt.Errorf("password: PolicyConfig.MinLength %d: NIST SP 800-63B-4 requires at least 8 (15 without MFA)", p.minLen)
	case p.minLenMFA < 8:
		return nil, fmt.Errorf("password: PolicyConfig.MinLengthMFA %d: NIST SP 800-63B-4 requires at least 8", p.minLenMFA)
	case p.maxLen < 64:
		return nil, fmt.Errorf("password: PolicyConfig.MaxLength %d: NIST SP 800-63B-4 requires accepting at least 64 characters", p.maxLen)
	case p.maxLen < p.minLen || p.maxLen < p.minLenMFA:
		return nil, fmt.Errorf("password: PolicyConfig.MaxLength %d is below a minimum length", p.maxLen)
	}
	for _, w := range cfg.SiteWords {
		p.siteWords = append(p.siteWords, contextWords(w)...)
	}
	return p, nil
}

// Normalize returns password in Unicode Normalization Form KC, as NIST SP
// 800-63B-4 §3.1.1.2 recommends, so that the same password typed on
// different keyboards (composed "é" or "e" + combining accent, full-width
// digits) hashes the same. The auth package's Authenticator
// normalises before hashing and verifying; apps that call [Hasher] directly should too, consistently.
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
// patterns, disguised common passwords (see [Policy]), and last the breach
// checker, so that the network is asked only
// about passwords that pass everything else. Input longer than four times
// DefaultMaxPasswordBytes, which cannot fit once normalised, is refused as
// too long before anything else.
func (p *Policy) Check(ctx context.Context, password string, pc Context) error {
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
		return refusal(pieceCommon)
	}
	words := p.wordsFor(pc)
	if rest, found := withoutContextWords(folded, words); found &&
		(utf8.RuneCountInString(rest) < minLen || trivial(rest) || common.contains(rest)) {
		return refusal(pieceContext)
	}
	if trivial(folded) {
		return refusal(piecePattern)
	}
	if guesses, kinds := estimateGuesses(n, common, words); guesses < guessThreshold(minLen) {
		return refusal(kinds)
	}
	if p.breach != nil {
		breached, err := p.breach.Breached(ctx, n)
		switch {
		case err != nil && ctx.Err() != nil:
			return fmt.Errorf("password: breach check: %w", ctx.Err())
		case err != nil && !p.allowBreachErr:
			return fmt.Errorf("%w: %w", ErrBreachCheckFailed, err)
		case breached:
			return &PolicyError{CodeBreached, "This password has appeared in a data breach, so attackers try it. Choose a different one."}
		}
	}
	return nil
}

// MaxLength returns the most characters a password may have
// (PolicyConfig.MaxLength or its default), for a form's maxlength and for
// the message of a password refused as too long before it was checked.
func (p *Policy) MaxLength() int { return p.maxLen }

// tooLong is the rejection of a password over the maximum length.
func (p *Policy) tooLong() *PolicyError {
	return &PolicyError{CodeTooLong, fmt.Sprintf("Use at most %d characters.", p.maxLen)}
}

// guessThreshold returns log10 of the fewest guesses a password must need
// when the minimum length in force is minLen: 10^10 (zxcvbn's top score,
// "very unguessable"), or 10^minLen below 10 characters, the most the
// estimate gives minLen characters (10^10 would refuse every password of
// that length). A password of exactly minLen characters therefore passes
// only if no part of it is a listed word or a pattern, random or not (see
// [Policy]).
func guessThreshold(minLen int) float64 {
	return float64(min(minLen, 10))
}

// refusal is the rejection of a password too easy to guess, by the kinds of
// piece it was built on. The message names the kind of weakness, never the
// part of the password that matched.
func refusal(kinds uint8) *PolicyError {
	const start = "This password is too common or too easy to guess: "
	const advice = " A few unrelated words make a better one."
	switch {
	case kinds&pieceContext != 0:
		return &PolicyError{CodeContextWord, start + "it is built on your user name, e-mail address or the name of this site." + advice}
	case kinds&pieceCommon != 0:
		return &PolicyError{CodeCommon, start + "it is a common password, or one with a few changes (capitals, digits, symbols, look-alike characters or repeats)." + advice}
	}
	return &PolicyError{CodeTrivial, start + `it is made of repeats, sequences or keyboard patterns such as "aaaa", "abcabc", "1234" or "qwerty".` + advice}
}

// wordsFor returns the folded context words of pc and the site, each once.
func (p *Policy) wordsFor(pc Context) []string {
	words := slices.Clone(p.siteWords)
	words = append(words, contextWords(pc.UserName)...)
	words = append(words, emailWords(pc.Email)...)
	for _, w := range pc.Words {
		words = append(words, contextWords(w)...)
	}
	slices.Sort(words)
	return slices.Compact(words)
}

// withoutContextWords removes every context word from folded, longest
// first, and reports whether any was found. A password must meet the policy
// without the words an attacker targeting this user already knows. It
// reorders words.
func withoutContextWords(folded string, words []string) (string, bool) {
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
// minContextWord characters. Repeats are kept here and removed by sorting
// ([Policy.wordsFor]), never by searching, which would cost time
// quadratic in the number of parts of an app-supplied string.
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
