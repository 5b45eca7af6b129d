package passkey_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/http"
	"sync"
	"time"

	"github.com/deployedworks/rampart/identity"
	"github.com/deployedworks/rampart/mfa"
	"github.com/deployedworks/rampart/mfa/passkey"
)

// fakeSessions is a hand-written stand-in for session.Manager: sessions
// live in memory, found through a "sid" cookie by its Handler, which puts
// the signed-in principal in the request context.
type fakeSessions struct {
	now func() time.Time
	mu  sync.Mutex
	all map[string]*fakeSession
	// marks counts MarkMFA calls.
	marks int
	// revokedOthers and revokedUsers record the sign-outs asked.
	revokedOthers, revokedUsers []string
}

type fakeSession struct {
	id         *identity.Principal
	challenges map[string][]byte
}

type sidKey struct{}

func newFakeSessions(now func() time.Time) *fakeSessions {
	return &fakeSessions{now: now, all: map[string]*fakeSession{}}
}

// Handler loads or creates the session of the request.
func (f *fakeSessions) Handler(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sid := ""
		if c, err := r.Cookie("sid"); err == nil {
			sid = c.Value
		}
		f.mu.Lock()
		if _, ok := f.all[sid]; !ok || sid == "" {
			b := make([]byte, 16)
			_, _ = rand.Read(b)
			sid = hex.EncodeToString(b)
			f.all[sid] = &fakeSession{challenges: map[string][]byte{}}
			http.SetCookie(w, &http.Cookie{Name: "sid", Value: sid, Path: "/"})
		}
		ctx := context.WithValue(r.Context(), sidKey{}, sid)
		if s := f.all[sid]; s.id != nil {
			p := *s.id
			p.SessionRef = sid
			ctx = identity.NewContext(ctx, p)
		}
		f.mu.Unlock()
		next.ServeHTTP(w, r.WithContext(ctx))
	})
}

func (f *fakeSessions) session(ctx context.Context) *fakeSession {
	sid, _ := ctx.Value(sidKey{}).(string)
	return f.all[sid]
}

// Login signs userID in on the session of ctx.
func (f *fakeSessions) Login(ctx context.Context, id identity.Principal) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if s := f.session(ctx); s != nil {
		s.id = &id
	}
}

func (f *fakeSessions) MarkMFA(ctx context.Context, method identity.Method) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	s := f.session(ctx)
	if s == nil || s.id == nil {
		return mfa.ErrUnauthenticated
	}
	*s.id = s.id.With(method)
	s.id.MFATime = f.now()
	f.marks++
	return nil
}

// RevokeOthers ends the other sessions of the signed-in user of ctx.
func (f *fakeSessions) RevokeOthers(ctx context.Context) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	s := f.session(ctx)
	if s == nil || s.id == nil {
		return mfa.ErrUnauthenticated
	}
	user := s.id.UserID
	for sid, o := range f.all {
		if o != s && o.id != nil && o.id.UserID == user {
			delete(f.all, sid)
		}
	}
	f.revokedOthers = append(f.revokedOthers, user)
	return nil
}

// RevokeUser ends every session of userID.
func (f *fakeSessions) RevokeUser(_ context.Context, userID string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	for sid, o := range f.all {
		if o.id != nil && o.id.UserID == userID {
			delete(f.all, sid)
		}
	}
	f.revokedUsers = append(f.revokedUsers, userID)
	return nil
}

func (f *fakeSessions) PutChallenge(ctx context.Context, key string, data []byte) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	s := f.session(ctx)
	if s == nil {
		return mfa.ErrUnauthenticated
	}
	s.challenges[key] = append([]byte(nil), data...)
	return nil
}

func (f *fakeSessions) TakeChallenge(ctx context.Context, key string) ([]byte, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	s := f.session(ctx)
	if s == nil {
		return nil, nil
	}
	d := s.challenges[key]
	delete(s.challenges, key)
	return d, nil
}

var (
	_ passkey.Sessions   = (*fakeSessions)(nil)
	_ mfa.ChallengeStore = (*fakeSessions)(nil)
)

// newSession creates an empty session and returns a context carrying it.
func (f *fakeSessions) newSession(ctx context.Context) context.Context {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	sid := hex.EncodeToString(b)
	f.mu.Lock()
	f.all[sid] = &fakeSession{challenges: map[string][]byte{}}
	f.mu.Unlock()
	return context.WithValue(ctx, sidKey{}, sid)
}
