package headers

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/deployedworks/rampart/audit"
	"github.com/deployedworks/rampart/clientip"
	"github.com/deployedworks/rampart/ratelimit"
)

// ReportsConfig tunes the endpoint built by [NewReports]. The zero value
// is ready to use.
type ReportsConfig struct {
	// Audit receives the reports as [ActionCSPViolation] events in
	// [audit.CategoryBrowserReport], a category kept 30 days by default,
	// aggregated per Window and capped per day (MaxBytesPerDay). The
	// outcome is denied when the policy was enforced (the browser blocked
	// the resource), success when it was report-only (the resource
	// loaded); the report's fields go in Meta, and Meta["count"] says how
	// many reports the event stands for. Default: nil, the [audit.Logger]
	// whose Handler serves the request ([Reports.Flush] uses the last one
	// it saw).
	Audit *audit.Logger

	// MaxBody is the largest body accepted, in bytes; larger bodies get
	// 413. Default: 64 KiB, ample for a batch of reports. At most 1 MiB.
	MaxBody int64

	// MaxReports is how many reports of one Reporting API batch are
	// recorded; the rest are dropped. Default: 20.
	MaxReports int

	// ClientPerMinute is how many report requests one client may send per
	// minute, with bursts of the same size; more get 429. A client is the
	// session named by SessionKey, or else the address (an IPv4 address
	// or an IPv6 /64, as [ratelimit.AddrKey] groups them). Default: 30.
	// It sizes the default Limiter; with a Limiter of your own, it is
	// unused.
	ClientPerMinute int

	// TotalPerMinute caps report requests from all anonymous clients
	// together, so a botnet cannot flood the audit log. Clients with a
	// session (see SessionKey) have a cap of the same size of their own,
	// which anonymous clients cannot use up. Default: 600.
	TotalPerMinute int

	// MaxClients bounds the clients (addresses and sessions together)
	// the default Limiter tracks. When it is full, a new client evicts
	// the one whose budget is closest to full, as a [ratelimit.Memory]
	// does. Default: 20000.
	MaxClients int

	// Limiter limits report requests per client, before TotalPerMinute
	// applies. Anonymous clients are keyed by [ratelimit.AddrKey] of their
	// address, signed-in clients by "s" followed by their SessionKey (the
	// two never collide). A refusal, or an error, refuses the request with
	// 429: the endpoint fails closed. Default: a [ratelimit.Memory] of
	// ClientPerMinute a minute that tracks MaxClients clients and starts
	// no goroutine. Pass a redisstore.Store to share the limit between
	// instances.
	Limiter ratelimit.Limiter

	// SessionKey tells requests from a signed-in client apart: it returns
	// a stable key for the session or its user (a user ID, never a
	// token) and true, or false for an anonymous request. Such clients get
	// budgets of their own (ClientPerMinute per key, TotalPerMinute,
	// MaxBytesPerDay), so that a flood of anonymous reports, which any web
	// page can make its visitors send, cannot starve them. It must not
	// trust anything a client can forge, such as the presence of a cookie:
	// read the session that the application's session middleware loaded
	// and checked (wrap Reports in it). Default: nil, every client is
	// anonymous.
	SessionKey func(r *http.Request) (key string, ok bool)

	// Window is the aggregation window: the first report of a document,
	// directive, blocked URL and disposition is recorded at once, and the
	// reports repeating it during the next Window are counted and recorded
	// as one event when the window ends (noticed by a later request or by
	// [Reports.Flush]; no goroutine runs). At most 2048 windows are open
	// for each kind of client (anonymous, signed-in); a report that finds
	// its kind's windows all taken is recorded on its own, within the
	// day's cap. Default: 10 minutes. From 1 second to 24 hours.
	Window time.Duration

	// MaxBytesPerDay caps the audit records that reports produce per UTC
	// day, measured as each event's JSON encoding plus a fixed allowance
	// per record for what the audit logger and sink add. Past the cap,
	// reports are answered 204 but dropped, and counted in an
	// [ActionReportsCapped] event. Anonymous and signed-in clients each
	// have a cap of this size. Default: 4 MiB (about 5,000 events). At
	// least 4 KiB.
	MaxBytesPerDay int64

	// Now returns the current time, for the limits, the windows and the
	// day's cap. Default: time.Now. It is for tests that drive one clock
	// through a whole application and cannot run in a testing/synctest
	// bubble (they serve over a real network); other tests should run in a
	// bubble, whose fake clock the default follows.
	Now func() time.Time
}

