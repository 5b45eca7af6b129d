package auth_test

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/crypto/bcrypt"

	"github.com/deployedworks/rampart/audit"
	"github.com/deployedworks/rampart/auth"
	"github.com/deployedworks/rampart/internal/testenv"
)

// memStore is a UserStore in memory, with error injection.
type memStore struct {
	mu      sync.Mutex
	byID    map[string]auth.User
	lookErr error // returned by UserByLogin/UserByID when set
	setErr  error // returned by SetPasswordHash when set
	sets    int
}

func newMemStore(users ...auth.User) *memStore {
	s := &memStore{byID: map[string]auth.User{}}
	for _, u := range users {
		s.byID[u.ID] = u
	}
	return s
}

func (s *memStore) UserByLogin(_ context.Context, login string) (auth.User, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.lookErr != nil {
		return auth.User{}, s.lookErr
	}
	for _, u := range s.byID {
		if strings.EqualFold(u.Login, strings.TrimSpace(login)) {
			return u, nil
		}
	}
	return auth.User{}, auth.ErrUserNotFound
}

func (s *memStore) UserByID(_ context.Context, id string) (auth.User, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.lookErr != nil {
		return auth.User{}, s.lookErr
	}
	u, ok := s.byID[id]
	if !ok {
		return auth.User{}, auth.ErrUserNotFound
	}
	return u, nil
}

func (s *memStore) SetPasswordHash(_ context.Context, id, oldHash, newHash string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.setErr != nil {
		return s.setErr
	}
	u, ok := s.byID[id]
	if !ok || u.PasswordHash != oldHash {
		return auth.ErrHashConflict
	}
	u.PasswordHash = newHash
	s.byID[id] = u
	s.sets++
	return nil
}

func (s *memStore) hash(id string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.byID[id].PasswordHash
}

// fakeThrottle records what it is told.
type fakeThrottle struct {
	mu        sync.Mutex
	retry     time.Duration
	err       error
	checks    []string
	failed    []string
	succeeded []string
	ips       []netip.Addr
}

func (f *fakeThrottle) Check(_ context.Context, account string, ip netip.Addr) (time.Duration, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.checks = append(f.checks, account)
	f.ips = append(f.ips, ip)
	return f.retry, f.err
}

func (f *fakeThrottle) Failed(_ context.Context, account string, _ netip.Addr) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.failed = append(f.failed, account)
	return nil
}

func (f *fakeThrottle) Succeeded(_ context.Context, account string, _ netip.Addr) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.succeeded = append(f.succeeded, account)
	return nil
}

var _ auth.Throttle = (*fakeThrottle)(nil)

type ctxMarker struct{}

// fakeRevoker records revocations, and which request's context they got.
type fakeRevoker struct {
	err   error
	calls []any // the ctxMarker value of each call's context
}

func (f *fakeRevoker) RevokeOthers(ctx context.Context) error {
	f.calls = append(f.calls, ctx.Value(ctxMarker{}))
	return f.err
}

type fixture struct {
	a        *auth.Authenticator
	h        *auth.Hasher
	store    *memStore
	throttle *fakeThrottle
	revoker  *fakeRevoker
	sink     *audit.MemorySink
}

const alicePassword = "velvet lantern orbit"

func newFixture(t testing.TB, hcfg auth.HasherConfig) *fixture {
	t.Helper()
	f := &fixture{h: newHasher(t, hcfg), throttle: &fakeThrottle{}, revoker: &fakeRevoker{}, sink: &audit.MemorySink{}}
	hash, err := f.h.Hash(context.Background(), alicePassword)
	require.NoError(t, err)
	f.store = newMemStore(
		auth.User{ID: "u1", Login: "alice", Email: "alice@example.org", PasswordHash: hash, Roles: []string{"seller"}},
		auth.User{ID: "u2", Login: "mallory", PasswordHash: hash, Disabled: true},
		auth.User{ID: "u3", Login: "broken", PasswordHash: "$argon2id$v=19$m=256,t=1,p=1$truncated"},
		auth.User{ID: "u4", Login: "rotated", PasswordHash: "$argon2id$v=19$m=256,t=1,p=1,keyid=gone$c29tZXNhbHQ$CTFhFdXPJO1aFaMaO6Mm5c8y7cJHAph8ArZWb2GRPPc"},
		auth.User{ID: "u5", Login: "admin", PasswordHash: hash, Roles: []string{"admin"}, MFAEnabled: true},
		auth.User{ID: "u6", Login: "sso"},
	)
	f.a, err = auth.NewAuthenticator(f.store, f.revoker, auth.AuthenticatorConfig{
		Hasher: f.h, Throttle: f.throttle, Audit: audit.New(f.sink, audit.Config{}),
		Logger: slog.New(slog.DiscardHandler),
	})
	require.NoError(t, err)
	return f
}

