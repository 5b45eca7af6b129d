package token_test

import (
	"context"
	"encoding/base64"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/deployedworks/rampart/internal/testenv"
	"github.com/deployedworks/rampart/token"
)

func newIssuer(t testing.TB, cfg token.Config) (*token.Issuer, *token.MemoryStore) {
	t.Helper()
	s := newMemoryStore(t)
	i, err := token.New(s, cfg)
	require.NoError(t, err)
	return i, s
}

const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"

func TestIssueFormatAndEntropy(t *testing.T) {
	is, _ := newIssuer(t, token.Config{})
	const n = 2000
	seen := make(map[string]bool, n)
	var ones, bits int
	var charSeen [256]bool
	for range n {
		tok, err := is.Issue(t.Context(), "alice", token.EmailVerify, "")
		require.NoError(t, err)
		require.Len(t, tok, 43, "32 bytes in unpadded base64url")
		for _, c := range []byte(tok) {
			require.True(t, strings.IndexByte(alphabet, c) >= 0, "token %q has %q, outside base64url", tok, c)
			charSeen[c] = true
		}
		raw, err := base64.RawURLEncoding.Strict().DecodeString(tok)
		require.NoError(t, err)
		require.Len(t, raw, 32, "256 bits")
		require.False(t, seen[tok], "token issued twice")
		seen[tok] = true
		for _, b := range raw {
			for ; b != 0; b &= b - 1 {
				ones++
			}
		}
		bits += 8 * len(raw)
	}
	// Half the bits are set, within 1% (the standard deviation here is
	// 0.06%): a stuck or biased source fails.
	assert.InDelta(t, 0.5, float64(ones)/float64(bits), 0.01)
	// Every character of the alphabet appears (the first 42 carry 6 random bits each).
	for _, c := range []byte(alphabet) {
		assert.True(t, charSeen[c], "character %q never appeared in %d tokens", c, n)
	}
}

func TestRedeemIsSingleUse(t *testing.T) {
	ctx := t.Context()
	is, _ := newIssuer(t, token.Config{})
	tok, err := is.Issue(ctx, "alice", token.PasswordReset, "digest")
	require.NoError(t, err)

	rec, err := is.Check(ctx, tok, token.PasswordReset)
	require.NoError(t, err)
	assert.Equal(t, "alice", rec.UserID)
	_, err = is.Check(ctx, tok, token.PasswordReset)
	require.NoError(t, err, "Check does not consume")

	rec, err = is.Redeem(ctx, tok, token.PasswordReset)
	require.NoError(t, err)
	assert.Equal(t, "alice", rec.UserID)
	assert.Equal(t, token.PasswordReset, rec.Purpose)
	assert.Equal(t, "digest", rec.Data)

	_, err = is.Redeem(ctx, tok, token.PasswordReset)
	assert.ErrorIs(t, err, token.ErrInvalid, "second Redeem")
	_, err = is.Check(ctx, tok, token.PasswordReset)
	assert.ErrorIs(t, err, token.ErrInvalid, "Check after Redeem")
}

func TestConcurrentRedeemOneWins(t *testing.T) {
	ctx := t.Context()
	is, _ := newIssuer(t, token.Config{})
	for range 20 {
		tok, err := is.Issue(ctx, "alice", token.PasswordReset, "")
		require.NoError(t, err)
		var won, invalid atomic.Int32
		testenv.Race(8, func(int) {
			_, err := is.Redeem(ctx, tok, token.PasswordReset)
			switch {
			case err == nil:
				won.Add(1)
			case errors.Is(err, token.ErrInvalid):
				invalid.Add(1)
			}
		})
		require.Equal(t, int32(1), won.Load(), "exactly one of 8 concurrent Redeems succeeds")
		require.Equal(t, int32(7), invalid.Load())
	}
}

func TestExpiry(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := t.Context()
		is, s := newIssuer(t, token.Config{TTL: map[token.Purpose]time.Duration{token.EmailChange: 2 * time.Hour}})
		reset, err := is.Issue(ctx, "alice", token.PasswordReset, "")
		require.NoError(t, err)
		change, err := is.Issue(ctx, "alice", token.EmailChange, "new@example.com")
		require.NoError(t, err)
		verify, err := is.Issue(ctx, "alice", token.EmailVerify, "")
		require.NoError(t, err)

		time.Sleep(30*time.Minute - time.Millisecond)
		_, err = is.Check(ctx, reset, token.PasswordReset)
		require.NoError(t, err, "a millisecond before the default 30 minutes")
		time.Sleep(time.Millisecond)
		_, err = is.Check(ctx, reset, token.PasswordReset)
		assert.ErrorIs(t, err, token.ErrInvalid, "at 30 minutes")
		_, err = is.Redeem(ctx, reset, token.PasswordReset)
		assert.ErrorIs(t, err, token.ErrInvalid, "at 30 minutes")

		time.Sleep(90*time.Minute - time.Millisecond)
		_, err = is.Check(ctx, change, token.EmailChange)
		require.NoError(t, err, "the configured 2 hours are not up")
		time.Sleep(time.Millisecond)
		_, err = is.Redeem(ctx, change, token.EmailChange)
		assert.ErrorIs(t, err, token.ErrInvalid, "at 2 hours")

		time.Sleep(22*time.Hour - time.Millisecond)
		_, err = is.Redeem(ctx, verify, token.EmailVerify)
		require.NoError(t, err, "a millisecond before the default 24 hours")

		n, err := s.DeleteExpired(ctx, time.Now())
		require.NoError(t, err)
		assert.Zero(t, n, "expired records met by Check and Redeem are dropped")
	})
}

