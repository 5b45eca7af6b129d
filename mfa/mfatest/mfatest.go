// Package mfatest checks implementations of the store interfaces of
// package mfa against their documented contracts, in the manner of
// testing/fstest and testing/slogtest. It uses only the standard library.
//
// Call [TestStore] from a test of your store:
//
//	func TestStore(t *testing.T) {
//		mfatest.TestStore(t, func(t *testing.T) any {
//			return newEmptyStore(t)
//		})
//	}
//
// The suite covers the contracts that a careless implementation breaks in
// ways that weaken security: a TOTP time step accepted twice by concurrent
// requests (a replayed code), a recovery code consumed twice, a user left
// with no second factor when two removals race, a write through a slice
// the caller still holds, a credential ID taken over by another user.
// Concurrency checks start many goroutines at once and hold for every
// interleaving, so a correct store never fails them; a racy store fails
// them often but, being a matter of scheduling, not always: run them with
// -race and -count.
//
// Times need to survive only to the millisecond: the suite uses times
// with whole milliseconds, in UTC, and compares them with time.Time.Equal.
package mfatest

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/deployedworks/rampart/mfa"
)

// concurrency is how many goroutines the concurrency checks start at once.
const concurrency = 16

// TestStore checks the store that newStore returns against the contracts
// of each of [mfa.TOTPStore], [mfa.RecoveryStore], [mfa.CredentialStore]
// and [mfa.FactorStore] it implements, in one subtest per check. A store
// that implements [mfa.FactorStore] must implement [mfa.TOTPStore] and
// [mfa.CredentialStore] too (it removes their rows). TestStore fails if
// the store implements none of the four.
//
// newStore is called once per subtest and must return an empty store; the
// subtests run one after another. The store is used with the subtest's
// context; clean it up with t.Cleanup.
func TestStore(t *testing.T, newStore func(t *testing.T) any) {
	t.Helper()
	if newStore == nil {
		t.Fatal("mfatest: TestStore: nil newStore")
	}
	probe := newStore(t)
	_, isTOTP := probe.(mfa.TOTPStore)
	_, isRecovery := probe.(mfa.RecoveryStore)
	_, isCred := probe.(mfa.CredentialStore)
	_, isFactor := probe.(mfa.FactorStore)
	if !isTOTP && !isRecovery && !isCred && !isFactor {
		t.Fatalf("mfatest: %T implements none of mfa.TOTPStore, mfa.RecoveryStore, mfa.CredentialStore, mfa.FactorStore", probe)
	}
	if isFactor && (!isTOTP || !isCred) {
		t.Fatalf("mfatest: %T implements mfa.FactorStore but not both mfa.TOTPStore and mfa.CredentialStore", probe)
	}
	t.Logf("mfatest: %T: TOTPStore %v, RecoveryStore %v, CredentialStore %v, FactorStore %v",
		probe, isTOTP, isRecovery, isCred, isFactor)

	run := func(name string, check func(t *testing.T, ctx context.Context, s any)) {
		t.Run(name, func(t *testing.T) {
			check(t, t.Context(), newStore(t))
		})
	}
	if isTOTP {
		for _, c := range totpChecks {
			run("TOTP/"+c.name, func(t *testing.T, ctx context.Context, s any) { c.fn(t, ctx, s.(mfa.TOTPStore)) })
		}
	}
	if isRecovery {
		for _, c := range recoveryChecks {
			run("Recovery/"+c.name, func(t *testing.T, ctx context.Context, s any) { c.fn(t, ctx, s.(mfa.RecoveryStore)) })
		}
	}
	if isCred {
		for _, c := range credentialChecks {
			run("Credentials/"+c.name, func(t *testing.T, ctx context.Context, s any) { c.fn(t, ctx, s.(mfa.CredentialStore)) })
		}
	}
	if isFactor {
		for _, c := range factorChecks {
			run("Factors/"+c.name, func(t *testing.T, ctx context.Context, s any) { c.fn(t, ctx, s.(factorStore)) })
		}
	}
}

// factorStore is what the FactorStore checks need.
type factorStore interface {
	mfa.TOTPStore
	mfa.CredentialStore
	mfa.FactorStore
}

type check[S any] struct {
	name string
	fn   func(t *testing.T, ctx context.Context, s S)
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

// randBytes returns n random bytes.
func randBytes(n int) []byte {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return b
}

// at returns a time with whole milliseconds, i seconds after a fixed one.
func at(i int) time.Time {
	return time.UnixMilli(1_767_225_600_000 + int64(i)*1000).UTC()
}

// noErr fails the test now if err is not nil.
func noErr(t *testing.T, err error, what string) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: unexpected error: %v", what, err)
	}
}

// errIs fails the test now unless err wraps target.
func errIs(t *testing.T, err, target error, what string) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Fatalf("%s: got error %v, want one wrapping %v", what, err, target)
	}
}

// wantBool fails the test now unless err is nil and got is want.
func wantBool(t *testing.T, got bool, err error, want bool, what string) {
	t.Helper()
	noErr(t, err, what)
	if got != want {
		t.Fatalf("%s = %v, want %v", what, got, want)
	}
}

// sameBytes reports whether a and b are equal and both nil or both not.
func sameBytes(a, b []byte) bool {
	return (a == nil) == (b == nil) && bytes.Equal(a, b)
}

// wantRecord fails the test now unless the user's stored record is want.
func wantRecord(t *testing.T, ctx context.Context, s mfa.TOTPStore, user string, want mfa.TOTPRecord) {
	t.Helper()
	got, err := s.LoadTOTP(ctx, user)
	noErr(t, err, fmt.Sprintf("LoadTOTP(%q)", user))
	if !sameBytes(got.Secret, want.Secret) || !sameBytes(got.Pending, want.Pending) ||
		!got.ConfirmedAt.Equal(want.ConfirmedAt) || got.LastStep != want.LastStep {
		t.Fatalf("LoadTOTP(%q) = %s\nwant %s", user, fmtRecord(got), fmtRecord(want))
	}
}