func loginRequest() *http.Request {
	r := httptest.NewRequest(http.MethodPost, "/login", nil)
	r.RemoteAddr = "203.0.113.9:5555"
	r.Header.Set("User-Agent", "test-browser/1.0")
	return r
}

// assertNoSecrets checks that no audit event carries a password or hash.
func assertNoSecrets(t *testing.T, events []audit.Event, secrets ...string) {
	t.Helper()
	b, err := json.Marshal(events)
	require.NoError(t, err)
	for _, s := range append(secrets, alicePassword, "$argon2id$", "$2a$", "$2b$") {
		assert.NotContains(t, string(b), s)
	}
}

func TestLoginSuccess(t *testing.T) {
	f := newFixture(t, auth.HasherConfig{})
	res, err := f.a.Login(loginRequest(), "Alice ", alicePassword)
	require.NoError(t, err)
	assert.False(t, res.ReadAt.IsZero())
	res.ReadAt = time.Time{}
	assert.Equal(t, auth.LoginResult{UserID: "u1", Roles: []string{"seller"}}, res)

	assert.Equal(t, []string{"alice"}, f.throttle.checks, "account key is folded")
	assert.Equal(t, []netip.Addr{netip.MustParseAddr("203.0.113.9")}, f.throttle.ips)
	assert.Equal(t, []string{"alice"}, f.throttle.succeeded)
	assert.Empty(t, f.throttle.failed)

	ev := f.sink.Events()
	require.Len(t, ev, 1)
	assert.Equal(t, audit.CategoryAuthentication, ev[0].Category)
	assert.Equal(t, "login.succeeded", ev[0].Action)
	assert.Equal(t, audit.OutcomeSuccess, ev[0].Outcome)
	assert.Equal(t, audit.Actor{UserID: "u1", Roles: []string{"seller"}}, ev[0].Actor)
	assert.Equal(t, netip.MustParseAddr("203.0.113.9"), ev[0].ClientIP)
	assert.Equal(t, "test-browser/1.0", ev[0].UserAgent)
	assertNoSecrets(t, ev)
}

// slowRead is a UserStore whose reads take a minute on clock.
type slowRead struct {
	auth.UserStore
	clock *testenv.Clock
}

func (s slowRead) UserByLogin(ctx context.Context, login string) (auth.User, error) {
	u, err := s.UserStore.UserByLogin(ctx, login)
	s.clock.Add(time.Minute)
	return u, err
}

// TestLoginReadAt: LoginResult.ReadAt is the Authenticator's clock just
// before the user was read, so that a revocation made after the read,
// while the password hashes, postdates it (see session.Manager.Login).
func TestLoginReadAt(t *testing.T) {
	f := newFixture(t, auth.HasherConfig{})
	t0 := time.Date(2026, 6, 25, 12, 0, 0, 0, time.UTC)
	clock := testenv.NewClock(t0)
	a, err := auth.NewAuthenticator(slowRead{f.store, clock}, f.revoker, auth.AuthenticatorConfig{Hasher: f.h, Now: clock.Now})
	require.NoError(t, err)
	res, err := a.Login(loginRequest(), "alice", alicePassword)
	require.NoError(t, err)
	assert.Equal(t, t0, res.ReadAt, "taken before the read")
	assert.Equal(t, t0.Add(time.Minute), clock.Now())
}

func TestLoginMFARequired(t *testing.T) {
	f := newFixture(t, auth.HasherConfig{})
	res, err := f.a.Login(loginRequest(), "admin", alicePassword)
	require.NoError(t, err)
	assert.True(t, res.MFARequired)
	assert.Equal(t, "true", f.sink.Events()[0].Meta["mfa_required"])
}

