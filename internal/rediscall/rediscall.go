// Package rediscall bounds the time a Redis call may take, whether or not
// the go-redis client obeys context deadlines.
package rediscall

import (
	"context"
	"time"

	"github.com/redis/go-redis/v9"
)

// ObeysDeadlines reports whether c ends a call when its context's
// deadline passes. go-redis clients do only with ContextTimeoutEnabled:
// otherwise a Redis that takes connections but does not answer holds each
// call for the client's ReadTimeout.
func ObeysDeadlines(c redis.UniversalClient) bool {
	switch c := c.(type) {
	case *redis.Client:
		return c.Options().ContextTimeoutEnabled
	case *redis.ClusterClient:
		return c.Options().ContextTimeoutEnabled
	case *redis.Ring:
		return c.Options().ContextTimeoutEnabled
	}
	return false
}

// Do runs f with a context that ends after timeout, and returns by then:
// when the client does not obey deadlines (obeys false), f runs in a
// goroutine of its own that is left to finish on its own.
func Do[T any](ctx context.Context, timeout time.Duration, obeys bool, f func(context.Context) (T, error)) (T, error) {
	tctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	if obeys {
		return f(tctx)
	}
	type result struct {
		v   T
		err error
	}
	done := make(chan result, 1)
	go func() {
		v, err := f(tctx)
		done <- result{v, err}
	}()
	select {
	case r := <-done:
		return r.v, r.err
	case <-tctx.Done():
		var zero T
		return zero, tctx.Err()
	}
}
