package detect

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/deployedworks/rampart/audit"
	"github.com/deployedworks/rampart/identity"
	"github.com/deployedworks/rampart/internal/nilarg"
	"github.com/deployedworks/rampart/ratelimit"
)

// Config tunes a [Detector]. The zero value is ready to use.
type Config struct {
	// Window is the sliding window over which failures are counted.
	// Default: 15 minutes.
	Window time.Duration
	// StuffingIPs is the number of distinct client addresses (IPv6 counted
	// per /64) failing on one account within Window that raises
	// [ActionCredentialStuffing]. Default: 5. At most 64.
	StuffingIPs int
	// SprayingAccounts is the number of distinct accounts one address fails
	// on within Window that raises [ActionPasswordSpraying]. Default: 10. At
	// most 64. Raise it if many users share an address (a corporate NAT).
	SprayingAccounts int
	// BurstFailures is the number of failures on an account within Window
	// after which a success raises [ActionLoginAfterFailures]. Default: 5.
	// At most 64.
	BurstFailures int
	// PrivilegedRoles are the roles (in Event.Actor.Roles of a successful
	// login) whose logins from a new address or device also raise
	// [ActionPrivilegedNewLocation], beside the [ActionNewLocation] every
	// user's do. Default: "admin".
	PrivilegedRoles []string
	// MaxKeys bounds each of the detector's tables in memory (accounts,
	// addresses, users who logged in). When one is full, the entries
	// least recently seen are forgotten first, so a flood of one-off keys
	// cannot grow memory, and an attack in progress stays tracked as long
	// as fewer than MaxKeys/2 new keys arrive between two of its attempts;
	// a user forgotten is learnt again silently at the next login. Memory is about MaxKeys ×
	// (16×(StuffingIPs+SprayingAccounts+BurstFailures) + 1200) bytes.
	// Default: 65536.
	MaxKeys int
	// IsLogin reports whether e is a login attempt. Default: Category
	// [audit.CategoryAuthentication] and Action [audit.ActionLoginSucceeded]
	// or [audit.ActionLoginFailed]; the Outcome tells success
	// ([audit.OutcomeSuccess]) from failure ([audit.OutcomeFailure],
	// [audit.OutcomeDenied]).
	IsLogin func(e audit.Event) bool
	// Account returns the account a login attempt is for. Default:
	// Target.ID when Target.Kind is [audit.TargetKindUser],
	// [audit.TargetKindAccount] or [audit.TargetKindLogin] (a login name
	// that matched no account), else Actor.UserID. Name the account the
	// same way in failures and successes, or a success after failures
	// cannot be matched to them. A
	// failure with no account at all counts as one and the same account
	// for password spraying, so name unknown accounts too.
	Account func(e audit.Event) string
	// Device returns a key for the client device. Default:
	// Meta["device"] if set, else the User-Agent. An empty key skips the
	// device check.
	Device func(e audit.Event) string
	// OnAlert, if set, is called with every alert after it is written
	// (to page someone, say). It must not block.
	OnAlert func(ctx context.Context, alert audit.Event)
	// State, if set, is a store of counts shared by every instance of
	// the application (package audit/detect/redisstate), so that an
	// attack spread over instances is counted whole, and raises each
	// alert once across them. Each event is counted in the detector's
	// memory as well: when State fails, the detector answers from memory
	// for that event (fails open to local detection, never holding back
	// the event it passes on), records an [ActionStateError] event in
	// Audit, and leaves State alone for a second, so that a hung store
	// delays at most about one event a second by its own timeout.
	// Default: nil, memory only.
	State State
	// Audit receives the [ActionStateError] events, paced
	// ([audit.Event.Pace]: unless the application sets its own pace, at
	// most 5 at once and one a second after that). Default: nil, the
	// [audit.Logger] whose Handler serves the request.
	Audit *audit.Logger
	// Now returns the current time, used for events without a Time.
	// Default: time.Now. Windows are measured in event time. It also
	// times the pause after a failure of State.
	// Tests in a testing/synctest bubble leave it nil (the bubble's fake
	// clock drives time.Now); set it only to drive one clock through a
	// whole application outside a bubble (against a real database).
	Now func() time.Time
}