func fmtRecord(r mfa.TOTPRecord) string {
	return fmt.Sprintf("{Secret: %s, Pending: %s, ConfirmedAt: %v, LastStep: %d}",
		fmtBytes(r.Secret), fmtBytes(r.Pending), r.ConfirmedAt, r.LastStep)
}

func fmtBytes(b []byte) string {
	if b == nil {
		return "nil"
	}
	if len(b) > 8 {
		return fmt.Sprintf("%x… (%d bytes)", b[:8], len(b))
	}
	return fmt.Sprintf("%x", b)
}

// wantNotEnrolled fails the test now unless the user has no TOTP record.
func wantNotEnrolled(t *testing.T, ctx context.Context, s mfa.TOTPStore, user string) {
	t.Helper()
	_, err := s.LoadTOTP(ctx, user)
	errIs(t, err, mfa.ErrNotEnrolled, fmt.Sprintf("LoadTOTP(%q)", user))
}

var totpChecks = []check[mfa.TOTPStore]{
	{"Missing", func(t *testing.T, ctx context.Context, s mfa.TOTPStore) {
		wantNotEnrolled(t, ctx, s, "nobody")
		ok, err := s.AcceptTOTPStep(ctx, "nobody", 1)
		errIs(t, err, mfa.ErrNotEnrolled, "AcceptTOTPStep of a user with no record")
		if ok {
			t.Fatal("AcceptTOTPStep of a user with no record reported true")
		}
		noErr(t, s.DeleteTOTP(ctx, "nobody"), "DeleteTOTP of a user with no record")
		wantNotEnrolled(t, ctx, s, "nobody")
	}},
	{"SaveAndLoad", func(t *testing.T, ctx context.Context, s mfa.TOTPStore) {
		// A pending enrolment, then its confirmation, then a second
		// enrolment pending beside the confirmed secret.
		pending := mfa.TOTPRecord{Pending: randBytes(61)}
		noErr(t, s.SaveTOTP(ctx, "alice", pending), "SaveTOTP(pending)")
		wantRecord(t, ctx, s, "alice", pending)
		confirmed := mfa.TOTPRecord{Secret: pending.Pending, ConfirmedAt: at(1)}
		noErr(t, s.SaveTOTP(ctx, "alice", confirmed), "SaveTOTP(confirmed)")
		wantRecord(t, ctx, s, "alice", confirmed)
		both := mfa.TOTPRecord{Secret: confirmed.Secret, Pending: randBytes(61), ConfirmedAt: at(1)}
		noErr(t, s.SaveTOTP(ctx, "alice", both), "SaveTOTP(confirmed and pending)")
		wantRecord(t, ctx, s, "alice", both)

		// User IDs are exact: other users, including one differing only
		// in case and one with Alice's ID as a prefix, have no record.
		for _, other := range []string{"Alice", "alice ", "alic", "bob"} {
			wantNotEnrolled(t, ctx, s, other)
		}
		unicode := mfa.TOTPRecord{Secret: randBytes(61), ConfirmedAt: at(2)}
		noErr(t, s.SaveTOTP(ctx, "zoë@example.com", unicode), "SaveTOTP(unicode user ID)")
		wantRecord(t, ctx, s, "zoë@example.com", unicode)
		wantRecord(t, ctx, s, "alice", both)
	}},
	{"SaveKeepsLastStep", func(t *testing.T, ctx context.Context, s mfa.TOTPStore) {
		// A new record starts at 0 whatever the caller passes.
		noErr(t, s.SaveTOTP(ctx, "alice", mfa.TOTPRecord{Pending: randBytes(61), LastStep: 1000}), "SaveTOTP")
		rec, err := s.LoadTOTP(ctx, "alice")
		noErr(t, err, "LoadTOTP")
		if rec.LastStep != 0 {
			t.Fatalf("a new record has LastStep %d, want 0: SaveTOTP must not write LastStep", rec.LastStep)
		}
		ok, err := s.AcceptTOTPStep(ctx, "alice", 50)
		wantBool(t, ok, err, true, "AcceptTOTPStep(50)")
		// An existing record keeps its value, lower or higher.
		for _, step := range []int64{0, 49, 51, 1 << 40} {
			rec := mfa.TOTPRecord{Secret: randBytes(61), ConfirmedAt: at(3), LastStep: step}
			noErr(t, s.SaveTOTP(ctx, "alice", rec), "SaveTOTP")
			rec.LastStep = 50
			wantRecord(t, ctx, s, "alice", rec)
		}
		ok, err = s.AcceptTOTPStep(ctx, "alice", 50)
		wantBool(t, ok, err, false, "AcceptTOTPStep(50) after SaveTOTP (a replay)")
	}},
	{"AcceptStep", func(t *testing.T, ctx context.Context, s mfa.TOTPStore) {
		rec := mfa.TOTPRecord{Secret: randBytes(61), ConfirmedAt: at(1)}
		noErr(t, s.SaveTOTP(ctx, "alice", rec), "SaveTOTP")
		noErr(t, s.SaveTOTP(ctx, "bob", rec), "SaveTOTP")
		for _, c := range []struct {
			step int64
			want bool
		}{
			{0, false}, // not greater than the initial 0
			{-1, false},
			{58_000_000, true},
			{58_000_000, false}, // the same step again: a replay
			{57_999_999, false}, // an earlier step
			{58_000_001, true},
			{1 << 50, true}, // far beyond any 32-bit column
			{58_000_002, false},
		} {
			ok, err := s.AcceptTOTPStep(ctx, "alice", c.step)
			wantBool(t, ok, err, c.want, fmt.Sprintf("AcceptTOTPStep(%d)", c.step))
		}
		rec.LastStep = 1 << 50
		wantRecord(t, ctx, s, "alice", rec)
		// Steps are per user.
		ok, err := s.AcceptTOTPStep(ctx, "bob", 58_000_000)
		wantBool(t, ok, err, true, "AcceptTOTPStep of another user at a step Alice used")
		// A pending enrolment has a LastStep too: confirming it accepts
		// a step.
		noErr(t, s.SaveTOTP(ctx, "carol", mfa.TOTPRecord{Pending: randBytes(61)}), "SaveTOTP(pending)")
		ok, err = s.AcceptTOTPStep(ctx, "carol", 7)
		wantBool(t, ok, err, true, "AcceptTOTPStep of a pending enrolment")
	}},
	{"Delete", func(t *testing.T, ctx context.Context, s mfa.TOTPStore) {
		rec := mfa.TOTPRecord{Secret: randBytes(61), ConfirmedAt: at(1)}
		noErr(t, s.SaveTOTP(ctx, "alice", rec), "SaveTOTP")
		noErr(t, s.SaveTOTP(ctx, "bob", rec), "SaveTOTP")
		ok, err := s.AcceptTOTPStep(ctx, "alice", 100)
		wantBool(t, ok, err, true, "AcceptTOTPStep(100)")
		noErr(t, s.DeleteTOTP(ctx, "alice"), "DeleteTOTP")
		wantNotEnrolled(t, ctx, s, "alice")
		ok, err = s.AcceptTOTPStep(ctx, "alice", 101)
		errIs(t, err, mfa.ErrNotEnrolled, "AcceptTOTPStep after DeleteTOTP")
		if ok {
			t.Fatal("AcceptTOTPStep after DeleteTOTP reported true")
		}
		noErr(t, s.DeleteTOTP(ctx, "alice"), "DeleteTOTP again")
		wantRecord(t, ctx, s, "bob", rec)
		// DeleteTOTP removes LastStep too: a new enrolment starts at 0.
		noErr(t, s.SaveTOTP(ctx, "alice", rec), "SaveTOTP after DeleteTOTP")
		wantRecord(t, ctx, s, "alice", rec)
	}},
	{"NoAliasing", func(t *testing.T, ctx context.Context, s mfa.TOTPStore) {
		secret := randBytes(61)
		in := mfa.TOTPRecord{Secret: bytes.Clone(secret), Pending: bytes.Clone(secret), ConfirmedAt: at(1)}
		noErr(t, s.SaveTOTP(ctx, "alice", in), "SaveTOTP")
		in.Secret[0] ^= 0xff
		in.Pending[0] ^= 0xff
		out, err := s.LoadTOTP(ctx, "alice")
		noErr(t, err, "LoadTOTP")
		out.Secret[1] ^= 0xff
		out.Pending[1] ^= 0xff
		wantRecord(t, ctx, s, "alice", mfa.TOTPRecord{Secret: secret, Pending: secret, ConfirmedAt: at(1)})
	}},
	{"ConcurrentAcceptSameStep", func(t *testing.T, ctx context.Context, s mfa.TOTPStore) {
		// One code submitted many times at once (a replay racing the
		// original): exactly one acceptance per step.
		noErr(t, s.SaveTOTP(ctx, "alice", mfa.TOTPRecord{Secret: randBytes(61), ConfirmedAt: at(1)}), "SaveTOTP")
		for step := int64(1); step <= 8; step++ {
			var mu sync.Mutex
			wins := 0
			var errs []error
			race(concurrency, func(int) {
				ok, err := s.AcceptTOTPStep(ctx, "alice", step)
				mu.Lock()
				defer mu.Unlock()
				if err != nil {
					errs = append(errs, err)
				}
				if ok {
					wins++
				}
			})
			if len(errs) > 0 {
				t.Fatalf("concurrent AcceptTOTPStep(%d): %d errors, first: %v", step, len(errs), errs[0])
			}
			if wins != 1 {
				t.Fatalf("%d concurrent AcceptTOTPStep(%d): %d returned true, want exactly 1 (a replayed code was accepted)", concurrency, step, wins)
			}
		}
	}},
	{"ConcurrentAcceptNeverGoesBack", func(t *testing.T, ctx context.Context, s mfa.TOTPStore) {
		// Steps 1…n at once: whatever the order, LastStep ends at n, and
		// n itself was accepted.
		noErr(t, s.SaveTOTP(ctx, "alice", mfa.TOTPRecord{Secret: randBytes(61), ConfirmedAt: at(1)}), "SaveTOTP")
		won := make([]bool, concurrency)
		errs := make([]error, concurrency)
		race(concurrency, func(i int) {
			won[i], errs[i] = s.AcceptTOTPStep(ctx, "alice", int64(i+1))
		})
		for i, err := range errs {
			noErr(t, err, fmt.Sprintf("AcceptTOTPStep(%d)", i+1))
		}
		if !won[concurrency-1] {
			t.Fatalf("AcceptTOTPStep(%d), the highest step, reported false", concurrency)
		}
		rec, err := s.LoadTOTP(ctx, "alice")
		noErr(t, err, "LoadTOTP")
		if rec.LastStep != concurrency {
			t.Fatalf("LastStep = %d after concurrent steps 1…%d, want %d: a lower step overwrote a higher one", rec.LastStep, concurrency, concurrency)
		}
	}},
}