// Reports is the endpoint that receives CSP violation reports, both
// report-uri (application/csp-report) and report-to
// (application/reports+json) bodies, and writes them to audit. It is safe
// for concurrent use and starts no goroutine; call [Reports.Flush] on
// shutdown to record the counts of windows still open.
//
// Any web page can make its visitors' browsers send reports, so the
// endpoint bounds what they cost: requests are rate limited per client
// and in total, identical reports are aggregated per window, the records
// are capped per day, and signed-in clients (see
// [ReportsConfig].SessionKey) have budgets of their own.
//
// Mount it at the path given as [CSP].ReportURI, for POST only, and
// outside [CrossOrigin] (or add the path as a bypass pattern): browsers
// send reports without the user's involvement and it changes no state.
// The client's address comes from the request context (clientip's
// handler must run first); a request without one is refused with 503.
type Reports struct {
	cfg        ReportsConfig
	now        func() time.Time // time.Now, or a test's clock
	limiter    ratelimit.Limiter
	maxReports int
	anon       reportClass
	signed     reportClass

	mu        sync.Mutex // guards windows, lastSweep and both classes' day budgets
	windows   map[windowKey]*window
	lastSweep time.Time

	seen atomic.Pointer[audit.Logger] // the last Logger found in a request, for Flush
}

// reportClass is one kind of client, anonymous or signed-in, with its own
// total rate and day budget.
type reportClass struct {
	name  string
	total *ratelimit.Memory // one key: the class's total rate

	// Under Reports.mu.
	windows int   // open aggregation windows of this class
	day     int64 // the UTC day (days since 1970) that used and dropped count
	used    int64 // bytes charged today
	dropped int64 // reports dropped since the last ActionReportsCapped count
	capped  bool  // the cap notice for day was written
}

// windowKey identifies the reports one aggregation window collects.
type windowKey struct {
	signed                               bool
	doc, directive, blocked, disposition string
}

// window is one open aggregation window.
type window struct {
	start, last time.Time
	repeats     int
	rep         violation // the first report, without the details its repeats need not share
}

const (
	// maxWindows bounds the aggregation windows open for each class of
	// client, so that an anonymous flood of distinct reports cannot stop
	// signed-in clients' reports being aggregated. Reports of a key that
	// finds its class's windows full are recorded one by one, within the
	// day's cap.
	maxWindows = 2048
	// recordOverhead is what the day's cap charges per record on top of
	// the event's encoding: the request ID and actor the logger adds, and
	// a chain record's sequence number and MAC.
	recordOverhead = 192
)

// NewReports returns the report endpoint, or an error that names the
// invalid field of cfg.
func NewReports(cfg ReportsConfig) (*Reports, error) {
	return newReports(cfg, cfg.Now)
}

