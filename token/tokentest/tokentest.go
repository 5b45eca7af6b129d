// Package tokentest checks implementations of [token.Store] against the
// contract documented there, in the manner of testing/fstest and
// testing/slogtest. It uses only the standard library.
//
// Call [TestStore] from a test of your store:
//
//	func TestStore(t *testing.T) {
//		tokentest.TestStore(t, func(t *testing.T) token.Store {
//			return newEmptyStore(t)
//		})
//	}
//
// The suite covers the contracts whose breach weakens account recovery: a
// token redeemed twice by concurrent requests, an older reset link still
// valid after a newer one was sent, a token valid at or after its expiry or
// for another purpose, a void that misses a record or removes another
// user's, a write through a slice the caller still holds. The concurrency
// checks start several goroutines at once and hold for every interleaving,
// so a correct store never fails them; a racy store fails them often but,
// being a matter of scheduling, not always: run them with -race and
// -count.
//
// Hashing tokens before they reach the store is the Issuer's job; the
// suite checks that a store returns exactly the record it was given.
// Times need survive only to the millisecond: the suite uses whole
// milliseconds in UTC and compares with time.Time.Equal.
package tokentest

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/deployedworks/rampart/token"
)

// concurrency is how many goroutines the concurrency checks start at once.
const concurrency = 8

// TestStore checks the store that newStore returns against the contract
// of [token.Store], in one subtest per check. newStore is called once per
// subtest and must return an empty store; the subtests run one after
// another, with the subtest's context. Clean the store up with t.Cleanup.
func TestStore(t *testing.T, newStore func(t *testing.T) token.Store) {
	t.Helper()
	if newStore == nil {
		t.Fatal("tokentest: TestStore: nil newStore")
	}
	for _, c := range checks {
		t.Run(c.name, func(t *testing.T) {
			s := newStore(t)
			if s == nil {
				t.Fatal("tokentest: newStore returned nil")
			}
			c.fn(t, t.Context(), s)
		})
	}
}

var checks = []struct {
	name string
	fn   func(t *testing.T, ctx context.Context, s token.Store)
}{
	{"RoundTrip", roundTrip},
	{"Missing", missing},
	{"TakeOnce", takeOnce},
	{"ConcurrentTake", concurrentTake},
	{"NewerVoidsOlder", newerVoidsOlder},
	{"ConcurrentPut", concurrentPut},
	{"DuplicateHash", duplicateHash},
	{"ExpiryBoundary", expiryBoundary},
	{"PurposeBinding", purposeBinding},
	{"Void", void},
	{"DeleteExpired", deleteExpired},
	{"Copies", copies},
}

// t0 is the suite's reference time: whole milliseconds, UTC.
var t0 = time.UnixMilli(1_767_225_600_000).UTC()

// newRec returns a record with a fresh random hash, created at t0 and
// expiring an hour later.
func newRec(user string, p token.Purpose, data string) token.Record {
	h := make([]byte, 32)
	_, _ = rand.Read(h)
	return token.Record{Hash: h, UserID: user, Purpose: p, Data: data, Created: t0, Expires: t0.Add(time.Hour)}
}

func put(t *testing.T, ctx context.Context, s token.Store, rec token.Record) token.Record {
	t.Helper()
	if err := s.Put(ctx, rec); err != nil {
		t.Fatalf("Put(%s): %v", fmtRec(rec), err)
	}
	return rec
}

// want fails the test now unless Get at now finds rec exactly.
func want(t *testing.T, ctx context.Context, s token.Store, rec token.Record, now time.Time) {
	t.Helper()
	got, err := s.Get(ctx, rec.Hash, rec.Purpose, now)
	if err != nil {
		t.Fatalf("Get(%x…, %s) after Put(%s): %v", rec.Hash[:4], rec.Purpose, fmtRec(rec), err)
	}
	if !same(got, rec) {
		t.Fatalf("Get returned %s\nwant %s", fmtRec(got), fmtRec(rec))
	}
}

// gone fails the test now unless Get at now finds no record of hash for p.
func gone(t *testing.T, ctx context.Context, s token.Store, hash []byte, p token.Purpose, now time.Time, why string) {
	t.Helper()
	got, err := s.Get(ctx, hash, p, now)
	if err == nil {
		t.Fatalf("%s: Get(%x…, %s) = %s, want an error wrapping token.ErrInvalid", why, hash[:4], p, fmtRec(got))
	}
	if !errors.Is(err, token.ErrInvalid) {
		t.Fatalf("%s: Get(%x…, %s): error %v does not wrap token.ErrInvalid", why, hash[:4], p, err)
	}
}

