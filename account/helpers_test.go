package account_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"regexp"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/deployedworks/rampart/account"
	"github.com/deployedworks/rampart/audit"
	"github.com/deployedworks/rampart/auth"
	"github.com/deployedworks/rampart/auth/password"
	"github.com/deployedworks/rampart/clientip"
	"github.com/deployedworks/rampart/identity"
	"github.com/deployedworks/rampart/mfa"
	"github.com/deployedworks/rampart/notify"
	"github.com/deployedworks/rampart/ratelimit"
	"github.com/deployedworks/rampart/token"
)

// users is the app's user table, in memory: the app side of the flows,
// with compare-and-swap on the hash and the address and a unique,
// case-insensitive address. calls counts every method call; a lookup by
// an address in block waits on release first.
type users struct {
	mu       sync.Mutex
	byID     map[string]*row
	calls    atomic.Int64
	block    map[string]bool
	entered  chan string
	release  chan struct{}
	verified map[string]string // user ID → verified address
}

type row struct{ auth.User }

func newUsers() *users {
	return &users{byID: map[string]*row{}, verified: map[string]string{}}
}

func (s *users) add(u auth.User) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.byID[u.ID] = &row{u}
}

func (s *users) get(id string) auth.User {
	s.mu.Lock()
	defer s.mu.Unlock()
	u := s.byID[id].User
	u.Roles = slices.Clone(u.Roles)
	return u
}

func (s *users) UserByLogin(_ context.Context, login string) (auth.User, error) {
	s.calls.Add(1)
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, r := range s.byID {
		if r.Login == login {
			return r.User, nil
		}
	}
	return auth.User{}, auth.ErrUserNotFound
}

func (s *users) UserByID(_ context.Context, id string) (auth.User, error) {
	s.calls.Add(1)
	s.mu.Lock()
	defer s.mu.Unlock()
	if r, ok := s.byID[id]; ok {
		return r.User, nil
	}
	return auth.User{}, auth.ErrUserNotFound
}

func (s *users) UserByEmail(ctx context.Context, email string) (auth.User, error) {
	s.calls.Add(1)
	if s.block[email] {
		s.entered <- email
		select {
		case <-s.release:
		case <-ctx.Done():
			return auth.User{}, ctx.Err()
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if r := s.byEmail(email); r != nil {
		return r.User, nil
	}
	return auth.User{}, auth.ErrUserNotFound
}

func (s *users) byEmail(email string) *row {
	for _, r := range s.byID {
		if strings.EqualFold(r.Email, email) {
			return r
		}
	}
	return nil
}

func (s *users) SetPasswordHash(_ context.Context, userID, oldHash, newHash string) error {
	s.calls.Add(1)
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.byID[userID]
	if !ok {
		return auth.ErrUserNotFound
	}
	if r.PasswordHash != oldHash {
		return auth.ErrHashConflict
	}
	r.PasswordHash = newHash
	return nil
}

func (s *users) SetEmail(_ context.Context, userID, oldEmail, newEmail string) error {
	s.calls.Add(1)
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.byID[userID]
	if !ok {
		return auth.ErrUserNotFound
	}
	if r.Email != oldEmail {
		return account.ErrEmailConflict
	}
	if o := s.byEmail(newEmail); o != nil && o.ID != userID {
		return account.ErrEmailTaken
	}
	r.Email = newEmail
	delete(s.verified, userID)
	return nil
}

func (s *users) SetEmailVerified(_ context.Context, userID, email string) error {
	s.calls.Add(1)
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.byID[userID]
	if !ok {
		return auth.ErrUserNotFound
	}
	if r.Email != email {
		return account.ErrEmailConflict
	}
	s.verified[userID] = email
	return nil
}

func (s *users) isVerified(userID string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.verified[userID]
}

// create inserts a user the way a sign-up handler would.
func (s *users) create(id, email, hash string) func(context.Context) (string, error) {
	return func(context.Context) (string, error) {
		s.mu.Lock()
		defer s.mu.Unlock()
		if s.byEmail(email) != nil {
			return "", account.ErrEmailTaken
		}
		s.byID[id] = &row{auth.User{ID: id, Login: email, Email: email, PasswordHash: hash}}
		return id, nil
	}
}

// outbox records queued messages, one per Key as notify's outbox keeps
// them.
type outbox struct {
	mu   sync.Mutex
	msgs []notify.Message
	fail error
}

func (o *outbox) Enqueue(_ context.Context, m notify.Message) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.fail != nil {
		return o.fail
	}
	if m.Key == "" || m.To == "" || m.Kind == "" || m.Text == "" {
		return errors.New("outbox: invalid message")
	}
	for _, x := range o.msgs {
		if x.Key == m.Key {
			return nil
		}
	}
	o.msgs = append(o.msgs, m)
	return nil
}

func (o *outbox) all() []notify.Message {
	o.mu.Lock()
	defer o.mu.Unlock()
	return slices.Clone(o.msgs)
}

// to returns the messages of kind sent to addr.
func (o *outbox) to(addr, kind string) []notify.Message {
	var ms []notify.Message
	for _, m := range o.all() {
		if m.To == addr && m.Kind == kind {
			ms = append(ms, m)
		}
	}
	return ms
}

var linkRE = regexp.MustCompile(`https://example\.test/([a-z_]+)\?token=([A-Za-z0-9_-]{43})`)

// link returns the token of the last link of purpose p mailed to addr.
func (o *outbox) link(t testing.TB, addr string, p token.Purpose) string {
	t.Helper()
	tok := ""
	for _, m := range o.all() {
		if m.To != addr {
			continue
		}
		for _, mm := range linkRE.FindAllStringSubmatch(m.Text, -1) {
			if mm[1] == string(p) {
				tok = mm[2]
			}
		}
	}
	require.NotEmpty(t, tok, "a %s link mailed to %s", p, addr)
	return tok
}

func testLink(p token.Purpose, tok string) (string, error) {
	return "https://example.test/" + string(p) + "?token=" + tok, nil
}

// factors is an mfa.EnrolmentChecker: the users enrolled in a factor.
type factors struct {
	mu  sync.Mutex
	ids map[string]bool
}

func (f *factors) Enrolled(_ context.Context, id string) (bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.ids[id], nil
}

func (f *factors) enrol(id string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.ids == nil {
		f.ids = map[string]bool{}
	}
	f.ids[id] = true
}

// sessions records RevokeUser and Login for tests without a session
// manager.
type sessions struct {
	mu      sync.Mutex
	revoked []string
	logins  []identity.Principal
}

func (s *sessions) Login(_ context.Context, p identity.Principal) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.logins = append(s.logins, p)
	return nil
}

