package auth_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/crypto/bcrypt"

	"github.com/deployedworks/rampart/audit"
	"github.com/deployedworks/rampart/auth"
	"github.com/deployedworks/rampart/auth/password"
	"github.com/deployedworks/rampart/clientip"
	"github.com/deployedworks/rampart/identity"
	"github.com/deployedworks/rampart/internal/testenv"
	"github.com/deployedworks/rampart/ratelimit"
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

func (f *fakeThrottle) Check(ctx context.Context, account string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.checks = append(f.checks, account)
	info, _ := clientip.FromContext(ctx)
	f.ips = append(f.ips, info.Addr)
	if f.retry > 0 {
		return &ratelimit.LimitedError{RetryAfter: f.retry}
	}
	return f.err
}

func (f *fakeThrottle) Failed(_ context.Context, account string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.failed = append(f.failed, account)
	return nil
}

func (f *fakeThrottle) Succeeded(_ context.Context, account string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.succeeded = append(f.succeeded, account)
	return nil
}

var _ auth.Throttle = (*fakeThrottle)(nil)

type ctxMarker struct{}

// fakeSessions records sign-ins and revocations, and which request's
// context revocations got.
type fakeSessions struct {
	mu       sync.Mutex
	err      error              // returned by RevokeOthers
	loginErr error              // returned by Login
	logins   int                // sign-ins
	last     identity.Principal // the last principal signed in
	calls    []any              // the ctxMarker value of each RevokeOthers call's context
	reauths  []identity.Method  // the methods of each Reauthenticate call
}

func (f *fakeSessions) Login(_ context.Context, p identity.Principal) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.loginErr != nil {
		return f.loginErr
	}
	f.logins++
	f.last = p
	return nil
}

func (f *fakeSessions) RevokeOthers(ctx context.Context) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, ctx.Value(ctxMarker{}))
	return f.err
}

func (f *fakeSessions) Reauthenticate(_ context.Context, m identity.Method) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.reauths = append(f.reauths, m)
	return nil
}

var _ auth.Sessions = (*fakeSessions)(nil)

type fixture struct {
	a        *auth.Authenticator
	h        *password.Hasher
	probe    *hashProbe
	store    *memStore
	throttle *fakeThrottle
	sessions *fakeSessions
	sink     *audit.MemorySink
}

// newHasher returns a Hasher with cheap parameters, unless cfg sets them,
// and the probe that watches its hashing through HasherConfig.OnHash.
func newHasher(t testing.TB, cfg password.HasherConfig) (*password.Hasher, *hashProbe) {
	t.Helper()
	if cfg.Params == (password.Params{}) {
		cfg.Params = password.Params{Memory: 256, Time: 1, Threads: 1}
	}
	cfg.AllowWeakParams = true
	p := &hashProbe{}
	cfg.OnHash = p.onHash
	h, err := password.NewHasher(cfg)
	require.NoError(t, err)
	p.h = h
	return h, p
}

// hashProbe watches a Hasher through HasherConfig.OnHash, which the
// Hasher calls for every hash it computes while the hash holds its slot:
// it counts the hashes, and holds one in its slot for holdSlot.
type hashProbe struct {
	h        *password.Hasher
	computed atomic.Uint64

	mu      sync.Mutex
	entered chan struct{} // closed when the hash to hold reaches onHash
	gate    chan struct{} // the held hash leaves onHash when it is closed
}

func (p *hashProbe) onHash(time.Duration) {
	p.mu.Lock()
	entered, gate := p.entered, p.gate
	p.entered, p.gate = nil, nil
	p.mu.Unlock()
	if gate != nil { // holdSlot's own hash: held, not counted
		close(entered)
		<-gate
		return
	}
	p.computed.Add(1)
}

// computations returns how many hashes the Hasher has computed (Argon2 or
// bcrypt), the one holdSlot holds aside.
func (p *hashProbe) computations() uint64 { return p.computed.Load() }

// holdSlot takes one of the Hasher's hashing slots, admitted as a request
// of the client recorded in ctx (if any), until release is called: it
// starts a hash and holds it in OnHash, which runs inside the slot. No
// other hash may be running when it is called.
func (p *hashProbe) holdSlot(ctx context.Context) (release func(), err error) {
	entered, gate := make(chan struct{}), make(chan struct{})
	p.mu.Lock()
	p.entered, p.gate = entered, gate
	p.mu.Unlock()
	done := make(chan error, 1)
	go func() {
		_, err := p.h.Hash(ctx, "held in its slot")
		done <- err
	}()
	select {
	case <-entered:
		return func() { close(gate); <-done }, nil
	case err := <-done: // refused: nothing to hold
		p.mu.Lock()
		p.entered, p.gate = nil, nil
		p.mu.Unlock()
		return nil, err
	}
}