// hashes returns n random 32-byte hashes.
func hashes(n int) [][]byte {
	out := make([][]byte, n)
	for i := range out {
		out[i] = randBytes(32)
	}
	return out
}

// wantCount fails the test now unless the user has n recovery codes.
func wantCount(t *testing.T, ctx context.Context, s mfa.RecoveryStore, user string, n int) {
	t.Helper()
	got, err := s.CountRecoveryCodes(ctx, user)
	noErr(t, err, fmt.Sprintf("CountRecoveryCodes(%q)", user))
	if got != n {
		t.Fatalf("CountRecoveryCodes(%q) = %d, want %d", user, got, n)
	}
}

var recoveryChecks = []check[mfa.RecoveryStore]{
	{"Missing", func(t *testing.T, ctx context.Context, s mfa.RecoveryStore) {
		wantCount(t, ctx, s, "nobody", 0)
		ok, err := s.ConsumeRecoveryCode(ctx, "nobody", randBytes(32))
		wantBool(t, ok, err, false, "ConsumeRecoveryCode of a user with no codes")
		noErr(t, s.ReplaceRecoveryCodes(ctx, "nobody", nil), "ReplaceRecoveryCodes(nil) of a user with no codes")
		wantCount(t, ctx, s, "nobody", 0)
	}},
	{"ReplaceAndConsume", func(t *testing.T, ctx context.Context, s mfa.RecoveryStore) {
		set := hashes(10)
		noErr(t, s.ReplaceRecoveryCodes(ctx, "alice", set), "ReplaceRecoveryCodes")
		wantCount(t, ctx, s, "alice", 10)
		for _, other := range []string{"Alice", "bob", "alic"} {
			wantCount(t, ctx, s, other, 0)
			ok, err := s.ConsumeRecoveryCode(ctx, other, set[0])
			wantBool(t, ok, err, false, fmt.Sprintf("ConsumeRecoveryCode(%q) with Alice's code", other))
		}
		ok, err := s.ConsumeRecoveryCode(ctx, "alice", randBytes(32))
		wantBool(t, ok, err, false, "ConsumeRecoveryCode of a hash not in the set")
		ok, err = s.ConsumeRecoveryCode(ctx, "alice", set[3][:31])
		wantBool(t, ok, err, false, "ConsumeRecoveryCode of a prefix of a hash")
		ok, err = s.ConsumeRecoveryCode(ctx, "alice", nil)
		wantBool(t, ok, err, false, "ConsumeRecoveryCode(nil)")
		ok, err = s.ConsumeRecoveryCode(ctx, "alice", set[3])
		wantBool(t, ok, err, true, "ConsumeRecoveryCode")
		ok, err = s.ConsumeRecoveryCode(ctx, "alice", set[3])
		wantBool(t, ok, err, false, "ConsumeRecoveryCode of a used code")
		wantCount(t, ctx, s, "alice", 9)

		// A new set replaces the old one entirely.
		next := hashes(10)
		noErr(t, s.ReplaceRecoveryCodes(ctx, "alice", next), "ReplaceRecoveryCodes")
		wantCount(t, ctx, s, "alice", 10)
		ok, err = s.ConsumeRecoveryCode(ctx, "alice", set[4])
		wantBool(t, ok, err, false, "ConsumeRecoveryCode of a code from the replaced set")
		for i, h := range next {
			ok, err := s.ConsumeRecoveryCode(ctx, "alice", h)
			wantBool(t, ok, err, true, fmt.Sprintf("ConsumeRecoveryCode(new code %d)", i))
		}
		wantCount(t, ctx, s, "alice", 0)

		// An empty set deletes it, nil or not.
		for _, empty := range [][][]byte{nil, {}} {
			noErr(t, s.ReplaceRecoveryCodes(ctx, "alice", hashes(3)), "ReplaceRecoveryCodes")
			noErr(t, s.ReplaceRecoveryCodes(ctx, "alice", empty), "ReplaceRecoveryCodes(empty)")
			wantCount(t, ctx, s, "alice", 0)
		}
	}},
	{"UsersAreSeparate", func(t *testing.T, ctx context.Context, s mfa.RecoveryStore) {
		a, b := hashes(10), hashes(10)
		noErr(t, s.ReplaceRecoveryCodes(ctx, "alice", a), "ReplaceRecoveryCodes(alice)")
		noErr(t, s.ReplaceRecoveryCodes(ctx, "bob", b), "ReplaceRecoveryCodes(bob)")
		noErr(t, s.ReplaceRecoveryCodes(ctx, "alice", nil), "ReplaceRecoveryCodes(alice, nil)")
		wantCount(t, ctx, s, "bob", 10)
		ok, err := s.ConsumeRecoveryCode(ctx, "bob", b[0])
		wantBool(t, ok, err, true, "ConsumeRecoveryCode(bob)")
		// The same hash in two users' sets is two codes.
		shared := randBytes(32)
		noErr(t, s.ReplaceRecoveryCodes(ctx, "alice", [][]byte{shared}), "ReplaceRecoveryCodes(alice)")
		noErr(t, s.ReplaceRecoveryCodes(ctx, "carol", [][]byte{shared}), "ReplaceRecoveryCodes(carol)")
		ok, err = s.ConsumeRecoveryCode(ctx, "alice", shared)
		wantBool(t, ok, err, true, "ConsumeRecoveryCode(alice, shared)")
		ok, err = s.ConsumeRecoveryCode(ctx, "carol", shared)
		wantBool(t, ok, err, true, "ConsumeRecoveryCode(carol, shared)")
	}},
	{"NoAliasing", func(t *testing.T, ctx context.Context, s mfa.RecoveryStore) {
		set := hashes(3)
		in := make([][]byte, len(set))
		for i, h := range set {
			in[i] = bytes.Clone(h)
		}
		noErr(t, s.ReplaceRecoveryCodes(ctx, "alice", in), "ReplaceRecoveryCodes")
		for _, h := range in {
			h[0] ^= 0xff
		}
		probe := bytes.Clone(set[0])
		ok, err := s.ConsumeRecoveryCode(ctx, "alice", probe)
		wantBool(t, ok, err, true, "ConsumeRecoveryCode after the caller changed its slices")
		ok, err = s.ConsumeRecoveryCode(ctx, "alice", set[1])
		wantBool(t, ok, err, true, "ConsumeRecoveryCode")
	}},
	{"ConcurrentConsume", func(t *testing.T, ctx context.Context, s mfa.RecoveryStore) {
		// One recovery code submitted many times at once: exactly one
		// use.
		set := hashes(8)
		noErr(t, s.ReplaceRecoveryCodes(ctx, "alice", set), "ReplaceRecoveryCodes")
		for i, h := range set {
			var mu sync.Mutex
			wins := 0
			var errs []error
			race(concurrency, func(int) {
				ok, err := s.ConsumeRecoveryCode(ctx, "alice", h)
				mu.Lock()
				defer mu.Unlock()
				if err != nil {
					errs = append(errs, err)
				}
				if ok {
					wins++
				}
			})
			if len(errs) > 0 {
				t.Fatalf("concurrent ConsumeRecoveryCode: %d errors, first: %v", len(errs), errs[0])
			}
			if wins != 1 {
				t.Fatalf("%d concurrent ConsumeRecoveryCode of one code: %d returned true, want exactly 1 (a single-use code was used twice)", concurrency, wins)
			}
			wantCount(t, ctx, s, "alice", len(set)-i-1)
		}
	}},
	{"ConcurrentReplace", func(t *testing.T, ctx context.Context, s mfa.RecoveryStore) {
		// Sets generated at once (two tabs): one of them wins whole, never
		// a mix.
		const n = 8
		sets := make([][][]byte, n)
		for i := range sets {
			sets[i] = hashes(10)
		}
		noErr(t, s.ReplaceRecoveryCodes(ctx, "alice", hashes(10)), "ReplaceRecoveryCodes")
		errs := make([]error, n)
		race(n, func(i int) { errs[i] = s.ReplaceRecoveryCodes(ctx, "alice", sets[i]) })
		for _, err := range errs {
			noErr(t, err, "concurrent ReplaceRecoveryCodes")
		}
		wantCount(t, ctx, s, "alice", 10)
		whole := 0
		for _, set := range sets {
			used := 0
			for _, h := range set {
				ok, err := s.ConsumeRecoveryCode(ctx, "alice", h)
				noErr(t, err, "ConsumeRecoveryCode")
				if ok {
					used++
				}
			}
			switch used {
			case 0:
			case len(set):
				whole++
			default:
				t.Fatalf("after concurrent ReplaceRecoveryCodes the user holds %d codes of one set: the sets were mixed", used)
			}
		}
		if whole != 1 {
			t.Fatalf("after concurrent ReplaceRecoveryCodes the user holds %d whole sets, want 1", whole)
		}
	}},
}