func same(a, b token.Record) bool {
	return bytes.Equal(a.Hash, b.Hash) && a.UserID == b.UserID && a.Purpose == b.Purpose && a.Data == b.Data &&
		a.Created.Equal(b.Created) && a.Expires.Equal(b.Expires)
}

func fmtRec(r token.Record) string {
	h := r.Hash
	if len(h) > 4 {
		h = h[:4]
	}
	d := r.Data
	if len(d) > 16 {
		d = fmt.Sprintf("%.16q… (%d bytes)", d, len(d))
	} else {
		d = fmt.Sprintf("%q", d)
	}
	return fmt.Sprintf("{Hash: %x…, UserID: %q, Purpose: %s, Data: %s, Created: %v, Expires: %v}",
		h, r.UserID, r.Purpose, d, r.Created, r.Expires)
}

// race calls fn(0), …, fn(n-1), each in its own goroutine, all released
// at once, and returns when every call has returned.
func race(n int, fn func(i int)) {
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		wg.Go(func() {
			<-start
			fn(i)
		})
	}
	close(start)
	wg.Wait()
}

func roundTrip(t *testing.T, ctx context.Context, s token.Store) {
	recs := []token.Record{
		newRec("alice", token.PasswordReset, "digest-of-password-hash"),
		newRec("alice", token.EmailChange, "new.address@example.com"),
		newRec("bob@example.com", token.EmailVerify, ""),
		newRec("ünïcode-user", token.PasswordReset, "binary \x00\xff\xfe data"),
		newRec("carol", token.EmailChange, strings.Repeat("d", 1024)),
	}
	for _, r := range recs {
		put(t, ctx, s, r)
	}
	for _, r := range recs {
		want(t, ctx, s, r, t0)
	}
	// Get does not consume.
	want(t, ctx, s, recs[0], t0.Add(time.Minute))
}

func missing(t *testing.T, ctx context.Context, s token.Store) {
	h := newRec("x", token.PasswordReset, "").Hash
	gone(t, ctx, s, h, token.PasswordReset, t0, "empty store")
	if _, err := s.Take(ctx, h, token.PasswordReset, t0); !errors.Is(err, token.ErrInvalid) {
		t.Fatalf("Take on an empty store: error %v, want one wrapping token.ErrInvalid", err)
	}
	if err := s.Void(ctx, "nobody"); err != nil {
		t.Fatalf("Void of a user with no records: %v", err)
	}
	if n, err := s.DeleteExpired(ctx, t0); err != nil || n != 0 {
		t.Fatalf("DeleteExpired on an empty store = %d, %v; want 0, nil", n, err)
	}
}

func takeOnce(t *testing.T, ctx context.Context, s token.Store) {
	rec := put(t, ctx, s, newRec("alice", token.PasswordReset, "d"))
	got, err := s.Take(ctx, rec.Hash, rec.Purpose, t0)
	if err != nil {
		t.Fatalf("Take: %v", err)
	}
	if !same(got, rec) {
		t.Fatalf("Take returned %s\nwant %s", fmtRec(got), fmtRec(rec))
	}
	if _, err := s.Take(ctx, rec.Hash, rec.Purpose, t0); !errors.Is(err, token.ErrInvalid) {
		t.Fatalf("second Take: error %v, want one wrapping token.ErrInvalid (single use)", err)
	}
	gone(t, ctx, s, rec.Hash, rec.Purpose, t0, "after Take")
}

func concurrentTake(t *testing.T, ctx context.Context, s token.Store) {
	for round := range 4 {
		rec := put(t, ctx, s, newRec(fmt.Sprintf("user%d", round), token.PasswordReset, "d"))
		var mu sync.Mutex
		won, errs := 0, []error{}
		race(concurrency, func(int) {
			got, err := s.Take(ctx, rec.Hash, rec.Purpose, t0)
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil && same(got, rec):
				won++
			case err == nil:
				errs = append(errs, fmt.Errorf("a Take returned %s, want %s", fmtRec(got), fmtRec(rec)))
			case !errors.Is(err, token.ErrInvalid):
				errs = append(errs, err)
			}
		})
		if len(errs) > 0 {
			t.Fatalf("%d concurrent Takes: unexpected errors: %v", concurrency, errs)
		}
		if won != 1 {
			t.Fatalf("%d concurrent Takes of one record: %d succeeded, want exactly 1 (single use)", concurrency, won)
		}
	}
}

