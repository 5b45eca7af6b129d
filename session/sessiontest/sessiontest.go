// Package sessiontest checks an implementation of session.Store against
// the contract that session.Manager relies on, in the manner of
// testing/fstest: a store package calls [TestStore] from one of its tests,
// with a function that returns an empty store. It uses the standard
// library only.
//
// The checks drive the store directly (conditional saves, the per-user
// index, the revocation watermark, claims, their atomicity under
// concurrent calls) and end to end through a session.Manager as a browser
// would (login, MFA step-up, timeouts, revocation across instances, a
// revocation racing a login or a request in flight, single-use challenges,
// hashed tokens at rest, anonymous visitors writing nothing). The Managers
// run on a manual clock (session.Config.Now) set to the real time, so that
// the store's own expiry, on the real clock, agrees with them: stores must
// use the real clock for expiry, and compare watermarks with the times
// they are given, never with their own clock.
package sessiontest

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/deployedworks/rampart/session"
	"github.com/deployedworks/rampart/session/internal/storetest"
)

// TestStore runs the conformance checks on the stores newStore returns,
// each as a subtest. newStore must return an empty store, isolated from
// every other (its own table or key prefix), and may register cleanups
// with t. The checks that read what the store keeps at rest see the
// records the Manager hands to the store; [TestBackend] also reads the
// backend itself.
func TestStore(t *testing.T, newStore func(t *testing.T) session.Store) {
	TestBackend(t, Backend{New: newStore})
}

// Backend describes a store under test to [TestBackend].
type Backend struct {
	// New returns an empty store, isolated from every other. Required.
	New func(t *testing.T) session.Store
	// Dump returns everything the store holds, read from the backend
	// (keys, columns, values), for the checks that no token is kept at
	// rest and that anonymous visitors write nothing. Optional: without
	// it, those checks read the records handed to the store.
	Dump func(t *testing.T, s session.Store) string
	// Broken returns a store of this kind whose backend is unreachable
	// (a closed connection), for the check that the Manager fails closed.
	// Optional: without it, a store whose every call fails stands in.
	Broken func(t *testing.T) session.Store
}

// TestBackend runs [TestStore]'s checks with b's access to the backend.
func TestBackend(t *testing.T, b Backend) {
	if b.New == nil {
		t.Fatal("sessiontest: Backend.New is nil: pass a function returning an empty store")
	}
	if b.Dump == nil {
		newStore := b.New
		b.New = func(t *testing.T) session.Store { return &recorder{Store: newStore(t)} }
		b.Dump = func(t *testing.T, s session.Store) string {
			r, ok := s.(*recorder)
			if !ok {
				t.Fatalf("sessiontest: store %T was not made by Backend.New", s)
			}
			return r.dump()
		}
	}
	if b.Broken == nil {
		b.Broken = func(*testing.T) session.Store { return storetest.Failing{} }
	}
	run(t, b)
}

// recorder is a store that logs every write handed to it, for backends
// without a Dump.
type recorder struct {
	session.Store
	mu  sync.Mutex
	log strings.Builder
}

func (r *recorder) dump() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.log.String()
}

func (r *recorder) logf(format string, a ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	fmt.Fprintf(&r.log, format+"\n", a...)
}

func (r *recorder) Save(ctx context.Context, replace string, rec session.Record) (bool, error) {
	r.logf("save %s→%s user=%s data=%q %s", replace, rec.Key, rec.UserID, rec.Data, rec.Data)
	return r.Store.Save(ctx, replace, rec)
}

func (r *recorder) Delete(ctx context.Context, userID, key string) error {
	r.logf("delete %s user=%s", key, userID)
	return r.Store.Delete(ctx, userID, key)
}

func (r *recorder) DeleteUser(ctx context.Context, userID, except string, rev session.Revocation) error {
	r.logf("delete user=%s except=%s", userID, except)
	return r.Store.DeleteUser(ctx, userID, except, rev)
}

func (r *recorder) Claim(ctx context.Context, key string, expiry time.Time) (bool, error) {
	r.logf("claim %s", key)
	return r.Store.Claim(ctx, key, expiry)
}
