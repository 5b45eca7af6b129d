package session

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/deployedworks/rampart/identity"
	"github.com/deployedworks/rampart/secrets"
)

// TestStoreKey: the store key is the base64url SHA-256 of the token,
// whatever its length (records written before the Manager hashed tokens
// itself, with scs's HashTokenInStore, stay findable).
func TestStoreKey(t *testing.T) {
	for _, n := range []int{0, 1, 43, 63, 64, 65, 200} {
		tok := strings.Repeat("t", n)
		h := sha256.Sum256([]byte(tok))
		assert.Equal(t, base64.RawURLEncoding.EncodeToString(h[:]), storeKey(tok), "length %d", n)
	}
}

// findCounting is a Store that counts the Finds of each key.
type findCounting struct {
	Store
	finds atomic.Int32
}

func (f *findCounting) Find(ctx context.Context, key string) ([]byte, bool, error) {
	f.finds.Add(1)
	return f.Store.Find(ctx, key)
}

// signedIn returns a Manager over store, a cookie of a session signed in
// on it, and a handler that checks the principal and writes nothing.
func signedIn(t *testing.T, store Store) (*Manager, *http.Cookie, http.Handler) {
	t.Helper()
	kr, err := secrets.NewKeyring(secrets.Key{ID: "k", Secret: secrets.Random(32)})
	require.NoError(t, err)
	m, err := New(Config{Store: store, Keyring: kr})
	require.NoError(t, err)
	rec := httptest.NewRecorder()
	m.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		require.NoError(t, m.Login(r.Context(), identity.Principal{UserID: "u", Roles: []string{"seller"}, Methods: []identity.Method{identity.MethodPassword}, AuthTime: time.Now()}))
	})).ServeHTTP(rec, httptest.NewRequest("POST", "https://app.example/", nil))
	cookies := rec.Result().Cookies()
	require.Len(t, cookies, 1)
	h := m.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if p, ok := identity.FromContext(r.Context()); !ok || p.UserID != "u" || p.Roles[0] != "seller" {
			t.Error("not signed in")
		}
	}))
	return m, cookies[0], h
}

// TestSignedInReadCost: a signed-in request that changes nothing reads
// the store once, writes nothing, sets no cookie, and allocates at most
// 16 times, with a Keyring: the decrypted record, the session's decoding
// and state, scs's session, the principal, and the context nodes and
// request copy the Handler installs (26 before issue 16).
func TestSignedInReadCost(t *testing.T) {
	store := &findCounting{Store: NewMemoryStore()}
	_, cookie, h := signedIn(t, store)
	req := httptest.NewRequest("GET", "https://app.example/", nil)
	req.AddCookie(cookie)
	w := &discardWriter{h: http.Header{}}
	before := DumpMemoryStore(store.Store.(*MemoryStore))
	store.finds.Store(0)
	h.ServeHTTP(w, req)
	assert.Equal(t, int32(1), store.finds.Load(), "one Find")
	assert.Nil(t, w.h["Set-Cookie"])
	allocs := testing.AllocsPerRun(50, func() {
		clear(w.h)
		h.ServeHTTP(w, req)
	})
	assert.Equal(t, before, DumpMemoryStore(store.Store.(*MemoryStore)), "nothing written")
	assert.LessOrEqual(t, allocs, 16.0)
}
