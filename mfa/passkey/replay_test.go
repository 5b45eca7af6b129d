package passkey_test

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	vwa "github.com/descope/virtualwebauthn"
	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	_ "modernc.org/sqlite"

	"github.com/deployedworks/rampart/audit"
	"github.com/deployedworks/rampart/identity"
	"github.com/deployedworks/rampart/internal/testenv"
	"github.com/deployedworks/rampart/mfa/passkey"
	"github.com/deployedworks/rampart/session"
	"github.com/deployedworks/rampart/session/redisstore"
	"github.com/deployedworks/rampart/session/sqlstore"
	"github.com/deployedworks/rampart/sqldb"
)

// claimGate is a session store whose Claim, once armed, waits until n
// requests have come to claim their challenge: each of them holds the
// ceremony state, read from its own copy of the cookie, and none has
// claimed it yet when they all go on.
type claimGate struct {
	session.Store
	armed   atomic.Bool
	arrived sync.WaitGroup
}

func (g *claimGate) Claim(ctx context.Context, key string, expiry time.Time) (bool, error) {
	if g.armed.Load() {
		g.arrived.Done()
		g.arrived.Wait()
	}
	return g.Store.Claim(ctx, key, expiry)
}

func (g *claimGate) arm(n int) {
	g.arrived.Add(n)
	g.armed.Store(true)
}