func TestWrongPurposeFails(t *testing.T) {
	ctx := t.Context()
	is, _ := newIssuer(t, token.Config{})
	tok, err := is.Issue(ctx, "alice", token.EmailVerify, "")
	require.NoError(t, err)
	for _, p := range []token.Purpose{token.PasswordReset, token.EmailChange} {
		_, err = is.Check(ctx, tok, p)
		assert.ErrorIs(t, err, token.ErrInvalid, p)
		_, err = is.Redeem(ctx, tok, p)
		assert.ErrorIs(t, err, token.ErrInvalid, p)
	}
	_, err = is.Redeem(ctx, tok, token.EmailVerify)
	assert.NoError(t, err, "the wrong-purpose attempts consumed nothing")
}

func TestNewerVoidsOlder(t *testing.T) {
	ctx := t.Context()
	is, _ := newIssuer(t, token.Config{})
	older, err := is.Issue(ctx, "alice", token.PasswordReset, "")
	require.NoError(t, err)
	verify, err := is.Issue(ctx, "alice", token.EmailVerify, "")
	require.NoError(t, err)
	bob, err := is.Issue(ctx, "bob", token.PasswordReset, "")
	require.NoError(t, err)
	newer, err := is.Issue(ctx, "alice", token.PasswordReset, "")
	require.NoError(t, err)

	_, err = is.Redeem(ctx, older, token.PasswordReset)
	assert.ErrorIs(t, err, token.ErrInvalid, "the older reset link")
	for tok, p := range map[string]token.Purpose{newer: token.PasswordReset, verify: token.EmailVerify, bob: token.PasswordReset} {
		_, err = is.Redeem(ctx, tok, p)
		assert.NoError(t, err, p)
	}
}

// TestUndoIsNotChange: the undo link mailed to the old address neither
// confirms the change nor voids the confirmation link mailed to the new
// one, and lives 7 days by default.
func TestUndoIsNotChange(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := t.Context()
		is, _ := newIssuer(t, token.Config{})
		change, err := is.Issue(ctx, "alice", token.EmailChange, "new@example.com")
		require.NoError(t, err)
		undo, err := is.Issue(ctx, "alice", token.EmailChangeUndo, "old@example.com")
		require.NoError(t, err)
		_, err = is.Check(ctx, undo, token.EmailChange)
		assert.ErrorIs(t, err, token.ErrInvalid, "an undo link does not confirm")
		_, err = is.Check(ctx, change, token.EmailChange)
		assert.NoError(t, err, "issuing the undo link kept the confirmation link")
		time.Sleep(7*24*time.Hour - time.Millisecond)
		_, err = is.Check(ctx, undo, token.EmailChangeUndo)
		assert.NoError(t, err, "valid until 7 days")
		time.Sleep(time.Millisecond)
		_, err = is.Check(ctx, undo, token.EmailChangeUndo)
		assert.ErrorIs(t, err, token.ErrInvalid, "expired at 7 days")
	})
}

func TestVoid(t *testing.T) {
	ctx := t.Context()
	is, _ := newIssuer(t, token.Config{})
	issue := func(user string, p token.Purpose) string {
		tok, err := is.Issue(ctx, user, p, "")
		require.NoError(t, err)
		return tok
	}
	valid := func(tok string, p token.Purpose) bool {
		_, err := is.Check(ctx, tok, p)
		return err == nil
	}
	reset, change, verify := issue("alice", token.PasswordReset), issue("alice", token.EmailChange), issue("alice", token.EmailVerify)
	bob := issue("bob", token.PasswordReset)

	require.NoError(t, is.Void(ctx, "alice", token.PasswordReset)) // the password changed
	assert.False(t, valid(reset, token.PasswordReset))
	assert.True(t, valid(change, token.EmailChange))
	assert.True(t, valid(verify, token.EmailVerify))

	require.NoError(t, is.Void(ctx, "alice")) // the account was disabled
	assert.False(t, valid(change, token.EmailChange))
	assert.False(t, valid(verify, token.EmailVerify))
	assert.True(t, valid(bob, token.PasswordReset))

	assert.ErrorContains(t, is.Void(ctx, "alice", "login"), "unknown purpose")
	assert.ErrorContains(t, is.Void(ctx, "alice\x00"), "control character")
}

