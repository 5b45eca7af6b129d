package detect

import (
	"context"
	"errors"
	"fmt"
	"hash/maphash"
	"net/netip"
	"strconv"
	"sync"
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
	// login) whose logins from a new address or device raise
	// [ActionPrivilegedNewLocation]. Default: "admin".
	PrivilegedRoles []string
	// MaxKeys bounds each of the detector's three tables (accounts,
	// addresses, privileged users). When one is full, the entries least
	// recently seen are forgotten first, so a flood of one-off keys cannot
	// grow memory, and an attack in progress stays tracked as long as fewer
	// than MaxKeys/2 new keys arrive between two of its attempts. Memory is
	// about MaxKeys × (16×(StuffingIPs+SprayingAccounts) + 8×BurstFailures
	// + 600) bytes. Default: 65536.
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
	// Now returns the current time, used for events without a Time.
	// Default: time.Now. Windows are measured in event time.
	// Tests in a testing/synctest bubble leave it nil (the bubble's fake
	// clock drives time.Now); set it only to drive one clock through a
	// whole application outside a bubble (against a real database).
	Now func() time.Time
}

// Detector watches authentication events on their way to a sink and
// writes security alerts to the same sink: credential stuffing (one
// account, many addresses), password spraying (one address, many
// accounts), a success right after a burst of failures, and a privileged
// user's login from a new address or device. Use it as the sink of an
// [audit.Logger]:
//
//	det, err := detect.New(sink, detect.Config{})
//	events, err := audit.New(det, audit.Config{})
//
// Memory is bounded (see Config.MaxKeys) and keys are hashed, so
// attacker-chosen account names cost a fixed size each. What a Detector
// has learnt lives in memory: after a restart each privileged user's first
// login is learnt silently, and counts start afresh. It is safe for
// concurrent use and starts no goroutine.
type Detector struct {
	next audit.Sink
	cfg  Config
	seed maphash.Seed

	mu       sync.Mutex
	accounts *twoGen[accountState]
	ips      *twoGen[ipState]
	users    *twoGen[userState]
}

var _ audit.Sink = (*Detector)(nil)

type stamp struct {
	key uint64
	t   int64
}

type accountState struct {
	ips       []stamp // distinct recent failing addresses
	fails     []int64 // ring of recent failure times
	nfail     int
	lastAlert int64
}

type ipState struct {
	accounts  []stamp // distinct recent failed accounts
	lastAlert int64
}

const knownPerUser = 16

type userState struct {
	ips, devices   [knownPerUser]uint64
	nIPs, nDevices int
}

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
	return &Detector{
		next: next, cfg: cfg, seed: maphash.MakeSeed(),
		accounts: newTwoGen[accountState](cfg.MaxKeys),
		ips:      newTwoGen[ipState](cfg.MaxKeys),
		users:    newTwoGen[userState](cfg.MaxKeys),
	}, nil
}

// Write passes e to the next sink, then writes any alerts e raises. It
// returns the errors of all those writes.
func (d *Detector) Write(ctx context.Context, e audit.Event) error {
	err := d.next.Write(ctx, e)
	alerts := d.Observe(e)
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
// ignored.
func (d *Detector) Observe(e audit.Event) []audit.Event {
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
	now := t.UnixNano()
	win := int64(d.cfg.Window)
	account := d.cfg.Account(e)
	acctKey := maphash.String(d.seed, account)
	ipKey, hasIP := d.ipKey(e.ClientIP)

	acctTarget := audit.Target{Kind: audit.TargetKindAccount, ID: account}
	if e.Target.Kind == audit.TargetKindLogin && e.Target.ID == account {
		acctTarget.Kind = audit.TargetKindLogin // an unknown name: say so
	}

	d.mu.Lock()
	defer d.mu.Unlock()
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
		if account != "" {
			a := d.accounts.get(acctKey, func() *accountState {
				return &accountState{
					ips:   make([]stamp, 0, d.cfg.StuffingIPs),
					fails: make([]int64, d.cfg.BurstFailures),
				}
			})
			a.fails[a.nfail%len(a.fails)] = now
			a.nfail++
			if hasIP {
				n := touch(&a.ips, cap(a.ips), ipKey, now, win)
				if n >= d.cfg.StuffingIPs && now-a.lastAlert > win {
					a.lastAlert = now
					alert(audit.CategorySuspicious, ActionCredentialStuffing,
						fmt.Sprintf("failed logins on one account from %d addresses within %s", n, d.cfg.Window),
						map[string]string{"distinct_ips": strconv.Itoa(n)})
				}
			}
		}
		if hasIP {
			s := d.ips.get(ipKey, func() *ipState {
				return &ipState{accounts: make([]stamp, 0, d.cfg.SprayingAccounts)}
			})
			n := touch(&s.accounts, cap(s.accounts), acctKey, now, win)
			if n >= d.cfg.SprayingAccounts && now-s.lastAlert > win {
				s.lastAlert = now
				e2 := audit.Target{Kind: TargetKindAddress, ID: e.ClientIP.String()}
				alert(audit.CategorySuspicious, ActionPasswordSpraying,
					fmt.Sprintf("one address failed to log in to %d accounts within %s", n, d.cfg.Window),
					map[string]string{"distinct_accounts": strconv.Itoa(n)})
				alerts[len(alerts)-1].Target = e2
			}
		}
		return alerts
	}

	// Success.
	if account == "" {
		return alerts
	}
	if a := d.accounts.peek(acctKey); a != nil {
		n := len(a.fails)
		if a.nfail >= n {
			oldest := a.fails[a.nfail%n] // the failure n back
			if now-oldest <= win {
				alert(audit.CategorySecurityAlert, ActionLoginAfterFailures,
					fmt.Sprintf("login succeeded after %d or more failures within %s", n, d.cfg.Window),
					map[string]string{"failures": strconv.Itoa(min(a.nfail, 1<<20))})
			}
		}
		a.nfail = 0
	}
	if d.privileged(e.Actor) {
		u, fresh := d.users.getNew(acctKey)
		dev := d.cfg.Device(e)
		var devKey uint64
		if dev != "" {
			devKey = maphash.String(d.seed, dev) | 1 // never 0, the empty slot
		}
		newIP := hasIP && !learn(&u.ips, &u.nIPs, ipKey|1)
		newDev := devKey != 0 && !learn(&u.devices, &u.nDevices, devKey)
		if !fresh && (newIP || newDev) {
			alert(audit.CategorySecurityAlert, ActionPrivilegedNewLocation,
				"privileged user logged in from a new address or device",
				map[string]string{"new_ip": strconv.FormatBool(newIP), "new_device": strconv.FormatBool(newDev)})
		}
	}
	return alerts
}

