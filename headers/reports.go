package headers

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/netip"
	"strconv"
	"sync"
	"time"

	"github.com/deployedworks/rampart/audit"
	"github.com/deployedworks/rampart/clientip"
)

// Limiter decides whether a client may send one more report request. An
// adapter over the ratelimit package fits here. A non-nil error counts as
// a refusal: the endpoint fails closed.
type Limiter interface {
	Allow(ctx context.Context, client netip.Addr) (bool, error)
}

// ReportsConfig tunes the endpoint built by [NewReports]. The zero value
// is ready to use.
type ReportsConfig struct {
	// Audit receives one [audit.CategorySecurityAlert] event with action
	// "csp.violation" per report: outcome denied when the policy was
	// enforced (the browser blocked the resource), success when it was
	// report-only (the resource loaded); the report's fields go in Meta.
	// Default: nil, which discards them.
	Audit *audit.Logger

	// Logger receives audit sink failures. Default: slog.Default().
	Logger *slog.Logger

	// MaxBody is the largest body accepted, in bytes; larger bodies get
	// 413. Default: 64 KiB, ample for a batch of reports. At most 1 MiB.
	MaxBody int64

	// MaxReports is how many reports of one Reporting API batch are
	// recorded; the rest are dropped. Default: 20.
	MaxReports int

	// ClientPerMinute is how many report requests one client (an IPv4
	// address or an IPv6 /64) may send per minute, with bursts of the same
	// size; more get 429. Default: 30. Ignored when Limiter is set.
	ClientPerMinute int

	// TotalPerMinute caps report requests from all clients together, so a
	// botnet cannot flood the audit log. Default: 600.
	TotalPerMinute int

	// MaxClients bounds the internal per-client table. When it is full of
	// recently active clients, new clients get 429 (fail closed) until
	// entries go idle. Default: 10000. Ignored when Limiter is set.
	MaxClients int

	// Limiter replaces the internal per-client limit (TotalPerMinute still
	// applies). Default: nil.
	Limiter Limiter

	// Now returns the current time. Default: time.Now. Tests inject a
	// clock.
	Now func() time.Time
}

// Reports is the endpoint that receives CSP violation reports, both
// report-uri (application/csp-report) and report-to
// (application/reports+json) bodies, and writes them to audit. It is safe
// for concurrent use and starts no goroutine.
//
// Mount it at the path given as [CSP].ReportURI, for POST only, and
// outside [CrossOrigin] (or add the path as a bypass pattern): browsers
// send reports without the user's involvement and it changes no state.
type Reports struct {
	res        *clientip.Resolver
	cfg        ReportsConfig
	clients    *buckets
	total      *buckets
	maxReports int
}

// NewReports returns the report endpoint. res finds the client address
// that rate limits and audit events use.
func NewReports(res *clientip.Resolver, cfg ReportsConfig) (*Reports, error) {
	if res == nil {
		return nil, errors.New("headers: NewReports: nil *clientip.Resolver: pass clientip.New(nil, clientip.Config{}) when no proxy is in front of the app")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	switch {
	case cfg.MaxBody == 0:
		cfg.MaxBody = 64 << 10
	case cfg.MaxBody < 1024 || cfg.MaxBody > 1<<20:
		return nil, fmt.Errorf("headers: ReportsConfig.MaxBody %d: want 1 KiB to 1 MiB", cfg.MaxBody)
	}
	for _, f := range []struct {
		name string
		p    *int
		def  int
	}{
		{"MaxReports", &cfg.MaxReports, 20},
		{"ClientPerMinute", &cfg.ClientPerMinute, 30},
		{"TotalPerMinute", &cfg.TotalPerMinute, 600},
		{"MaxClients", &cfg.MaxClients, 10000},
	} {
		if *f.p == 0 {
			*f.p = f.def
		}
		if *f.p < 0 {
			return nil, fmt.Errorf("headers: ReportsConfig.%s %d: want a positive number, or zero for the default %d", f.name, *f.p, f.def)
		}
	}
	return &Reports{
		res:        res,
		cfg:        cfg,
		clients:    newBuckets(cfg.ClientPerMinute, time.Minute, cfg.MaxClients),
		total:      newBuckets(cfg.TotalPerMinute, time.Minute, 1),
		maxReports: cfg.MaxReports,
	}, nil
}

// ServeHTTP handles one report request: 204 when every report was
// recorded, 405 for a method other than POST, 415 for another media type,
// 429 when rate limited, 413 for a body over MaxBody, 400 for a malformed
// body and 503 when the audit sink fails. Responses never echo the input.
func (rp *Reports) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		plainError(w, http.StatusMethodNotAllowed)
		return
	}
	ct := r.Header.Get("Content-Type")
	if reportMediaType(ct) == "" {
		plainError(w, http.StatusUnsupportedMediaType)
		return
	}
	info := rp.res.Resolve(r)
	if !rp.allow(r.Context(), info.Addr) {
		plainError(w, http.StatusTooManyRequests)
		return
	}
	if r.ContentLength > rp.cfg.MaxBody {
		plainError(w, http.StatusRequestEntityTooLarge)
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, rp.cfg.MaxBody))
	if err != nil {
		if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
			plainError(w, http.StatusRequestEntityTooLarge)
			return
		}
		plainError(w, http.StatusBadRequest)
		return
	}
	reports, err := ParseReports(ct, body, rp.maxReports)
	if err != nil {
		plainError(w, http.StatusBadRequest)
		return
	}
	ua := clean(r.Header.Get("User-Agent"), maxURLLen)
	for _, rep := range reports {
		if err := rp.cfg.Audit.Log(r.Context(), reportEvent(rep, info.Addr, ua)); err != nil {
			rp.cfg.Logger.ErrorContext(r.Context(), "headers: writing a CSP violation to audit failed; check the audit sink",
				slog.Any("error", err))
			plainError(w, http.StatusServiceUnavailable)
			return
		}
	}
	w.WriteHeader(http.StatusNoContent)
}

