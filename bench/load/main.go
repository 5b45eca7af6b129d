// Command load is the example app's load test: it builds the marketplace
// (examples/marketplace), runs it as a child process on loopback in
// development mode behind a trusted proxy (X-Forwarded-For from 127.0.0.0/8
// believed), and drives it with vegeta (github.com/tsenart/vegeta/v12, as
// a library) through these scenarios, in this order:
//
//   - anonymous browsing: GET /, /listings and /security in turn, from
//     256 client addresses;
//   - signed-in browsing: the same pages with the sessions of pre-created
//     users (signed up and signed in over HTTP), each user from its own
//     address;
//   - a flood of distinct client addresses (default 1,000,000), one
//     request each, on the same pages: every request is a new key of the
//     per-route rate limit;
//   - login storms: valid passwords, wrong passwords for existing
//     accounts, unknown accounts, each from 4096 addresses.
//
// Each scenario is a closed loop (each worker sends its next request when
// answered) and reports the right answers per second, p50/p99/max latency
// (for the login storms also apart for the answers and the refusals),
// the count of deliberate refusals (429, or 503 with Retry-After), counted
// apart from errors (anything else, and transport failures), the app's CPU
// time per request (user+system, from /proc: on a shared machine, wall
// time alone misleads) and the app's peak resident set (VmHWM, reset
// before each scenario).
//
// The flood must leave the app's resident set within floodBoundMiB of
// what it was before: the command exits 1 otherwise (see floodBoundMiB).
//
// Usage, from the repository root:
//
//	go run ./bench/load                       # the full run recorded in BENCHMARKS.md
//	go run ./bench/load -for 2s -flood 20000  # a quick look
//
// With -database-url and -redis-url (or RAMPART_LOAD_DATABASE_URL and
// RAMPART_LOAD_REDIS_URL) the app runs on PostgreSQL and Redis instead of
// SQLite and in-memory rate limits and sessions; the flood's keys then
// live in Redis, and the app's resident set bounds only the app.
//
// It needs Linux (/proc) and the Go toolchain (to build the app), unless
// -app names a built binary.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime"
	"strings"
	"syscall"
	"time"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "load:", err)
		os.Exit(1)
	}
}

// config is the command line.
type config struct {
	plan
	app     string
	backend backend
}

