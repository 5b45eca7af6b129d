package auth_test

import (
	"context"
	"errors"
	"math/rand/v2"
	"os"
	"runtime"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/deployedworks/rampart/auth"
)

func newPolicy(t *testing.T, cfg auth.PolicyConfig) *auth.Policy {
	t.Helper()
	p, err := auth.NewPolicy(cfg)
	require.NoError(t, err)
	return p
}

func codeOf(err error) auth.PolicyCode {
	var pe *auth.PolicyError
	if errors.As(err, &pe) {
		return pe.Code
	}
	return ""
}

func TestPolicyCheck(t *testing.T) {
	p := newPolicy(t, auth.PolicyConfig{SiteWords: []string{"Rampart Market"}})
	alice := auth.PasswordContext{UserName: "alice", Email: "alice.smith@example.org"}
	mfa := auth.PasswordContext{UserName: "alice", Email: "alice.smith@example.org", MFA: true}
	tests := []struct {
		name string
		pw   string
		pc   auth.PasswordContext
		want auth.PolicyCode // "" means accepted
	}{
		{"passphrase", "correct horse battery staple", alice, ""},
		{"15 characters", "velvet-lantern9", alice, ""},
		{"14 characters", "velvet-lantern", alice, auth.CodeTooShort},
		{"8 characters with MFA", "Tr0ub4d&", mfa, ""},
		{"7 characters with MFA", "Tr0ub4d", mfa, auth.CodeTooShort},
		{"256 characters", strings.Repeat("velvet lantern orbit ", 12) + "mist", alice, ""},
		{"257 characters", strings.Repeat("velvet lantern orbit ", 12) + "mist!", alice, auth.CodeTooLong},
		{"spaces inside", "  velvet  lantern  orbit  ", alice, ""},
		{"only spaces", strings.Repeat(" ", 20), alice, auth.CodeTrivial},
		{"cyrillic", "бархатный фонарь орбита", alice, ""},
		{"cjk counted per code point", "天鵝絨燈籠軌道霧雨晴雪山川河海", alice, ""},
		{"emoji", "🔑🌙 velvet lantern 🚲", alice, ""},
		{"composed accent counts once", "velvet-lanterné", alice, ""},
		{"decomposed accents count once after NFKC", "velvet-lanter" + "e\u0301e\u0301", alice, ""},
		{"decomposed accents: 14 after NFKC", "velvet-lante" + "e\u0301e\u0301", alice, auth.CodeTooShort},
		{"tab", "velvet\tlantern orbit", alice, auth.CodeInvalidCharacter},
		{"newline", "velvet lantern\norbit", alice, auth.CodeInvalidCharacter},
		{"NUL", "velvet lantern\x00orbit", alice, auth.CodeInvalidCharacter},
		{"invalid UTF-8", "velvet lantern \xff orbit", alice, auth.CodeInvalidCharacter},

		{"attack: common password (MFA)", "password", mfa, auth.CodeCommon},
		{"attack: common, other case", "PassWord123", mfa, auth.CodeCommon},
		{"attack: common, full-width (NFKC)", "ｐａｓｓｗｏｒｄ１２３", mfa, auth.CodeCommon},
		{"attack: long common password", "momsanaladventure", alice, auth.CodeCommon},
		{"attack: common keyboard walk", "1qaz2wsx3edc4rfv", alice, auth.CodeCommon},
		{"attack: random-looking but common", "Hd764nW5d7E1vb1", alice, auth.CodeCommon},

		{"attack: user name + digits", "alice2024alice2024", alice, auth.CodeContextWord},
		{"attack: user name reversed", "ecila-ecila-12345", alice, auth.CodeContextWord},
		{"attack: e-mail local part", "alice.smith.1990!", alice, auth.CodeContextWord},
		{"attack: e-mail domain", "Example-Org-2026!", alice, auth.CodeContextWord},
		{"attack: site name", "RampartMarket2026!", alice, auth.CodeContextWord},
		{"attack: site word + common rest", "market-password", mfa, auth.CodeContextWord},
		{"attack: extra word", "Wonderland2024!!", auth.PasswordContext{Words: []string{"Wonderland"}}, auth.CodeContextWord},
		{"attack: word repeated in a long e-mail", "Wonderland2024!!", auth.PasswordContext{Email: strings.Repeat("wonderland.", 4000) + "x@example.org"}, auth.CodeContextWord},
		{"context word with enough besides", "alice likes velvet lanterns", alice, ""},
		{"short name ignored", "al-velvet-lantern", auth.PasswordContext{UserName: "al"}, ""},

		{"attack: repeated character", "aaaaaaaaaaaaaaaa", alice, auth.CodeTrivial},
		{"attack: alphabet", "abcdefghijklmnop", alice, auth.CodeTrivial},
		{"attack: descending digits", "9876543210987654", alice, auth.CodeTrivial},
		{"attack: keyboard rows", "poiuytrewqlkjhgf", alice, auth.CodeTrivial},
		{"attack: repeated unit", "xk7!xk7!xk7!xk7!", alice, auth.CodeTrivial},
		{"attack: two characters", "abbaabbaababbbaa", alice, auth.CodeTrivial},
		{"attack: four runs", "aaaa1234zyxwqwer", alice, auth.CodeTrivial},
		{"attack: two runs (MFA)", "mnop4567", mfa, auth.CodeTrivial},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := p.Check(context.Background(), tt.pw, tt.pc)
			if tt.want == "" {
				assert.NoError(t, err)
				return
			}
			require.Error(t, err)
			assert.Equal(t, tt.want, codeOf(err), err.Error())
			var pe *auth.PolicyError
			require.ErrorAs(t, err, &pe)
			assert.NotEmpty(t, pe.Message)
			if len(tt.pw) > 8 {
				assert.NotContains(t, pe.Message, tt.pw, "never echo the password")
			}
		})
	}
}

