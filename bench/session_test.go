package bench

// Sessions beside their peers: one request on an existing session that
// reads one string value and writes it back changed, the commonest thing a
// handler does with a session.
//
//   - Rampart: session.Manager, default MemoryStore (server-side), on a
//     signed-in session, with and without at-rest encryption;
//   - RampartAnonymous: the same for a visitor who is not signed in, whose
//     values travel in the cookie, sealed (no store write);
//   - SCS: github.com/alexedwards/scs/v2 as shipped (gob codec, memstore,
//     LoadAndSave), with HashTokenInStore as Rampart uses it;
//   - GorillaCookie: gorilla/sessions CookieStore with an HMAC key only
//     (data in the cookie, signed), and with an AES key too;
//   - GorillaFilesystem: gorilla/sessions FilesystemStore (server-side,
//     one file per session).
//
// Target (issue 7): Rampart no slower than GorillaCookie (HMAC) while
// keeping the data server-side.
//
//	cd bench && go test -run XXX -bench Session -benchmem

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/alexedwards/scs/v2"
	"github.com/gorilla/sessions"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/deployedworks/rampart/identity"
	"github.com/deployedworks/rampart/secrets"
	"github.com/deployedworks/rampart/session"
)

const sessionValue = "hello, world."

// bump changes the value the way every handler below does.
func bump(v string) string { return v[:len(v)-1] + "!" }

// runSession sends one first request through first (h when nil) to get a
// cookie, then measures requests through h carrying it.
func runSession(b *testing.B, first, h http.Handler) {
	if first == nil {
		first = h
	}
	rec := httptest.NewRecorder()
	first.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "https://app.example/", nil))
	cookies := rec.Result().Cookies()
	require.NotEmpty(b, cookies, "first request set no cookie")
	req := httptest.NewRequest(http.MethodPost, "https://app.example/", nil)
	for _, c := range cookies {
		req.AddCookie(c)
	}
	// The second request must see the value the first stored.
	probe := newDiscardWriter()
	h.ServeHTTP(probe, req.WithContext(context.WithValue(context.Background(), probeKey{}, true)))
	require.Equal(b, "ok", probe.h.Get("X-Probe"), "the session did not carry the value")

	w := newDiscardWriter()
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		clear(w.h)
		h.ServeHTTP(w, req.WithContext(ctx))
	}
}

type probeKey struct{}

func probe(w http.ResponseWriter, r *http.Request, v string) {
	if r.Context().Value(probeKey{}) != nil && v == bump(sessionValue) {
		w.Header().Set("X-Probe", "ok")
	}
}

// rampartSession returns the handler to measure and, with signIn, the
// handler of the first request, which signs a user in so that the session
// lives in the store; without, the values travel sealed in the cookie.
func rampartSession(b *testing.B, kr *secrets.Keyring, signIn bool) (first, h http.Handler) {
	m, err := session.New(session.Config{Keyring: kr})
	require.NoError(b, err)
	h = m.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		v, ok := m.Get(r.Context(), "greeting")
		if !ok {
			v = sessionValue
		}
		probe(w, r, v)
		_ = m.Put(r.Context(), "greeting", bump(v))
		w.WriteHeader(http.StatusNoContent)
	}))
	if !signIn {
		return nil, h
	}
	first = m.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p := identity.Principal{UserID: "user-1", Methods: []identity.Method{identity.MethodPassword}, AuthTime: time.Now()}
		require.NoError(b, m.Login(r.Context(), p))
		require.NoError(b, m.Put(r.Context(), "greeting", bump(sessionValue)))
		w.WriteHeader(http.StatusNoContent)
	}))
	return first, h
}

// TestSessionSignedIn checks that the Rampart cases measure what they
// say: a signed-in session's cookie is a store token, an anonymous one
// carries the sealed values.
func TestSessionSignedIn(t *testing.T) {
	for _, signIn := range []bool{true, false} {
		m, err := session.New(session.Config{})
		require.NoError(t, err)
		var who string
		h := m.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if signIn {
				require.NoError(t, m.Login(r.Context(), identity.Principal{UserID: "user-1", AuthTime: time.Now()}))
			}
			require.NoError(t, m.Put(r.Context(), "greeting", sessionValue))
		}))
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "https://app.example/", nil))
		c := rec.Result().Cookies()
		require.Len(t, c, 1)
		req := httptest.NewRequest(http.MethodGet, "https://app.example/", nil)
		req.AddCookie(c[0])
		m.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			p, _ := identity.FromContext(r.Context())
			who = p.UserID
		})).ServeHTTP(httptest.NewRecorder(), req)
		if signIn {
			assert.Equal(t, "user-1", who)
			assert.Len(t, c[0].Value, 43, "a signed-in session's cookie is its token")
		} else {
			assert.Empty(t, who)
			assert.Greater(t, len(c[0].Value), 43, "an anonymous session's cookie carries its sealed values")
		}
	}
}

func scsSession() http.Handler {
	sm := scs.New()
	sm.HashTokenInStore = true
	sm.Cookie.Secure = true
	return sm.LoadAndSave(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		v := sm.GetString(r.Context(), "greeting")
		if v == "" {
			v = sessionValue
		}
		probe(w, r, v)
		sm.Put(r.Context(), "greeting", bump(v))
		w.WriteHeader(http.StatusNoContent)
	}))
}

func gorillaSession(store sessions.Store) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s, err := store.Get(r, "session")
		if err != nil {
			http.Error(w, "bad session", http.StatusInternalServerError)
			return
		}
		v, ok := s.Values["greeting"].(string)
		if !ok {
			v = sessionValue
		}
		probe(w, r, v)
		s.Values["greeting"] = bump(v)
		if err := s.Save(r, w); err != nil {
			http.Error(w, "save failed", http.StatusInternalServerError)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})
}

func BenchmarkSession(b *testing.B) {
	hashKey := secrets.Random(64).Reveal()
	blockKey := secrets.Random(32).Reveal()
	kr, err := secrets.NewKeyring(secrets.Key{ID: "k1", Secret: secrets.Random(32)})
	require.NoError(b, err)

	b.Run("Rampart", func(b *testing.B) {
		first, h := rampartSession(b, nil, true)
		runSession(b, first, h)
	})
	b.Run("RampartEncrypted", func(b *testing.B) {
		first, h := rampartSession(b, kr, true)
		runSession(b, first, h)
	})
	b.Run("RampartAnonymous", func(b *testing.B) {
		first, h := rampartSession(b, nil, false)
		runSession(b, first, h)
	})
	b.Run("SCS", func(b *testing.B) { runSession(b, nil, scsSession()) })
	b.Run("GorillaCookie", func(b *testing.B) {
		runSession(b, nil, gorillaSession(sessions.NewCookieStore(hashKey)))
	})
	b.Run("GorillaCookieEncrypted", func(b *testing.B) {
		runSession(b, nil, gorillaSession(sessions.NewCookieStore(hashKey, blockKey)))
	})
	b.Run("GorillaFilesystem", func(b *testing.B) {
		runSession(b, nil, gorillaSession(sessions.NewFilesystemStore(b.TempDir(), hashKey)))
	})
}
