package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"
)

// defaultRequestTimeout is Config.RequestTimeout's default: long enough
// for any page and for password hashing under load, short enough that a
// hung database or Redis ends a request well before the server's write
// timeout.
const defaultRequestTimeout = 15 * time.Second

// maxRequestTimeout leaves a request that timed out 10 seconds of the
// server's write timeout to give up on its dependencies (pgx cancels a
// query within a second) and write its error page.
const maxRequestTimeout = writeTimeout - 10*time.Second

// Readiness checks: each dependency gets readyTimeout (or the request
// timeout, if shorter); a result is reused for readyCacheFor, so that a
// flood of /healthz costs the database and Redis at most one check a
// second.
const (
	readyTimeout  = 2 * time.Second
	readyCacheFor = time.Second
	// auditBacklog is how many events an audit queue may hold before the
	// instance reports itself not ready: a sink that is too slow fills its
	// queue, and a full queue would make every request wait. A sink whose
	// latest write failed (a full disk, a database that refuses writes)
	// makes it not ready at once.
	auditBacklog = 4096
)

// withDeadline gives every request a context that ends after
// Config.RequestTimeout. The database (database/sql with pgx or SQLite),
// Redis (ContextTimeoutEnabled) and the session, rate-limit, MFA and
// audit calls made for the request all take its context, so that a hung
// dependency ends the request with an error page instead of holding the
// connection until the server's write timeout, or for ever.
func (a *App) withDeadline(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), a.cfg.RequestTimeout)
		defer cancel()
		next.ServeHTTP(w, r.WithContext(ctx))
	})
}

// readiness caches the last dependency check and lets concurrent /healthz
// requests share one check.
type readiness struct {
	mu      sync.Mutex
	at      time.Time     // when err was found; zero before the first check
	err     error         // the last check's result
	running chan struct{} // closed when the check in progress ends; nil if none
}

// ready checks every configured dependency, or returns a result less than
// readyCacheFor old. It waits for a check already running rather than
// start another, at most until ctx ends.
func (a *App) ready(ctx context.Context) error {
	h := &a.health
	h.mu.Lock()
	if !h.at.IsZero() && time.Since(h.at) < readyCacheFor {
		err := h.err
		h.mu.Unlock()
		return err
	}
	if ch := h.running; ch != nil {
		h.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
		h.mu.Lock()
		defer h.mu.Unlock()
		return h.err
	}
	ch := make(chan struct{})
	h.running = ch
	h.mu.Unlock()

	// The check is shared: one client going away must not fail it for the
	// others, so it runs on its own deadline.
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), min(readyTimeout, a.cfg.RequestTimeout))
	err := a.checkDependencies(cctx)
	cancel()
	if err != nil {
		a.log.WarnContext(ctx, "healthz: not ready", "err", err)
	}

	h.mu.Lock()
	h.at, h.err, h.running = time.Now(), err, nil
	h.mu.Unlock()
	close(ch)
	return err
}

// checkDependencies checks, in parallel, the database, Redis when
// configured, and the audit queues.
func (a *App) checkDependencies(ctx context.Context) error {
	checks := map[string]func(context.Context) error{
		"database": a.db.db.PingContext,
		"audit": func(context.Context) error {
			for _, q := range a.auditQueues {
				st := q.Stats()
				if st.Err != nil { // a full disk, an unwritable directory, a database that refuses writes
					return fmt.Errorf("%d events waiting: the audit sink is failing: %w", st.Queued, st.Err)
				}
				if st.Queued > auditBacklog {
					return fmt.Errorf("%d events waiting: the audit sink is too slow", st.Queued)
				}
			}
			return nil
		},
	}
	if a.rdb != nil {
		checks["redis"] = func(ctx context.Context) error { return a.rdb.Ping(ctx).Err() }
	}
	errs := make([]error, 0, len(checks))
	var mu sync.Mutex
	var wg sync.WaitGroup
	for name, check := range checks {
		wg.Go(func() {
			if err := check(ctx); err != nil {
				mu.Lock()
				errs = append(errs, fmt.Errorf("%s: %w", name, err))
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}

// healthz is the readiness probe: 200 "ok" when the database, Redis (when
// configured) and the audit sinks work, else 503 with a body that names
// nothing; the log says what failed. A load balancer should stop sending
// requests to an instance that is not ready.
func (a *App) healthz(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	if err := a.ready(r.Context()); err != nil {
		w.WriteHeader(http.StatusServiceUnavailable)
		_, _ = w.Write([]byte("unavailable\n"))
		return
	}
	_, _ = w.Write([]byte("ok\n"))
}

// livez is the liveness probe: 200 "ok" whenever the process serves
// requests, whatever its dependencies do, so that an orchestrator
// restarts an instance that is stuck, not one whose database is down.
func (a *App) livez(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	_, _ = w.Write([]byte("ok\n"))
}