// TestPolicyRefusesDisguisedCommonPasswords is the regression test of
// issue 12 point 14: with a 15-character minimum, whole-string matching of
// a list whose entries are mostly shorter let every one of these through.
// Each is a common password (or two) lengthened or disguised: digits or
// symbols around it, look-alike characters, capitals, repeats, reversal,
// sequences, keyboard walks, years and dates.
func TestPolicyRefusesDisguisedCommonPasswords(t *testing.T) {
	p := newPolicy(t, auth.PolicyConfig{SiteWords: []string{"Rampart Market"}})
	user := auth.PasswordContext{UserName: "alice", Email: "alice.smith@example.org"}
	tests := []struct {
		pw   string
		want auth.PolicyCode
	}{
		// The five of the issue.
		{"password123456789", auth.CodeCommon},
		{"Password1234567", auth.CodeCommon},
		{"P@ssw0rd12345678", auth.CodeCommon},
		{"iloveyou12345678", auth.CodeCommon},
		{"letmeinletmein1", auth.CodeCommon},
		// Digits and symbols around a listed password.
		{"monkey1234567890", auth.CodeCommon},
		{"football12345678", auth.CodeCommon},
		{"princess12345678", auth.CodeCommon},
		{"computer12345678", auth.CodeCommon},
		{"starwars123456789", auth.CodeCommon},
		{"123456789password", auth.CodeCommon},
		{"0987654321dragon", auth.CodeCommon},
		{"2024password2024", auth.CodeCommon},
		{"!!!sunshine!!!!!", auth.CodeCommon},
		{"!!!!!!!!monkey99", auth.CodeCommon},
		{"whatever!!!!!!!!", auth.CodeCommon},
		{"baseball!!!!!!!!", auth.CodeCommon},
		{"###welcome###2024", auth.CodeCommon},
		{"Superman2024!!!!", auth.CodeCommon},
		{"dragon!@#$%^&*()", auth.CodeCommon},
		{"master!@#$%^&*1234", auth.CodeCommon},
		// Look-alike characters: @ 4 for a, 0 for o, 1 for i and l, 3 for
		// e, $ 5 for s, 7 for t.
		{"5unsh1n3!2345678", auth.CodeCommon},
		{"1L0v3Y0u12345678", auth.CodeCommon},
		{"b4s3b4ll!2345678", auth.CodeCommon},
		{"7ru57n0123456789", auth.CodeCommon},
		{"L3tm31n!1234567", auth.CodeCommon},
		{"1ov3ly!123456789", auth.CodeCommon},
		{"$unsh1ne2024!!!!", auth.CodeCommon},
		{"f00tb@ll12345678", auth.CodeCommon},
		{"Pa$$word2024!!!!", auth.CodeCommon},
		{"@dm1n1str@t0r2024", auth.CodeCommon},
		// Capitals.
		{"PASSWORD12345678", auth.CodeCommon},
		{"pAsSwOrD12345678", auth.CodeCommon},
		{"SuperMan12345678", auth.CodeCommon},
		// Repeats, exact or with look-alikes, and reversal.
		{"letmeinletmein12", auth.CodeCommon},
		{"passwordpassword1", auth.CodeCommon},
		{"monkeymonkeymonkey!", auth.CodeCommon},
		{"charlie!charlie!1", auth.CodeCommon},
		{"jordan23jordan23!", auth.CodeCommon},
		{"asdf1234asdf1234!", auth.CodeCommon},
		{"123abc123abc123abc!", auth.CodeCommon},
		{"M0nk3y!M0nk3y!12", auth.CodeCommon},
		{"Dr@g0nDr@g0n2024", auth.CodeCommon},
		{"$h@d0w$h@d0w2024", auth.CodeCommon},
		{"Passw0rd!Passw0rd", auth.CodeCommon},
		{"drowssapdrowssap1", auth.CodeCommon},
		{"abcabcabcabcabc1", auth.CodeTrivial},
		{"nimtelnimtel2024", auth.CodeTrivial},
		// Keyboard walks and sequences.
		{"1qaz2wsx3edc4rfv5tgb", auth.CodeCommon},
		{"zaq12wsxcde34rfv", auth.CodeCommon},
		{"qazwsxedcrfvtgb!", auth.CodeCommon},
		{"q1w2e3r4t5y6u7i8o9", auth.CodeCommon},
		{"1q2w3e4r5t6y7u8i", auth.CodeCommon},
		{"zxcvbnmasdfghjkl", auth.CodeCommon},
		{"asdfghjkl;'123456", auth.CodeCommon},
		{"poiuytrewq!2024!", auth.CodeCommon},
		{"monkey!QAZ2wsx3", auth.CodeCommon},
		// Two common passwords, with years, dates or symbols.
		{"iloveyousunshine1", auth.CodeCommon},
		{"iloveyou!iloveme", auth.CodeCommon},
		{"dragonmonkeyshadow", auth.CodeCommon},
		{"superman!batman!", auth.CodeCommon},
		{"dragonmonkey2024!", auth.CodeCommon},
		{"P@ssw0rd!Qwerty123", auth.CodeCommon},
		{"letmein!letmein!2024", auth.CodeCommon},
		{"sunshine1990sunshine", auth.CodeCommon},
		{"football#1#football", auth.CodeCommon},
		{"Welcome2024!Welcome", auth.CodeCommon},
		{"michelle1michelle", auth.CodeCommon},
		{"michael1990!!!!!", auth.CodeCommon},
		{"jennifer19871987", auth.CodeCommon},
		{"password19900517", auth.CodeCommon},
		{"michael17/05/1990", auth.CodeCommon},
		{"19900517jessica!", auth.CodeCommon},
		{"Password!2024!!!", auth.CodeCommon},
		// A listed password and too few other characters.
		{"iloveyou#k9Zq2x", auth.CodeCommon},
	}
	require.GreaterOrEqual(t, len(tests), 50)
	messages := map[auth.PolicyCode]map[string]bool{}
	for _, tt := range tests {
		t.Run(tt.pw, func(t *testing.T) {
			err := p.Check(context.Background(), tt.pw, user)
			require.Error(t, err, "accepted")
			var pe *auth.PolicyError
			require.ErrorAs(t, err, &pe)
			assert.Equal(t, tt.want, pe.Code, err.Error())
			assert.True(t, strings.HasPrefix(pe.Message, "This password is too common or too easy to guess: "), pe.Message)
			assert.NotContains(t, err.Error(), tt.pw)
			if messages[pe.Code] == nil {
				messages[pe.Code] = map[string]bool{}
			}
			messages[pe.Code][pe.Message] = true
		})
	}
	// One fixed text per code: nothing of the password (which part
	// matched) leaks into the message or the logs.
	for code, m := range messages {
		assert.Len(t, m, 1, code)
	}
}