// TestLoginFailuresLookAlike: every way of failing returns the same error
// after exactly one hash, the dummy one when there is no usable real one.
// It fails if the unknown-user path ever skips hashing.
func TestLoginFailuresLookAlike(t *testing.T) {
	tests := []struct {
		name, login, password, reason, userID string
	}{
		{"unknown user (dummy hash)", "nobody", alicePassword, "unknown_user", ""},
		{"wrong password", "alice", "velvet lantern orbiT", "bad_password", "u1"},
		{"disabled, right password", "mallory", alicePassword, "disabled", "u2"},
		{"disabled, wrong password", "mallory", "guess", "bad_password", "u2"},
		{"malformed stored hash (dummy hash)", "broken", alicePassword, "stored_hash_invalid", "u3"},
		{"unknown pepper (dummy hash)", "rotated", alicePassword, "stored_hash_invalid", "u4"},
		{"no password (dummy hash)", "sso", alicePassword, "no_password", "u6"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, auth.HasherConfig{})
			before := f.h.Computations()
			res, err := f.a.Login(loginRequest(), tt.login, tt.password)
			assert.Equal(t, auth.ErrInvalidCredentials, err, "the very same error value")
			assert.Zero(t, res)
			assert.Equal(t, uint64(1), f.h.Computations()-before, "exactly one hash")
			assert.Equal(t, []string{tt.login}, f.throttle.failed)
			assert.Empty(t, f.throttle.succeeded)

			var failed *audit.Event
			for _, e := range f.sink.Events() {
				if e.Action == "login.failed" {
					failed = &e
				}
			}
			require.NotNil(t, failed)
			assert.Equal(t, audit.OutcomeFailure, failed.Outcome)
			assert.Equal(t, tt.reason, failed.Reason)
			assert.Equal(t, tt.userID, failed.Actor.UserID)
			if tt.userID == "" {
				assert.Equal(t, audit.TargetKindLogin, failed.Target.Kind)
				assert.Len(t, failed.Target.ID, 16, "unknown names are audited as a digest")
			} else {
				assert.Equal(t, audit.Target{Kind: audit.TargetKindUser, ID: tt.userID}, failed.Target)
			}
			assertNoSecrets(t, f.sink.Events(), tt.password)
		})
	}
}

func TestLoginInvalidStoredHashIsReported(t *testing.T) {
	f := newFixture(t, auth.HasherConfig{})
	_, err := f.a.Login(loginRequest(), "broken", alicePassword)
	require.ErrorIs(t, err, auth.ErrInvalidCredentials)
	ev := f.sink.Events()
	require.Len(t, ev, 2)
	assert.Equal(t, audit.CategoryError, ev[0].Category)
	assert.Equal(t, "password.hash_invalid", ev[0].Action)
	assert.Contains(t, ev[0].Reason, "malformed password hash")
}

func TestLoginThrottled(t *testing.T) {
	f := newFixture(t, auth.HasherConfig{})
	f.throttle.retry = 90 * time.Second
	before := f.h.Computations()
	_, err := f.a.Login(loginRequest(), "alice", alicePassword)
	var te *auth.ThrottledError
	require.ErrorAs(t, err, &te)
	assert.ErrorIs(t, err, auth.ErrThrottled)
	assert.Equal(t, 90*time.Second, te.RetryAfter)
	assert.Equal(t, "auth: too many login attempts: retry after 1m30s", err.Error())
	assert.Equal(t, before, f.h.Computations(), "throttled before hashing")

	ev := f.sink.Events()
	require.Len(t, ev, 1)
	assert.Equal(t, audit.CategorySuspicious, ev[0].Category)
	assert.Equal(t, "login.throttled", ev[0].Action)
	assert.Equal(t, audit.OutcomeDenied, ev[0].Outcome)
}

func TestLoginThrottleErrorFailsClosed(t *testing.T) {
	f := newFixture(t, auth.HasherConfig{})
	f.throttle.err = errors.New("redis: connection refused")
	before := f.h.Computations()
	_, err := f.a.Login(loginRequest(), "alice", alicePassword)
	require.Error(t, err)
	assert.NotErrorIs(t, err, auth.ErrInvalidCredentials)
	assert.ErrorContains(t, err, "auth: login: throttle: redis: connection refused")
	assert.Equal(t, before, f.h.Computations(), "no hashing")
	assert.Equal(t, "login.error", f.sink.Events()[0].Action)
}

func TestLoginStoreErrorIsNotUnknownUser(t *testing.T) {
	f := newFixture(t, auth.HasherConfig{})
	f.store.lookErr = errors.New("pq: too many connections")
	_, err := f.a.Login(loginRequest(), "alice", alicePassword)
	require.Error(t, err)
	assert.NotErrorIs(t, err, auth.ErrInvalidCredentials)
	assert.Empty(t, f.throttle.failed, "a store outage is not the user's failure")
	assert.Equal(t, audit.CategoryError, f.sink.Events()[0].Category)
}

