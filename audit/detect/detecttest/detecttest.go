// Package detecttest checks an implementation of detect.State, the store
// of an audit/detect Detector's counts, against the contract the Detector
// relies on, in the manner of testing/fstest: call [TestState] from a test
// of the implementation.
//
// The checks drive time through the calls' event times (no clock), and
// include concurrent calls: run them with -race.
package detecttest

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/deployedworks/rampart/audit/detect"
)

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// TestState runs the contract's checks, each as a subtest on a State from
// newState: a fresh one, or one whose earlier sets do not matter (the
// checks use keys of their own).
func TestState(t *testing.T, newState func(t *testing.T) detect.State) {
	ctx := context.Background()
	w := detect.Window{Length: time.Minute, Max: 8, AlertAt: 4}
	add := func(t *testing.T, s detect.State, kind detect.Kind, key, member string, at time.Duration, w detect.Window) detect.Count {
		t.Helper()
		c, err := s.Add(ctx, kind, key, member, t0.Add(at), w)
		if err != nil {
			t.Fatalf("Add(%s, %s, %q): %v", kind, key, member, err)
		}
		return c
	}
	t.Run("DistinctMembers", func(t *testing.T) {
		s := newState(t)
		add(t, s, "stuffing", "a", "m1", 0, w)
		add(t, s, "stuffing", "a", "m1", time.Second, w)
		if c := add(t, s, "stuffing", "a", "m2", 2*time.Second, w); c.N != 2 {
			t.Errorf("m1, m1, m2: N = %d, want 2", c.N)
		}
		if c := add(t, s, "spraying", "a", "m3", 3*time.Second, w); c.N != 1 {
			t.Errorf("another kind, same key: N = %d, want 1 (kinds apart)", c.N)
		}
		if c := add(t, s, "stuffing", "b", "m3", 3*time.Second, w); c.N != 1 {
			t.Errorf("another key: N = %d, want 1 (keys apart)", c.N)
		}
	})
	t.Run("Window", func(t *testing.T) {
		s := newState(t)
		add(t, s, "stuffing", "w", "old", 0, w)
		if c := add(t, s, "stuffing", "w", "edge", time.Minute, w); c.N != 2 {
			t.Errorf("a member seen exactly Length before: N = %d, want 2", c.N)
		}
		if c := add(t, s, "stuffing", "w", "new", time.Minute+time.Second, w); c.N != 2 {
			t.Errorf("a member seen more than Length before: N = %d, want 2 (old forgotten)", c.N)
		}
		if c := add(t, s, "stuffing", "w", "old", 2*time.Minute, w); c.N != 3 {
			t.Errorf("a member seen again: N = %d, want 3 (edge, new, old)", c.N)
		}
	})
	t.Run("Max", func(t *testing.T) {
		s := newState(t)
		for i := range 20 {
			if c := add(t, s, "stuffing", "max", fmt.Sprint("m", i), time.Duration(i)*time.Millisecond, w); c.N > w.Max {
				t.Fatalf("member %d: N = %d, want at most Max %d", i, c.N, w.Max)
			}
		}
	})
	t.Run("AlertOncePerWindow", func(t *testing.T) {
		s := newState(t)
		var got []int
		for i := range 10 {
			if add(t, s, "stuffing", "alert", fmt.Sprint("m", i), time.Duration(i)*time.Second, w).Alert {
				got = append(got, i)
			}
		}
		if fmt.Sprint(got) != "[3]" {
			t.Errorf("alerts at members %v, want [3] (the 4th, AlertAt)", got)
		}
		for i := range 4 {
			if a := add(t, s, "stuffing", "alert", fmt.Sprint("n", i), time.Hour+time.Duration(i)*time.Second, w).Alert; a != (i == 3) {
				t.Errorf("a window later, member %d: Alert = %v, want %v", i, a, i == 3)
			}
		}
		nw := w
		nw.AlertAt = 0
		for i := range 10 {
			if add(t, s, "stuffing", "never", fmt.Sprint("m", i), 0, nw).Alert {
				t.Fatal("AlertAt 0 alerted")
			}
		}
	})
	t.Run("EmptyMemberCounts", func(t *testing.T) {
		s := newState(t)
		for i := range 3 {
			if c := add(t, s, "failures", "e", "", time.Duration(i)*time.Second, w); c.N != i+1 {
				t.Fatalf("empty member %d: N = %d, want %d", i, c.N, i+1)
			}
		}
	})
	t.Run("Take", func(t *testing.T) {
		s := newState(t)
		add(t, s, "failures", "t", "", 0, w)
		for range 3 {
			add(t, s, "failures", "t", "", 2*time.Minute, w)
		}
		n, err := s.Take(ctx, "failures", "t", t0.Add(2*time.Minute), w)
		if err != nil || n != 3 {
			t.Errorf("Take = %d, %v; want 3 (the one out of the window not counted)", n, err)
		}
		n, err = s.Take(ctx, "failures", "t", t0.Add(2*time.Minute), w)
		if err != nil || n != 0 {
			t.Errorf("second Take = %d, %v; want 0 (forgotten)", n, err)
		}
		n, err = s.Take(ctx, "failures", "none", t0, w)
		if err != nil || n != 0 {
			t.Errorf("Take of an unknown key = %d, %v; want 0, nil", n, err)
		}
	})
	t.Run("Learn", func(t *testing.T) {
		s := newState(t)
		kw := detect.Window{Length: 24 * time.Hour, Max: 2}
		for _, step := range []struct {
			at     time.Duration
			member string
			novel  bool
			why    string
		}{
			{0, "home", false, "the first member is learnt silently"},
			{time.Hour, "home", false, "known"},
			{2 * time.Hour, "cafe", true, "new to a set holding others"},
			{3 * time.Hour, "cafe", false, "learnt"},
			{4 * time.Hour, "hotel", true, "new"},
			{5 * time.Hour, "home", true, "Max 2: the least recently seen was dropped"},
			{50 * time.Hour, "office", false, "all others forgotten after Length: learnt silently"},
		} {
			novel, err := s.Learn(ctx, "addresses", "u", step.member, t0.Add(step.at), kw)
			if err != nil || novel != step.novel {
				t.Errorf("Learn(%s) at %v = %v, %v; want %v (%s)", step.member, step.at, novel, err, step.novel, step.why)
			}
		}
	})
	t.Run("ConcurrentAlert", func(t *testing.T) {
		s := newState(t)
		var alerts, fails atomic.Int32
		race(16, func(i int) {
			c, err := s.Add(ctx, "spraying", "race", fmt.Sprint("m", i), t0.Add(time.Duration(i)*time.Millisecond), w)
			if err != nil {
				fails.Add(1)
			}
			if c.Alert {
				alerts.Add(1)
			}
		})
		if fails.Load() != 0 || alerts.Load() != 1 {
			t.Errorf("16 concurrent Adds: %d alerts, %d errors; want exactly 1 alert", alerts.Load(), fails.Load())
		}
	})
	t.Run("ConcurrentTake", func(t *testing.T) {
		s := newState(t)
		for range 5 {
			add(t, s, "failures", "racetake", "", 0, w)
		}
		var winners atomic.Int32
		race(8, func(int) {
			if n, err := s.Take(ctx, "failures", "racetake", t0, w); err == nil && n == 5 {
				winners.Add(1)
			}
		})
		if winners.Load() != 1 {
			t.Errorf("8 concurrent Takes: %d got the count, want exactly 1", winners.Load())
		}
	})
}

// race calls fn(0), …, fn(n-1) in goroutines released at once.
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