// newReports is NewReports on the clock now (nil: the system clock), which
// tests set.
func newReports(cfg ReportsConfig, now func() time.Time) (*Reports, error) {
	switch {
	case cfg.MaxBody == 0:
		cfg.MaxBody = 64 << 10
	case cfg.MaxBody < 1024 || cfg.MaxBody > 1<<20:
		return nil, fmt.Errorf("headers: ReportsConfig.MaxBody %d: want 1 KiB to 1 MiB", cfg.MaxBody)
	}
	switch {
	case cfg.Window == 0:
		cfg.Window = 10 * time.Minute
	case cfg.Window < time.Second || cfg.Window > 24*time.Hour:
		return nil, fmt.Errorf("headers: ReportsConfig.Window %v: want 1s to 24h, or zero for the default 10m", cfg.Window)
	}
	switch {
	case cfg.MaxBytesPerDay == 0:
		cfg.MaxBytesPerDay = 4 << 20
	case cfg.MaxBytesPerDay < 4<<10:
		return nil, fmt.Errorf("headers: ReportsConfig.MaxBytesPerDay %d: want at least 4096, or zero for the default 4 MiB", cfg.MaxBytesPerDay)
	}
	for _, f := range []struct {
		name string
		p    *int
		def  int
	}{
		{"MaxReports", &cfg.MaxReports, 20},
		{"ClientPerMinute", &cfg.ClientPerMinute, 30},
		{"TotalPerMinute", &cfg.TotalPerMinute, 600},
		{"MaxClients", &cfg.MaxClients, 20000},
	} {
		if *f.p == 0 {
			*f.p = f.def
		}
		if *f.p < 0 {
			return nil, fmt.Errorf("headers: ReportsConfig.%s %d: want a positive number, or zero for the default %d", f.name, *f.p, f.def)
		}
	}
	rp := &Reports{
		cfg:        cfg,
		now:        now,
		limiter:    cfg.Limiter,
		maxReports: cfg.MaxReports,
		anon:       reportClass{name: "anonymous"},
		signed:     reportClass{name: "signed-in"},
		windows:    make(map[windowKey]*window),
	}
	mem := ratelimit.MemoryConfig{SweepInterval: -1, Now: now}
	if now == nil {
		rp.now = time.Now
	}
	var err error
	if rp.limiter == nil {
		mem.MaxKeys = cfg.MaxClients
		if rp.limiter, err = ratelimit.NewMemory(ratelimit.Limit{Events: cfg.ClientPerMinute, Per: time.Minute}, mem); err != nil {
			return nil, fmt.Errorf("headers: ReportsConfig.ClientPerMinute: %w", err)
		}
	}
	mem.MaxKeys = 1
	for _, cl := range []*reportClass{&rp.anon, &rp.signed} {
		if cl.total, err = ratelimit.NewMemory(ratelimit.Limit{Events: cfg.TotalPerMinute, Per: time.Minute}, mem); err != nil {
			return nil, fmt.Errorf("headers: ReportsConfig.TotalPerMinute: %w", err)
		}
	}
	return rp, nil
}

// ServeHTTP handles one report request: 204 when the reports were
// accepted (recorded, counted in a window, or dropped over the day's
// cap), 405 for a method other than POST, 415 for another media type, 429
// when rate limited, 413 for a body over MaxBody, 400 for a malformed body
// and 503 when the request context has no client address (clientip's
// handler did not run: the endpoint fails closed). Responses never echo
// the input; audit failures go to the audit logger's own error log.
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
	info, ok := clientip.FromContext(r.Context())
	if !ok {
		plainError(w, http.StatusServiceUnavailable)
		return
	}
	cl, key := &rp.anon, ""
	if rp.cfg.SessionKey != nil {
		if k, ok := rp.cfg.SessionKey(r); ok {
			cl, key = &rp.signed, "s"+k
		}
	}
	if key == "" {
		key = ratelimit.AddrKey(info.Addr)
	}
	now := rp.now()
	if !rp.allow(r.Context(), cl, key) {
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
	reports, err := parseReports(ct, body, rp.maxReports)
	if err != nil {
		plainError(w, http.StatusBadRequest)
		return
	}
	ua := clean(r.Header.Get("User-Agent"), maxURLLen)
	own, detached := rp.admit(cl, reports, info.Addr, ua, now)
	// Window counts and notices are about many clients, not this request:
	// no request facts (client, actor, request ID) go into them.
	lg := rp.cfg.Audit
	if lg == nil {
		if lg = audit.FromContext(r.Context()); lg != nil && rp.seen.Load() != lg {
			rp.seen.Store(lg)
		}
	}
	rp.write(context.Background(), lg, detached)
	rp.write(r.Context(), lg, own)
	w.WriteHeader(http.StatusNoContent)
}