// Detector watches authentication events on their way to a sink and
// writes security alerts to the same sink: credential stuffing (one
// account, many addresses), password spraying (one address, many
// accounts), a success right after a burst of failures, and a privileged
// user's login from a new address or device. It also writes
// [ActionNewLocation] when any user logs in from an address or device not
// seen for them, so that the user can be told. Use it as the sink of an
// [audit.Logger]:
//
//	det, err := detect.New(sink, detect.Config{})
//	events, err := audit.New(det, audit.Config{})
//
// It counts in memory, bounded (see Config.MaxKeys), and, when
// Config.State is set, in a store shared by every instance as well. Keys
// are hashed, so attacker-chosen account names cost a fixed size each.
// What a Detector has learnt in memory is lost on restart: each user's
// first login is then learnt silently, and counts start afresh. It is safe for concurrent use and starts no goroutine.
type Detector struct {
	next   audit.Sink
	cfg    Config
	local  *Memory
	shared State // nil: memory only

	// skipUntil is the time (Config.Now, Unix ns) before which shared is
	// not called, after a failure.
	skipUntil atomic.Int64
}

var _ audit.Sink = (*Detector)(nil)

const (
	// knownPerUser is how many addresses and devices are remembered for
	// each user.
	knownPerUser = 16
	// knownFor is how long a user's address or device is remembered after
	// it was last seen.
	knownFor = 90 * 24 * time.Hour
	// stateRetry is how long a Detector counts in memory only after
	// Config.State failed.
	stateRetry = time.Second
	// noAccount is the spraying member of a failure that names no account.
	noAccount = "\x00"
)