// TestMalformedNeverReachesStore: a malformed token is refused before the
// store is asked, so a flood of garbage costs no lookups.
func TestMalformedNeverReachesStore(t *testing.T) {
	ctx := t.Context()
	cs := &countingStore{Store: newMemoryStore(t)}
	is, err := token.New(cs, token.Config{})
	require.NoError(t, err)
	good, err := is.Issue(ctx, "alice", token.PasswordReset, "")
	require.NoError(t, err)
	last := good[42]
	// A different last character with the same 6 bits' top 4: decodes to
	// the same bytes in lax base64, refused in the one spelling.
	alias := good[:42] + string(alphabet[strings.IndexByte(alphabet, last)^1])
	for name, tok := range map[string]string{
		"empty":        "",
		"short":        good[:42],
		"long":         good + "A",
		"padded":       good + "=",
		"std alphabet": strings.NewReplacer("-", "+", "_", "/").Replace(good[:42]) + "+",
		"space":        good[:42] + " ",
		"nul":          good[:42] + "\x00",
		"non-ascii":    good[:41] + "é",
		"alias":        alias,
		"huge":         strings.Repeat("A", 1<<20),
	} {
		_, err := is.Redeem(ctx, tok, token.PasswordReset)
		assert.ErrorIs(t, err, token.ErrInvalid, name)
		assert.Equal(t, token.ErrInvalid, err, "%s: the one error, unwrapped", name)
		_, err = is.Check(ctx, tok, token.PasswordReset)
		assert.ErrorIs(t, err, token.ErrInvalid, name)
	}
	assert.Zero(t, cs.lookups.Load(), "malformed tokens reached the store")
	_, err = is.Redeem(ctx, good, token.PasswordReset)
	assert.NoError(t, err)
	assert.Equal(t, int32(1), cs.lookups.Load())
}

type countingStore struct {
	token.Store
	lookups atomic.Int32
}

func (c *countingStore) Get(ctx context.Context, h []byte, p token.Purpose, now time.Time) (token.Record, error) {
	c.lookups.Add(1)
	return c.Store.Get(ctx, h, p, now)
}

func (c *countingStore) Take(ctx context.Context, h []byte, p token.Purpose, now time.Time) (token.Record, error) {
	c.lookups.Add(1)
	return c.Store.Take(ctx, h, p, now)
}

// faultyStore returns records that do not match what was asked.
type faultyStore struct {
	token.Store
	mutate func(*token.Record)
}

func (f faultyStore) Get(ctx context.Context, h []byte, p token.Purpose, now time.Time) (token.Record, error) {
	r, err := f.Store.Get(ctx, h, p, now)
	f.mutate(&r)
	return r, err
}

// TestFaultyStoreFailsClosed: the Issuer checks what the store returns.
func TestFaultyStoreFailsClosed(t *testing.T) {
	for name, mutate := range map[string]func(*token.Record){
		"other hash":    func(r *token.Record) { r.Hash = append([]byte(nil), r.Hash...); r.Hash[0] ^= 1 },
		"other purpose": func(r *token.Record) { r.Purpose = token.EmailVerify },
		"expired":       func(r *token.Record) { r.Expires = r.Created },
	} {
		t.Run(name, func(t *testing.T) {
			s := faultyStore{Store: newMemoryStore(t), mutate: mutate}
			is, err := token.New(s, token.Config{})
			require.NoError(t, err)
			tok, err := is.Issue(t.Context(), "alice", token.PasswordReset, "")
			require.NoError(t, err)
			_, err = is.Check(t.Context(), tok, token.PasswordReset)
			assert.ErrorIs(t, err, token.ErrInvalid)
		})
	}
}

// brokenStore fails every call, as a database that is down does.
type brokenStore struct{ token.Store }

var errDown = errors.New("database is down")

func (brokenStore) Put(context.Context, token.Record) error { return errDown }
func (brokenStore) Take(context.Context, []byte, token.Purpose, time.Time) (token.Record, error) {
	return token.Record{}, errDown
}
func (brokenStore) Void(context.Context, string, ...token.Purpose) error { return errDown }