// TestPolicyRefusesDisguisedContextWords: the user's name, the parts of
// the e-mail address and the site's words are found inside derivations
// too (look-alikes, capitals, with common passwords), which whole-word
// removal missed.
func TestPolicyRefusesDisguisedContextWords(t *testing.T) {
	p := newPolicy(t, auth.PolicyConfig{SiteWords: []string{"Rampart Market"}})
	alice := auth.PasswordContext{UserName: "alice", Email: "alice.smith@example.org"}
	tests := []struct {
		name string
		pw   string
		pc   auth.PasswordContext
		want auth.PolicyCode // "" means accepted
	}{
		{"user name, look-alikes", "4l1c3!4l1c3!2024", alice, auth.CodeContextWord},
		{"user name and common passwords", "aliceiloveyou12345678", alice, auth.CodeContextWord},
		{"e-mail local part, look-alikes", "@l1c3.5m1th!2024", alice, auth.CodeContextWord},
		{"e-mail part and a common password", "smithpassword12345678", alice, auth.CodeContextWord},
		{"e-mail part, capitals and look-alikes", "SM17H!SM17H!1990", alice, auth.CodeContextWord},
		{"e-mail domain, look-alikes", "3x4mpl3.0rg!2024", alice, auth.CodeContextWord},
		{"site words, look-alikes", "R4mp4rtM4rk3t!26", alice, auth.CodeContextWord},
		{"site word and a common password", "marketsunshine12345678", alice, auth.CodeContextWord},
		{"extra word, look-alikes", "W0nd3rl4nd!2024!", auth.PasswordContext{Words: []string{"Wonderland"}}, auth.CodeContextWord},
		{"display name, look-alikes", "B0bbyT4bl3s!2024", auth.PasswordContext{Words: []string{"Bobby Tables"}}, auth.CodeContextWord},
		{"user name in a passphrase", "alice orbit tundra lantern", alice, ""},
		{"look-alike user name in a passphrase", "@l1ce orbit tundra lantern", alice, ""},
		{"site word in a passphrase", "market lantern orbit tundra", alice, ""},
		{"someone else's name", "4l1c3!4l1c3!2024", auth.PasswordContext{UserName: "bob"}, auth.CodeCommon},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := p.Check(context.Background(), tt.pw, tt.pc)
			if tt.want == "" {
				assert.NoError(t, err)
				return
			}
			require.Error(t, err, "accepted")
			assert.Equal(t, tt.want, codeOf(err), err.Error())
		})
	}
}