// TestWebAuthn_ConcurrentFinishLoginRegression: one passwordless assertion
// sent four times at once with the same session cookie produced up to
// three sessions, because each request took the challenge from its own
// copy of the session. Now the challenge is taken once, through the
// store, across instances: one session, one success event.
func TestWebAuthn_ConcurrentFinishLoginRegression(t *testing.T) {
	stores := []struct {
		name string
		new  func(t *testing.T) session.Store
	}{
		{"memory", func(*testing.T) session.Store { return session.NewMemoryStore() }},
		{"sqlite", func(t *testing.T) session.Store {
			db, err := sql.Open("sqlite", "file:"+filepath.Join(t.TempDir(), "s.db")+"?_pragma=busy_timeout(5000)&_pragma=journal_mode(WAL)")
			require.NoError(t, err)
			db.SetMaxOpenConns(1)
			t.Cleanup(func() { _ = db.Close() })
			s, err := sqlstore.New(db, sqldb.SQLite, sqlstore.Config{})
			require.NoError(t, err)
			require.NoError(t, s.Migrate(context.Background()))
			return s
		}},
		{"redis", func(t *testing.T) session.Store {
			c := redis.NewClient(&redis.Options{Addr: testenv.RedisAddr(t)})
			t.Cleanup(func() { _ = c.Close() })
			var b [6]byte
			_, _ = rand.Read(b[:])
			prefix := "rampart:test:mfa:" + hex.EncodeToString(b[:]) + ":"
			t.Cleanup(func() {
				ctx := context.Background()
				keys, _ := c.Keys(ctx, prefix+"*").Result()
				if len(keys) > 0 {
					_ = c.Del(ctx, keys...).Err()
				}
			})
			s, err := redisstore.New(c, redisstore.Config{Prefix: prefix})
			require.NoError(t, err)
			return s
		}},
	}
	for _, st := range stores {
		t.Run(st.name, func(t *testing.T) {
			const racers = 4
			gate := &claimGate{Store: st.new(t)}
			c := testenv.NewClock(time.Now()) // stores expire records by the real clock
			lg, sink := newAudit()
			creds := newStore(t) // the app's database, shared by the instances

			// Two instances sharing the session store, each with its own
			// server (and origin; both are allowed).
			type instance struct {
				sm     *session.Manager
				mux    *http.ServeMux
				srv    *httptest.Server
				origin string
			}
			var inst [2]*instance
			var origins []string
			keys := newKeyring(t) // shared: each instance opens the other's sealed cookie
			for i := range inst {
				sm, err := session.New(session.Config{
					Store: gate, AllowInsecureCookie: true, Audit: lg, Now: c.Now, Keyring: keys,
				})
				require.NoError(t, err)
				mux := http.NewServeMux()
				srv := httptest.NewUnstartedServer(sm.Handler(mux))
				in := &instance{sm: sm, mux: mux, srv: srv,
					origin: fmt.Sprintf("http://localhost:%d", srv.Listener.Addr().(*net.TCPAddr).Port)}
				inst[i] = in
				origins = append(origins, in.origin)
			}
			for _, in := range inst {
				sm := in.sm
				wa, err := passkey.New(passkey.Config{
					RPID: "localhost", RPDisplayName: "Marketplace", RPOrigins: origins,
					Credentials: creds, Sessions: sm, Challenges: sm, Audit: lg, Now: c.Now,
					OnLogin: func(_ http.ResponseWriter, r *http.Request, res passkey.LoginResult) error {
						return sm.Login(r.Context(), identity.Principal{UserID: res.UserID, Roles: []string{"admin"}, Methods: res.Methods, AuthTime: res.ReadAt})
					},
				})
				require.NoError(t, err)
				in.mux.HandleFunc("POST /signin", func(w http.ResponseWriter, r *http.Request) {
					if err := sm.Login(r.Context(), identity.Principal{UserID: "root", Roles: []string{"admin"}, Methods: []identity.Method{identity.MethodPassword}, AuthTime: c.Now()}); err != nil {
						http.Error(w, err.Error(), http.StatusInternalServerError)
					}
				})
				in.mux.HandleFunc("POST /register/begin", wa.BeginRegistration)
				in.mux.HandleFunc("POST /register/finish", wa.FinishRegistration)
				in.mux.HandleFunc("POST /login/begin", wa.BeginLogin)
				in.mux.HandleFunc("POST /login/finish", wa.FinishLogin)
				in.srv.Start()
				t.Cleanup(in.srv.Close)
			}

			// post sends body to path on instance in with the session
			// token, and returns the status, body and the token afterwards.
			post := func(in *instance, path, token, body string) (int, string, string, error) {
				req, err := http.NewRequest(http.MethodPost, in.origin+path, strings.NewReader(body))
				if err != nil {
					return 0, "", "", err
				}
				req.Header.Set("Content-Type", "application/json")
				if token != "" {
					req.AddCookie(&http.Cookie{Name: session.DevCookieName, Value: token})
				}
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					return 0, "", "", err
				}
				defer resp.Body.Close()
				b, err := io.ReadAll(resp.Body)
				for _, ck := range resp.Cookies() {
					if ck.Name == session.DevCookieName {
						token = ck.Value
						if ck.MaxAge < 0 {
							token = ""
						}
					}
				}
				return resp.StatusCode, string(b), token, err
			}
			must := func(in *instance, path, token, body string, want int) (string, string) {
				t.Helper()
				status, out, tok, err := post(in, path, token, body)
				require.NoError(t, err)
				require.Equal(t, want, status, out)
				return out, tok
			}

			// The administrator registers a passkey whose sign counter
			// stays at zero, as many passkeys' do: nothing but the
			// challenge tells the four answers apart from one.
			dev := &device{
				rp:   vwa.RelyingParty{ID: "localhost", Name: "Marketplace", Origin: inst[0].origin},
				auth: vwa.NewAuthenticator(),
				cred: testenv.PasskeyCredential(),
			}
			_, tok := must(inst[0], "/signin", "", "", http.StatusOK)
			opts, tok := must(inst[0], "/register/begin", tok, "", http.StatusOK)
			ao, err := vwa.ParseAttestationOptions(opts)
			require.NoError(t, err)
			dev.auth.Options.UserHandle = []byte(ao.UserID)
			must(inst[0], "/register/finish", tok, vwa.CreateAttestationResponse(dev.rp, dev.auth, dev.cred, *ao), http.StatusCreated)
			ctx := context.Background()
			require.NoError(t, inst[0].sm.RevokeUser(ctx, "root"))

			// An anonymous browser begins a passwordless login; its
			// assertion is then sent four times at once, to both instances.
			opts, tok = must(inst[0], "/login/begin", "", "", http.StatusOK)
			require.NotEmpty(t, tok)
			assertion := vwa.CreateAssertionResponse(dev.rp, dev.auth, dev.cred, *mustParse(t, opts))
			gate.arm(racers)
			statuses := make([]int, racers)
			var wg sync.WaitGroup
			for i := range racers {
				wg.Go(func() {
					status, body, _, err := post(inst[i%2], "/login/finish", tok, assertion)
					if err != nil {
						t.Errorf("finish %d: %v", i, err)
					}
					statuses[i] = status
					if status != http.StatusOK {
						assert.Contains(t, body, "no_challenge", "finish %d", i)
					}
				})
			}
			wg.Wait()
			gate.armed.Store(false)

			ok := 0
			for _, s := range statuses {
				if s == http.StatusOK {
					ok++
				}
			}
			assert.Equal(t, 1, ok, "one of the four finishes signs in: %v", statuses)
			list, err := inst[1].sm.Sessions(ctx, "root")
			require.NoError(t, err)
			assert.Len(t, list, 1, "exactly one session")
			n := 0
			for _, e := range events(sink, "mfa.webauthn.login") {
				if e.Outcome == audit.OutcomeSuccess {
					n++
				}
			}
			assert.Equal(t, 1, n, "one success event")
		})
	}
}

func mustParse(t *testing.T, opts string) *vwa.AssertionOptions {
	t.Helper()
	ao, err := vwa.ParseAssertionOptions(opts)
	require.NoError(t, err)
	return ao
}