func (s *sessions) RevokeUser(_ context.Context, id string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.revoked = append(s.revoked, id)
	return nil
}

func (s *sessions) revokedUsers() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.revoked)
}

// fast hashing for tests.
var testParams = password.Params{Memory: 1024, Time: 1, Threads: 1}

type env struct {
	flows   *account.Flows
	users   *users
	outbox  *outbox
	tokens  *token.Issuer
	factors *factors
	sess    account.Sessions
	hasher  *password.Hasher
	sink    *audit.MemorySink
	log     *audit.Logger
}

// newEnv builds Flows over in-memory parts; mutate may change the
// config before New. The Flows is closed when the test ends.
func newEnv(t testing.TB, mutate func(*account.Config)) *env {
	t.Helper()
	store, err := token.NewMemoryStore(token.MemoryStoreConfig{})
	require.NoError(t, err)
	tokens, err := token.New(store, token.Config{})
	require.NoError(t, err)
	hasher, err := password.NewHasher(password.HasherConfig{Params: testParams, AllowWeakParams: true})
	require.NoError(t, err)
	sink := &audit.MemorySink{}
	e := &env{users: newUsers(), outbox: &outbox{}, tokens: tokens, factors: &factors{}, sess: &sessions{},
		hasher: hasher, sink: sink, log: audit.MustNew(sink, audit.Config{})}
	cfg := account.Config{
		Users: e.users, Tokens: tokens, Notifier: e.outbox, Sessions: e.sess,
		Factors: []mfa.EnrolmentChecker{e.factors}, Hasher: hasher, Link: testLink, Audit: e.log,
	}
	if mutate != nil {
		mutate(&cfg)
	}
	e.sess = cfg.Sessions
	e.flows, err = account.New(cfg)
	require.NoError(t, err)
	t.Cleanup(func() { _ = e.flows.Close(context.Background()) })
	return e
}

// addUser adds a user with password pw.
func (e *env) addUser(t testing.TB, id, email, pw string) auth.User {
	t.Helper()
	h, err := e.hasher.Hash(t.Context(), password.Normalize(pw))
	require.NoError(t, err)
	u := auth.User{ID: id, Login: id, Email: email, PasswordHash: h, Roles: []string{"buyer"}}
	e.users.add(u)
	return u
}

// drain waits for the queued jobs by closing the Flows.
func (e *env) drain(t testing.TB) {
	t.Helper()
	require.NoError(t, e.flows.Close(t.Context()))
}

// events returns the recorded events of action a.
func (e *env) events(a audit.Action) []audit.Event {
	var out []audit.Event
	for _, ev := range e.sink.Events() {
		if ev.Action == a {
			out = append(out, ev)
		}
	}
	return out
}

// req returns a request from client address addr, as clientip's Handler
// would pass it on, with principal p if p is not nil.
func req(addr string, p *identity.Principal) *http.Request {
	r := httptest.NewRequest(http.MethodPost, "/", nil)
	ctx := clientip.WithInfo(r.Context(), clientip.Info{Addr: netip.MustParseAddr(addr), Scheme: "https"})
	if p != nil {
		ctx = identity.NewContext(ctx, *p)
	}
	return r.WithContext(ctx)
}

const goodPassword = "correct horse battery staple"

// limiterFunc adapts a function to ratelimit.Limiter.
type limiterFunc func(ctx context.Context, key string) (ratelimit.Decision, error)

func (f limiterFunc) Allow(ctx context.Context, key string) (ratelimit.Decision, error) {
	return f(ctx, key)
}

var unlimited = limiterFunc(func(context.Context, string) (ratelimit.Decision, error) {
	return ratelimit.Decision{Allowed: true}, nil
})

// noLimits lifts the request limits.
func noLimits(c *account.Config) { c.PerAddress, c.PerAccount = unlimited, unlimited }