func parse(args []string, stderr io.Writer) (config, error) {
	var c config
	fs := flag.NewFlagSet("load", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.DurationVar(&c.For, "for", 20*time.Second, "duration of each timed scenario")
	fs.IntVar(&c.Workers, "workers", 32, "requests in flight at once when browsing and flooding")
	fs.IntVar(&c.Storm, "storm", 200, "log-ins in flight at once during a login storm")
	fs.Uint64Var(&c.FloodAddrs, "flood", 1_000_000, "distinct client addresses of the flood, one request each (at most 4194304)")
	fs.IntVar(&c.Users, "users", 100, "signed-in users created before the run, each browsing from its own address (at most 65536): enough that none reaches the per-route limit (600 a minute, burst 200) at the rate the app serves")
	fs.StringVar(&c.app, "app", "", "the example app's `binary` (default: build it)")
	fs.StringVar(&c.backend.DatabaseURL, "database-url", os.Getenv("RAMPART_LOAD_DATABASE_URL"), "run the app on this PostgreSQL `URL` (env RAMPART_LOAD_DATABASE_URL; default SQLite)")
	fs.StringVar(&c.backend.RedisURL, "redis-url", os.Getenv("RAMPART_LOAD_REDIS_URL"), "run the app's sessions and rate limits on this Redis `URL` (env RAMPART_LOAD_REDIS_URL; default in memory)")
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	switch {
	case fs.NArg() > 0:
		return c, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	case c.For <= 0 || c.Workers < 1 || c.Storm < 1:
		return c, fmt.Errorf("-for, -workers and -storm must be positive")
	case c.Users < 1 || c.Users > 1<<16:
		return c, fmt.Errorf("-users %d: give 1 to 65536", c.Users)
	case c.FloodAddrs < 1 || c.FloodAddrs > 1<<22:
		return c, fmt.Errorf("-flood %d: give 1 to 4194304 (100.64.0.0/10)", c.FloodAddrs)
	}
	return c, nil
}

// report is a whole run.
type report struct {
	Started  time.Time
	Backend  backend
	Plan     plan
	Results  []result
	Baseline float64 // the app's RSS (MiB) after start-up and user creation
	Load     [2]string
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	c, err := parse(args, stderr)
	if err != nil {
		return err
	}
	rep, err := loadTest(ctx, c, stderr)
	if err != nil {
		return err
	}
	rep.write(stdout)
	return rep.checkFlood()
}

// loadTest builds and starts the app, creates the users and runs every
// scenario, logging progress to log.
func loadTest(ctx context.Context, c config, log io.Writer) (*report, error) {
	dir, err := os.MkdirTemp("", "rampart-load-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	bin := c.app
	if bin == "" {
		fmt.Fprintln(log, "load: building", appImport)
		if bin, err = buildApp(ctx, dir); err != nil {
			return nil, err
		}
	}
	rep := &report{Started: time.Now().UTC(), Backend: c.backend, Plan: c.plan}
	rep.Load[0] = loadAvg()
	a, err := startApp(ctx, bin, dir, c.backend)
	if err != nil {
		return nil, err
	}
	defer a.stop()
	fmt.Fprintf(log, "load: app up at %s (pid %d, %s); creating %d users\n", a.origin, a.pid, c.backend, c.Users)
	users, err := a.createUsers(ctx, c.Users)
	if err != nil {
		return nil, fmt.Errorf("%w; the app's log ends:\n%s", err, a.logTail)
	}
	if rep.Baseline, err = a.rssMiB(); err != nil {
		return nil, err
	}
	for _, s := range c.plan.scenarios(a, users) {
		fmt.Fprintf(log, "load: %s …\n", s.Name)
		r, err := a.run(ctx, s)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", s.Name, err)
		}
		fmt.Fprintf(log, "load: %s: %d requests, %.0f/s, p50 %v p99 %v, %d refused, %d errors %v, %v CPU/request, peak RSS %.1f MiB\n",
			r.Name, r.Requests, r.Throughput, r.P50, r.P99, r.Refused, r.Errors, r.ErrorSamples, r.CPUPerRequest, r.PeakRSSMiB)
		rep.Results = append(rep.Results, r)
	}
	rep.Load[1] = loadAvg()
	return rep, nil
}

// loadAvg is /proc/loadavg's three figures.
func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "unknown"
	}
	return strings.Join(f[:3], " ")
}

// Memory bound of the flood. The app keeps one piece of state per client
// address that a flood of new addresses grows: the per-route rate limit,
// a ratelimit.Memory with the default MaxKeys (1<<20), whose table takes
// at most 13.7 bytes a key, 14 MiB at the bound, whatever the number of
// addresses (beyond the bound a new key evicts an old one). Nothing else
// is kept per address for a signed-out GET: no session (signed-out
// visitors get none), no audit event, and the connection caps count
// connections, which come from the proxy. Go's collector lets the heap
// reach twice the live heap (GOGC=100), and a shard's table briefly holds
// its old and new arrays while it grows: 3 × 14 MiB, plus 22 MiB for the
// flood's connections and buffers, which any load would cost. (The table
// holds fewer keys than the flood sends: a key whose bucket has refilled,
// 0.1 s after one request at 600 a minute, is forgotten by the limiter's
// janitor within a minute, so a flood slower than MaxKeys a minute never
// fills the table; the bound holds either way.) A per-key
// map of strings to bucket structs, what a naive limiter keeps, would cost
// over 100 bytes a key, 100 MiB for the million, and fail the check.
const (
	rateTableMiB  = 14
	floodBoundMiB = 3*rateTableMiB + 22
)

// checkFlood fails if the flood grew the app's resident set beyond
// floodBoundMiB.
func (r *report) checkFlood() error {
	for _, res := range r.Results {
		if !strings.HasPrefix(res.Name, "flood") {
			continue
		}
		if grew := res.PeakRSSMiB - res.RSSBefore; grew > floodBoundMiB {
			return fmt.Errorf("%s: the app's peak RSS grew by %.1f MiB (%.1f → %.1f), beyond the bound of %d MiB (3 × the rate-limit table's %d MiB + %d MiB)",
				res.Name, grew, res.RSSBefore, res.PeakRSSMiB, floodBoundMiB, rateTableMiB, floodBoundMiB-3*rateTableMiB)
		}
	}
	return nil
}

