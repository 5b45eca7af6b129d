package tokentest_test

import (
	"context"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/deployedworks/rampart/token"
	"github.com/deployedworks/rampart/token/tokentest"
)

// brokenEnv names the broken store a child test process runs the suite
// on.
const brokenEnv = "TOKENTEST_BROKEN_STORE"

// brokenStores each break one contract; the suite must fail on each, in
// the check named by want.
var brokenStores = map[string]struct {
	checks string // the suite's checks to run, a -test.run pattern below the test
	want   string // a part of the failure message
	flaw   flaw
}{
	"Correct": {"", "", 0},
	// Only the concurrent check: its Takes pair up; a lone one would wait
	// for ever.
	"TakeNotAtomic":    {"/^ConcurrentTake$", "succeeded, want exactly 1", racyTake},
	"KeepsOlder":       {"", "the older record of a user and purpose after a newer Put", keepsOlder},
	"ValidAtExpires":   {"", "at Expires", validAtExpires},
	"IgnoresPurpose":   {"", "for another purpose", ignoresPurpose},
	"VoidsAllPurposes": {"/^Void$", "email_verify) after Put", voidsAll},
	"KeepsSlices":      {"", "Get returned", keepsSlices},
	"OverwritesHash":   {"", "another user's record has succeeded", overwritesHash},
	"ExpiryExclusive":  {"", "DeleteExpired at the third record's Expires = 2", deletesOnlyPast},
}

// TestSuiteFailsBrokenStores runs the suite on each broken store in a
// child process (a failing suite fails its *testing.T) and checks that it
// failed where it should, and passed the correct one.
func TestSuiteFailsBrokenStores(t *testing.T) {
	if name := os.Getenv(brokenEnv); name != "" {
		b := brokenStores[name]
		tokentest.TestStore(t, func(*testing.T) token.Store { return newMapStore(b.flaw) })
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
			if b.flaw == 0 {
				if err != nil {
					t.Fatalf("the suite failed the correct map store:\n%s", out)
				}
				return
			}
			if err == nil {
				t.Fatalf("the suite passed a store that breaks a contract:\n%s", out)
			}
			if !strings.Contains(string(out), b.want) {
				t.Fatalf("the suite failed, but not with %q:\n%s", b.want, out)
			}
		})
	}
}

type flaw int

const (
	racyTake flaw = 1 + iota
	keepsOlder
	validAtExpires
	ignoresPurpose
	voidsAll
	keepsSlices
	overwritesHash
	deletesOnlyPast
)

// mapStore is a plain token.Store, correct unless given a flaw.
type mapStore struct {
	flaw    flaw
	mu      sync.Mutex
	recs    map[string]token.Record
	waiting chan struct{}
}

func newMapStore(f flaw) *mapStore { return &mapStore{flaw: f, recs: map[string]token.Record{}} }

func (s *mapStore) Put(_ context.Context, rec token.Record) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if old, ok := s.recs[string(rec.Hash)]; ok && (old.UserID != rec.UserID || old.Purpose != rec.Purpose) && s.flaw != overwritesHash {
		return os.ErrExist
	}
	if s.flaw != keepsOlder {
		for k, r := range s.recs {
			if r.UserID == rec.UserID && r.Purpose == rec.Purpose {
				delete(s.recs, k)
			}
		}
	}
	if s.flaw != keepsSlices {
		rec.Hash = append([]byte(nil), rec.Hash...)
	}
	s.recs[string(rec.Hash)] = rec
	return nil
}

func (s *mapStore) valid(r token.Record, p token.Purpose, now time.Time) bool {
	if r.Purpose != p && s.flaw != ignoresPurpose {
		return false
	}
	if s.flaw == validAtExpires {
		return !now.After(r.Expires)
	}
	return now.Before(r.Expires)
}

func (s *mapStore) Get(_ context.Context, hash []byte, p token.Purpose, now time.Time) (token.Record, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.recs[string(hash)]
	if !ok || !s.valid(r, p, now) {
		return token.Record{}, token.ErrInvalid
	}
	if s.flaw != keepsSlices {
		r.Hash = append([]byte(nil), r.Hash...)
	}
	return r, nil
}

func (s *mapStore) Take(ctx context.Context, hash []byte, p token.Purpose, now time.Time) (token.Record, error) {
	if s.flaw == racyTake {
		// Read, wait for a partner to have read too, then delete: a
		// check-then-act.
		r, err := s.Get(ctx, hash, p, now)
		s.pair()
		s.mu.Lock()
		delete(s.recs, string(hash))
		s.mu.Unlock()
		return r, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.recs[string(hash)]
	if !ok || !s.valid(r, p, now) {
		return token.Record{}, token.ErrInvalid
	}
	delete(s.recs, string(hash))
	return r, nil
}

// pair returns once another call has reached pair too.
func (s *mapStore) pair() {
	s.mu.Lock()
	if s.waiting == nil {
		w := make(chan struct{})
		s.waiting = w
		s.mu.Unlock()
		<-w
		return
	}
	close(s.waiting)
	s.waiting = nil
	s.mu.Unlock()
}

func (s *mapStore) Void(_ context.Context, userID string, purposes ...token.Purpose) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for k, r := range s.recs {
		if r.UserID != userID {
			continue
		}
		hit := len(purposes) == 0 || s.flaw == voidsAll
		for _, p := range purposes {
			hit = hit || r.Purpose == p
		}
		if hit {
			delete(s.recs, k)
		}
	}
	return nil
}

func (s *mapStore) DeleteExpired(_ context.Context, now time.Time) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for k, r := range s.recs {
		if r.Expires.Before(now) || (s.flaw != deletesOnlyPast && r.Expires.Equal(now)) {
			delete(s.recs, k)
			n++
		}
	}
	return n, nil
}