// TestPolicyAcceptsRandomPassphrases: four words drawn at random from a
// list of plain English words (testdata/passphrase-words.txt: 573 words
// from 3 to 10 letters, none among the 1,000 most common passwords, in
// the manner of EFF's diceware lists) pass, with the separators and
// capitals people use, although most of the words are somewhere in the
// common-password list: a common word inside a password is not a reason
// to refuse it.
func TestPolicyAcceptsRandomPassphrases(t *testing.T) {
	data, err := os.ReadFile("testdata/passphrase-words.txt")
	require.NoError(t, err)
	words := strings.Fields(string(data))
	require.Len(t, words, 573)
	p := newPolicy(t, auth.PolicyConfig{SiteWords: []string{"Rampart Market"}})
	user := auth.PasswordContext{UserName: "alice", Email: "alice.smith@example.org"}
	rng := rand.New(rand.NewPCG(12, 14)) // fixed: the same 50 every run
	for i := range 50 {
		w := make([]string, 4)
		for k := range w {
			w[k] = words[rng.IntN(len(words))]
		}
		var pw string
		switch i % 5 {
		case 0, 1:
			pw = strings.Join(w, " ")
		case 2:
			pw = strings.Join(w, "-")
		case 3:
			pw = strings.Join(w, ".")
		case 4:
			for k := range w {
				w[k] = strings.ToUpper(w[k][:1]) + w[k][1:]
			}
			pw = strings.Join(w, "")
		}
		assert.NoError(t, p.Check(context.Background(), pw, user), "%q", pw)
	}
	// Even with words among the most common passwords, a passphrase holds.
	for _, pw := range []string{"password orbit tundra lantern", "sunshine dragon orbit tundra", "shadow pepper ginger thunder"} {
		assert.NoError(t, p.Check(context.Background(), pw, user), "%q", pw)
	}
}