// newCred returns a credential of user with a random ID, created at
// at(i).
func newCred(user string, i int) mfa.StoredCredential {
	return mfa.StoredCredential{
		ID:        randBytes(16),
		UserID:    user,
		Name:      fmt.Sprintf("Key %d ✓", i),
		Data:      append([]byte{0, 0, 0}, randBytes(300)...),
		CreatedAt: at(i),
	}
}

func fmtCred(c mfa.StoredCredential) string {
	return fmt.Sprintf("{ID: %s, UserID: %q, Name: %q, Data: %s, CreatedAt: %v, LastUsedAt: %v}",
		fmtBytes(c.ID), c.UserID, c.Name, fmtBytes(c.Data), c.CreatedAt, c.LastUsedAt)
}

func sameCred(a, b mfa.StoredCredential) bool {
	return bytes.Equal(a.ID, b.ID) && a.UserID == b.UserID && a.Name == b.Name && bytes.Equal(a.Data, b.Data) &&
		a.CreatedAt.Equal(b.CreatedAt) && a.LastUsedAt.Equal(b.LastUsedAt)
}

// wantCred fails the test now unless the credential with want.ID is want.
func wantCred(t *testing.T, ctx context.Context, s mfa.CredentialStore, want mfa.StoredCredential) {
	t.Helper()
	got, err := s.Credential(ctx, want.ID)
	noErr(t, err, fmt.Sprintf("Credential(%s)", fmtBytes(want.ID)))
	if !sameCred(got, want) {
		t.Fatalf("Credential(%s) = %s\nwant %s", fmtBytes(want.ID), fmtCred(got), fmtCred(want))
	}
}