func (d *Detector) privileged(a identity.Principal) bool {
	for _, r := range d.cfg.PrivilegedRoles {
		if a.HasRole(r) {
			return true
		}
	}
	return false
}

// ipKey hashes an address grouped as [ratelimit.AddrKey] groups clients
// (IPv4 alone, IPv6 by its /64: one subscriber's usual allocation), so
// that the detector counts sources as the limiters do.
func (d *Detector) ipKey(a netip.Addr) (uint64, bool) {
	if !a.IsValid() {
		return 0, false
	}
	return maphash.String(d.seed, ratelimit.AddrKey(a)), true
}

// touch records key at time now in set, a set of at most limit distinct
// keys, replacing an expired or the oldest entry when full, and returns the
// number of keys seen within win.
func touch(set *[]stamp, limit int, key uint64, now, win int64) int {
	s := *set
	found := false
	for i := range s {
		if s[i].key == key {
			s[i].t, found = now, true
			break
		}
	}
	if !found {
		if len(s) < limit {
			s = append(s, stamp{key, now})
			*set = s
		} else {
			oldest := 0
			for i := range s {
				if s[i].t < s[oldest].t {
					oldest = i
				}
			}
			s[oldest] = stamp{key, now}
		}
	}
	n := 0
	for _, st := range s {
		if now-st.t <= win {
			n++
		}
	}
	return n
}

// learn adds key to a small ring of known keys and reports whether it was
// already known.
func learn(known *[knownPerUser]uint64, n *int, key uint64) bool {
	for _, k := range known {
		if k == key {
			return true
		}
	}
	known[*n%knownPerUser] = key
	*n++
	return false
}

// twoGen is a map bounded at max entries that forgets the least recently
// used ones first, approximately: entries live in a current and a previous
// generation; a lookup in the previous one moves the entry to the current
// one, and when the current one is full the previous one is dropped.
type twoGen[V any] struct {
	cur, old map[uint64]*V
	half     int
}

func newTwoGen[V any](limit int) *twoGen[V] {
	half := max(1, limit/2)
	return &twoGen[V]{cur: make(map[uint64]*V), old: make(map[uint64]*V), half: half}
}

func (g *twoGen[V]) peek(k uint64) *V {
	if v, ok := g.cur[k]; ok {
		return v
	}
	if v, ok := g.old[k]; ok {
		delete(g.old, k)
		g.put(k, v)
		return v
	}
	return nil
}

func (g *twoGen[V]) put(k uint64, v *V) {
	if len(g.cur) >= g.half {
		g.old, g.cur = g.cur, make(map[uint64]*V, g.half)
	}
	g.cur[k] = v
}

func (g *twoGen[V]) get(k uint64, mk func() *V) *V {
	if v := g.peek(k); v != nil {
		return v
	}
	v := mk()
	g.put(k, v)
	return v
}

// getNew returns the entry for k, creating it; fresh is true when it was
// created.
func (g *twoGen[V]) getNew(k uint64) (v *V, fresh bool) {
	if v := g.peek(k); v != nil {
		return v, false
	}
	v = new(V)
	g.put(k, v)
	return v, true
}

// len returns the number of entries, for tests.
func (g *twoGen[V]) len() int { return len(g.cur) + len(g.old) }