// Every printable ASCII character and space is allowed (NIST SP 800-63B-4
// §3.1.1.2); there are no composition rules.
func TestPolicyAllowsEveryPrintableCharacter(t *testing.T) {
	p := newPolicy(t, auth.PolicyConfig{})
	for c := byte(' '); c <= '~'; c++ {
		pw := "velvet lantern " + string(c) + " orbit"
		assert.NoError(t, p.Check(context.Background(), pw, auth.PasswordContext{}), "%q", c)
	}
	assert.NoError(t, p.Check(context.Background(), "all lower case no digits", auth.PasswordContext{}), "no composition rules")
}

func TestPolicyConfig(t *testing.T) {
	p := newPolicy(t, auth.PolicyConfig{MinLength: 20, MinLengthMFA: 12, MaxLength: 64})
	ctx := context.Background()
	assert.Equal(t, auth.CodeTooShort, codeOf(p.Check(ctx, "velvet lantern orbi", auth.PasswordContext{})))
	assert.NoError(t, p.Check(ctx, "velvet lantern orbit", auth.PasswordContext{}))
	assert.NoError(t, p.Check(ctx, "orbit-mist-7", auth.PasswordContext{MFA: true}))
	// 12 characters, but a listed word and 6 more: too easy to guess for
	// a 12-character minimum (see the guess threshold in Policy's doc).
	assert.Equal(t, auth.CodeCommon, codeOf(p.Check(ctx, "velvet-lante", auth.PasswordContext{MFA: true})))
	assert.NoError(t, p.Check(ctx, strings.Repeat("velvet lantern orbit", 3)+"mist", auth.PasswordContext{}))
	assert.Equal(t, auth.CodeTooLong, codeOf(p.Check(ctx, strings.Repeat("velvet lantern orbit", 3)+"mist!", auth.PasswordContext{})))

	for name, cfg := range map[string]auth.PolicyConfig{
		"MinLength":    {MinLength: 7},
		"MinLengthMFA": {MinLengthMFA: 6},
		"MaxLength":    {MaxLength: 63},
		"max < min":    {MinLength: 100, MaxLength: 64},
	} {
		_, err := auth.NewPolicy(cfg)
		assert.Error(t, err, name)
	}
}

func TestNormalize(t *testing.T) {
	assert.Equal(t, "password123", auth.Normalize("ｐａｓｓｗｏｒｄ１２３"))
	assert.Equal(t, "é", auth.Normalize("e\u0301"))
	assert.Equal(t, "correct horse", auth.Normalize("correct horse"))
}

type fakeBreach struct {
	breached bool
	err      error
	calls    []string
}

func (f *fakeBreach) Breached(_ context.Context, pw string) (bool, error) {
	f.calls = append(f.calls, pw)
	return f.breached, f.err
}

func TestPolicyBreachChecker(t *testing.T) {
	ctx := context.Background()
	good := "velvet lantern orbit"

	t.Run("breached", func(t *testing.T) {
		f := &fakeBreach{breached: true}
		p := newPolicy(t, auth.PolicyConfig{Breach: f})
		assert.Equal(t, auth.CodeBreached, codeOf(p.Check(ctx, good, auth.PasswordContext{})))
		assert.Equal(t, []string{good}, f.calls)
	})
	t.Run("normalised password is checked", func(t *testing.T) {
		f := &fakeBreach{}
		p := newPolicy(t, auth.PolicyConfig{Breach: f})
		require.NoError(t, p.Check(ctx, "velvet lantern ｏｒｂｉｔ", auth.PasswordContext{}))
		assert.Equal(t, []string{good}, f.calls)
	})
	t.Run("not asked about locally rejected passwords", func(t *testing.T) {
		f := &fakeBreach{}
		p := newPolicy(t, auth.PolicyConfig{Breach: f})
		assert.Error(t, p.Check(ctx, "password", auth.PasswordContext{MFA: true}))
		assert.Empty(t, f.calls)
	})
	t.Run("failure fails closed", func(t *testing.T) {
		p := newPolicy(t, auth.PolicyConfig{Breach: &fakeBreach{err: errors.New("dial tcp: timeout")}})
		err := p.Check(ctx, good, auth.PasswordContext{})
		assert.ErrorIs(t, err, auth.ErrBreachCheckFailed)
		assert.Empty(t, codeOf(err), "not a policy rejection")
	})
	t.Run("failure allowed", func(t *testing.T) {
		p := newPolicy(t, auth.PolicyConfig{Breach: &fakeBreach{err: errors.New("down")}, AllowOnBreachCheckError: true})
		assert.NoError(t, p.Check(ctx, good, auth.PasswordContext{}))
	})
	t.Run("canceled context", func(t *testing.T) {
		p := newPolicy(t, auth.PolicyConfig{Breach: &fakeBreach{err: context.Canceled}, AllowOnBreachCheckError: true})
		cctx, cancel := context.WithCancel(ctx)
		cancel()
		assert.ErrorIs(t, p.Check(cctx, good, auth.PasswordContext{}), context.Canceled)
	})
}