// wantNoCred fails the test now unless there is no credential id.
func wantNoCred(t *testing.T, ctx context.Context, s mfa.CredentialStore, id []byte) {
	t.Helper()
	_, err := s.Credential(ctx, id)
	errIs(t, err, mfa.ErrNotFound, fmt.Sprintf("Credential(%s)", fmtBytes(id)))
}

// wantUserCreds fails the test now unless the user's credentials are
// want, in that order.
func wantUserCreds(t *testing.T, ctx context.Context, s mfa.CredentialStore, user string, want ...mfa.StoredCredential) {
	t.Helper()
	got, err := s.UserCredentials(ctx, user)
	noErr(t, err, fmt.Sprintf("UserCredentials(%q)", user))
	ok := len(got) == len(want)
	for i := 0; ok && i < len(got); i++ {
		ok = sameCred(got[i], want[i])
	}
	if !ok {
		var b bytes.Buffer
		fmt.Fprintf(&b, "UserCredentials(%q) returned %d credentials:\n", user, len(got))
		for _, c := range got {
			fmt.Fprintf(&b, "\t%s\n", fmtCred(c))
		}
		fmt.Fprintf(&b, "want %d, oldest first:\n", len(want))
		for _, c := range want {
			fmt.Fprintf(&b, "\t%s\n", fmtCred(c))
		}
		t.Fatal(b.String())
	}
}