// Flush records the counts still held in memory: the repeats of every open
// window (which it closes) and the reports dropped over the day's cap so
// far, to Config.Audit, else to the Logger of the last request served. Call
// it on shutdown, before the audit sink closes. It is safe to
// call at any time.
func (rp *Reports) Flush(ctx context.Context) {
	now := rp.now()
	rp.mu.Lock()
	var out []audit.Event
	for k, win := range rp.windows {
		out = rp.closeWindow(out, k, win, now)
	}
	for _, cl := range []*reportClass{&rp.anon, &rp.signed} {
		out = rp.rollover(out, cl, now, true)
	}
	rp.mu.Unlock()
	lg := rp.cfg.Audit
	if lg == nil {
		lg = rp.seen.Load()
	}
	rp.write(ctx, lg, out)
}

// write logs events in order to lg. Audit reports its own sink failures.
func (rp *Reports) write(ctx context.Context, lg *audit.Logger, events []audit.Event) {
	for _, e := range events {
		lg.Log(ctx, e)
	}
}

// allow applies the per-client limit, then the total cap of the client's
// kind, so that a client over its own limit cannot use up everyone's
// budget, and anonymous clients cannot use up signed-in ones'. A limiter
// error refuses (fails closed).
func (rp *Reports) allow(ctx context.Context, cl *reportClass, key string) bool {
	if d, err := rp.limiter.Allow(ctx, key); err != nil || !d.Allowed {
		return false
	}
	d, err := cl.total.Allow(ctx, "")
	return err == nil && d.Allowed
}

// admit aggregates and charges the reports of one request. It returns the
// events to write with the request's context (own) and those to write
// without it (detached: closed windows' counts, cap notices).
func (rp *Reports) admit(cl *reportClass, reports []violation, client netip.Addr, ua string, now time.Time) (own, detached []audit.Event) {
	rp.mu.Lock()
	defer rp.mu.Unlock()
	detached = rp.sweep(detached, now)
	for _, rep := range reports {
		k := windowKey{
			signed: cl == &rp.signed, doc: rep.DocumentURL, directive: rep.EffectiveDirective,
			blocked: rep.BlockedURL, disposition: rep.Disposition,
		}
		if win := rp.windows[k]; win != nil {
			if now.Before(win.start.Add(rp.cfg.Window)) {
				win.repeats++
				win.last = now
				continue
			}
			detached = rp.closeWindow(detached, k, win, now)
		}
		if cl.windows < maxWindows {
			first := rep
			first.Referrer, first.SourceFile, first.Sample = "", "", ""
			first.LineNumber, first.ColumnNumber, first.StatusCode = 0, 0, 0
			rp.windows[k] = &window{start: now, last: now, rep: first}
			cl.windows++
		}
		e := reportEvent(rep, client, ua)
		e.Meta["count"] = "1"
		e.Meta["client"] = cl.name
		var ok bool
		if detached, ok = rp.charge(detached, cl, &e, 1, now); ok {
			own = append(own, e)
		}
	}
	return own, detached
}

// sweep closes the windows that have ended and ends the day of each
// class, at most once a second so that a flood of requests cannot make
// each one scan the table. rp.mu is held.
func (rp *Reports) sweep(out []audit.Event, now time.Time) []audit.Event {
	if !rp.lastSweep.IsZero() && now.Sub(rp.lastSweep) < time.Second {
		return out
	}
	rp.lastSweep = now
	for k, win := range rp.windows {
		if !now.Before(win.start.Add(rp.cfg.Window)) {
			out = rp.closeWindow(out, k, win, now)
		}
	}
	for _, cl := range []*reportClass{&rp.anon, &rp.signed} {
		out = rp.rollover(out, cl, now, false)
	}
	return out
}

