package mfa_test

import (
	"bytes"
	"context"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/deployedworks/rampart/audit"
	"github.com/deployedworks/rampart/mfa"
	"github.com/deployedworks/rampart/ratelimit"
	"github.com/deployedworks/rampart/secrets"
)

// spyStore records what a RecoveryStore is given.
type spyStore struct {
	mfa.RecoveryStore
	mu     sync.Mutex
	hashes [][]byte
}

func (s *spyStore) ReplaceRecoveryCodes(ctx context.Context, userID string, hashes [][]byte) error {
	s.mu.Lock()
	s.hashes = hashes
	s.mu.Unlock()
	return s.RecoveryStore.ReplaceRecoveryCodes(ctx, userID, hashes)
}

func newRecovery(t testing.TB, lim ratelimit.Limiter) (*mfa.Recovery, *spyStore, *audit.MemorySink) {
	t.Helper()
	lg, sink := newAudit()
	spy := &spyStore{RecoveryStore: newStore(t)}
	r, err := mfa.NewRecovery(mfa.RecoveryConfig{Key: secrets.Random(32), Store: spy, Limiter: lim, UserLimiter: lim, Audit: lg})
	require.NoError(t, err)
	return r, spy, sink
}

func TestNewRecovery_Config(t *testing.T) {
	st := newStore(t)
	for _, r := range []struct {
		name string
		cfg  mfa.RecoveryConfig
		ok   bool
	}{
		{"ok", mfa.RecoveryConfig{Key: secrets.Random(32), Store: st}, true},
		{"short key", mfa.RecoveryConfig{Key: secrets.Random(16), Store: st}, false},
		{"no key", mfa.RecoveryConfig{Store: st}, false},
		{"no store", mfa.RecoveryConfig{Key: secrets.Random(32)}, false},
		{"too few", mfa.RecoveryConfig{Key: secrets.Random(32), Store: st, Count: 9}, false},
		{"sixteen", mfa.RecoveryConfig{Key: secrets.Random(32), Store: st, Count: 16}, true},
	} {
		t.Run(r.name, func(t *testing.T) {
			_, err := mfa.NewRecovery(r.cfg)
			assert.Equal(t, r.ok, err == nil, "%v", err)
		})
	}
}

func TestRecovery_Generate(t *testing.T) {
	r, spy, _ := newRecovery(t, unlimited)
	ctx := context.Background()
	codes, err := r.Generate(ctx, "u")
	require.NoError(t, err)
	require.Len(t, codes, 10)
	// ASVS 5.0 §6.5.2: at least 112 bits under a fast keyed hash.
	assert.GreaterOrEqual(t, mfa.RecoveryCodeBits, 112)

	format := regexp.MustCompile(`^[0-9A-HJKMNP-TV-Z]{4}(-[0-9A-HJKMNP-TV-Z]{4}){5}$`)
	seen := map[string]bool{}
	for _, c := range codes {
		assert.Regexp(t, format, c)
		assert.False(t, seen[c], "duplicate code")
		seen[c] = true
	}

	// Only keyed hashes reach the store.
	require.Len(t, spy.hashes, 10)
	for _, h := range spy.hashes {
		assert.Len(t, h, 32)
		for _, c := range codes {
			plain := strings.ReplaceAll(c, "-", "")
			assert.False(t, bytes.Contains(h, []byte(plain)) || bytes.Contains(h, []byte(c)))
		}
	}

	n, err := r.Remaining(ctx, "u")
	require.NoError(t, err)
	assert.Equal(t, 10, n)
}