// peers resolves test requests' clients as a server without proxies does.
var peers = clientip.MustNew(nil, clientip.Config{})

// withClient returns r as the clientip middleware passes it on, with its
// peer's address in the context.
func withClient(r *http.Request) *http.Request {
	return r.WithContext(clientip.WithInfo(r.Context(), peers.Resolve(r)))
}

// signedIn returns r as the session layer passes it on for userID.
func signedIn(r *http.Request, userID string) *http.Request {
	return r.WithContext(identity.NewContext(r.Context(), identity.Principal{UserID: userID, SessionRef: "s-" + userID}))
}

const alicePassword = "velvet lantern orbit"

func newFixture(t testing.TB, hcfg password.HasherConfig) *fixture {
	t.Helper()
	f := &fixture{throttle: &fakeThrottle{}, sessions: &fakeSessions{}, sink: &audit.MemorySink{}}
	f.h, f.probe = newHasher(t, hcfg)
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
	f.a, err = auth.NewAuthenticator(f.store, f.sessions, auth.AuthenticatorConfig{
		Hasher: f.h, Throttle: f.throttle, Audit: audit.MustNew(f.sink, audit.Config{}),
	})
	require.NoError(t, err)
	return f
}

// bareLoginRequest is a login request that has passed through no
// middleware.
func bareLoginRequest() *http.Request {
	r := httptest.NewRequest(http.MethodPost, "/login", nil)
	r.RemoteAddr = "203.0.113.9:5555"
	r.Header.Set("User-Agent", "test-browser/1.0")
	return r
}

// loginRequest is a login request from 203.0.113.9 past the clientip
// middleware.
func loginRequest() *http.Request { return withClient(bareLoginRequest()) }

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
	f := newFixture(t, password.HasherConfig{})
	res, err := f.a.Login(loginRequest(), "Alice ", alicePassword)
	require.NoError(t, err)
	assert.False(t, res.Principal.AuthTime.IsZero())
	assert.Equal(t, 1, f.sessions.logins, "Login signs the session in itself")
	assert.Equal(t, res.Principal, f.sessions.last)
	res.Principal.AuthTime = time.Time{}
	assert.Equal(t, auth.LoginResult{Principal: identity.Principal{UserID: "u1", Roles: []string{"seller"},
		Methods: []identity.Method{identity.MethodPassword}}}, res)

	assert.Equal(t, []string{"alice"}, f.throttle.checks, "account key is folded")
	assert.Equal(t, []netip.Addr{netip.MustParseAddr("203.0.113.9")}, f.throttle.ips)
	assert.Equal(t, []string{"alice"}, f.throttle.succeeded)
	assert.Empty(t, f.throttle.failed)

	ev := f.sink.Events()
	require.Len(t, ev, 1)
	assert.Equal(t, audit.CategoryAuthentication, ev[0].Category)
	assert.Equal(t, audit.ActionLoginSucceeded, ev[0].Action)
	assert.Equal(t, audit.OutcomeSuccess, ev[0].Outcome)
	assert.Equal(t, identity.Principal{UserID: "u1", Roles: []string{"seller"}}, ev[0].Actor)
	assert.Equal(t, netip.MustParseAddr("203.0.113.9"), ev[0].ClientIP)
	assert.Equal(t, "test-browser/1.0", ev[0].UserAgent)
	assertNoSecrets(t, ev)
}

// slowRead is a UserStore whose reads take a minute: on clock when set,
// else on the (synctest bubble's) real clock.
type slowRead struct {
	auth.UserStore
	clock *testenv.Clock
}

func (s slowRead) UserByLogin(ctx context.Context, login string) (auth.User, error) {
	u, err := s.UserStore.UserByLogin(ctx, login)
	if s.clock != nil {
		s.clock.Add(time.Minute)
	} else {
		time.Sleep(time.Minute)
	}
	return u, err
}

