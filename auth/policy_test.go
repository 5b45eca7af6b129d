package auth_test

import (
	"context"
	"errors"
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
	assert.NoError(t, p.Check(ctx, "velvet-lante", auth.PasswordContext{MFA: true}))
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
