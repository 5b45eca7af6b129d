package session

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/gob"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"testing"
	"time"

	"github.com/alexedwards/scs/v2"
	"github.com/alexedwards/scs/v2/memstore"

	"github.com/deployedworks/rampart/clientip"
	"github.com/deployedworks/rampart/identity"
	"github.com/deployedworks/rampart/secrets"
)

// discardWriter is a ResponseWriter that keeps only headers, reset per
// request, so that benchmarks measure the middleware, not a recorder.
type discardWriter struct{ h http.Header }

func (w *discardWriter) Header() http.Header         { return w.h }
func (w *discardWriter) Write(b []byte) (int, error) { return len(b), nil }
func (w *discardWriter) WriteHeader(int)             {}

// BenchmarkHandler measures one request on an existing session that reads
// and writes one value: the bench module compares it with scs and gorilla.
func BenchmarkHandler(b *testing.B) {
	kr, _ := secrets.NewKeyring(secrets.Key{ID: "k", Secret: secrets.Random(32)})
	for _, bc := range []struct {
		name string
		cfg  Config
	}{
		{"memory", Config{}},
		{"memory+keyring", Config{Keyring: kr}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			m, err := New(bc.cfg)
			if err != nil {
				b.Fatal(err)
			}
			h := m.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				v, _ := m.Get(r.Context(), "greeting")
				_ = m.Put(r.Context(), "greeting", v[:len(v)-1]+"!")
				w.WriteHeader(http.StatusNoContent)
			}))
			rec := httptest.NewRecorder()
			first := m.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				_ = m.Login(r.Context(), identity.Principal{UserID: "user-1", Roles: []string{"seller"}, Methods: []identity.Method{identity.MethodPassword}, AuthTime: time.Now()})
				_ = m.Put(r.Context(), "greeting", "hello, world.")
			}))
			first.ServeHTTP(rec, httptest.NewRequest("POST", "https://app.example/", nil))
			req := httptest.NewRequest("POST", "https://app.example/", nil)
			req.AddCookie(rec.Result().Cookies()[0])
			w := &discardWriter{h: http.Header{}}
			ctx := context.Background()
			b.ReportAllocs()
			for b.Loop() {
				clear(w.h)
				h.ServeHTTP(w, req.WithContext(ctx))
			}
		})
	}
}

// BenchmarkSignedInGET measures the common request: a signed-in session,
// read (the principal in the context) and left unchanged, so that nothing
// is written and no cookie is set. The session was seen from the same
// address within the touch interval, except in the new-address case, where
// each request comes from another client address (a phone between
// networks, a NAT pool), behind clientip's Handler.
func BenchmarkSignedInGET(b *testing.B) {
	kr, _ := secrets.NewKeyring(secrets.Key{ID: "k", Secret: secrets.Random(32)})
	for _, bc := range []struct {
		name       string
		cfg        Config
		newAddress bool
	}{
		{"memory", Config{}, false},
		{"memory+keyring", Config{Keyring: kr}, false},
		{"memory+new-address", Config{}, true},
	} {
		b.Run(bc.name, func(b *testing.B) {
			m, err := New(bc.cfg)
			if err != nil {
				b.Fatal(err)
			}
			h := m.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if p, ok := identity.FromContext(r.Context()); !ok || p.UserID != "user-1" {
					b.Fatal("not signed in")
				}
				w.WriteHeader(http.StatusNoContent)
			}))
			rec := httptest.NewRecorder()
			first := m.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				_ = m.Login(r.Context(), identity.Principal{UserID: "user-1", Roles: []string{"seller"}, Methods: []identity.Method{identity.MethodPassword}, AuthTime: time.Now()})
			}))
			first.ServeHTTP(rec, httptest.NewRequest("POST", "https://app.example/", nil))
			req := httptest.NewRequest("GET", "https://app.example/", nil)
			req.AddCookie(rec.Result().Cookies()[0])
			w := &discardWriter{h: http.Header{}}
			ctx := context.Background()
			var addrs []string
			if bc.newAddress {
				h = clientip.MustNew(nil, clientip.Config{}).Handler(h)
				addrs = []string{"198.51.100.7:1234", "203.0.113.9:1234"}
			}
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				clear(w.h)
				if addrs != nil {
					req.RemoteAddr = addrs[i%len(addrs)]
					i++
				}
				h.ServeHTTP(w, req.WithContext(ctx))
				if w.h["Set-Cookie"] != nil {
					b.Fatal("the cookie was set")
				}
			}
		})
	}
}

func benchValues() map[string]any {
	now := time.Now()
	return map[string]any{
		metaKey: &meta{
			Handle: newHandle(), UserID: "user-12345", Roles: []string{"seller"}, Methods: []identity.Method{identity.MethodPassword, identity.MethodOTP},
			AuthTime: now, MFATime: now, Created: now, LastSeen: now,
			IP: netip.MustParseAddr("203.0.113.9"), UserAgent: "Mozilla/5.0 (X11; Linux x86_64) Firefox/140.0",
		},
		"greeting": "hello, world!",
	}
}