var credentialChecks = []check[mfa.CredentialStore]{
	{"Missing", func(t *testing.T, ctx context.Context, s mfa.CredentialStore) {
		wantNoCred(t, ctx, s, randBytes(16))
		wantUserCreds(t, ctx, s, "nobody")
		c := newCred("nobody", 1)
		errIs(t, s.UpdateCredential(ctx, c), mfa.ErrNotFound, "UpdateCredential of a missing credential")
		errIs(t, s.DeleteCredential(ctx, "nobody", c.ID), mfa.ErrNotFound, "DeleteCredential of a missing credential")
		wantNoCred(t, ctx, s, c.ID)
	}},
	{"CreateAndRead", func(t *testing.T, ctx context.Context, s mfa.CredentialStore) {
		c := newCred("alice", 1)
		noErr(t, s.CreateCredential(ctx, c), "CreateCredential")
		wantCred(t, ctx, s, c)
		wantUserCreds(t, ctx, s, "alice", c)
		for _, other := range []string{"Alice", "bob", "alic"} {
			wantUserCreds(t, ctx, s, other)
		}
		used := newCred("zoë@example.com", 2)
		used.LastUsedAt = at(3)
		used.Name = ""
		noErr(t, s.CreateCredential(ctx, used), "CreateCredential")
		wantCred(t, ctx, s, used)
	}},
	{"IDLength", func(t *testing.T, ctx context.Context, s mfa.CredentialStore) {
		// Credential IDs are binary, up to 1023 bytes; one that is a
		// prefix of another, or differs by a trailing zero byte, is
		// another credential.
		long := newCred("alice", 1)
		long.ID = randBytes(1023)
		noErr(t, s.CreateCredential(ctx, long), "CreateCredential with a 1023-byte ID")
		wantCred(t, ctx, s, long)
		short := newCred("alice", 2)
		short.ID = []byte{0}
		noErr(t, s.CreateCredential(ctx, short), "CreateCredential with the ID 00")
		zeros := newCred("alice", 3)
		zeros.ID = []byte{0, 0}
		noErr(t, s.CreateCredential(ctx, zeros), "CreateCredential with the ID 0000")
		prefix := newCred("alice", 4)
		prefix.ID = long.ID[:1022]
		noErr(t, s.CreateCredential(ctx, prefix), "CreateCredential with an ID that is a prefix of another")
		for _, c := range []mfa.StoredCredential{long, short, zeros, prefix} {
			wantCred(t, ctx, s, c)
		}
		wantUserCreds(t, ctx, s, "alice", long, short, zeros, prefix)
		errIs(t, s.DeleteCredential(ctx, "alice", long.ID[:1021]), mfa.ErrNotFound, "DeleteCredential of a prefix of an ID")
		noErr(t, s.DeleteCredential(ctx, "alice", zeros.ID), "DeleteCredential")
		wantUserCreds(t, ctx, s, "alice", long, short, prefix)
	}},
	{"IDUniqueAcrossUsers", func(t *testing.T, ctx context.Context, s mfa.CredentialStore) {
		c := newCred("alice", 1)
		noErr(t, s.CreateCredential(ctx, c), "CreateCredential")
		again := newCred("alice", 2)
		again.ID = c.ID
		errIs(t, s.CreateCredential(ctx, again), mfa.ErrExists, "CreateCredential with the user's own ID")
		theft := newCred("mallory", 2)
		theft.ID = bytes.Clone(c.ID)
		errIs(t, s.CreateCredential(ctx, theft), mfa.ErrExists, "CreateCredential with another user's ID")
		wantCred(t, ctx, s, c)
		wantUserCreds(t, ctx, s, "mallory")
	}},
	{"OldestFirst", func(t *testing.T, ctx context.Context, s mfa.CredentialStore) {
		// Created out of order, with IDs that sort against the times.
		c := []mfa.StoredCredential{newCred("alice", 1), newCred("alice", 2), newCred("alice", 3), newCred("alice", 4)}
		c[0].ID, c[1].ID, c[2].ID, c[3].ID = []byte{4}, []byte{3}, []byte{2}, []byte{1}
		c[2].CreatedAt = at(3600 * 24 * 400) // over a year later
		for _, i := range []int{2, 0, 3, 1} {
			noErr(t, s.CreateCredential(ctx, c[i]), "CreateCredential")
		}
		other := newCred("bob", 0)
		noErr(t, s.CreateCredential(ctx, other), "CreateCredential")
		wantUserCreds(t, ctx, s, "alice", c[0], c[1], c[3], c[2])
		wantUserCreds(t, ctx, s, "bob", other)
	}},
	{"Update", func(t *testing.T, ctx context.Context, s mfa.CredentialStore) {
		c := newCred("alice", 1)
		noErr(t, s.CreateCredential(ctx, c), "CreateCredential")
		other := newCred("alice", 2)
		noErr(t, s.CreateCredential(ctx, other), "CreateCredential")

		// Name, Data and LastUsedAt change; ID, UserID and CreatedAt
		// do not, whatever the caller passes.
		up := c
		up.Name, up.Data, up.LastUsedAt, up.CreatedAt = "Renamed", randBytes(200), at(50), at(99)
		noErr(t, s.UpdateCredential(ctx, up), "UpdateCredential")
		up.CreatedAt = c.CreatedAt
		wantCred(t, ctx, s, up)
		wantCred(t, ctx, s, other)

		// Only by its owner.
		theft := up
		theft.UserID, theft.Name, theft.Data = "mallory", "Mallory's", randBytes(10)
		errIs(t, s.UpdateCredential(ctx, theft), mfa.ErrNotFound, "UpdateCredential by another user")
		wantCred(t, ctx, s, up)

		// Back to never used.
		up.LastUsedAt = time.Time{}
		noErr(t, s.UpdateCredential(ctx, up), "UpdateCredential")
		wantCred(t, ctx, s, up)
		// The same values again still finds the row.
		noErr(t, s.UpdateCredential(ctx, up), "UpdateCredential with unchanged values")
	}},
	{"Delete", func(t *testing.T, ctx context.Context, s mfa.CredentialStore) {
		c, d := newCred("alice", 1), newCred("alice", 2)
		noErr(t, s.CreateCredential(ctx, c), "CreateCredential")
		noErr(t, s.CreateCredential(ctx, d), "CreateCredential")
		errIs(t, s.DeleteCredential(ctx, "mallory", c.ID), mfa.ErrNotFound, "DeleteCredential by another user")
		wantCred(t, ctx, s, c)
		noErr(t, s.DeleteCredential(ctx, "alice", c.ID), "DeleteCredential")
		wantNoCred(t, ctx, s, c.ID)
		wantUserCreds(t, ctx, s, "alice", d)
		errIs(t, s.DeleteCredential(ctx, "alice", c.ID), mfa.ErrNotFound, "DeleteCredential again")
		// A deleted ID may be registered again.
		noErr(t, s.CreateCredential(ctx, c), "CreateCredential of a deleted ID")
		wantCred(t, ctx, s, c)
	}},
	{"NoAliasing", func(t *testing.T, ctx context.Context, s mfa.CredentialStore) {
		c := newCred("alice", 1)
		in := c
		in.ID, in.Data = bytes.Clone(c.ID), bytes.Clone(c.Data)
		noErr(t, s.CreateCredential(ctx, in), "CreateCredential")
		in.ID[0] ^= 0xff
		in.Data[0] ^= 0xff
		out, err := s.Credential(ctx, c.ID)
		noErr(t, err, "Credential")
		out.ID[1] ^= 0xff
		out.Data[1] ^= 0xff
		list, err := s.UserCredentials(ctx, "alice")
		noErr(t, err, "UserCredentials")
		if len(list) == 1 {
			list[0].ID[2] ^= 0xff
			list[0].Data[2] ^= 0xff
		}
		up := c
		up.ID, up.Data = bytes.Clone(c.ID), bytes.Clone(c.Data)
		noErr(t, s.UpdateCredential(ctx, up), "UpdateCredential")
		up.Data[3] ^= 0xff
		wantCred(t, ctx, s, c)
	}},
	{"ConcurrentCreate", func(t *testing.T, ctx context.Context, s mfa.CredentialStore) {
		// One credential ID registered by several users at once: one
		// owner, the others told it exists.
		id := randBytes(16)
		errs := make([]error, concurrency)
		race(concurrency, func(i int) {
			c := newCred(fmt.Sprintf("user%d", i), i)
			c.ID = id
			errs[i] = s.CreateCredential(ctx, c)
		})
		winner := -1
		for i, err := range errs {
			switch {
			case err == nil && winner >= 0:
				t.Fatalf("concurrent CreateCredential with one ID: users %d and %d both succeeded", winner, i)
			case err == nil:
				winner = i
			default:
				errIs(t, err, mfa.ErrExists, "concurrent CreateCredential with a taken ID")
			}
		}
		if winner < 0 {
			t.Fatal("concurrent CreateCredential with one ID: none succeeded")
		}
		got, err := s.Credential(ctx, id)
		noErr(t, err, "Credential")
		if want := fmt.Sprintf("user%d", winner); got.UserID != want {
			t.Fatalf("credential owned by %q, want %q, whose CreateCredential succeeded", got.UserID, want)
		}
	}},
}

