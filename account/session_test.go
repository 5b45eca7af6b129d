package account_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/deployedworks/rampart/account"
	"github.com/deployedworks/rampart/audit"
	"github.com/deployedworks/rampart/clientip"
	"github.com/deployedworks/rampart/identity"
	"github.com/deployedworks/rampart/internal/testenv"
	"github.com/deployedworks/rampart/mfa"
	"github.com/deployedworks/rampart/notify"
	"github.com/deployedworks/rampart/session"
	"github.com/deployedworks/rampart/sqldb"
	"github.com/deployedworks/rampart/token"
)

// TestReset_RealSessions walks a user with a second factor through a
// reset on a real session.Manager (memory store) behind a server, with
// the mails queued in notify's outbox on SQLite and read as delivered: the
// link signs a session in for the challenge; completing without MFA
// fails; after MarkMFA it succeeds; then every session of the user, the
// one that reset and one signed in before, no longer loads.
func TestReset_RealSessions(t *testing.T) {
	sm, err := session.New(session.Config{AllowInsecureCookie: true, Audit: audit.MustNew(&audit.MemorySink{}, audit.Config{})})
	require.NoError(t, err)
	// The mails go through notify's durable outbox on SQLite; its Run
	// delivers them to a Sender that records them.
	ob, err := notify.NewOutbox(testenv.SQLite(t, 0), sqldb.SQLite, notify.OutboxConfig{})
	require.NoError(t, err)
	require.NoError(t, ob.Migrate(t.Context()))
	delivered := &outbox{}
	sent := make(chan notify.Message, 16)
	runCtx, stopRun := context.WithCancel(context.Background())
	ran := make(chan error, 1)
	go func() { ran <- ob.Run(runCtx, sender{delivered, sent}) }()
	t.Cleanup(func() { stopRun(); <-ran })
	waitSent := func(kind string) {
		t.Helper()
		for {
			select {
			case m := <-sent:
				if m.Kind == kind {
					return
				}
			case <-t.Context().Done():
				t.Fatalf("no %s mail delivered", kind)
			}
		}
	}

	e := newEnv(t, func(c *account.Config) { c.Sessions = sm; c.Notifier = ob })
	e.addUser(t, "alice", "alice@example.com", goodPassword)
	e.factors.enrol("alice")

	mux := http.NewServeMux()
	mux.HandleFunc("POST /login", func(w http.ResponseWriter, r *http.Request) {
		u := e.users.get(r.FormValue("user"))
		if err := sm.Login(r.Context(), identity.Principal{UserID: u.ID, Roles: u.Roles, Methods: []identity.Method{identity.MethodPassword}, AuthTime: time.Now()}); err != nil {
			http.Error(w, err.Error(), 500)
		}
	})
	mux.HandleFunc("GET /whoami", func(w http.ResponseWriter, r *http.Request) {
		p, ok := identity.FromContext(r.Context())
		if !ok {
			_, _ = io.WriteString(w, "anonymous")
			return
		}
		_, _ = io.WriteString(w, p.UserID+" methods="+strings.Join(methods(p), ","))
	})
	mux.HandleFunc("GET /reset", func(w http.ResponseWriter, r *http.Request) {
		res, err := e.flows.BeginReset(r, r.FormValue("token"))
		switch {
		case errors.Is(err, token.ErrInvalid):
			http.Error(w, "invalid link", http.StatusGone)
		case err != nil:
			http.Error(w, "error", 500)
		case res.NeedsMFA:
			_, _ = io.WriteString(w, "mfa")
		default:
			_, _ = io.WriteString(w, "form")
		}
	})
	mux.HandleFunc("POST /reset", func(w http.ResponseWriter, r *http.Request) {
		err := e.flows.CompleteReset(r, r.FormValue("token"), r.FormValue("password"))
		switch {
		case errors.Is(err, mfa.ErrMFARequired):
			http.Error(w, "mfa_required", http.StatusUnauthorized)
		case errors.Is(err, token.ErrInvalid):
			http.Error(w, "invalid link", http.StatusGone)
		case err != nil:
			http.Error(w, err.Error(), 500)
		default:
			_, _ = io.WriteString(w, "done")
		}
	})
	mux.HandleFunc("POST /mfa", func(w http.ResponseWriter, r *http.Request) { // the app's challenge, passed
		if err := sm.MarkMFA(r.Context(), identity.MethodOTP); err != nil {
			http.Error(w, err.Error(), 500)
		}
	})
	withClient := func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			next.ServeHTTP(w, r.WithContext(clientip.WithInfo(r.Context(), clientip.Info{Addr: netip.MustParseAddr("127.0.0.1"), Scheme: "http"})))
		})
	}
	srv := httptest.NewServer(withClient(sm.Handler(mux)))
	t.Cleanup(srv.Close)

	browser := func() *http.Client {
		jar, err := cookiejar.New(nil)
		require.NoError(t, err)
		return &http.Client{Jar: jar}
	}
	do := func(c *http.Client, method, path string, form url.Values) (int, string) {
		t.Helper()
		var resp *http.Response
		var err error
		if method == http.MethodGet {
			resp, err = c.Get(srv.URL + path)
		} else {
			resp, err = c.PostForm(srv.URL+path, form)
		}
		require.NoError(t, err)
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		require.NoError(t, err)
		return resp.StatusCode, strings.TrimSpace(string(b))
	}

	laptop := browser() // signed in before the reset
	code, _ := do(laptop, http.MethodPost, "/login", url.Values{"user": {"alice"}})
	require.Equal(t, 200, code)
	_, who := do(laptop, http.MethodGet, "/whoami", nil)
	require.Equal(t, "alice methods=pwd", who)

	require.NoError(t, e.flows.RequestReset(req("192.0.2.1", nil), "alice@example.com"))
	waitSent("password_reset")
	tok := delivered.link(t, "alice@example.com", token.PasswordReset)

	phone := browser() // opens the link
	code, body := do(phone, http.MethodGet, "/reset?token="+tok, nil)
	require.Equal(t, 200, code)
	require.Equal(t, "mfa", body)
	_, who = do(phone, http.MethodGet, "/whoami", nil)
	assert.Equal(t, "alice methods=", who, "signed in for the challenge, with no methods")

	form := url.Values{"token": {tok}, "password": {"a brand new passphrase 42"}}
	code, body = do(phone, http.MethodPost, "/reset", form)
	assert.Equal(t, http.StatusUnauthorized, code, "no MFA yet: %s", body)
	code, _ = do(laptop, http.MethodPost, "/reset", form)
	assert.Equal(t, http.StatusUnauthorized, code, "an MFA-less session of the user signed in before is not enough either")

	code, _ = do(phone, http.MethodPost, "/mfa", nil)
	require.Equal(t, 200, code)
	code, body = do(phone, http.MethodPost, "/reset", form)
	require.Equal(t, 200, code, body)
	assert.Equal(t, "done", body)

	_, who = do(phone, http.MethodGet, "/whoami", nil)
	assert.Equal(t, "anonymous", who, "the session that reset ended")
	_, who = do(laptop, http.MethodGet, "/whoami", nil)
	assert.Equal(t, "anonymous", who, "the session signed in before no longer loads")
	_, err = e.hasher.Verify(t.Context(), "a brand new passphrase 42", e.users.get("alice").PasswordHash)
	assert.NoError(t, err)
	waitSent("password_changed")
	assert.Len(t, delivered.to("alice@example.com", "password_changed"), 1)
	assert.Len(t, delivered.all(), 2, "each mail delivered once")
	assert.Empty(t, e.outbox.all(), "nothing went around the outbox")

	code, _ = do(phone, http.MethodGet, "/reset?token="+tok, nil)
	assert.Equal(t, http.StatusGone, code, "the link is used")
}

