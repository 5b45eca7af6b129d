package redisstore_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/deployedworks/rampart/audit"
	"github.com/deployedworks/rampart/identity"
	"github.com/deployedworks/rampart/internal/testenv"
	"github.com/deployedworks/rampart/secrets"
	"github.com/deployedworks/rampart/session"
	"github.com/deployedworks/rampart/session/redisstore"
)

// TestFaultsFailClosed puts Redis behind a proxy and drops, hangs, resets
// and slows it while signed-in requests run. No request is served as the
// user without its session record: a request that cannot load its session
// gets Config.OnError's answer (the default 500 with a fixed body, no
// details); each request ends within its deadline plus a margin for a
// loaded machine; after the proxy recovers the same session is served
// again, with no restart. Store failures are audited.
func TestFaultsFailClosed(t *testing.T) {
	direct := client(t)
	p := testenv.NewProxy(t, testenv.RedisAddr(t))
	c := redis.NewClient(&redis.Options{Addr: p.Addr(), ContextTimeoutEnabled: true, DialTimeout: 200 * time.Millisecond})
	t.Cleanup(func() { p.Recover(); _ = c.Close() })
	st, err := redisstore.New(c, redisstore.Config{Prefix: uniquePrefix(t, direct)})
	require.NoError(t, err)
	keys, err := secrets.NewKeyring(secrets.Key{ID: "k", Secret: secrets.Random(32)})
	require.NoError(t, err)
	events := &audit.MemorySink{}
	m, err := session.New(session.Config{Store: st, Keyring: keys, Audit: audit.MustNew(events, audit.Config{})})
	require.NoError(t, err)
	const deadline = 300 * time.Millisecond
	h := m.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost {
			if err := m.Login(r.Context(), identity.Principal{UserID: "user-1", Methods: []identity.Method{identity.MethodPassword}, AuthTime: time.Now()}); err != nil {
				http.Error(w, "login failed", http.StatusServiceUnavailable)
			}
			return
		}
		if id, ok := identity.FromContext(r.Context()); ok {
			_, _ = w.Write([]byte("user " + id.UserID))
			return
		}
		http.Error(w, "anonymous", http.StatusUnauthorized)
	}))
	serve := func(r *http.Request) *httptest.ResponseRecorder {
		ctx, cancel := context.WithTimeout(r.Context(), deadline) // as an app's request deadline
		defer cancel()
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r.WithContext(ctx))
		return w
	}
	var cookie *http.Cookie
	require.Eventually(t, func() bool { // a loaded machine may miss the first deadlines
		w := serve(httptest.NewRequest(http.MethodPost, "https://shop.example/login", nil))
		if w.Code != http.StatusOK {
			return false
		}
		cookie = w.Result().Cookies()[0]
		return true
	}, 30*time.Second, time.Millisecond)
	visit := func() (*httptest.ResponseRecorder, time.Duration) {
		r := httptest.NewRequest(http.MethodGet, "https://shop.example/me", nil)
		r.AddCookie(cookie)
		start := time.Now()
		w := serve(r)
		return w, time.Since(start)
	}
	require.Eventually(t, func() bool { w, _ := visit(); return w.Body.String() == "user user-1" }, 30*time.Second, time.Millisecond)

	for _, tc := range testenv.Faults() {
		t.Run(tc.Name, func(t *testing.T) {
			var mu sync.Mutex
			var served, refused int
			testenv.DuringTraffic(4, 3, func() { tc.Inject(p) }, func(_ int, faulted bool) {
				w, took := visit()
				mu.Lock()
				defer mu.Unlock()
				assert.Less(t, took, deadline+5*time.Second, "the request ended within its deadline (and a margin for a loaded machine)")
				switch w.Code {
				case http.StatusOK:
					assert.Equal(t, "user user-1", w.Body.String())
					if faulted && tc.Fails {
						t.Errorf("served as the user while the store was down")
					}
					served++
				case http.StatusInternalServerError:
					assert.Equal(t, "Internal Server Error\n", w.Body.String(), "no details")
					refused++
				default:
					t.Errorf("status %d: %s", w.Code, w.Body)
				}
			})
			if tc.Fails {
				assert.GreaterOrEqual(t, refused, 4*3, "every request during the fault was refused")
				assert.True(t, slices.ContainsFunc(events.Events(), func(e audit.Event) bool { return e.Action == session.ActionLoadFailed }),
					"the store failure is audited")
			}
			p.Recover()
			require.Eventually(t, func() bool { w, _ := visit(); return w.Body.String() == "user user-1" }, 30*time.Second, time.Millisecond,
				"the session is served again after recovery")
			t.Logf("served %d, refused %d", served, refused)
		})
	}
}