// enrolTOTP gives user a confirmed TOTP secret.
func enrolTOTP(t *testing.T, ctx context.Context, s mfa.TOTPStore, user string) mfa.TOTPRecord {
	t.Helper()
	rec := mfa.TOTPRecord{Secret: randBytes(61), ConfirmedAt: at(1)}
	noErr(t, s.SaveTOTP(ctx, user, rec), "SaveTOTP")
	return rec
}

// addCred gives user a credential.
func addCred(t *testing.T, ctx context.Context, s mfa.CredentialStore, user string, i int) mfa.StoredCredential {
	t.Helper()
	c := newCred(user, i)
	noErr(t, s.CreateCredential(ctx, c), "CreateCredential")
	return c
}

// factors counts user's factors: 1 for a confirmed TOTP secret, plus one
// per credential.
func factors(t *testing.T, ctx context.Context, s factorStore, user string) int {
	t.Helper()
	n := 0
	rec, err := s.LoadTOTP(ctx, user)
	switch {
	case errors.Is(err, mfa.ErrNotEnrolled):
	case err != nil:
		t.Fatalf("LoadTOTP: %v", err)
	case rec.Secret != nil:
		n++
	}
	cs, err := s.UserCredentials(ctx, user)
	noErr(t, err, "UserCredentials")
	return n + len(cs)
}