// TestLoginAuthTime: the principal's AuthTime is the clock just before
// the user was read, so that a revocation made after the read, while the
// password hashes, postdates it (the session layer compares them).
func TestLoginAuthTime(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFixture(t, password.HasherConfig{})
		a, err := auth.NewAuthenticator(slowRead{UserStore: f.store}, f.sessions, auth.AuthenticatorConfig{Hasher: f.h})
		require.NoError(t, err)
		t0 := time.Now()
		res, err := a.Login(loginRequest(), "alice", alicePassword)
		require.NoError(t, err)
		assert.True(t, t0.Equal(res.Principal.AuthTime), "taken before the read: %v", res.Principal.AuthTime)
		assert.True(t, t0.Equal(f.sessions.last.AuthTime), "and so signed in")
		assert.Equal(t, time.Minute, time.Since(t0))
	})
	t.Run("the session layer's clock", func(t *testing.T) {
		f := newFixture(t, password.HasherConfig{})
		t0 := time.Date(2026, 6, 25, 12, 0, 0, 0, time.UTC)
		clock := testenv.NewClock(t0)
		a, err := auth.NewAuthenticator(slowRead{f.store, clock}, f.sessions, auth.AuthenticatorConfig{Hasher: f.h, Now: clock.Now})
		require.NoError(t, err)
		res, err := a.Login(loginRequest(), "alice", alicePassword)
		require.NoError(t, err)
		assert.Equal(t, t0, res.Principal.AuthTime, "taken before the read")
		assert.Equal(t, t0.Add(time.Minute), clock.Now())
	})
}

// TestLoginSessionFailure: when the session layer cannot sign the user in
// (its store is down, or the account was revoked during the login), Login
// fails with its error, audited, and no success is recorded.
func TestLoginSessionFailure(t *testing.T) {
	f := newFixture(t, password.HasherConfig{})
	f.sessions.loginErr = errors.New("session store down")
	_, err := f.a.Login(loginRequest(), "alice", alicePassword)
	require.ErrorContains(t, err, "session store down")
	assert.NotErrorIs(t, err, auth.ErrInvalidCredentials)
	ev := f.sink.Events()
	require.Len(t, ev, 1)
	assert.Equal(t, auth.ActionLoginError, ev[0].Action)
	assert.Contains(t, ev[0].Reason, "signing in the session")
}

// TestLoginWithoutClientAddressFailsClosed is the regression test for a
// login throttle keyed on the proxy: with the client address optional, an
// app that forgot the resolver had every login counted against the
// proxy's address (one shared budget, and per-client hashing bounds that
// bound nothing). Now Login and ChangePassword refuse, before any lookup,
// throttle check or hash, with an error wrapping clientip.ErrNoClient.
func TestLoginWithoutClientAddressFailsClosed(t *testing.T) {
	f := newFixture(t, password.HasherConfig{})
	before := f.probe.computations()
	_, err := f.a.Login(bareLoginRequest(), "alice", alicePassword)
	require.ErrorIs(t, err, clientip.ErrNoClient)
	assert.NotErrorIs(t, err, auth.ErrInvalidCredentials)
	err = f.a.ChangePassword(signedIn(bareLoginRequest(), "u1"), alicePassword, "quiet harbour lamps at dusk")
	require.ErrorIs(t, err, clientip.ErrNoClient)

	assert.Empty(t, f.throttle.checks, "the throttle was never asked, so never keyed on the proxy")
	assert.Empty(t, f.throttle.failed)
	assert.Equal(t, before, f.probe.computations(), "nothing hashed")
	assert.Zero(t, f.sessions.logins)
	assert.Empty(t, f.sessions.calls)
	ev := f.sink.Events()
	require.Len(t, ev, 2)
	assert.Equal(t, auth.ActionLoginError, ev[0].Action)
	assert.Equal(t, auth.ActionPasswordChangeError, ev[1].Action)

	// Behind the clientip middleware, the throttle gets the client's
	// address, not the proxy's.
	_, err = f.a.Login(loginRequest(), "alice", alicePassword)
	require.NoError(t, err)
	assert.Equal(t, []netip.Addr{netip.MustParseAddr("203.0.113.9")}, f.throttle.ips)
}

func TestLoginMFARequired(t *testing.T) {
	f := newFixture(t, password.HasherConfig{})
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
			f := newFixture(t, password.HasherConfig{})
			before := f.probe.computations()
			res, err := f.a.Login(loginRequest(), tt.login, tt.password)
			assert.Equal(t, auth.ErrInvalidCredentials, err, "the very same error value")
			assert.Zero(t, res)
			assert.Equal(t, uint64(1), f.probe.computations()-before, "exactly one hash")
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
	f := newFixture(t, password.HasherConfig{})
	_, err := f.a.Login(loginRequest(), "broken", alicePassword)
	require.ErrorIs(t, err, auth.ErrInvalidCredentials)
	ev := f.sink.Events()
	require.Len(t, ev, 2)
	assert.Equal(t, audit.CategoryError, ev[0].Category)
	assert.Equal(t, auth.ActionPasswordHashInvalid, ev[0].Action)
	assert.Contains(t, ev[0].Reason, "malformed password hash")
}