func TestStoreErrorsAreNotInvalid(t *testing.T) {
	ctx := t.Context()
	is, err := token.New(brokenStore{}, token.Config{})
	require.NoError(t, err)
	_, err = is.Issue(ctx, "alice", token.PasswordReset, "")
	assert.ErrorIs(t, err, errDown)
	_, err = is.Redeem(ctx, strings.Repeat("A", 43), token.PasswordReset)
	assert.ErrorIs(t, err, errDown, "an outage is told apart from a bad token")
	assert.NotErrorIs(t, err, token.ErrInvalid)
	assert.ErrorIs(t, is.Void(ctx, "alice"), errDown)
}

func TestIssueRefuses(t *testing.T) {
	ctx := t.Context()
	is, s := newIssuer(t, token.Config{})
	for name, c := range map[string]struct {
		user string
		p    token.Purpose
		data string
		want string
	}{
		"unknown purpose": {"alice", "login", "", "unknown purpose"},
		"empty purpose":   {"alice", "", "", "unknown purpose"},
		"empty user":      {"", token.PasswordReset, "", "empty user ID"},
		"long user":       {strings.Repeat("u", 257), token.PasswordReset, "", "at most 256"},
		"newline in user": {"alice\nbob", token.PasswordReset, "", "control character"},
		"nul in user":     {"alice\x00", token.PasswordReset, "", "control character"},
		"C1 in user":      {"alice\u0085", token.PasswordReset, "", "control character"},
		"bad UTF-8 user":  {"alice\xff", token.PasswordReset, "", "UTF-8"},
		"data too large":  {"alice", token.EmailChange, strings.Repeat("d", 1025), "at most 1024"},
	} {
		tok, err := is.Issue(ctx, c.user, c.p, c.data)
		assert.ErrorContains(t, err, c.want, name)
		assert.Empty(t, tok, name)
	}
	n, err := s.DeleteExpired(ctx, time.Now().Add(48*time.Hour))
	require.NoError(t, err)
	assert.Zero(t, n, "refused tokens stored nothing")

	_, err = is.Issue(ctx, strings.Repeat("u", 256), token.EmailChange, strings.Repeat("d", 1024))
	assert.NoError(t, err, "at the bounds")
	_, err = is.Check(ctx, strings.Repeat("A", 43), "login")
	assert.ErrorContains(t, err, "unknown purpose")
}

func TestNewRefuses(t *testing.T) {
	s := newMemoryStore(t)
	_, err := token.New(nil, token.Config{})
	assert.ErrorContains(t, err, "nil Store")
	var unset *token.MemoryStore
	_, err = token.New(unset, token.Config{})
	assert.ErrorContains(t, err, "nil Store", "a nil pointer in the interface")
	for name, c := range map[string]struct {
		ttl  map[token.Purpose]time.Duration
		want string
	}{
		"unknown purpose": {map[token.Purpose]time.Duration{"login": time.Hour}, "unknown purpose"},
		"negative":        {map[token.Purpose]time.Duration{token.PasswordReset: -time.Minute}, "between 1m0s and 24h0m0s"},
		"too short":       {map[token.Purpose]time.Duration{token.PasswordReset: time.Second}, "between"},
		"reset too long":  {map[token.Purpose]time.Duration{token.PasswordReset: 25 * time.Hour}, "between"},
		"verify too long": {map[token.Purpose]time.Duration{token.EmailVerify: 8 * 24 * time.Hour}, "between 1m0s and 168h0m0s"},
		"change too long": {map[token.Purpose]time.Duration{token.EmailChange: 25 * time.Hour}, "between"},
		"undo too long":   {map[token.Purpose]time.Duration{token.EmailChangeUndo: 8 * 24 * time.Hour}, "between 1m0s and 168h0m0s"},
	} {
		_, err := token.New(s, token.Config{TTL: c.ttl})
		assert.ErrorContains(t, err, c.want, name)
	}
	_, err = token.New(s, token.Config{TTL: map[token.Purpose]time.Duration{
		token.PasswordReset: time.Minute, token.EmailVerify: 7 * 24 * time.Hour, token.EmailChange: 0,
		token.EmailChangeUndo: 7 * 24 * time.Hour,
	}})
	assert.NoError(t, err, "at the bounds, and 0 for the default")
}

// TestConfigCopied: the Issuer keeps its own copy of Config.TTL.
func TestConfigCopied(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ttl := map[token.Purpose]time.Duration{token.PasswordReset: 10 * time.Minute}
		is, _ := newIssuer(t, token.Config{TTL: ttl})
		ttl[token.PasswordReset] = 24 * time.Hour
		tok, err := is.Issue(t.Context(), "alice", token.PasswordReset, "")
		require.NoError(t, err)
		time.Sleep(10 * time.Minute)
		_, err = is.Check(t.Context(), tok, token.PasswordReset)
		assert.ErrorIs(t, err, token.ErrInvalid)
	})
}
