package auth_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/deployedworks/rampart/audit"
	"github.com/deployedworks/rampart/auth"
	"github.com/deployedworks/rampart/auth/password"
	"github.com/deployedworks/rampart/ratelimit"
)

// pickyStore is a UserStore that fails, as PostgreSQL does, on a login name
// that is not valid UTF-8 or holds NUL, and records every name it was asked.
type pickyStore struct {
	*memStore
	mu    sync.Mutex
	asked []string
}

func (s *pickyStore) UserByLogin(ctx context.Context, login string) (auth.User, error) {
	s.mu.Lock()
	s.asked = append(s.asked, login)
	s.mu.Unlock()
	if !utf8.ValidString(login) || strings.ContainsRune(login, 0) {
		return auth.User{}, fmt.Errorf(`ERROR: invalid byte sequence for encoding "UTF8" (SQLSTATE 22021)`)
	}
	return s.memStore.UserByLogin(ctx, login)
}

func TestValidLoginName(t *testing.T) {
	for _, name := range []string{"alice", "Alice@Example.com", "ｂｏｂ", "名前", " padded ", strings.Repeat("n", 320)} {
		assert.True(t, auth.ValidLoginName(name), "%q", name)
	}
	for _, name := range []string{"", "a\x00", "\x00", "a\xffb", "a\xc3", "tab\there", "line\nbreak", "cr\r", "del\x7f",
		"c1\u0085", "c1\u009f", "esc\x1b[31m", strings.Repeat("n", 321)} {
		assert.False(t, auth.ValidLoginName(name), "%q", name)
	}
}

// TestLoginInvalidNames: a login name that no account can have (NUL, other
// control characters, invalid UTF-8) fails exactly like an unknown account
// (the same error, one dummy hash, a throttle failure, a login.failed
// event) without reaching the store, which might fail on it; nothing is
// logged as an error. On the old code the store was asked and its error
// became a 500, an ERROR log and an error event.
func TestLoginInvalidNames(t *testing.T) {
	names := map[string]string{
		"NUL":                "alice\x00",
		"NUL only":           "\x00",
		"invalid UTF-8":      "alice\xff",
		"truncated UTF-8":    "al\xc3",
		"C0 control":         "ali\x01ce",
		"newline":            "alice\nadmin",
		"DEL":                "alice\x7f",
		"C1 control":         "alice\u0085",
		"over 320 bytes":     strings.Repeat("a", 400),
		"empty":              "",
		"NUL past 320 bytes": strings.Repeat("a", 330) + "\x00",
	}
	for name, login := range names {
		t.Run(name, func(t *testing.T) {
			f := newFixture(t, password.HasherConfig{})
			store := &pickyStore{memStore: f.store}
			a, err := auth.NewAuthenticator(store, f.sessions, auth.AuthenticatorConfig{
				Hasher: f.h, Throttle: f.throttle, Audit: audit.MustNew(f.sink, audit.Config{}),
			})
			require.NoError(t, err)

			before := f.probe.computations()
			res, err := a.Login(loginRequest(), login, alicePassword)
			assert.Equal(t, auth.ErrInvalidCredentials, err, "the very same error value as a wrong password")
			assert.Zero(t, res)
			assert.Equal(t, uint64(1), f.probe.computations()-before, "one dummy hash, as for an unknown account")
			assert.Empty(t, store.asked, "the store is not asked about a name no account can have")

			require.Len(t, f.throttle.failed, 1, "counted as a failure")
			key := f.throttle.failed[0]
			assert.Equal(t, f.throttle.checks, f.throttle.failed, "checked and failed under one key")
			assert.True(t, utf8.ValidString(key), "throttle key %q is valid UTF-8", key)
			assert.NotContains(t, key, "\x00")
			assert.Empty(t, f.throttle.succeeded)

			ev := f.sink.Events()
			require.Len(t, ev, 1, "one event, no error event")
			assert.Equal(t, audit.CategoryAuthentication, ev[0].Category)
			assert.Equal(t, audit.ActionLoginFailed, ev[0].Action)
			assert.Equal(t, audit.OutcomeFailure, ev[0].Outcome)
			assert.Equal(t, "bad_login_name", ev[0].Reason)
			assert.Equal(t, audit.TargetKindLogin, ev[0].Target.Kind)
			assertNoSecrets(t, ev)
		})
	}

	t.Run("throttled like any name", func(t *testing.T) {
		f := newFixture(t, password.HasherConfig{})
		_, err := f.a.Login(loginRequest(), "Alice\x00", alicePassword)
		require.Equal(t, auth.ErrInvalidCredentials, err)
		_, err = f.a.Login(loginRequest(), "alice\x01", alicePassword)
		require.Equal(t, auth.ErrInvalidCredentials, err)
		assert.Equal(t, []string{"alice\uFFFD", "alice\uFFFD"}, f.throttle.failed,
			"folded like other names, controls replaced: one budget")
		f.throttle.retry = 30 * time.Second
		before := f.probe.computations()
		_, err = f.a.Login(loginRequest(), "alice\x00", alicePassword)
		assert.ErrorIs(t, err, ratelimit.ErrLimited)
		assert.Equal(t, before, f.probe.computations(), "refused before hashing")
	})
}
