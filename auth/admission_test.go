package auth_test

import (
	"context"
	"net/http"
	"net/netip"
	"strconv"
	"sync"
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
	"github.com/deployedworks/rampart/ratelimit"
)

// gatedStore is a UserStore whose UserByLogin reports each lookup on
// entered and then waits until open is closed: a login held between its
// admission and its hash, for as long as the test likes.
type gatedStore struct {
	*memStore
	entered chan string
	open    chan struct{}
}

func newGatedStore(users *memStore) *gatedStore {
	return &gatedStore{memStore: users, entered: make(chan string, 64), open: make(chan struct{})}
}

func (s *gatedStore) UserByLogin(ctx context.Context, login string) (auth.User, error) {
	s.entered <- login
	<-s.open
	return s.memStore.UserByLogin(ctx, login)
}

// newAuthn is f's Authenticator rebuilt over store.
func (f *fixture) newAuthn(t *testing.T, store auth.UserStore) *auth.Authenticator {
	t.Helper()
	a, err := auth.NewAuthenticator(store, f.sessions, auth.AuthenticatorConfig{
		Hasher: f.h, Throttle: f.throttle, Audit: audit.MustNew(f.sink, audit.Config{}),
	})
	require.NoError(t, err)
	return a
}

// requestFrom is loginRequest from the peer address remote ("ip:port").
func requestFrom(remote string) *http.Request {
	r := bareLoginRequest()
	r.RemoteAddr = remote
	return withClient(r)
}

// busyEvents returns the ActionHashingBusy events in sink.
func busyEvents(sink *audit.MemorySink) []audit.Event {
	return alerts(sink.Events(), auth.ActionHashingBusy)
}

// TestLoginAbandonedStopsQuietly: a login whose client goes away during
// the user lookup hashes nothing and is neither a failed attempt nor an
// internal error (no error event or log per abandoned request). The old
// Login audited a "login.error" for it.
func TestLoginAbandonedStopsQuietly(t *testing.T) {
	f := newFixture(t, password.HasherConfig{})
	store := newGatedStore(f.store)
	a := f.newAuthn(t, store)
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() {
		_, err := a.Login(withClient(bareLoginRequest().WithContext(ctx)), "alice", alicePassword)
		errc <- err
	}()
	<-store.entered
	cancel()
	close(store.open)
	err := <-errc
	assert.ErrorIs(t, err, context.Canceled)
	assert.NotErrorIs(t, err, auth.ErrInvalidCredentials)
	assert.Equal(t, uint64(1), f.probe.computations(), "only the fixture's own hash")
	assert.Empty(t, f.throttle.failed)
	assert.Empty(t, f.sink.Events())
}

// TestLoginQueueBoundSameForEveryAccount: with the queue full, logins to a
// known and to an unknown account are refused at once, alike, before any
// lookup or throttle check, and are not failed attempts. The old code
// queued them (they reached the user store).
func TestLoginQueueBoundSameForEveryAccount(t *testing.T) {
	f := newFixture(t, password.HasherConfig{MaxConcurrent: 1, MaxQueue: 2})
	store := newGatedStore(f.store)
	a := f.newAuthn(t, store)
	results := make(chan error, 8)
	for i := range 3 {
		go func() {
			_, err := a.Login(requestFrom("198.51.100."+strconv.Itoa(i+1)+":1"), "nobody", "wrong password")
			results <- err
		}()
		<-store.entered // admitted, and held in the store
	}

	var refusals []*password.BusyError
	for i, login := range []string{"alice", "nobody"} {
		errc := make(chan error, 1)
		go func() {
			_, err := a.Login(requestFrom("192.0.2."+strconv.Itoa(i+1)+":1"), login, "wrong password")
			errc <- err
		}()
		select {
		case err := <-errc:
			var be *password.BusyError
			require.ErrorAs(t, err, &be, login)
			assert.NotErrorIs(t, err, auth.ErrInvalidCredentials)
			refusals = append(refusals, be)
		case <-store.entered:
			t.Errorf("%s: admitted beyond MaxConcurrent+MaxQueue (it reached the user store)", login)
		}
	}
	if len(refusals) == 2 {
		assert.Equal(t, refusals[0].Error(), refusals[1].Error(), "known and unknown accounts are refused alike")
		assert.Equal(t, refusals[0].RetryAfter, refusals[1].RetryAfter)
	}
	f.throttle.mu.Lock()
	assert.Len(t, f.throttle.checks, 3, "refusals spend no throttle token")
	f.throttle.mu.Unlock()

	close(store.open)
	for range 3 {
		assert.ErrorIs(t, <-results, auth.ErrInvalidCredentials)
	}
	assert.Empty(t, f.throttle.succeeded)
	assert.Len(t, f.throttle.failed, 3, "only the admitted logins failed")
	busy := busyEvents(f.sink)
	require.Len(t, busy, 2)
	assert.Equal(t, "login", busy[0].Meta["step"])
	assert.Equal(t, audit.CategorySuspicious, busy[0].Category)
	assert.Equal(t, netip.MustParseAddr("192.0.2.1"), busy[0].ClientIP)
	_, err := a.Login(loginRequest(), "alice", alicePassword)
	assert.NoError(t, err, "after the burst, a login succeeds")
}