func TestLoginThrottled(t *testing.T) {
	f := newFixture(t, password.HasherConfig{})
	f.throttle.retry = 90 * time.Second
	before := f.probe.computations()
	_, err := f.a.Login(loginRequest(), "alice", alicePassword)
	var te *ratelimit.LimitedError
	require.ErrorAs(t, err, &te)
	assert.ErrorIs(t, err, ratelimit.ErrLimited)
	assert.Equal(t, 90*time.Second, te.RetryAfter)
	assert.Equal(t, "ratelimit: limit exceeded: retry after 90s", err.Error())
	assert.Equal(t, before, f.probe.computations(), "throttled before hashing")

	ev := f.sink.Events()
	require.Len(t, ev, 1)
	assert.Equal(t, audit.CategorySuspicious, ev[0].Category)
	assert.Equal(t, auth.ActionLoginThrottled, ev[0].Action)
	assert.Equal(t, audit.OutcomeDenied, ev[0].Outcome)
}

func TestLoginThrottleErrorFailsClosed(t *testing.T) {
	f := newFixture(t, password.HasherConfig{})
	f.throttle.err = errors.New("redis: connection refused")
	before := f.probe.computations()
	_, err := f.a.Login(loginRequest(), "alice", alicePassword)
	require.Error(t, err)
	assert.NotErrorIs(t, err, auth.ErrInvalidCredentials)
	assert.ErrorContains(t, err, "auth: login: throttle: redis: connection refused")
	assert.Equal(t, before, f.probe.computations(), "no hashing")
	assert.Equal(t, auth.ActionLoginError, f.sink.Events()[0].Action)
}

func TestLoginStoreErrorIsNotUnknownUser(t *testing.T) {
	f := newFixture(t, password.HasherConfig{})
	f.store.lookErr = errors.New("pq: too many connections")
	_, err := f.a.Login(loginRequest(), "alice", alicePassword)
	require.Error(t, err)
	assert.NotErrorIs(t, err, auth.ErrInvalidCredentials)
	assert.Empty(t, f.throttle.failed, "a store outage is not the user's failure")
	assert.Equal(t, audit.CategoryError, f.sink.Events()[0].Category)
}

func TestLoginPasswordTooLong(t *testing.T) {
	f := newFixture(t, password.HasherConfig{MaxPasswordBytes: 64})
	before := f.probe.computations()
	_, err := f.a.Login(loginRequest(), "alice", strings.Repeat("a", 65))
	assert.ErrorIs(t, err, auth.ErrInvalidCredentials)
	assert.ErrorIs(t, err, password.ErrPasswordTooLong)
	assert.Equal(t, before, f.probe.computations())
	assert.Equal(t, []string{"alice"}, f.throttle.failed)
	assert.Equal(t, "password_too_long", f.sink.Events()[0].Reason)

	_, err = f.a.Login(loginRequest(), strings.Repeat("n", 400), "x")
	assert.Equal(t, auth.ErrInvalidCredentials, err)
	_, err = f.a.Login(loginRequest(), "", "x")
	assert.Equal(t, auth.ErrInvalidCredentials, err)
}

func TestLoginCanceled(t *testing.T) {
	f := newFixture(t, password.HasherConfig{})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := f.a.Login(withClient(bareLoginRequest().WithContext(ctx)), "nobody", alicePassword)
	assert.ErrorIs(t, err, context.Canceled)
	assert.NotErrorIs(t, err, auth.ErrInvalidCredentials)
}

func TestLoginRehashesOnSuccess(t *testing.T) {
	f := newFixture(t, password.HasherConfig{})
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
		f := newFixture(t, password.HasherConfig{})
		f.store.byID["u1"] = auth.User{ID: "u1", Login: "alice", PasswordHash: string(legacy)}
		f.store.setErr = errors.New("read-only replica")
		res, err := f.a.Login(loginRequest(), "alice", alicePassword)
		require.NoError(t, err)
		assert.False(t, res.Rehashed)
		assert.Equal(t, auth.ActionLoginError, f.sink.Events()[0].Action)
	})
	t.Run("conflict: the password changed meanwhile", func(t *testing.T) {
		f := newFixture(t, password.HasherConfig{})
		f.store.byID["u1"] = auth.User{ID: "u1", Login: "alice", PasswordHash: string(legacy)}
		f.store.setErr = auth.ErrHashConflict
		res, err := f.a.Login(loginRequest(), "alice", alicePassword)
		require.NoError(t, err)
		assert.False(t, res.Rehashed)
	})
}

