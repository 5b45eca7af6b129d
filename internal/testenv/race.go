package testenv

import (
	"sync"
	"sync/atomic"
)

// Race calls fn(0), …, fn(n-1), each in its own goroutine, all released
// at once, and returns when every call has returned: for tests that send
// one request n times at once. It only makes the calls as concurrent as
// the scheduler lets them be; a test that needs them to overlap at a
// given point must also block there (a store call held on a channel).
func Race(n int, fn func(i int)) {
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

// DuringTraffic starts workers goroutines that each call do in a loop,
// calls fault once every worker has made a call, and stops the workers
// once each has made after calls that started after fault returned: for
// tests that fault a dependency mid-traffic. do's faulted argument says
// whether the call started after fault returned (a call in flight when the
// fault began may still see the old state). It returns when every call
// has returned.
func DuringTraffic(workers, after int, fault func(), do func(worker int, faulted bool)) {
	var started sync.WaitGroup
	started.Add(workers)
	var faulted atomic.Bool
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			do(w, false)
			started.Done()
			for n := 0; n < after; {
				f := faulted.Load()
				do(w, f)
				if f {
					n++
				}
			}
		})
	}
	started.Wait()
	fault()
	faulted.Store(true)
	wg.Wait()
}