// TestLoginMaxWaitSameForEveryAccount: when no slot comes free within
// MaxWait, known and unknown accounts get the same BusyError after the
// same wait, and neither counts as a failed attempt.
func TestLoginMaxWaitSameForEveryAccount(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFixture(t, password.HasherConfig{MaxConcurrent: 1, MaxWait: 3 * time.Second})
		release, err := f.probe.holdSlot(context.Background())
		require.NoError(t, err)
		defer release()
		var msgs []string
		for _, login := range []string{"alice", "nobody", "mallory"} {
			start := time.Now()
			_, err := f.a.Login(loginRequest(), login, "wrong password")
			assert.Equal(t, 3*time.Second, time.Since(start), login)
			var be *password.BusyError
			require.ErrorAs(t, err, &be, login)
			msgs = append(msgs, be.Error())
		}
		assert.Equal(t, msgs[0], msgs[1])
		assert.Equal(t, msgs[0], msgs[2])
		assert.Empty(t, f.throttle.failed)
		assert.Len(t, busyEvents(f.sink), 3)
		assert.Equal(t, uint64(1), f.probe.computations(), "nothing hashed beyond the fixture's own hash")
	})
}

// TestLoginRefusedAtOnceWhenTheWaitWouldPassMaxWait: when the hashing
// admitted ahead would, by the recent hashes' durations, keep a login from
// a slot past MaxWait, the login is refused at admission: before the user
// lookup and the throttle, alike for known and unknown accounts, neither a
// failure nor a success, and audited as busy. (Any real hash takes longer
// than MaxWait's nanosecond here, so one held slot is enough; the old code
// looked the user up and spent a throttle token, then gave up after
// MaxWait.)
func TestLoginRefusedAtOnceWhenTheWaitWouldPassMaxWait(t *testing.T) {
	f := newFixture(t, password.HasherConfig{MaxConcurrent: 1, MaxWait: time.Nanosecond}) // hashes alice's password: the estimate
	store := newGatedStore(f.store)
	a := f.newAuthn(t, store)
	release, err := f.probe.holdSlot(context.Background())
	require.NoError(t, err)

	var msgs []string
	for i, login := range []string{"alice", "nobody"} {
		errc := make(chan error, 1)
		go func() {
			_, err := a.Login(requestFrom("192.0.2."+strconv.Itoa(i+1)+":1"), login, alicePassword)
			errc <- err
		}()
		select {
		case err := <-errc:
			var be *password.BusyError
			require.ErrorAs(t, err, &be, login)
			assert.NotErrorIs(t, err, auth.ErrInvalidCredentials)
			assert.Contains(t, err.Error(), "no slot expected within the maximum wait")
			msgs = append(msgs, be.Error())
		case l := <-store.entered:
			close(store.open)
			t.Fatalf("%s: admitted though its wait would pass MaxWait (it reached the user store as %s)", login, l)
		}
	}
	if len(msgs) == 2 {
		assert.Equal(t, msgs[0], msgs[1], "known and unknown accounts are refused alike")
	}
	f.throttle.mu.Lock()
	assert.Empty(t, f.throttle.checks, "refusals spend no throttle token")
	assert.Empty(t, f.throttle.failed)
	assert.Empty(t, f.throttle.succeeded, "a refusal is never a success")
	f.throttle.mu.Unlock()
	f.sessions.mu.Lock()
	assert.Zero(t, f.sessions.logins, "no session")
	f.sessions.mu.Unlock()
	assert.Len(t, busyEvents(f.sink), 2)

	release()
	close(store.open)
	_, err = a.Login(loginRequest(), "alice", alicePassword)
	assert.NoError(t, err, "with a slot free there is no wait: admitted")
}