// scs's gob codec needs concrete types stored in interfaces registered.
func init() {
	gob.Register(time.Time{})
	gob.Register([]string(nil))
	gob.Register([]identity.Method(nil))
}

// BenchmarkCodec compares this package's codec with scs's default gob
// codec on the same session (gob cannot encode *meta, so it gets the same
// fields as plain values).
func BenchmarkCodec(b *testing.B) {
	v := benchValues()
	md := v[metaKey].(*meta)
	gobValues := map[string]any{
		"handle": md.Handle, "user": md.UserID, "roles": md.Roles, "methods": md.Methods,
		"auth": md.AuthTime, "mfa": md.MFATime, "created": md.Created,
		"seen": md.LastSeen, "ip": md.IP.String(), "ua": md.UserAgent, "greeting": "hello, world!",
	}
	for _, bc := range []struct {
		name   string
		c      scs.Codec
		values map[string]any
	}{
		{"rampart", codec{}, v},
		{"gob", scs.GobCodec{}, gobValues},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			var n int
			for b.Loop() {
				enc, err := bc.c.Encode(time.Now(), bc.values)
				if err != nil {
					b.Fatal(err)
				}
				n = len(enc)
				if _, _, err := bc.c.Decode(enc); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(n), "bytes/session")
		})
	}
}

const (
	revokeSessions = 100_000
	revokeUsers    = revokeSessions / 4 // four sessions each
)

func randToken() string {
	var b [32]byte
	_, _ = rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// BenchmarkRevokeUser ends the four sessions of one user among 100,000:
//
//   - index: Manager.RevokeUser on a MemoryStore, through the per-user index;
//   - scan-rampart: the same store scanned in full, decoding every session
//     with this package's codec (what revocation would cost without an index);
//   - scs-iterate: scs's Iterate over its memstore with its gob codec,
//     reading a user value from each session and deleting the matches.
//
// Each index iteration re-creates the four sessions with the timer stopped.
func BenchmarkRevokeUser(b *testing.B) {
	ctx := context.Background()
	exp := time.Now().Add(time.Hour)
	enc := func(user string) []byte {
		v := benchValues()
		md := *v[metaKey].(*meta)
		md.UserID = user
		v[metaKey] = &md
		data, _ := codec{}.Encode(exp, v)
		return data
	}

	b.Run("index", func(b *testing.B) {
		m, _ := New(Config{})
		s := m.store.(*MemoryStore)
		for i := range revokeSessions {
			u := fmt.Sprintf("user-%d", i%revokeUsers)
			_, _ = s.Save(ctx, "", Record{Key: randToken(), UserID: u, Data: enc(u), Expiry: exp})
		}
		victim := enc("user-7")
		b.ReportAllocs()
		for b.Loop() {
			b.StopTimer()
			for range 4 {
				// Established after every watermark the loop sets, so that
				// each revocation has four sessions to delete.
				_, _ = s.Save(ctx, "", Record{Key: randToken(), UserID: "user-7", Data: victim, Expiry: exp, AuthAt: exp})
			}
			b.StartTimer()
			if err := m.RevokeUser(ctx, "user-7"); err != nil {
				b.Fatal(err)
			}
		}
	})

	b.Run("scan-rampart", func(b *testing.B) {
		s := NewMemoryStore()
		for i := range revokeSessions {
			u := fmt.Sprintf("user-%d", i%revokeUsers)
			_, _ = s.Save(ctx, "", Record{Key: randToken(), UserID: u, Data: enc(u), Expiry: exp})
		}
		b.ReportAllocs()
		for b.Loop() {
			var keys []string
			s.mu.RLock()
			for k, r := range s.recs {
				_, v, err := codec{}.Decode(r.data)
				if err == nil && v[metaKey].(*meta).UserID == "user-7" {
					keys = append(keys, k)
				}
			}
			s.mu.RUnlock()
			if len(keys) != 4 {
				b.Fatalf("found %d sessions", len(keys))
			}
		}
	})

	b.Run("scs-iterate", func(b *testing.B) {
		sm := scs.New()
		ms := memstore.NewWithCleanupInterval(0)
		sm.Store = ms
		sm.HashTokenInStore = true
		for i := range revokeSessions {
			data, _ := scs.GobCodec{}.Encode(exp, map[string]any{
				"user": fmt.Sprintf("user-%d", i%revokeUsers), "greeting": "hello, world!",
				"created": exp, "roles": []string{"seller"},
			})
			_ = ms.Commit(randToken(), data, exp)
		}
		b.ReportAllocs()
		for b.Loop() {
			var found int
			err := sm.Iterate(ctx, func(ctx context.Context) error {
				if sm.GetString(ctx, "user") == "user-7" {
					found++ // scs cannot delete here with hashed tokens: Destroy would hash the hash
				}
				return nil
			})
			if err != nil || found != 4 {
				b.Fatalf("found %d sessions: %v", found, err)
			}
		}
	})
}