func newerVoidsOlder(t *testing.T, ctx context.Context, s token.Store) {
	older := put(t, ctx, s, newRec("alice", token.PasswordReset, "1"))
	otherPurpose := put(t, ctx, s, newRec("alice", token.EmailVerify, ""))
	otherUser := put(t, ctx, s, newRec("bob", token.PasswordReset, "1"))
	newer := newRec("alice", token.PasswordReset, "2")
	newer.Created = t0.Add(time.Second)
	put(t, ctx, s, newer)
	gone(t, ctx, s, older.Hash, older.Purpose, t0, "the older record of a user and purpose after a newer Put")
	want(t, ctx, s, newer, t0)
	want(t, ctx, s, otherPurpose, t0)
	want(t, ctx, s, otherUser, t0)
}

func concurrentPut(t *testing.T, ctx context.Context, s token.Store) {
	recs := make([]token.Record, concurrency)
	for i := range recs {
		recs[i] = newRec("alice", token.EmailChange, fmt.Sprintf("addr%d@example.com", i))
	}
	errs := make([]error, concurrency)
	race(concurrency, func(i int) { errs[i] = s.Put(ctx, recs[i]) })
	for i, err := range errs {
		if err != nil {
			t.Fatalf("concurrent Put %d: %v", i, err)
		}
	}
	valid := 0
	for _, r := range recs {
		if _, err := s.Get(ctx, r.Hash, r.Purpose, t0); err == nil {
			valid++
		} else if !errors.Is(err, token.ErrInvalid) {
			t.Fatalf("Get: %v", err)
		}
	}
	if valid != 1 {
		t.Fatalf("%d concurrent Puts for one user and purpose left %d valid records, want 1", concurrency, valid)
	}
}

func duplicateHash(t *testing.T, ctx context.Context, s token.Store) {
	rec := put(t, ctx, s, newRec("alice", token.PasswordReset, "mine"))
	dup := rec
	dup.Hash = bytes.Clone(rec.Hash)
	dup.UserID, dup.Data = "mallory", "theirs"
	if err := s.Put(ctx, dup); err == nil {
		t.Fatal("Put of a record whose hash another user's record has succeeded, want an error")
	}
	want(t, ctx, s, rec, t0)
	// mallory has no record.
	if _, err := s.Take(ctx, rec.Hash, rec.Purpose, t0); err != nil {
		t.Fatalf("Take: %v", err)
	}
}

func expiryBoundary(t *testing.T, ctx context.Context, s token.Store) {
	rec := put(t, ctx, s, newRec("alice", token.PasswordReset, ""))
	last := rec.Expires.Add(-time.Millisecond)
	want(t, ctx, s, rec, last)
	gone(t, ctx, s, rec.Hash, rec.Purpose, rec.Expires, "at Expires")
	if _, err := s.Take(ctx, rec.Hash, rec.Purpose, rec.Expires); !errors.Is(err, token.ErrInvalid) {
		t.Fatalf("Take at Expires: error %v, want one wrapping token.ErrInvalid", err)
	}
	gone(t, ctx, s, rec.Hash, rec.Purpose, rec.Expires.Add(time.Hour), "an hour after Expires")

	rec2 := put(t, ctx, s, newRec("bob", token.EmailVerify, ""))
	if _, err := s.Take(ctx, rec2.Hash, rec2.Purpose, rec2.Expires.Add(-time.Millisecond)); err != nil {
		t.Fatalf("Take a millisecond before Expires: %v", err)
	}
}

func purposeBinding(t *testing.T, ctx context.Context, s token.Store) {
	rec := put(t, ctx, s, newRec("alice", token.EmailVerify, ""))
	for _, p := range []token.Purpose{token.PasswordReset, token.EmailChange, "", "EMAIL_VERIFY"} {
		gone(t, ctx, s, rec.Hash, p, t0, "for another purpose")
		if _, err := s.Take(ctx, rec.Hash, p, t0); !errors.Is(err, token.ErrInvalid) {
			t.Fatalf("Take for purpose %q of a %s record: error %v, want one wrapping token.ErrInvalid", p, rec.Purpose, err)
		}
	}
	// A Take for the wrong purpose consumed nothing.
	if _, err := s.Take(ctx, rec.Hash, rec.Purpose, t0); err != nil {
		t.Fatalf("Take for the right purpose after Takes for wrong ones: %v", err)
	}
}