func TestPolicyErrorText(t *testing.T) {
	err := newPolicy(t, auth.PolicyConfig{}).Check(context.Background(), "short", auth.PasswordContext{})
	assert.EqualError(t, err, "auth: password rejected (too_short): Use at least 15 characters. A few unrelated words make a long password easy to remember.")
}

// TestPolicyHugeInput: input far over the limit is refused as too long
// without being normalised (a few small allocations, not megabytes), and
// the early bound refuses nothing the limit on the normalised form would
// accept.
func TestPolicyHugeInput(t *testing.T) {
	ctx := context.Background()
	p := newPolicy(t, auth.PolicyConfig{MaxLength: auth.DefaultMaxPasswordBytes})
	huge := strings.Repeat("ｐ", 1<<20)
	assert.Equal(t, auth.CodeTooLong, codeOf(p.Check(ctx, huge, auth.PasswordContext{})))
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	_ = p.Check(ctx, huge, auth.PasswordContext{})
	runtime.ReadMemStats(&after)
	assert.Less(t, after.TotalAlloc-before.TotalAlloc, uint64(64<<10), "refused before normalising %d MiB", len(huge)>>20)

	// 1024 four-byte mathematical letters (4096 bytes) normalise to 1024
	// ASCII letters, exactly the limit: accepted. One byte more is not.
	var b strings.Builder
	for i, x := 0, uint32(7); i < auth.DefaultMaxPasswordBytes; i++ {
		x = x*1103515245 + 12345
		b.WriteRune(0x1D41A + rune(x>>16)%26) // MATHEMATICAL BOLD SMALL A..Z
	}
	pw := b.String()
	require.Len(t, pw, 4*auth.DefaultMaxPasswordBytes)
	require.Len(t, auth.Normalize(pw), auth.DefaultMaxPasswordBytes)
	assert.NoError(t, p.Check(ctx, pw, auth.PasswordContext{}))
	assert.Equal(t, auth.CodeTooLong, codeOf(p.Check(ctx, pw+"x", auth.PasswordContext{})))
}

// BenchmarkPolicyCheck measures Check without a breach checker: a typical
// passphrase, a disguised common password, and the longest inputs the
// default and the widest configuration accept, built to maximise the work
// of the derivation checks (substitution characters, digits, walks).
func BenchmarkPolicyCheck(b *testing.B) {
	ctx := context.Background()
	alice := auth.PasswordContext{UserName: "alice", Email: "alice.smith@example.org"}
	// Not periodic (a repetition is refused early), dense in look-alike
	// characters, digits and keyboard neighbours.
	var wb strings.Builder
	const alphabet = "p@ssw0rd1|7!qaz2wsx3edc$5+4ilo"
	for x := uint32(1); wb.Len() < auth.DefaultMaxPasswordBytes; {
		x = x*1103515245 + 12345
		wb.WriteByte(alphabet[(x>>16)%uint32(len(alphabet))])
	}
	worst := wb.String()
	for _, bc := range []struct {
		name   string
		maxLen int
		pw     string
	}{
		{"passphrase", 0, "correct horse battery staple"},
		{"disguised", 0, "P@ssw0rd12345678"},
		{"worst-256", 0, worst[:256]},
		{"worst-1024", auth.DefaultMaxPasswordBytes, worst[:auth.DefaultMaxPasswordBytes]},
	} {
		b.Run(bc.name, func(b *testing.B) {
			p, err := auth.NewPolicy(auth.PolicyConfig{MaxLength: bc.maxLen, SiteWords: []string{"Rampart Market"}})
			require.NoError(b, err)
			_ = p.Check(ctx, bc.pw, alice) // load the list outside the loop
			b.ReportAllocs()
			for b.Loop() {
				_ = p.Check(ctx, bc.pw, alice)
			}
		})
	}
}