// TestLoginFairAcrossAddresses: one client (an IPv4 address, an IPv6 /64)
// holds at most MaxPerClient admitted requests; more from it are refused at
// once while other clients are still admitted. The old code queued them
// all, so one address could fill the queue.
func TestLoginFairAcrossAddresses(t *testing.T) {
	f := newFixture(t, password.HasherConfig{MaxConcurrent: 1}) // default: 8 queued, 2 per client
	store := newGatedStore(f.store)
	a := f.newAuthn(t, store)
	results := make(chan error, 16)
	admitted := 0
	try := func(remote string, wantAdmitted bool) {
		t.Helper()
		errc := make(chan error, 1)
		go func() {
			_, err := a.Login(requestFrom(remote), "nobody", "wrong password")
			errc <- err
			results <- err
		}()
		select {
		case <-store.entered:
			admitted++
			assert.True(t, wantAdmitted, "%s: admitted beyond its bound (it reached the user store)", remote)
		case err := <-errc:
			<-results
			assert.False(t, wantAdmitted, "%s refused: %v", remote, err)
			assert.ErrorIs(t, err, password.ErrBusy, remote)
			assert.Contains(t, err.Error(), "too many requests from this client")
		}
	}
	try("203.0.113.9:1", true)
	try("203.0.113.9:2", true)
	try("203.0.113.9:3", false)
	try("203.0.113.10:1", true)
	try("[2001:db8:1:2::1]:1", true)
	try("[2001:db8:1:2:ffff::2]:1", true)
	try("[2001:db8:1:2::3]:1", false)
	try("[2001:db8:1:3::1]:1", true)

	close(store.open)
	for range admitted {
		assert.ErrorIs(t, <-results, auth.ErrInvalidCredentials)
	}
	assert.Len(t, f.throttle.failed, 6)
	_, err := a.Login(requestFrom("203.0.113.9:4"), "alice", alicePassword)
	assert.NoError(t, err, "the address's requests are done: it is admitted again")
}

// TestBusyEventsArePaced: a flood of refusals writes at most 20 events at
// once and then 2 a second, each saying how many were held back.
func TestBusyEventsArePaced(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFixture(t, password.HasherConfig{MaxConcurrent: 1, MaxQueue: 1})
		release, err := f.probe.holdSlot(context.Background())
		require.NoError(t, err)
		var wg sync.WaitGroup
		wg.Go(func() { _, _ = f.h.Hash(context.Background(), "queued") })
		synctest.Wait()
		for i := range 30 {
			_, err := f.a.Login(requestFrom("198.51.100."+strconv.Itoa(i+1)+":1"), "nobody", "x")
			require.ErrorIs(t, err, password.ErrBusy)
		}
		assert.Len(t, busyEvents(f.sink), 20)
		time.Sleep(500 * time.Millisecond)
		_, err = f.a.Login(requestFrom("198.51.100.99:1"), "nobody", "x")
		require.ErrorIs(t, err, password.ErrBusy)
		ev := busyEvents(f.sink)
		require.Len(t, ev, 21)
		assert.Equal(t, "10", ev[20].Meta["suppressed"])
		release()
		wg.Wait()
	})
}

// TestChangePasswordBudgetNotResetBySuccess: password changes are budgeted
// per user (default 5 per 15 minutes), and a success does not give the
// attempt back. The old code let a user change passwords in a loop, each
// success resetting the throttle.
func TestChangePasswordBudgetNotResetBySuccess(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFixture(t, password.HasherConfig{}) // default budget, on the bubble's clock
		current := alicePassword
		for i := range 5 {
			next := "quiet harbour lamps at dusk " + strconv.Itoa(i)
			require.NoError(t, f.a.ChangePassword(signedIn(loginRequest(), "u1"), current, next), "change %d", i+1)
			current = next
		}
		hashes := f.probe.computations()
		err := f.a.ChangePassword(signedIn(loginRequest(), "u1"), current, "quiet harbour lamps at dawn")
		var te *ratelimit.LimitedError
		require.ErrorAs(t, err, &te)
		assert.Equal(t, 3*time.Minute, te.RetryAfter, "one change every 3 minutes after the first 5")
		assert.Equal(t, hashes, f.probe.computations(), "refused before hashing")
		last := f.sink.Events()[len(f.sink.Events())-1]
		assert.Equal(t, auth.ActionPasswordChangeThrottled, last.Action)
		assert.Equal(t, "per_user", last.Meta["limit"])

		_, err = f.a.Login(loginRequest(), "alice", current)
		require.NoError(t, err, "logins are not budgeted")
		time.Sleep(3 * time.Minute)
		assert.NoError(t, f.a.ChangePassword(signedIn(loginRequest(), "u1"), current, "quiet harbour lamps at dawn"))
	})
	t.Run("wrong current passwords spend it too", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			f := newFixture(t, password.HasherConfig{})
			for range 5 {
				assert.ErrorIs(t, f.a.ChangePassword(signedIn(loginRequest(), "u1"), "guess", "quiet harbour lamps at dusk"), auth.ErrInvalidCredentials)
			}
			assert.ErrorIs(t, f.a.ChangePassword(signedIn(loginRequest(), "u1"), alicePassword, "quiet harbour lamps at dusk"), ratelimit.ErrLimited)
		})
	})
	t.Run("limiter failure fails closed", func(t *testing.T) {
		f := newFixture(t, password.HasherConfig{})
		a, err := auth.NewAuthenticator(f.store, f.sessions, auth.AuthenticatorConfig{Hasher: f.h,
			PasswordChanges: failingLimiter{}})
		require.NoError(t, err)
		before := f.store.hash("u1")
		err = a.ChangePassword(signedIn(loginRequest(), "u1"), alicePassword, "quiet harbour lamps at dusk")
		assert.ErrorIs(t, err, ratelimit.ErrUnavailable)
		assert.Equal(t, before, f.store.hash("u1"))
	})
}