func TestLoginNormalisesPasswords(t *testing.T) {
	f := newFixture(t, password.HasherConfig{})
	hash, err := f.a.HashNewPassword(context.Background(), auth.User{Login: "bob"}, "ｖｅｌｖｅｔ lantern orbit")
	require.NoError(t, err)
	f.store.byID["u9"] = auth.User{ID: "u9", Login: "bob", PasswordHash: hash}
	_, err = f.a.Login(loginRequest(), "bob", "velvet lantern orbit")
	assert.NoError(t, err, "full-width and ASCII are the same password after NFKC")
}

func TestChangePassword(t *testing.T) {
	const next = "quiet harbour lamps at dusk"
	t.Run("success", func(t *testing.T) {
		f := newFixture(t, password.HasherConfig{})
		r := loginRequest()
		r = r.WithContext(context.WithValue(r.Context(), ctxMarker{}, "alice's session"))
		require.NoError(t, f.a.ChangePassword(signedIn(r, "u1"), alicePassword, next))
		assert.Equal(t, []any{"alice's session"}, f.sessions.calls, "the revoker gets the request's context")
		assert.Equal(t, []identity.Method{identity.MethodPassword}, f.sessions.reauths,
			"the checked current password is a re-authentication, which the session layer asks of RevokeOthers")
		_, err := f.a.Login(loginRequest(), "alice", alicePassword)
		assert.ErrorIs(t, err, auth.ErrInvalidCredentials)
		_, err = f.a.Login(loginRequest(), "alice", next)
		assert.NoError(t, err)

		ev := f.sink.Events()[0]
		assert.Equal(t, auth.ActionPasswordChanged, ev.Action)
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
		wantCode password.PolicyCode
	}{
		{"attack: wrong current password", nil, "u1", "guess", next, auth.ErrInvalidCredentials, ""},
		{"disabled account", nil, "u2", alicePassword, next, auth.ErrInvalidCredentials, ""},
		{"unknown user", nil, "u404", alicePassword, next, auth.ErrInvalidCredentials, ""},
		{"account without a password", nil, "u6", "", next, auth.ErrInvalidCredentials, ""},
		{"throttled", func(f *fixture) { f.throttle.retry = time.Minute }, "u1", alicePassword, next, ratelimit.ErrLimited, ""},
		{"unchanged", nil, "u1", alicePassword, "velvet lantern ｏｒｂｉｔ", nil, password.CodeUnchanged},
		{"too short", nil, "u1", alicePassword, "short one", nil, password.CodeTooShort},
		{"short common password without MFA", nil, "u1", alicePassword, "password1", nil, password.CodeTooShort},
		{"common with MFA minimum", nil, "u5", alicePassword, "password1", nil, password.CodeCommon},
		{"context word", nil, "u1", alicePassword, "alice-example-2026!", nil, password.CodeContextWord},
		{"attack: 3 MiB new password", nil, "u1", alicePassword, strings.Repeat("ｐ", 1<<20), nil, password.CodeTooLong},
		{"conflict", func(f *fixture) { f.store.setErr = auth.ErrHashConflict }, "u1", alicePassword, next, auth.ErrHashConflict, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, password.HasherConfig{})
			if tt.setup != nil {
				tt.setup(f)
			}
			before := f.store.hash(tt.userID)
			err := f.a.ChangePassword(signedIn(loginRequest(), tt.userID), tt.current, tt.next)
			require.Error(t, err)
			if tt.wantErr != nil {
				assert.ErrorIs(t, err, tt.wantErr)
			}
			assert.Equal(t, tt.wantCode, codeOf(err))
			assert.Empty(t, f.sessions.calls, "nothing revoked")
			assert.Equal(t, before, f.store.hash(tt.userID), "hash unchanged")
			assertNoSecrets(t, f.sink.Events(), tt.next)
		})
	}

	t.Run("wrong current password counts as a failed attempt", func(t *testing.T) {
		f := newFixture(t, password.HasherConfig{})
		_ = f.a.ChangePassword(signedIn(loginRequest(), "u1"), "guess", next)
		assert.Equal(t, []string{"alice"}, f.throttle.failed)
		assert.Equal(t, auth.ActionPasswordChangeFailed, f.sink.Events()[0].Action)
		assert.Equal(t, "bad_password", f.sink.Events()[0].Reason)
	})
	t.Run("revocation failure is reported, password changed", func(t *testing.T) {
		f := newFixture(t, password.HasherConfig{})
		f.sessions.err = errors.New("session store down")
		err := f.a.ChangePassword(signedIn(loginRequest(), "u1"), alicePassword, next)
		assert.ErrorIs(t, err, auth.ErrSessionsNotRevoked)
		_, err = f.a.Login(loginRequest(), "alice", next)
		assert.NoError(t, err)
	})
}