func void(t *testing.T, ctx context.Context, s token.Store) {
	reset := put(t, ctx, s, newRec("alice", token.PasswordReset, ""))
	verify := put(t, ctx, s, newRec("alice", token.EmailVerify, ""))
	change := put(t, ctx, s, newRec("alice", token.EmailChange, "new@example.com"))
	bob := put(t, ctx, s, newRec("bob", token.PasswordReset, ""))

	if err := s.Void(ctx, "alice", token.PasswordReset); err != nil {
		t.Fatalf("Void(alice, PasswordReset): %v", err)
	}
	gone(t, ctx, s, reset.Hash, reset.Purpose, t0, "after Void of its purpose")
	want(t, ctx, s, verify, t0)
	want(t, ctx, s, change, t0)
	want(t, ctx, s, bob, t0)

	if err := s.Void(ctx, "alice", token.EmailVerify, token.PasswordReset); err != nil {
		t.Fatalf("Void(alice, EmailVerify, PasswordReset): %v", err)
	}
	gone(t, ctx, s, verify.Hash, verify.Purpose, t0, "after Void of two purposes")
	want(t, ctx, s, change, t0)

	reset2 := put(t, ctx, s, newRec("alice", token.PasswordReset, ""))
	if err := s.Void(ctx, "alice"); err != nil {
		t.Fatalf("Void(alice): %v", err)
	}
	gone(t, ctx, s, change.Hash, change.Purpose, t0, "after Void of every purpose")
	gone(t, ctx, s, reset2.Hash, reset2.Purpose, t0, "after Void of every purpose")
	want(t, ctx, s, bob, t0)

	// A user ID that is a prefix of another's voids only its own.
	al := put(t, ctx, s, newRec("al", token.PasswordReset, ""))
	alice := put(t, ctx, s, newRec("alice", token.PasswordReset, ""))
	if err := s.Void(ctx, "al"); err != nil {
		t.Fatalf("Void(al): %v", err)
	}
	gone(t, ctx, s, al.Hash, al.Purpose, t0, "after Void")
	want(t, ctx, s, alice, t0)
}

func deleteExpired(t *testing.T, ctx context.Context, s token.Store) {
	var recs []token.Record
	for i := range 5 { // expiring at t0+1m … t0+5m
		r := newRec(fmt.Sprintf("user%d", i), token.PasswordReset, "")
		r.Expires = t0.Add(time.Duration(i+1) * time.Minute)
		recs = append(recs, put(t, ctx, s, r))
	}
	n, err := s.DeleteExpired(ctx, t0.Add(3*time.Minute)) // the third expires exactly now
	if err != nil {
		t.Fatalf("DeleteExpired: %v", err)
	}
	if n != 3 {
		t.Fatalf("DeleteExpired at the third record's Expires = %d, want 3 (expired at or before now)", n)
	}
	for _, r := range recs[3:] {
		want(t, ctx, s, r, t0)
	}
	for _, r := range recs[:3] {
		gone(t, ctx, s, r.Hash, r.Purpose, t0, "deleted as expired, asked about at a time it was valid")
	}
	if n, err := s.DeleteExpired(ctx, t0.Add(3*time.Minute)); err != nil || n != 0 {
		t.Fatalf("DeleteExpired again = %d, %v; want 0, nil", n, err)
	}
}

func copies(t *testing.T, ctx context.Context, s token.Store) {
	rec := newRec("alice", token.PasswordReset, "d")
	orig := rec
	orig.Hash = bytes.Clone(rec.Hash)
	put(t, ctx, s, rec)
	rec.Hash[0] ^= 0xff // the caller reuses its slice
	want(t, ctx, s, orig, t0)

	got, err := s.Get(ctx, orig.Hash, orig.Purpose, t0)
	if err != nil {
		t.Fatalf("Get: %v", err)
	}
	got.Hash[1] ^= 0xff // the caller writes to what it was given
	want(t, ctx, s, orig, t0)
}