type failingLimiter struct{}

func (failingLimiter) Allow(context.Context, string) (ratelimit.Decision, error) {
	return ratelimit.Decision{}, ratelimit.ErrUnavailable
}

// TestBusyPasswordChangeAndNewPassword: ChangePassword and HashNewPassword
// return the BusyError too, for the client's address, without counting a
// failure or changing anything.
func TestBusyPasswordChangeAndNewPassword(t *testing.T) {
	f := newFixture(t, password.HasherConfig{MaxConcurrent: 2, MaxPerClient: 1})
	ctx := clientip.WithInfo(context.Background(), clientip.Info{Addr: netip.MustParseAddr("203.0.113.9")})
	release, err := f.probe.holdSlot(ctx) // the client's one admitted request
	require.NoError(t, err)
	defer release()
	before := f.store.hash("u1")

	err = f.a.ChangePassword(signedIn(loginRequest(), "u1"), alicePassword, "quiet harbour lamps at dusk")
	assert.ErrorIs(t, err, password.ErrBusy)
	assert.Equal(t, before, f.store.hash("u1"))
	assert.Empty(t, f.throttle.checks)
	assert.Empty(t, f.sessions.calls)

	_, err = f.a.HashNewPassword(ctx, auth.User{Login: "carol"}, "quiet harbour lamps at dusk")
	assert.ErrorIs(t, err, password.ErrBusy)
	other := clientip.WithInfo(context.Background(), clientip.Info{Addr: netip.MustParseAddr("203.0.113.10")})
	_, err = f.a.HashNewPassword(other, auth.User{Login: "carol"}, "quiet harbour lamps at dusk")
	assert.NoError(t, err, "another client is admitted")

	busy := busyEvents(f.sink)
	require.Len(t, busy, 2)
	assert.Equal(t, "password.change", busy[0].Meta["step"])
	assert.Equal(t, "u1", busy[0].Actor.UserID)
	assert.Equal(t, "password.new", busy[1].Meta["step"])
}

// TestOneAdmissionPerRequest: a login that rehashes and a password change
// hash twice under the one admission their request got, so they succeed
// with one slot and one request per client (neither is refused by its own
// first hash, nor waits for itself), also when the clientip middleware has
// put the client's address in the context.
func TestOneAdmissionPerRequest(t *testing.T) {
	f := newFixture(t, password.HasherConfig{MaxConcurrent: 1, MaxPerClient: 1})
	legacy, err := bcrypt.GenerateFromPassword([]byte(alicePassword), bcrypt.MinCost)
	require.NoError(t, err)
	f.store.byID["u1"] = auth.User{ID: "u1", Login: "alice", PasswordHash: string(legacy)}
	before := f.probe.computations()
	request := func() *http.Request {
		r := loginRequest()
		return r.WithContext(clientip.WithInfo(r.Context(), peers.Resolve(r)))
	}

	lr, err := f.a.Login(request(), "alice", alicePassword)
	require.NoError(t, err)
	assert.True(t, lr.Rehashed, "the rehash ran under the login's admission")
	require.NoError(t, f.a.ChangePassword(signedIn(request(), "u1"), alicePassword, "quiet harbour lamps at dusk"))
	assert.Equal(t, before+4, f.probe.computations(), "two hashes each")
	assert.Empty(t, busyEvents(f.sink))
}