// sender is a notify.Sender that records what the outbox delivers.
type sender struct {
	got  *outbox
	sent chan<- notify.Message
}

func (s sender) Send(ctx context.Context, m notify.Message) error {
	if err := s.got.Enqueue(ctx, m); err != nil {
		return err
	}
	s.sent <- m
	return nil
}

func methods(p identity.Principal) []string {
	var s []string
	for _, m := range p.Methods {
		s = append(s, string(m))
	}
	return s
}

// TestReset_SessionClock: the session BeginReset signs in for the MFA
// challenge is stamped with Config.Now, the session layer's clock. With a
// clock ahead of the wall clock (a test clock moved on for the next TOTP
// step) and a revocation of the user made on it, a stamp from time.Now
// fell below the user's watermark and the session was dropped when saved:
// the challenge then found nobody signed in.
func TestReset_SessionClock(t *testing.T) {
	clock := testenv.NewClock(time.Now().Add(time.Minute))
	sm, err := session.New(session.Config{AllowInsecureCookie: true, Now: clock.Now, Audit: audit.MustNew(&audit.MemorySink{}, audit.Config{})})
	require.NoError(t, err)
	e := newEnv(t, func(c *account.Config) { c.Sessions = sm; c.Now = clock.Now })
	e.addUser(t, "alice", "alice@example.com", goodPassword)
	e.factors.enrol("alice")
	require.NoError(t, sm.RevokeUser(t.Context(), "alice")) // the watermark, on the session clock
	clock.Add(time.Second)

	require.NoError(t, e.flows.RequestReset(req("192.0.2.1", nil), "alice@example.com"))
	e.drain(t)
	tok := e.outbox.link(t, "alice@example.com", token.PasswordReset)

	serve := func(h http.HandlerFunc, cookies ...*http.Cookie) *httptest.ResponseRecorder {
		r := req("192.0.2.1", nil)
		r.Host = "localhost" // AllowInsecureCookie serves localhost only
		for _, c := range cookies {
			r.AddCookie(c)
		}
		w := httptest.NewRecorder()
		sm.Handler(h).ServeHTTP(w, r)
		return w
	}
	w := serve(func(w http.ResponseWriter, r *http.Request) {
		res, err := e.flows.BeginReset(r, tok)
		require.NoError(t, err)
		require.True(t, res.NeedsMFA)
	})
	cookies := w.Result().Cookies()
	require.NotEmpty(t, cookies)
	var who string
	serve(func(w http.ResponseWriter, r *http.Request) {
		p, _ := identity.FromContext(r.Context())
		who = p.UserID
	}, cookies...)
	assert.Equal(t, "alice", who, "signed in for the challenge")
}