func TestLoginPasswordTooLong(t *testing.T) {
	f := newFixture(t, auth.HasherConfig{MaxPasswordBytes: 64})
	before := f.h.Computations()
	_, err := f.a.Login(loginRequest(), "alice", strings.Repeat("a", 65))
	assert.ErrorIs(t, err, auth.ErrInvalidCredentials)
	assert.ErrorIs(t, err, auth.ErrPasswordTooLong)
	assert.Equal(t, before, f.h.Computations())
	assert.Equal(t, []string{"alice"}, f.throttle.failed)
	assert.Equal(t, "password_too_long", f.sink.Events()[0].Reason)

	_, err = f.a.Login(loginRequest(), strings.Repeat("n", 400), "x")
	assert.Equal(t, auth.ErrInvalidCredentials, err)
	_, err = f.a.Login(loginRequest(), "", "x")
	assert.Equal(t, auth.ErrInvalidCredentials, err)
}

func TestLoginCanceled(t *testing.T) {
	f := newFixture(t, auth.HasherConfig{})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := f.a.Login(loginRequest().WithContext(ctx), "nobody", alicePassword)
	assert.ErrorIs(t, err, context.Canceled)
	assert.NotErrorIs(t, err, auth.ErrInvalidCredentials)
}

func TestLoginRehashesOnSuccess(t *testing.T) {
	f := newFixture(t, auth.HasherConfig{})
	legacy, err := bcrypt.GenerateFromPassword([]byte(alicePassword), bcrypt.MinCost)
	require.NoError(t, err)
	f.store.byID["u1"] = auth.User{ID: "u1", Login: "alice", PasswordHash: string(legacy)}

	res, err := f.a.Login(loginRequest(), "alice", alicePassword)
	require.NoError(t, err)
	assert.True(t, res.Rehashed)
	upgraded := f.store.hash("u1")
	assert.True(t, strings.HasPrefix(upgraded, "$argon2id$v=19$m=256,t=1,p=1$"), upgraded)
	assert.False(t, f.h.NeedsRehash(upgraded))
	assert.Equal(t, "true", f.sink.Events()[0].Meta["rehashed"])

	res, err = f.a.Login(loginRequest(), "alice", alicePassword)
	require.NoError(t, err)
	assert.False(t, res.Rehashed)
	assert.Equal(t, 1, f.store.sets)

	t.Run("store failure does not fail the login", func(t *testing.T) {
		f := newFixture(t, auth.HasherConfig{})
		f.store.byID["u1"] = auth.User{ID: "u1", Login: "alice", PasswordHash: string(legacy)}
		f.store.setErr = errors.New("read-only replica")
		res, err := f.a.Login(loginRequest(), "alice", alicePassword)
		require.NoError(t, err)
		assert.False(t, res.Rehashed)
		assert.Equal(t, "login.error", f.sink.Events()[0].Action)
	})
	t.Run("conflict: the password changed meanwhile", func(t *testing.T) {
		f := newFixture(t, auth.HasherConfig{})
		f.store.byID["u1"] = auth.User{ID: "u1", Login: "alice", PasswordHash: string(legacy)}
		f.store.setErr = auth.ErrHashConflict
		res, err := f.a.Login(loginRequest(), "alice", alicePassword)
		require.NoError(t, err)
		assert.False(t, res.Rehashed)
	})
}

func TestLoginNormalisesPasswords(t *testing.T) {
	f := newFixture(t, auth.HasherConfig{})
	hash, err := f.a.HashNewPassword(context.Background(), auth.User{Login: "bob"}, "ｖｅｌｖｅｔ lantern orbit")
	require.NoError(t, err)
	f.store.byID["u9"] = auth.User{ID: "u9", Login: "bob", PasswordHash: hash}
	_, err = f.a.Login(loginRequest(), "bob", "velvet lantern orbit")
	assert.NoError(t, err, "full-width and ASCII are the same password after NFKC")
}