// write prints the report as the Markdown of BENCHMARKS.md.
func (r *report) write(w io.Writer) {
	fmt.Fprintf(w, "Run %s, %s, %s/%s, %d CPUs, load average %s before and %s after; app: %s.\n",
		r.Started.Format("2006-01-02 15:04 MST"), runtime.Version(), runtime.GOOS, runtime.GOARCH, runtime.NumCPU(), r.Load[0], r.Load[1], r.Backend)
	fmt.Fprintf(w, "Plan: %v per timed scenario, %d workers (browsing, flood), %d (storms), %d users, %d flood addresses; app RSS after set-up %.1f MiB.\n\n",
		r.Plan.For, r.Plan.Workers, r.Plan.Storm, r.Plan.Users, r.Plan.FloodAddrs, r.Baseline)
	fmt.Fprintln(w, "| Scenario | Requests | Right answers/s | p50 | p99 | Max | Refused (429/503) | Errors | App CPU/request | Peak RSS (MiB) | Statuses |")
	fmt.Fprintln(w, "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|")
	for _, s := range r.Results {
		fmt.Fprintf(w, "| %s | %d | %.0f | %s | %s | %s | %d | %d (%.2f %%) | %s | %.1f | %s |\n",
			s.Name, s.Requests, s.Throughput, ms(s.P50), ms(s.P99), ms(s.Max), s.Refused, s.Errors, 100*s.ErrorRate(), us(s.CPUPerRequest), s.PeakRSSMiB, codes(s.Codes))
	}
	byName := func(prefix string) *result {
		for i := range r.Results {
			if strings.HasPrefix(r.Results[i].Name, prefix) {
				return &r.Results[i]
			}
		}
		return nil
	}
	fmt.Fprintln(w, "\nLogin storms, latency by outcome (p50 / p99 / max):")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "| Scenario | Answered | Refused (429/503) |")
	fmt.Fprintln(w, "|---|---|---|")
	for _, s := range r.Results {
		if strings.HasPrefix(s.Name, "login") {
			fmt.Fprintf(w, "| %s | %s | %s |\n", s.Name, s.OKLat, s.RefusedLat)
		}
	}
	for _, s := range r.Results {
		if !strings.HasPrefix(s.Name, "login") && s.Refused*100 > s.Requests {
			fmt.Fprintf(w, "\nWARNING: %s: %d of %d requests refused by the rate limit: its CPU per request is not a page's; run with more -users.\n", s.Name, s.Refused, s.Requests)
		}
	}
	anon, signed, flood := byName("anonymous"), byName("signed-in"), byName("flood")
	if anon != nil && signed != nil && flood != nil && anon.CPUPerRequest > 0 {
		fmt.Fprintf(w, "\nSigned-in vs anonymous page, app CPU per request: %.2f×. Flood vs anonymous: %.2f×. Flood: RSS %.1f → peak %.1f MiB (+%.1f; bound +%d).\n",
			float64(signed.CPUPerRequest)/float64(anon.CPUPerRequest), float64(flood.CPUPerRequest)/float64(anon.CPUPerRequest),
			flood.RSSBefore, flood.PeakRSSMiB, flood.PeakRSSMiB-flood.RSSBefore, floodBoundMiB)
	}
}

func (l latencies) String() string {
	if l.N == 0 {
		return "none"
	}
	return fmt.Sprintf("%d: %s / %s / %s", l.N, ms(l.P50), ms(l.P99), ms(l.Max))
}

func ms(d time.Duration) string { return fmt.Sprintf("%.1f ms", float64(d)/float64(time.Millisecond)) }
func us(d time.Duration) string { return fmt.Sprintf("%.0f µs", float64(d)/float64(time.Microsecond)) }

func codes(m map[int]uint64) string {
	var parts []string
	for c := range 600 {
		if n := m[c]; n > 0 {
			name := fmt.Sprint(c)
			if c == 0 {
				name = "no answer"
			}
			parts = append(parts, fmt.Sprintf("%s: %d", name, n))
		}
	}
	return strings.Join(parts, ", ")
}