func TestRecovery_Use(t *testing.T) {
	r, _, sink := newRecovery(t, unlimited)
	ctx := context.Background()
	codes, err := r.Generate(ctx, "u")
	require.NoError(t, err)
	other, err := r.Generate(ctx, "v")
	require.NoError(t, err)

	c0 := codes[0]
	rows := []struct {
		name, code string
		want       error
		remaining  int
	}{
		{"as shown", c0, nil, 9},
		{"attack: same code again", c0, mfa.ErrInvalidCode, 0},
		{"lower case with spaces", strings.ToLower(strings.ReplaceAll(codes[1], "-", " ")), nil, 8},
		{"no separators", strings.ReplaceAll(codes[2], "-", ""), nil, 7},
		{"odd grouping", strings.ReplaceAll(codes[3], "-", "")[:3] + "-" + strings.ReplaceAll(codes[3], "-", "")[3:], nil, 6},
		{"attack: another user's code", other[0], mfa.ErrInvalidCode, 0},
		{"attack: one character off", flipLast(codes[4]), mfa.ErrInvalidCode, 0},
		{"attack: too short", codes[4][:15], mfa.ErrInvalidCode, 0},
		{"attack: the legacy length cut from a code", strings.ReplaceAll(codes[4], "-", "")[:14], mfa.ErrInvalidCode, 0},
		{"attack: too long", codes[4] + "0", mfa.ErrInvalidCode, 0},
		{"attack: U is not in the alphabet", "UUUU-UUUU-UUUU-UUUU-UUUU-UUUU", mfa.ErrInvalidCode, 0},
		{"attack: empty", "", mfa.ErrInvalidCode, 0},
		{"attack: huge", strings.Repeat("A", 1<<16), mfa.ErrInvalidCode, 0},
		{"still valid after failures", codes[4], nil, 5},
	}
	for _, row := range rows {
		t.Run(row.name, func(t *testing.T) {
			n, err := r.Use(ctx, "u", row.code)
			if row.want != nil {
				assert.ErrorIs(t, err, row.want)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, row.remaining, n)
		})
	}

	// Each use is a security event; failures are authentication failures.
	var alerts, failures int
	for _, ev := range events(sink, "mfa.recovery.use") {
		switch ev.Category {
		case audit.CategorySecurityAlert:
			alerts++
			assert.Equal(t, audit.OutcomeSuccess, ev.Outcome)
			assert.NotEmpty(t, ev.Meta["remaining"])
		case audit.CategoryAuthentication:
			failures++
			assert.Equal(t, audit.OutcomeFailure, ev.Outcome)
		}
		assert.Equal(t, "u", ev.Actor.UserID)
	}
	assert.Equal(t, 5, alerts)
	assert.Equal(t, len(rows)-5, failures)
}

// Crockford look-alikes: O reads as 0 and I/L as 1.
func TestRecovery_LookAlikes(t *testing.T) {
	r, _, _ := newRecovery(t, unlimited)
	ctx := context.Background()
	for range 20 {
		codes, err := r.Generate(ctx, "u")
		require.NoError(t, err)
		for _, c := range codes {
			if strings.ContainsAny(c, "01") {
				typed := strings.NewReplacer("0", "o", "1", "I").Replace(c)
				_, err := r.Use(ctx, "u", typed)
				require.NoError(t, err, "%s typed as %s", c, typed)
				return
			}
		}
	}
	t.Fatal("no code with 0 or 1 in 200 codes")
}

func flipLast(c string) string {
	last := c[len(c)-1]
	repl := byte('2')
	if last == '2' {
		repl = '3'
	}
	return c[:len(c)-1] + string(repl)
}

func TestRecovery_RegenerateInvalidatesOldSet(t *testing.T) {
	r, _, _ := newRecovery(t, unlimited)
	ctx := context.Background()
	old, err := r.Generate(ctx, "u")
	require.NoError(t, err)
	_, err = r.Use(ctx, "u", old[0])
	require.NoError(t, err)

	fresh, err := r.Generate(ctx, "u")
	require.NoError(t, err)
	n, err := r.Remaining(ctx, "u")
	require.NoError(t, err)
	assert.Equal(t, 10, n)
	for _, c := range old[1:] {
		_, err := r.Use(ctx, "u", c)
		assert.ErrorIs(t, err, mfa.ErrInvalidCode)
	}
	_, err = r.Use(ctx, "u", fresh[9])
	require.NoError(t, err)

	require.NoError(t, r.Revoke(ctx, "u"))
	n, err = r.Remaining(ctx, "u")
	require.NoError(t, err)
	assert.Zero(t, n)
	_, err = r.Use(ctx, "u", fresh[0])
	assert.ErrorIs(t, err, mfa.ErrInvalidCode)
}