func TestChangePassword(t *testing.T) {
	const next = "quiet harbour lamps at dusk"
	t.Run("success", func(t *testing.T) {
		f := newFixture(t, auth.HasherConfig{})
		r := loginRequest()
		r = r.WithContext(context.WithValue(r.Context(), ctxMarker{}, "alice's session"))
		require.NoError(t, f.a.ChangePassword(r, "u1", alicePassword, next))
		assert.Equal(t, []any{"alice's session"}, f.revoker.calls, "the revoker gets the request's context")
		_, err := f.a.Login(loginRequest(), "alice", alicePassword)
		assert.ErrorIs(t, err, auth.ErrInvalidCredentials)
		_, err = f.a.Login(loginRequest(), "alice", next)
		assert.NoError(t, err)

		ev := f.sink.Events()[0]
		assert.Equal(t, "password.changed", ev.Action)
		assert.Equal(t, audit.OutcomeSuccess, ev.Outcome)
		assert.Equal(t, "u1", ev.Actor.UserID)
		assert.Equal(t, "true", ev.Meta["sessions_revoked"])
		assertNoSecrets(t, f.sink.Events(), next)
	})

	tests := []struct {
		name     string
		setup    func(*fixture)
		userID   string
		current  string
		next     string
		wantErr  error
		wantCode auth.PolicyCode
	}{
		{"attack: wrong current password", nil, "u1", "guess", next, auth.ErrInvalidCredentials, ""},
		{"disabled account", nil, "u2", alicePassword, next, auth.ErrInvalidCredentials, ""},
		{"unknown user", nil, "u404", alicePassword, next, auth.ErrInvalidCredentials, ""},
		{"account without a password", nil, "u6", "", next, auth.ErrInvalidCredentials, ""},
		{"throttled", func(f *fixture) { f.throttle.retry = time.Minute }, "u1", alicePassword, next, auth.ErrThrottled, ""},
		{"unchanged", nil, "u1", alicePassword, "velvet lantern ｏｒｂｉｔ", nil, auth.CodeUnchanged},
		{"too short", nil, "u1", alicePassword, "short one", nil, auth.CodeTooShort},
		{"short common password without MFA", nil, "u1", alicePassword, "password1", nil, auth.CodeTooShort},
		{"common with MFA minimum", nil, "u5", alicePassword, "password1", nil, auth.CodeCommon},
		{"context word", nil, "u1", alicePassword, "alice-example-2026!", nil, auth.CodeContextWord},
		{"attack: 3 MiB new password", nil, "u1", alicePassword, strings.Repeat("ｐ", 1<<20), nil, auth.CodeTooLong},
		{"conflict", func(f *fixture) { f.store.setErr = auth.ErrHashConflict }, "u1", alicePassword, next, auth.ErrHashConflict, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, auth.HasherConfig{})
			if tt.setup != nil {
				tt.setup(f)
			}
			before := f.store.hash(tt.userID)
			err := f.a.ChangePassword(loginRequest(), tt.userID, tt.current, tt.next)
			require.Error(t, err)
			if tt.wantErr != nil {
				assert.ErrorIs(t, err, tt.wantErr)
			}
			assert.Equal(t, tt.wantCode, codeOf(err))
			assert.Empty(t, f.revoker.calls, "nothing revoked")
			assert.Equal(t, before, f.store.hash(tt.userID), "hash unchanged")
			assertNoSecrets(t, f.sink.Events(), tt.next)
		})
	}

	t.Run("wrong current password counts as a failed attempt", func(t *testing.T) {
		f := newFixture(t, auth.HasherConfig{})
		_ = f.a.ChangePassword(loginRequest(), "u1", "guess", next)
		assert.Equal(t, []string{"alice"}, f.throttle.failed)
		assert.Equal(t, "password.change.failed", f.sink.Events()[0].Action)
		assert.Equal(t, "bad_password", f.sink.Events()[0].Reason)
	})
	t.Run("revocation failure is reported, password changed", func(t *testing.T) {
		f := newFixture(t, auth.HasherConfig{})
		f.revoker.err = errors.New("session store down")
		err := f.a.ChangePassword(loginRequest(), "u1", alicePassword, next)
		assert.ErrorIs(t, err, auth.ErrSessionsNotRevoked)
		_, err = f.a.Login(loginRequest(), "alice", next)
		assert.NoError(t, err)
	})
}

func TestHashNewPassword(t *testing.T) {
	f := newFixture(t, auth.HasherConfig{})
	ctx := context.Background()
	_, err := f.a.HashNewPassword(ctx, auth.User{Login: "carol", Email: "carol@example.org"}, "carol-example-2026")
	assert.Equal(t, auth.CodeContextWord, codeOf(err))
	_, err = f.a.HashNewPassword(ctx, auth.User{}, strings.Repeat("x", 5000))
	assert.Equal(t, auth.CodeTooLong, codeOf(err))
	h, err := f.a.HashNewPassword(ctx, auth.User{Login: "carol"}, "quiet harbour lamps")
	require.NoError(t, err)
	_, err = f.h.Verify(ctx, "quiet harbour lamps", h)
	assert.NoError(t, err)
}

func TestNewAuthenticator(t *testing.T) {
	_, err := auth.NewAuthenticator(nil, &fakeRevoker{}, auth.AuthenticatorConfig{})
	assert.Error(t, err)
	_, err = auth.NewAuthenticator(newMemStore(), nil, auth.AuthenticatorConfig{})
	assert.ErrorContains(t, err, "SessionRevoker is nil")
	a, err := auth.NewAuthenticator(newMemStore(), &fakeRevoker{}, auth.AuthenticatorConfig{})
	require.NoError(t, err)
	assert.NotNil(t, a)
}