// closeWindow removes the window of k and appends the event that counts
// its repeats, if any and within the day's cap. rp.mu is held.
func (rp *Reports) closeWindow(out []audit.Event, k windowKey, win *window, now time.Time) []audit.Event {
	cl := &rp.anon
	if k.signed {
		cl = &rp.signed
	}
	delete(rp.windows, k)
	cl.windows--
	if win.repeats == 0 {
		return out
	}
	e := reportEvent(win.rep, netip.Addr{}, "")
	e.Reason += " (repeated reports, counted)"
	e.Meta["count"] = strconv.Itoa(win.repeats)
	e.Meta["client"] = cl.name
	e.Meta["first-seen"] = win.start.UTC().Format(time.RFC3339)
	e.Meta["last-seen"] = win.last.UTC().Format(time.RFC3339)
	out, ok := rp.charge(out, cl, &e, win.repeats, now)
	if ok {
		out = append(out, e)
	}
	return out
}

// charge takes e's size from cl's budget for the day of now and reports
// whether e fits; if not, its count of reports is added to cl.dropped and
// the day's cap notice is appended. It first ends cl's previous day, if
// over. rp.mu is held.
func (rp *Reports) charge(out []audit.Event, cl *reportClass, e *audit.Event, count int, now time.Time) ([]audit.Event, bool) {
	out = rp.rollover(out, cl, now, false)
	size := recordOverhead
	if b, err := e.MarshalJSON(); err == nil {
		size += len(b)
	}
	if cl.used+int64(size) > rp.cfg.MaxBytesPerDay {
		cl.dropped += int64(count)
		return rp.capNotice(out, cl), false
	}
	cl.used += int64(size)
	return out, true
}

// capNotice appends the notice that cl reached the day's cap, once a day.
// rp.mu is held.
func (rp *Reports) capNotice(out []audit.Event, cl *reportClass) []audit.Event {
	if cl.capped {
		return out
	}
	cl.capped = true
	return append(out, audit.Event{
		Category: audit.CategorySuspicious, Action: ActionReportsCapped, Outcome: audit.OutcomeDenied,
		Reason: "CSP violation reports from " + cl.name + " clients reached the day's cap; further ones are dropped until 00:00 UTC",
		Meta:   map[string]string{"client": cl.name, "max-bytes-per-day": strconv.FormatInt(rp.cfg.MaxBytesPerDay, 10)},
	})
}

// rollover appends the count of reports cl dropped over the cap once
// their day is over, or at once when force is set, and starts the day of
// now. Days only move forward: a request that read the clock before
// midnight and took rp.mu after another request started the new day is
// charged to the new day, instead of starting the old one again with a
// fresh budget. rp.mu is held.
func (rp *Reports) rollover(out []audit.Event, cl *reportClass, now time.Time, force bool) []audit.Event {
	d := max(utcDay(now), cl.day)
	if d == cl.day && !force {
		return out
	}
	if cl.dropped > 0 {
		out = append(out, audit.Event{
			Category: audit.CategorySuspicious, Action: ActionReportsCapped, Outcome: audit.OutcomeDenied,
			Reason: "CSP violation reports dropped over the day's cap",
			Meta: map[string]string{
				"client": cl.name, "dropped": strconv.FormatInt(cl.dropped, 10),
				"day": time.Unix(cl.day*86400, 0).UTC().Format(time.DateOnly),
			},
		})
		cl.dropped = 0
	}
	if d != cl.day {
		cl.day, cl.used, cl.capped = d, 0, false
	}
	return out
}

// utcDay numbers the UTC day of t.
func utcDay(t time.Time) int64 {
	s := t.Unix()
	d := s / 86400
	if s < 0 && s%86400 != 0 {
		d--
	}
	return d
}

// reportEvent turns a report into an audit event.
func reportEvent(rep violation, client netip.Addr, ua string) audit.Event {
	e := audit.Event{
		Category:  audit.CategoryBrowserReport,
		Action:    ActionCSPViolation,
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
