package testenv

import "sync"

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