// New returns a Detector that passes every event to next and adds
// its alerts. It returns an error for a threshold above 64 or a negative
// setting, or a nil next.
func New(next audit.Sink, cfg Config) (*Detector, error) {
	if nilarg.Is(next) {
		return nil, errors.New("detect: New with a nil audit.Sink: pass the sink that receives events and alerts")
	}
	def := func(v *int, d int, name string) error {
		switch {
		case *v == 0:
			*v = d
		case *v < 0 || *v > 64:
			return fmt.Errorf("detect: %s is %d, want 1-64", name, *v)
		}
		return nil
	}
	if err := errors.Join(
		def(&cfg.StuffingIPs, 5, "StuffingIPs"),
		def(&cfg.SprayingAccounts, 10, "SprayingAccounts"),
		def(&cfg.BurstFailures, 5, "BurstFailures"),
	); err != nil {
		return nil, err
	}
	if cfg.Window < 0 || cfg.MaxKeys < 0 {
		return nil, errors.New("detect: Window and MaxKeys must not be negative")
	}
	if cfg.Window == 0 {
		cfg.Window = 15 * time.Minute
	}
	if cfg.MaxKeys == 0 {
		cfg.MaxKeys = 65536
	}
	if cfg.PrivilegedRoles == nil {
		cfg.PrivilegedRoles = []string{"admin"}
	} else {
		cfg.PrivilegedRoles = append([]string(nil), cfg.PrivilegedRoles...)
	}
	if cfg.IsLogin == nil {
		cfg.IsLogin = func(e audit.Event) bool {
			return e.Category == audit.CategoryAuthentication &&
				(e.Action == audit.ActionLoginFailed || e.Action == audit.ActionLoginSucceeded)
		}
	}
	if cfg.Account == nil {
		cfg.Account = func(e audit.Event) string {
			if e.Target.ID != "" && (e.Target.Kind == audit.TargetKindUser || e.Target.Kind == audit.TargetKindAccount || e.Target.Kind == audit.TargetKindLogin) {
				return e.Target.ID
			}
			return e.Actor.UserID
		}
	}
	if cfg.Device == nil {
		cfg.Device = func(e audit.Event) string {
			if d := e.Meta["device"]; d != "" {
				return d
			}
			return e.UserAgent
		}
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	d := &Detector{next: next, cfg: cfg, local: NewMemory(cfg.MaxKeys)}
	if !nilarg.Is(cfg.State) {
		d.shared = cfg.State
	}
	return d, nil
}

// Write passes e to the next sink, then writes any alerts e raises. It
// returns the errors of all those writes.
func (d *Detector) Write(ctx context.Context, e audit.Event) error {
	err := d.next.Write(ctx, e)
	alerts := d.Observe(ctx, e)
	for _, a := range alerts {
		if aerr := d.next.Write(ctx, a); aerr != nil {
			err = errors.Join(err, fmt.Errorf("detect: write alert %s: %w", a.Action, aerr))
			continue
		}
		if d.cfg.OnAlert != nil {
			d.cfg.OnAlert(ctx, a)
		}
	}
	return err
}

// Observe updates the detector with e and returns the alerts it raises,
// without writing anything. Events that are not login attempts are
// ignored. ctx is passed to Config.State (its end does not stop the
// count: an attacker who hangs up must still be counted) and to
// Config.Audit.
func (d *Detector) Observe(ctx context.Context, e audit.Event) []audit.Event {
	if !d.cfg.IsLogin(e) {
		return nil
	}
	var failed bool
	switch e.Outcome {
	case audit.OutcomeSuccess:
	case audit.OutcomeFailure, audit.OutcomeDenied:
		failed = true
	default:
		return nil
	}
	t := e.Time
	if t.IsZero() {
		t = d.cfg.Now()
	}
	account := d.cfg.Account(e)
	var addr string
	if e.ClientIP.IsValid() {
		// Grouped as the limiters group clients: IPv4 alone, IPv6 by
		// its /64 (one subscriber's usual allocation).
		addr = ratelimit.AddrKey(e.ClientIP)
	}

	acctTarget := audit.Target{Kind: audit.TargetKindAccount, ID: account}
	if e.Target.Kind == audit.TargetKindLogin && e.Target.ID == account {
		acctTarget.Kind = audit.TargetKindLogin // an unknown name: say so
	}
	o := d.begin(ctx)
	var alerts []audit.Event
	alert := func(cat audit.Category, action audit.Action, reason string, meta map[string]string) {
		meta["window"] = d.cfg.Window.String()
		alerts = append(alerts, audit.Event{
			Time: t.UTC(), Category: cat, Action: action, Outcome: e.Outcome,
			Actor: e.Actor, Target: acctTarget,
			ClientIP: e.ClientIP, UserAgent: e.UserAgent, RequestID: e.RequestID,
			SessionRef: e.SessionRef, Reason: reason, Meta: meta,
		})
	}

	if failed {
		member := account
		if member == "" {
			member = noAccount
		}
		stuff, spray := o.failure(account, addr, member, t)
		if stuff.Alert {
			alert(audit.CategorySuspicious, ActionCredentialStuffing,
				fmt.Sprintf("failed logins on one account from %d addresses within %s", stuff.N, d.cfg.Window),
				map[string]string{"distinct_ips": strconv.Itoa(stuff.N)})
		}
		if spray.Alert {
			alert(audit.CategorySuspicious, ActionPasswordSpraying,
				fmt.Sprintf("one address failed to log in to %d accounts within %s", spray.N, d.cfg.Window),
				map[string]string{"distinct_accounts": strconv.Itoa(spray.N)})
			alerts[len(alerts)-1].Target = audit.Target{Kind: TargetKindAddress, ID: e.ClientIP.String()}
		}
		return alerts
	}

	// Success.
	if account == "" {
		return alerts
	}
	if n := o.take(kindFailures, account, t, Window{Length: d.cfg.Window, Max: d.cfg.BurstFailures}); n >= d.cfg.BurstFailures {
		alert(audit.CategorySecurityAlert, ActionLoginAfterFailures,
			fmt.Sprintf("login succeeded after %d or more failures within %s", d.cfg.BurstFailures, d.cfg.Window),
			map[string]string{"failures": strconv.Itoa(n)})
	}
	known := Window{Length: knownFor, Max: knownPerUser}
	newIP := addr != "" && o.learn(kindAddresses, account, addr, t, known)
	dev := d.cfg.Device(e)
	newDev := dev != "" && o.learn(kindDevices, account, dev, t, known)
	if newIP || newDev {
		meta := func() map[string]string {
			return map[string]string{"new_ip": strconv.FormatBool(newIP), "new_device": strconv.FormatBool(newDev)}
		}
		alert(audit.CategoryAuthentication, ActionNewLocation,
			"user logged in from a new address or device", meta())
		n := &alerts[len(alerts)-1]
		delete(n.Meta, "window") // no window: the last places seen
		if e.Target.Kind == audit.TargetKindUser && e.Target.ID == account {
			n.Target = e.Target // name the user as the login did
		}
		if d.privileged(e.Actor) {
			alert(audit.CategorySecurityAlert, ActionPrivilegedNewLocation,
				"privileged user logged in from a new address or device", meta())
		}
	}
	return alerts
}

// observation is one Observe's use of the states: every call goes to the
// local memory, and to the shared state while it answers.
type observation struct {
	d      *Detector
	ctx    context.Context
	shared State // nil after a failure, or without one
}

// begin returns the observation of one event: the shared state is left
// out while it is failing.
func (d *Detector) begin(ctx context.Context) observation {
	o := observation{d: d, ctx: ctx}
	if d.shared != nil && d.cfg.Now().UnixNano() >= d.skipUntil.Load() {
		o.shared = d.shared
		if ctx.Done() != nil {
			o.ctx = context.WithoutCancel(ctx)
		}
	}
	return o
}

// failure counts a failed login: the failure on account, addr as one
// of account's failing addresses, and member (account or noAccount) as one
// of addr's failed accounts, skipping what needs an empty account or addr.
// It returns the stuffing and spraying Counts.
func (o *observation) failure(account, addr, member string, at time.Time) (stuff, spray Count) {
	d := o.d
	burst := Window{Length: d.cfg.Window, Max: d.cfg.BurstFailures}
	stuffing := Window{Length: d.cfg.Window, Max: d.cfg.StuffingIPs, AlertAt: d.cfg.StuffingIPs}
	spraying := Window{Length: d.cfg.Window, Max: d.cfg.SprayingAccounts, AlertAt: d.cfg.SprayingAccounts}
	stuff, spray = d.local.failure(account, addr, member, at, burst, stuffing, spraying)
	if o.shared == nil {
		return stuff, spray
	}
	if account != "" {
		o.add(kindFailures, account, "", at, burst, Count{})
		if addr != "" {
			stuff = o.add(kindStuffing, account, addr, at, stuffing, stuff)
		}
	}
	if addr != "" {
		spray = o.add(kindSpraying, addr, member, at, spraying, spray)
	}
	return stuff, spray
}

// add calls the shared state's Add, and returns its answer, or local if
// it fails.
func (o *observation) add(kind Kind, key, member string, at time.Time, w Window, local Count) Count {
	if o.shared == nil {
		return local
	}
	c, err := o.shared.Add(o.ctx, kind, key, member, at, w)
	if err != nil {
		o.failed("add", kind, err)
		return local
	}
	return c
}

func (o *observation) take(kind Kind, key string, at time.Time, w Window) int {
	n, _ := o.d.local.Take(o.ctx, kind, key, at, w)
	if o.shared == nil {
		return n
	}
	sn, err := o.shared.Take(o.ctx, kind, key, at, w)
	if err != nil {
		o.failed("take", kind, err)
		return n
	}
	return sn
}

func (o *observation) learn(kind Kind, key, member string, at time.Time, w Window) bool {
	novel, _ := o.d.local.Learn(o.ctx, kind, key, member, at, w)
	if o.shared == nil {
		return novel
	}
	snovel, err := o.shared.Learn(o.ctx, kind, key, member, at, w)
	if err != nil {
		o.failed("learn", kind, err)
		return novel
	}
	return snovel
}

// failed records that the shared state failed, and leaves it out of this
// event and of the events of the next second.
func (o *observation) failed(op string, kind Kind, err error) {
	o.shared = nil
	d := o.d
	d.skipUntil.Store(d.cfg.Now().Add(stateRetry).UnixNano())
	d.cfg.Audit.Log(o.ctx, audit.Event{
		Category: audit.CategoryError,
		Action:   ActionStateError,
		Outcome:  audit.OutcomeFailure,
		Reason:   "detector state unreachable: counting in this instance's memory only",
		Meta:     map[string]string{"op": op, "kind": string(kind), "error": err.Error()},
		Pace:     audit.Pace{Every: time.Second, Burst: 5, Scope: "detect"},
	})
}

func (d *Detector) privileged(a identity.Principal) bool {
	for _, r := range d.cfg.PrivilegedRoles {
		if a.HasRole(r) {
			return true
		}
	}
	return false
}
