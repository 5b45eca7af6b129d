package session_test

import (
	"encoding/base64"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/deployedworks/rampart/identity"
	"github.com/deployedworks/rampart/session"
	st "github.com/deployedworks/rampart/session/internal/storetest"
)

// anonApp serves what visitors who are not signed in do: /flash puts a
// flash, /logout logs out and puts one (as the example app does), /begin
// starts a ceremony, /show pops the flash, /finish takes the challenge.
func anonApp(t *testing.T, m *session.Manager) http.Handler {
	return m.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := r.Context()
		switch r.URL.Path {
		case "/flash":
			require.NoError(t, m.Put(ctx, "flash", "Please log in again to continue."))
		case "/logout":
			require.NoError(t, m.Logout(ctx))
			require.NoError(t, m.Put(ctx, "flash", "You are logged out."))
		case "/begin":
			require.NoError(t, m.PutChallenge(ctx, "webauthn.login", []byte("challenge-"+r.FormValue("n"))))
		case "/show":
			v, _ := m.Pop(ctx, "flash")
			_, _ = w.Write([]byte(v))
		case "/finish":
			b, err := m.TakeChallenge(ctx, "webauthn.login")
			if err != nil {
				http.Error(w, err.Error(), http.StatusConflict)
				return
			}
			_, _ = w.Write(b)
		}
	}))
}

// TestAnonymousRequestsWriteNothing is the regression test for issue 12
// point 8 on the MemoryStore: an anonymous flash, logout or ceremony used
// to create a session record each, kept 30 minutes. The store now stays
// empty, and the flash and the challenge still reach the next request.
func TestAnonymousRequestsWriteNothing(t *testing.T) {
	store := session.NewMemoryStore()
	e := st.NewEnv(t, store, st.NewClock(), nil)
	h := anonApp(t, e.M)
	for i := range 50 {
		for _, path := range []string{"/flash", "/logout", "/begin?n=" + strconv.Itoa(i)} {
			r := st.Do(t, h, path, "")
			require.Equal(t, http.StatusOK, r.Code, r.Body)
			require.NotEmpty(t, r.Token, path)
		}
	}
	records := func() int { return strings.Count(session.DumpMemoryStore(store), " user=") }
	assert.Zero(t, records(), "anonymous requests wrote session records")

	r := st.Do(t, h, "/logout", "")
	shown := st.Do(t, h, "/show", r.Token)
	assert.Equal(t, "You are logged out.", shown.Body)
	assert.Empty(t, shown.Token, "nothing left: the cookie is deleted")

	r = st.Do(t, h, "/begin?n=x", "")
	got := st.Do(t, h, "/finish", r.Token)
	assert.Equal(t, "challenge-x", got.Body)
	assert.Equal(t, http.StatusConflict, st.Do(t, h, "/finish", r.Token).Code, "a replayed cookie: the challenge was claimed")
	assert.Contains(t, session.DumpMemoryStore(store), "claim ", "only taking a challenge writes (its claim)")
	assert.Zero(t, records(), "and no session")
}

func TestAnonymousCookie(t *testing.T) {
	e := newEnv(t, nil)
	h := anonApp(t, e.M)
	sc, rec := setCookie(t, h, "/flash", "", nil)
	require.Equal(t, http.StatusOK, rec.Code)
	c, err := http.ParseSetCookie(sc)
	require.NoError(t, err)
	assert.Equal(t, session.DefaultCookieName, c.Name)
	assert.True(t, c.Secure)
	assert.True(t, c.HttpOnly)
	assert.Equal(t, http.SameSiteLaxMode, c.SameSite)
	assert.Equal(t, "/", c.Path)
	assert.Empty(t, c.Domain)
	assert.Equal(t, int(session.ChallengeTTL/time.Second), c.MaxAge, "short-lived")
	assert.Greater(t, len(c.Value), 43, "longer than a token")
	raw, err := base64.RawURLEncoding.DecodeString(c.Value)
	require.NoError(t, err)
	assert.NotContains(t, string(raw), "Please log in", "sealed")

	t.Run("tampered", func(t *testing.T) {
		b := []byte(c.Value)
		if i := len(b) / 2; b[i] == 'A' {
			b[i] = 'B'
		} else {
			b[i] = 'A'
		}
		r := st.Do(t, h, "/show", string(b))
		assert.Empty(t, r.Body, "ignored")
		require.NotNil(t, r.Cookie)
		assert.Negative(t, r.Cookie.MaxAge, "and the cookie deleted")
	})
	t.Run("another manager's", func(t *testing.T) {
		other := newEnv(t, nil) // its own random key
		r := st.Do(t, anonApp(t, other.M), "/show", c.Value)
		assert.Empty(t, r.Body)
	})
	t.Run("expired", func(t *testing.T) {
		e.Clock.Add(session.ChallengeTTL)
		r := st.Do(t, h, "/show", c.Value)
		assert.Empty(t, r.Body)
		require.NotNil(t, r.Cookie)
		assert.Negative(t, r.Cookie.MaxAge)
	})
	t.Run("reading sets no cookie", func(t *testing.T) {
		r := st.Do(t, e.H, "/whoami", st.Do(t, h, "/flash", "").Token)
		assert.Equal(t, "anonymous", r.Body)
		assert.Nil(t, r.Cookie)
	})
}

func TestAnonymousStateTooLarge(t *testing.T) {
	e := newEnv(t, nil)
	big := strings.Repeat("v", 3000)
	var errs []error
	h := e.M.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := r.Context()
		errs = append(errs, e.M.Put(ctx, "form", big), e.M.PutChallenge(ctx, "c", []byte(big)))
		if r.URL.Path == "/login" {
			require.NoError(t, e.M.Login(ctx, identity.Principal{UserID: "una", Methods: []identity.Method{identity.MethodPassword}, AuthTime: e.Clock.Now()}))
			errs = append(errs, e.M.Put(ctx, "form", big))
		}
	}))
	r := st.Do(t, h, "/", "")
	assert.ErrorIs(t, errs[0], session.ErrTooLarge)
	assert.ErrorIs(t, errs[1], session.ErrTooLarge)
	assert.Empty(t, r.Token, "nothing kept")
	r = st.Do(t, h, "/login", "")
	require.NoError(t, errs[4], "signed in, values live in the store")
	assert.Len(t, r.Token, 43)
}

func TestNewNeedsKeyringForSharedStore(t *testing.T) {
	_, err := session.New(session.Config{Store: st.Failing{}})
	assert.ErrorContains(t, err, "needs Config.Keyring")
	_, err = session.New(session.Config{Store: st.Failing{}, Keyring: st.Keyring})
	assert.NoError(t, err)
}