func TestRecovery_ConcurrentUse(t *testing.T) {
	r, _, _ := newRecovery(t, unlimited)
	ctx := context.Background()
	codes, err := r.Generate(ctx, "u")
	require.NoError(t, err)
	var ok atomic.Int32
	var wg sync.WaitGroup
	for range 16 {
		wg.Go(func() {
			if _, err := r.Use(ctx, "u", codes[0]); err == nil {
				ok.Add(1)
			}
		})
	}
	wg.Wait()
	assert.Equal(t, int32(1), ok.Load())
}

func TestRecovery_Throttling(t *testing.T) {
	synctest.Test(t, testRecoveryThrottling)
}

func testRecoveryThrottling(t *testing.T) {
	lg, sink := newAudit()
	r, err := mfa.NewRecovery(mfa.RecoveryConfig{Key: secrets.Random(32), Store: newStore(t), Audit: lg})
	require.NoError(t, err)
	ctx := context.Background()
	codes, err := r.Generate(ctx, "u")
	require.NoError(t, err)
	for range 5 {
		_, err := r.Use(ctx, "u", "00000-00000-0000")
		require.ErrorIs(t, err, mfa.ErrInvalidCode)
	}
	_, err = r.Use(ctx, "u", codes[0])
	require.ErrorIs(t, err, ratelimit.ErrLimited)
	assert.Equal(t, audit.OutcomeDenied, events(sink, "mfa.recovery.use")[5].Outcome)
	time.Sleep(15 * time.Minute) // in the bubble: the limiter's clock moves
	_, err = r.Use(ctx, "u", codes[0])
	require.NoError(t, err)
}

// As for TOTP, the limit counts consecutive failures: a successful use
// starts the count over.
func TestRecovery_ThrottlingCountsFailures(t *testing.T) {
	r, err := mfa.NewRecovery(mfa.RecoveryConfig{Key: secrets.Random(32), Store: newStore(t)})
	require.NoError(t, err)
	ctx := context.Background()
	codes, err := r.Generate(ctx, "u")
	require.NoError(t, err)
	for range 4 {
		_, err := r.Use(ctx, "u", "00000-00000-0000")
		require.ErrorIs(t, err, mfa.ErrInvalidCode)
	}
	_, err = r.Use(ctx, "u", codes[0])
	require.NoError(t, err)
	for range 5 {
		_, err := r.Use(ctx, "u", "00000-00000-0000")
		require.ErrorIs(t, err, mfa.ErrInvalidCode)
	}
	_, err = r.Use(ctx, "u", codes[1])
	require.ErrorIs(t, err, ratelimit.ErrLimited)
}

// Codes issued before the 120-bit format (14 characters, 70 bits) still
// work until the set is regenerated, so that the upgrade locks nobody out;
// new sets are never of that length.
func TestRecovery_LegacyCodesAccepted(t *testing.T) {
	r, spy, _ := newRecovery(t, unlimited)
	ctx := context.Background()
	require.NoError(t, spy.ReplaceRecoveryCodes(ctx, "u", [][]byte{r.HashCode("u", "ABCDE0123456XY")}))
	_, err := r.Use(ctx, "u", "abcde-o1234-56xy")
	require.NoError(t, err, "a legacy code, typed loosely")
	_, err = r.Use(ctx, "u", "ABCDE-01234-56XY")
	assert.ErrorIs(t, err, mfa.ErrInvalidCode, "used once")
}
