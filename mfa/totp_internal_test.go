package mfa

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha1"
	"encoding/base32"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pquerna/otp"
	pqhotp "github.com/pquerna/otp/hotp"
	"github.com/pquerna/otp/totp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// RFC 4226 Appendix D.
func TestHOTP_RFC4226Vectors(t *testing.T) {
	want := []string{"755224", "287082", "359152", "969429", "338314", "254676", "287922", "162583", "399871", "520489"}
	mac := hmac.New(sha1.New, []byte("12345678901234567890"))
	var buf [8]byte
	for i, w := range want {
		assert.Equal(t, w, string(hotp(mac, uint64(i), 6, &buf)), "counter %d", i)
	}
}

// Our HOTP agrees with pquerna/otp for every algorithm and digit count.
func TestHOTP_MatchesPquerna(t *testing.T) {
	enc := base32.StdEncoding.WithPadding(base32.NoPadding)
	for _, alg := range []Algorithm{SHA1, SHA256, SHA512} {
		for _, digits := range []int{6, 8} {
			secret := make([]byte, SecretSize)
			_, _ = rand.Read(secret)
			mac := hmac.New(alg.newHash(), secret)
			var buf [8]byte
			for _, counter := range []uint64{0, 1, 56666666, 1 << 40} {
				want, err := pqhotp.GenerateCodeCustom(enc.EncodeToString(secret), counter, pqhotp.ValidateOpts{
					Digits: otp.Digits(digits), Algorithm: alg.otp(),
				})
				require.NoError(t, err)
				assert.Equal(t, want, string(hotp(mac, counter, digits, &buf)), "%v %d digits counter %d", alg, digits, counter)
			}
			now := time.Unix(1_700_000_000, 0)
			want, err := totp.GenerateCodeCustom(enc.EncodeToString(secret), now, totp.ValidateOpts{Period: 30, Digits: otp.Digits(digits), Algorithm: alg.otp()})
			require.NoError(t, err)
			assert.Equal(t, want, string(hotp(mac, uint64(timeStep(now, 30)), digits, &buf)))
		}
	}
}

func TestTimeStep(t *testing.T) {
	for _, r := range []struct {
		unix, want int64
	}{{0, 0}, {29, 0}, {30, 1}, {59, 1}, {-1, -1}, {-30, -1}, {-31, -2}} {
		assert.Equal(t, r.want, timeStep(time.Unix(r.unix, 0), 30), "unix %d", r.unix)
	}
}

func TestNormaliseCode(t *testing.T) {
	for _, r := range []struct {
		name, in string
		digits   int
		ok       bool
		want     string
	}{
		{"plain", "123456", 6, true, "123456"},
		{"spaces", " 123 456 ", 6, true, "123456"},
		{"hyphen", "123-456", 6, true, "123456"},
		{"eight", "1234 5678", 8, true, "12345678"},
		{"short", "12345", 6, false, ""},
		{"long", "1234567", 6, false, ""},
		{"letter", "12345a", 6, false, ""},
		{"unicode digit", "12345٣", 6, false, ""},
		{"nul", "123456\x00", 6, false, ""},
		{"empty", "", 6, false, ""},
		{"huge", string(make([]byte, 1000)), 6, false, ""},
	} {
		t.Run(r.name, func(t *testing.T) {
			out, ok := normaliseCode(r.in, r.digits)
			assert.Equal(t, r.ok, ok)
			if ok {
				assert.Equal(t, r.want, string(out[:r.digits]))
			}
		})
	}
}

func FuzzNormaliseCode(f *testing.F) {
	for _, s := range []string{"123456", " 123 456", "12-34-56", "abc", "", "12345678", "١٢٣٤٥٦"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		for _, digits := range []int{6, 8} {
			out, ok := normaliseCode(s, digits)
			if !ok {
				continue
			}
			for _, c := range out[:digits] {
				if c < '0' || c > '9' {
					t.Fatalf("non-digit %q in %q", c, s)
				}
			}
		}
	})
}

// The built-in limiters are bounded: a flood of keys never holds more
// than defaultMaxKeys of them.
func TestDefaultLimiters_Bounded(t *testing.T) {
	now := time.Unix(1000, 0)
	l, err := newMemoryLimiter(defaultSessionLimit, func() time.Time { return now })
	require.NoError(t, err)
	ctx := context.Background()
	for i := range defaultMaxKeys + 100 {
		d, err := l.Allow(ctx, strconv.Itoa(i))
		require.NoError(t, err)
		require.True(t, d.Allowed)
	}
	assert.LessOrEqual(t, l.Len(), defaultMaxKeys)
}

// The per-user ceiling admits its burst, then one attempt per interval:
// a refusal never asks for more than one interval's wait.
func TestUserLimiter(t *testing.T) {
	now := time.Unix(1000, 0)
	l, err := newMemoryLimiter(defaultUserLimit, func() time.Time { return now })
	require.NoError(t, err)
	ctx := context.Background()
	allow := func(k string) (bool, time.Duration) {
		d, err := l.Allow(ctx, k)
		require.NoError(t, err)
		return d.Allowed, d.RetryAfter
	}
	interval := defaultUserLimit.Interval()
	require.Equal(t, 45*time.Second, interval)
	for i := range defaultUserLimit.Burst {
		ok, _ := allow("u")
		require.True(t, ok, "attempt %d of the burst", i)
	}
	ok, wait := allow("u")
	require.False(t, ok)
	assert.InDelta(t, interval, wait, float64(time.Second))
	now = now.Add(interval - time.Second)
	ok, wait = allow("u")
	require.False(t, ok, "refusals cost nothing and do not push the wait back")
	assert.InDelta(t, time.Second, wait, float64(time.Second))
	now = now.Add(time.Second)
	ok, _ = allow("u")
	assert.True(t, ok)
	ok, _ = allow("v")
	assert.True(t, ok, "other users are not affected")
}

func FuzzNormaliseRecoveryCode(f *testing.F) {
	for _, s := range []string{"ABCDE-FGHJK-MNPQ", "abcde fghjk mnpq", "OIL00-11111-2222", "UUUUU-UUUUU-UUUU", "", "-----",
		"ABCD-EFGH-JKMN-PQRS-TVWX-YZ01", "oil0 1111 2222 3333 4444 5555"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		out, ok := normaliseRecoveryCode(s)
		if !ok {
			return
		}
		if len(out) != recoveryLen && len(out) != legacyRecoveryLen {
			t.Fatalf("%d characters from %q", len(out), s)
		}
		for _, c := range out {
			if !strings.ContainsRune(recoveryAlphabet, rune(c)) {
				t.Fatalf("%q outside the alphabet from %q", c, s)
			}
		}
		// Canonical output is a fixed point.
		again, ok := normaliseRecoveryCode(string(out[:]))
		if !ok || string(again) != string(out) {
			t.Fatalf("not idempotent: %q", s)
		}
	})
}
