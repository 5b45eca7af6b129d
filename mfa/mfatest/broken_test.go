package mfatest_test

import (
	"context"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"

	"github.com/deployedworks/rampart/mfa"
	"github.com/deployedworks/rampart/mfa/memstore"
	"github.com/deployedworks/rampart/mfa/mfatest"
)

// brokenEnv names the broken store a child test process runs the suite
// on.
const brokenEnv = "MFATEST_BROKEN_STORE"

// brokenStores each break one contract; the suite must fail on each, in
// the check named by want.
var brokenStores = map[string]struct {
	checks string // the suite's checks to run, a -test.run pattern below the test
	want   string // a part of the failure message
	new    func() any
}{
	"SaveResetsLastStep": {"", "LastStep: 50}", func() any { return resetsLastStep{memory()} }},
	// Only the concurrent check: its calls pair up; a lone call would
	// wait for ever.
	"AcceptNotAtomic":   {"/^TOTP$/^ConcurrentAcceptSameStep$", "a replayed code was accepted", func() any { return &racyAccept{Store: memory()} }},
	"DeletesLastFactor": {"", "DeleteTOTPUnlessLast of the only factor = true", func() any { return deletesLast{memory()} }},
	"KeepsCallerSlices": {"/^TOTP$/^NoAliasing$", "LoadTOTP(\"alice\") = ", func() any { return keepsSlices{memory()} }},
	"NoInterfaces":      {"", "implements none of", func() any { return struct{}{} }},
}

// TestSuiteFailsBrokenStores runs the suite on each broken store in a
// child process (a failing suite fails its *testing.T) and checks that it
// failed where it should.
func TestSuiteFailsBrokenStores(t *testing.T) {
	if name := os.Getenv(brokenEnv); name != "" {
		b := brokenStores[name]
		mfatest.TestStore(t, func(*testing.T) any { return b.new() })
		return
	}
	if testing.Short() {
		t.Skip("runs child processes")
	}
	for name, b := range brokenStores {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			cmd := exec.Command(os.Args[0], "-test.run=^TestSuiteFailsBrokenStores$"+b.checks, "-test.v", "-test.timeout=60s")
			cmd.Env = append(os.Environ(), brokenEnv+"="+name)
			out, err := cmd.CombinedOutput()
			if err == nil {
				t.Fatalf("the suite passed a store that breaks a contract:\n%s", out)
			}
			if !strings.Contains(string(out), b.want) {
				t.Fatalf("the suite failed, but not with %q:\n%s", b.want, out)
			}
		})
	}
}

func memory() *memstore.Store {
	s, err := memstore.New(memstore.Config{})
	if err != nil {
		panic(err)
	}
	return s
}

// resetsLastStep writes LastStep in SaveTOTP (a plain upsert of the
// record), so re-enrolling reopens old steps.
type resetsLastStep struct{ *memstore.Store }

func (s resetsLastStep) SaveTOTP(ctx context.Context, userID string, rec mfa.TOTPRecord) error {
	if err := s.DeleteTOTP(ctx, userID); err != nil {
		return err
	}
	return s.Store.SaveTOTP(ctx, userID, rec)
}

// racyAccept checks and sets LastStep in two steps, as a read-modify-write
// through LoadTOTP would; calls arrive in pairs that both read before
// either writes.
type racyAccept struct {
	*memstore.Store
	mu      sync.Mutex
	waiting chan struct{}
	steps   map[string]int64
}

func (s *racyAccept) AcceptTOTPStep(ctx context.Context, userID string, step int64) (bool, error) {
	if _, err := s.LoadTOTP(ctx, userID); err != nil {
		return false, err
	}
	s.mu.Lock()
	last := s.steps[userID]
	// Pair up with another call: both have read.
	if s.waiting == nil {
		w := make(chan struct{})
		s.waiting = w
		s.mu.Unlock()
		<-w
		s.mu.Lock()
	} else {
		close(s.waiting)
		s.waiting = nil
	}
	defer s.mu.Unlock()
	if step <= last {
		return false, nil
	}
	if s.steps == nil {
		s.steps = make(map[string]int64)
	}
	s.steps[userID] = max(s.steps[userID], step)
	return true, nil
}

// deletesLast forgets the "unless last".
type deletesLast struct{ *memstore.Store }

func (s deletesLast) DeleteTOTPUnlessLast(ctx context.Context, userID string) (bool, error) {
	return true, s.DeleteTOTP(ctx, userID)
}

// keepsSlices stores the caller's slices.
type keepsSlices struct{ *memstore.Store }

var kept = map[string]mfa.TOTPRecord{}

func (s keepsSlices) SaveTOTP(ctx context.Context, userID string, rec mfa.TOTPRecord) error {
	kept[userID] = rec
	return s.Store.SaveTOTP(ctx, userID, rec)
}

func (s keepsSlices) LoadTOTP(ctx context.Context, userID string) (mfa.TOTPRecord, error) {
	rec, err := s.Store.LoadTOTP(ctx, userID)
	if k, ok := kept[userID]; ok && err == nil {
		rec.Secret, rec.Pending = k.Secret, k.Pending
	}
	return rec, err
}