var factorChecks = []check[factorStore]{
	{"DeleteTOTPUnlessLast", func(t *testing.T, ctx context.Context, s factorStore) {
		ok, err := s.DeleteTOTPUnlessLast(ctx, "nobody")
		wantBool(t, ok, err, true, "DeleteTOTPUnlessLast of a user with no record")

		// A pending enrolment is no factor.
		noErr(t, s.SaveTOTP(ctx, "pending", mfa.TOTPRecord{Pending: randBytes(61)}), "SaveTOTP(pending)")
		ok, err = s.DeleteTOTPUnlessLast(ctx, "pending")
		wantBool(t, ok, err, true, "DeleteTOTPUnlessLast of a pending enrolment")
		wantNotEnrolled(t, ctx, s, "pending")

		// The only factor stays, LastStep and pending enrolment included.
		rec := enrolTOTP(t, ctx, s, "alice")
		rec.Pending = randBytes(61)
		noErr(t, s.SaveTOTP(ctx, "alice", rec), "SaveTOTP")
		ok, err = s.AcceptTOTPStep(ctx, "alice", 9)
		wantBool(t, ok, err, true, "AcceptTOTPStep")
		rec.LastStep = 9
		addCred(t, ctx, s, "bob", 1) // another user's credential counts for nothing
		ok, err = s.DeleteTOTPUnlessLast(ctx, "alice")
		wantBool(t, ok, err, false, "DeleteTOTPUnlessLast of the only factor")
		wantRecord(t, ctx, s, "alice", rec)

		// With a credential it goes.
		addCred(t, ctx, s, "alice", 2)
		ok, err = s.DeleteTOTPUnlessLast(ctx, "alice")
		wantBool(t, ok, err, true, "DeleteTOTPUnlessLast beside a credential")
		wantNotEnrolled(t, ctx, s, "alice")
		// And LastStep with it.
		noErr(t, s.SaveTOTP(ctx, "alice", mfa.TOTPRecord{Pending: rec.Pending}), "SaveTOTP")
		wantRecord(t, ctx, s, "alice", mfa.TOTPRecord{Pending: rec.Pending})
	}},
	{"DeleteCredentialUnlessLast", func(t *testing.T, ctx context.Context, s factorStore) {
		ok, err := s.DeleteCredentialUnlessLast(ctx, "alice", randBytes(16))
		errIs(t, err, mfa.ErrNotFound, "DeleteCredentialUnlessLast of a missing credential")
		if ok {
			t.Fatal("DeleteCredentialUnlessLast of a missing credential reported true")
		}
		c1 := addCred(t, ctx, s, "alice", 1)
		ok, err = s.DeleteCredentialUnlessLast(ctx, "mallory", c1.ID)
		errIs(t, err, mfa.ErrNotFound, "DeleteCredentialUnlessLast by another user")
		if ok {
			t.Fatal("DeleteCredentialUnlessLast by another user reported true")
		}
		wantCred(t, ctx, s, c1)

		// The only factor stays; a pending enrolment or another user's
		// factors change nothing.
		noErr(t, s.SaveTOTP(ctx, "alice", mfa.TOTPRecord{Pending: randBytes(61)}), "SaveTOTP(pending)")
		enrolTOTP(t, ctx, s, "bob")
		addCred(t, ctx, s, "bob", 2)
		ok, err = s.DeleteCredentialUnlessLast(ctx, "alice", c1.ID)
		wantBool(t, ok, err, false, "DeleteCredentialUnlessLast of the only factor")
		wantCred(t, ctx, s, c1)

		// Two credentials: one may go, not the other.
		c2 := addCred(t, ctx, s, "alice", 3)
		ok, err = s.DeleteCredentialUnlessLast(ctx, "alice", c1.ID)
		wantBool(t, ok, err, true, "DeleteCredentialUnlessLast beside another credential")
		wantNoCred(t, ctx, s, c1.ID)
		ok, err = s.DeleteCredentialUnlessLast(ctx, "alice", c2.ID)
		wantBool(t, ok, err, false, "DeleteCredentialUnlessLast of the last credential")

		// Beside a confirmed TOTP secret it goes.
		enrolTOTP(t, ctx, s, "alice")
		ok, err = s.DeleteCredentialUnlessLast(ctx, "alice", c2.ID)
		wantBool(t, ok, err, true, "DeleteCredentialUnlessLast beside a TOTP secret")
		wantUserCreds(t, ctx, s, "alice")
		if n := factors(t, ctx, s, "bob"); n != 2 {
			t.Fatalf("Bob has %d factors, want his 2", n)
		}
	}},
	{"ConcurrentRemovalKeepsOne", func(t *testing.T, ctx context.Context, s factorStore) {
		// Every factor of a user removed at once, "unless last": whatever
		// the order, all but one go and one stays. Several users, so that
		// some races overlap.
		setups := []struct {
			name  string
			totp  bool
			creds int
		}{
			{"TOTP and a credential", true, 1},
			{"two credentials", false, 2},
			{"TOTP and two credentials", true, 2},
			{"four credentials", false, 4},
		}
		for _, setup := range setups {
			for round := range 8 {
				user := fmt.Sprintf("%s %d", setup.name, round)
				var removals []func() (bool, error)
				if setup.totp {
					enrolTOTP(t, ctx, s, user)
					removals = append(removals, func() (bool, error) { return s.DeleteTOTPUnlessLast(ctx, user) })
				}
				for i := range setup.creds {
					c := addCred(t, ctx, s, user, i)
					removals = append(removals, func() (bool, error) { return s.DeleteCredentialUnlessLast(ctx, user, c.ID) })
				}
				removed := make([]bool, len(removals))
				errs := make([]error, len(removals))
				race(len(removals), func(i int) { removed[i], errs[i] = removals[i]() })
				n := 0
				for i, err := range errs {
					noErr(t, err, "concurrent removal")
					if removed[i] {
						n++
					}
				}
				if n != len(removals)-1 {
					t.Fatalf("%s: %d concurrent removals reported %d true, want %d", setup.name, len(removals), n, len(removals)-1)
				}
				if left := factors(t, ctx, s, user); left != 1 {
					t.Fatalf("%s: %d factors left after concurrent removals, want 1", setup.name, left)
				}
			}
		}
	}},
}