// allow applies the per-client limit, then the total cap, so that a
// client over its own limit cannot use up everyone's budget.
func (rp *Reports) allow(ctx context.Context, client netip.Addr) bool {
	now := rp.cfg.Now()
	if rp.cfg.Limiter != nil {
		if ok, err := rp.cfg.Limiter.Allow(ctx, client); !ok || err != nil {
			return false
		}
	} else if !rp.clients.allow(clientKey(client), now) {
		return false
	}
	return rp.total.allow(netip.Prefix{}, now)
}

// reportEvent turns a report into an audit event.
func reportEvent(rep Report, client netip.Addr, ua string) audit.Event {
	e := audit.Event{
		Category:  audit.CategorySecurityAlert,
		Action:    "csp.violation",
		Target:    audit.Target{Kind: "page", ID: rep.DocumentURL},
		ClientIP:  client,
		UserAgent: ua,
		Reason:    "content security policy violation: " + rep.EffectiveDirective,
		Meta: map[string]string{
			"format":              rep.Format,
			"document-uri":        rep.DocumentURL,
			"effective-directive": rep.EffectiveDirective,
			"blocked-uri":         rep.BlockedURL,
		},
	}
	switch rep.Disposition {
	case "enforce":
		e.Outcome = audit.OutcomeDenied
	case "report":
		e.Outcome = audit.OutcomeSuccess
	}
	for k, v := range map[string]string{
		"disposition": rep.Disposition,
		"referrer":    rep.Referrer,
		"source-file": rep.SourceFile,
		"sample":      rep.Sample,
	} {
		if v != "" {
			e.Meta[k] = v
		}
	}
	for k, v := range map[string]int{"line-number": rep.LineNumber, "column-number": rep.ColumnNumber, "status-code": rep.StatusCode} {
		if v != 0 {
			e.Meta[k] = strconv.Itoa(v)
		}
	}
	return e
}

// plainError writes a fixed status text, never request data.
func plainError(w http.ResponseWriter, code int) {
	http.Error(w, http.StatusText(code), code)
}

// clientKey buckets IPv6 clients by /64, the block one subscriber
// usually gets, and IPv4 clients by address. The zero address (unknown
// peer) is one shared key.
func clientKey(a netip.Addr) netip.Prefix {
	if !a.IsValid() {
		return netip.Prefix{}
	}
	bits := 32
	if a.Is6() {
		bits = 64
	}
	p, _ := a.Prefix(bits)
	return p
}

// buckets is a bounded table of token buckets, one per key.
type buckets struct {
	mu        sync.Mutex
	rate      float64 // tokens per second
	burst     float64
	refill    time.Duration // time to refill an empty bucket
	max       int
	m         map[netip.Prefix]*bucket
	lastSweep time.Time
}

type bucket struct {
	tokens float64
	last   time.Time
}

func newBuckets(n int, per time.Duration, max int) *buckets {
	return &buckets{
		rate:   float64(n) / per.Seconds(),
		burst:  float64(n),
		refill: per,
		max:    max,
		m:      make(map[netip.Prefix]*bucket),
	}
}

// allow takes one token from key's bucket.
func (b *buckets) allow(key netip.Prefix, now time.Time) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	bk := b.m[key]
	if bk == nil {
		if len(b.m) >= b.max && !b.sweep(now) {
			return false
		}
		bk = &bucket{tokens: b.burst, last: now}
		b.m[key] = bk
	}
	if el := now.Sub(bk.last); el > 0 {
		bk.tokens = min(b.burst, bk.tokens+el.Seconds()*b.rate)
		bk.last = now
	}
	if bk.tokens < 1 {
		return false
	}
	bk.tokens--
	return true
}

// sweep drops buckets idle long enough to be full again (dropping them
// changes nothing) and reports whether there is room. It runs at most
// once a second, so a flood of new keys cannot make every call scan the
// table.
func (b *buckets) sweep(now time.Time) bool {
	if now.Sub(b.lastSweep) < time.Second && !b.lastSweep.IsZero() {
		return false
	}
	b.lastSweep = now
	for k, bk := range b.m {
		if now.Sub(bk.last) >= b.refill {
			delete(b.m, k)
		}
	}
	return len(b.m) < b.max
}