func TestHashNewPassword(t *testing.T) {
	f := newFixture(t, password.HasherConfig{})
	ctx := context.Background()
	_, err := f.a.HashNewPassword(ctx, auth.User{Login: "carol", Email: "carol@example.org"}, "carol-example-2026")
	assert.Equal(t, password.CodeContextWord, codeOf(err))
	_, err = f.a.HashNewPassword(ctx, auth.User{}, strings.Repeat("x", 5000))
	assert.Equal(t, password.CodeTooLong, codeOf(err))
	h, err := f.a.HashNewPassword(ctx, auth.User{Login: "carol"}, "quiet harbour lamps")
	require.NoError(t, err)
	_, err = f.h.Verify(ctx, "quiet harbour lamps", h)
	assert.NoError(t, err)
}

func TestNewAuthenticator(t *testing.T) {
	_, err := auth.NewAuthenticator(nil, &fakeSessions{}, auth.AuthenticatorConfig{})
	assert.Error(t, err)
	_, err = auth.NewAuthenticator(newMemStore(), nil, auth.AuthenticatorConfig{})
	assert.ErrorContains(t, err, "Sessions is nil")
	a, err := auth.NewAuthenticator(newMemStore(), &fakeSessions{}, auth.AuthenticatorConfig{})
	require.NoError(t, err)
	assert.NotNil(t, a)
}

// codeOf returns the PolicyError code of err, or "" if it is none.
func codeOf(err error) password.PolicyCode {
	var pe *password.PolicyError
	if errors.As(err, &pe) {
		return pe.Code
	}
	return ""
}

// TestReauthenticate: ASVS 5.0 §7.5. The signed-in user's password, and
// only it, records a re-authentication in the session; a wrong one is a
// throttled, audited failure that records nothing.
func TestReauthenticate(t *testing.T) {
	for _, r := range []struct {
		name    string
		setup   func(*fixture)
		userID  string
		pw      string
		wantErr error
	}{
		{"right password", nil, "u1", alicePassword, nil},
		{"attack: wrong password", nil, "u1", "guess", auth.ErrInvalidCredentials},
		{"attack: another user's password", nil, "u5", alicePassword + "x", auth.ErrInvalidCredentials},
		{"disabled account", nil, "u2", alicePassword, auth.ErrInvalidCredentials},
		{"account without a password", nil, "u6", "", auth.ErrInvalidCredentials},
		{"attack: 3 MiB password", nil, "u1", strings.Repeat("p", 3<<20), auth.ErrInvalidCredentials},
		{"throttled", func(f *fixture) { f.throttle.retry = time.Minute }, "u1", alicePassword, ratelimit.ErrLimited},
		{"not signed in", nil, "", alicePassword, auth.ErrUnauthenticated},
	} {
		t.Run(r.name, func(t *testing.T) {
			f := newFixture(t, password.HasherConfig{})
			if r.setup != nil {
				r.setup(f)
			}
			req := loginRequest()
			if r.userID != "" {
				req = signedIn(req, r.userID)
			}
			err := f.a.Reauthenticate(req, r.pw)
			if r.wantErr == nil {
				require.NoError(t, err)
				assert.Equal(t, []identity.Method{identity.MethodPassword}, f.sessions.reauths)
				assert.Len(t, f.throttle.succeeded, 1)
				return
			}
			assert.ErrorIs(t, err, r.wantErr)
			assert.Empty(t, f.sessions.reauths, "nothing recorded")
			if errors.Is(r.wantErr, auth.ErrInvalidCredentials) {
				evs := f.sink.Events()
				require.NotEmpty(t, evs)
				assert.Equal(t, auth.ActionReauthFailed, evs[len(evs)-1].Action)
			}
			if r.pw == "guess" {
				assert.Len(t, f.throttle.failed, 1, "a wrong password counts with the login throttle")
			}
		})
	}
}
