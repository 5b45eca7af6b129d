package ratelimit

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"golang.org/x/text/cases"
	"golang.org/x/text/unicode/norm"

	"github.com/deployedworks/rampart/audit"
	"github.com/deployedworks/rampart/clientip"
	"github.com/deployedworks/rampart/internal/nilarg"
)

// LoginThrottleConfig tunes a [LoginThrottle]. The zero value is ready to
// use.
//
// Each of PerPair, PerAccount and PerIP is a ladder: an attempt must pass
// every limit on it, so a quick burst is allowed and the wait between
// attempts grows as they continue (slow the limits down the ladder). See
// "Login throttling" in the package documentation for why the three
// exist.
type LoginThrottleConfig struct {
	// PerPair limits attempts on one account from one client address (an
	// IPv4 address or IPv6 /64): the guessing one client can do. A
	// successful login from that address resets it. Default: 5 at once
	// then 1 a minute; past 10, 1 per 10 minutes; past 20, 1 an hour.
	PerPair []Limit

	// PerAccount limits attempts on one account from all the addresses
	// that have not logged in to it before, together: guessing spread over
	// many addresses (NIST SP 800-63B §5.2.2 asks for at most 100
	// consecutive failures). Addresses where the account logged in within
	// KnownFor skip it, so that an attacker who exhausts it does not lock
	// the owner out. Default: 30 at once then 1 a minute; past 100, 4 an
	// hour.
	PerAccount []Limit

	// PerIP limits attempts from one client address across all accounts:
	// password spraying and credential stuffing. Known addresses skip it
	// for their own accounts, so a busy shared address (an office NAT) does
	// not lock its regular users out. Default: 20 at once then 10 a minute,
	// at most 100 an hour.
	PerIP []Limit

	// KnownFor is how long an address where an account logged in stays
	// known to that account. Default: 30 days.
	KnownFor time.Duration

	// IPv4Bits and IPv6Bits are the prefix lengths that group client
	// addresses. Defaults: 32 and 64.
	IPv4Bits, IPv6Bits int

	// FailOpen lets attempts through when a store fails (Redis is down),
	// instead of refusing them. Default: false: login fails closed, since
	// an attacker who can take the store down would otherwise switch the
	// throttle off. Store failures are recorded in Audit either way.
	FailOpen bool

	// Audit receives [audit.CategorySuspicious] events when an attempt is
	// throttled ([ActionLoginThrottled]) and when a failure uses up a
	// limit ([ActionLoginLocked]), and [audit.CategoryError] events when a
	// store fails ([ActionLoginUnavailable]). Events name the account
	// only by a keyed digest (Meta["account_digest"]: 64 bits of
	// HMAC-SHA-256 under a key drawn at random by NewLoginThrottle), which tells the
	// accounts of one attack apart within a process but cannot be tested
	// against guessed names (users often type a password into the name
	// field). The Logger paces them ([audit.Event.Pace]): unless the
	// application sets its own pace, at most 20 of each action at once and
	// 2 a second after that; the next one written carries the number held
	// back in Meta["suppressed"]. Default: nil, the [audit.Logger] whose
	// Handler serves the request.
	Audit *audit.Logger
}

// Default ladders for LoginThrottleConfig.
var (
	defaultPerPair = []Limit{
		{Events: 1, Per: time.Minute, Burst: 5},
		{Events: 1, Per: 10 * time.Minute, Burst: 10},
		{Events: 1, Per: time.Hour, Burst: 20},
	}
	defaultPerAccount = []Limit{
		{Events: 1, Per: time.Minute, Burst: 30},
		{Events: 4, Per: time.Hour, Burst: 100},
	}
	defaultPerIP = []Limit{
		{Events: 10, Per: time.Minute, Burst: 20},
		{Events: 100, Per: time.Hour, Burst: 100},
	}
)

// LoginThrottle throttles password guessing: call [LoginThrottle.Check]
// before checking a password, then [LoginThrottle.Failed] or
// [LoginThrottle.Succeeded]. Its methods match the auth package's
// Throttle interface. The client address comes from the context
// (clientip.FromContext, set by [clientip.Resolver.Handler]); every method
// fails closed with an error wrapping [clientip.ErrNoClient] when it is
// missing. It is safe for concurrent use.
type LoginThrottle struct {
	scopes   [3]scope // pair, account, ip
	known    Store
	v4, v6   int
	failOpen bool
	audit    *audit.Logger
	stores   []Store // every store, for Close
	digest   []byte  // key of accountDigest
}

// scope is one ladder of limits.
type scope struct {
	name   string
	stores []Store
}

const (
	scopePair = iota
	scopeAccount
	scopeIP
)

// NewLoginThrottle returns a LoginThrottle keeping its counters in stores
// made by b: [MemoryBackend] on a single instance, redisstore.Backend when
// several instances must share them. It returns an error if b is nil, cfg
// is invalid or b fails; call [LoginThrottle.Close] when done.
func NewLoginThrottle(b Backend, cfg LoginThrottleConfig) (*LoginThrottle, error) {
	if nilarg.Is(b) {
		return nil, errors.New("ratelimit: NewLoginThrottle with a nil Backend: use MemoryBackend{} or redisstore.NewBackend")
	}
	l := &LoginThrottle{v4: cfg.IPv4Bits, v6: cfg.IPv6Bits, failOpen: cfg.FailOpen, audit: cfg.Audit,
		digest: make([]byte, 32)}
	rand.Read(l.digest) // never fails (crypto/rand, Go 1.24+)
	if l.v4 == 0 {
		l.v4 = 32
	}
	if l.v6 == 0 {
		l.v6 = 64
	}
	if l.v4 < 1 || l.v4 > 32 || l.v6 < 1 || l.v6 > 128 {
		return nil, fmt.Errorf("ratelimit: LoginThrottleConfig prefix lengths must be 1–32 (IPv4) and 1–128 (IPv6), got %d and %d", l.v4, l.v6)
	}
	knownFor := cfg.KnownFor
	switch {
	case knownFor == 0:
		knownFor = 30 * 24 * time.Hour
	case knownFor < 0:
		return nil, fmt.Errorf("ratelimit: LoginThrottleConfig.KnownFor is %v: it must not be negative", knownFor)
	}
	ladders := [3]struct {
		name   string
		limits []Limit
		def    []Limit
	}{
		{"pair", cfg.PerPair, defaultPerPair},
		{"account", cfg.PerAccount, defaultPerAccount},
		{"ip", cfg.PerIP, defaultPerIP},
	}
	for i, ld := range ladders {
		limits := ld.limits
		if len(limits) == 0 {
			limits = ld.def
		}
		l.scopes[i].name = ld.name
		for j, lim := range limits {
			s, err := l.newStore(b, "login-"+ld.name+"-"+strconv.Itoa(j), lim)
			if err != nil {
				return nil, err
			}
			l.scopes[i].stores = append(l.scopes[i].stores, s)
		}
	}
	var err error
	l.known, err = l.newStore(b, "login-known", Limit{Events: 1, Per: knownFor, Burst: 1})
	if err != nil {
		return nil, err
	}
	return l, nil
}

func (l *LoginThrottle) newStore(b Backend, name string, lim Limit) (Store, error) {
	s, err := b.NewStore(name, lim)
	if err != nil {
		_ = l.Close(context.Background())
		return nil, fmt.Errorf("ratelimit: NewLoginThrottle: store %s (%v): %w", name, lim, err)
	}
	l.stores = append(l.stores, s)
	return s, nil
}

// Close closes the stores that need closing (their janitors or
// connections). The LoginThrottle must not be used afterwards.
func (l *LoginThrottle) Close(ctx context.Context) error {
	var errs []error
	for _, s := range l.stores {
		if c, ok := s.(interface{ Close(context.Context) error }); ok {
			errs = append(errs, c.Close(ctx))
		}
	}
	l.stores = nil
	return errors.Join(errs...)
}

// keys returns the store keys for an attempt.
func (l *LoginThrottle) keys(account string, ip netip.Addr) (acct, addr, pair string) {
	acct = foldAccount(account)
	addr = addrKey(ip, l.v4, l.v6) // self-delimiting: its first byte fixes its length
	return acct, addr, addr + acct
}

// maxAccount bounds the account name used as a key. Longer names are cut,
// which can only merge buckets, making the throttle stricter.
const maxAccount = 256

// foldAccount maps the spellings of one account name to one key: cut at
// maxAccount bytes, invalid UTF-8 replaced, trimmed, NFKC-normalized and
// case-folded (then normalized again, as folding can denormalize). Apps
// that treat names as case-sensitive lose only a little precision: merging
// names makes the throttle stricter, never looser, and an attacker cannot
// get fresh ladders by changing case or using compatibility characters.
func foldAccount(s string) string {
	if len(s) > maxAccount {
		s = s[:maxAccount]
	}
	s = strings.TrimSpace(strings.ToValidUTF8(s, "\uFFFD"))
	return norm.NFKC.String(cases.Fold().String(norm.NFKC.String(s)))
}

// attempt lists the ladders an attempt must pass, and their keys.
func (l *LoginThrottle) attempt(ctx context.Context, account string, ip netip.Addr) (scopes []int, keys [3]string, err error) {
	acct, addr, pair := l.keys(account, ip)
	keys = [3]string{scopePair: pair, scopeAccount: acct, scopeIP: addr}
	d, err := l.known.Peek(ctx, pair)
	if err != nil {
		return nil, keys, err
	}
	if !d.Allowed { // its token is spent: the account logged in from here
		return []int{scopePair}, keys, nil
	}
	return []int{scopePair, scopeAccount, scopeIP}, keys, nil
}

// client returns the client address in ctx, or an error wrapping
// [clientip.ErrNoClient].
func client(ctx context.Context, step string) (netip.Addr, error) {
	info, ok := clientip.FromContext(ctx)
	if !ok {
		return netip.Addr{}, fmt.Errorf("ratelimit: login %s: %w", step, clientip.ErrNoClient)
	}
	return info.Addr, nil
}

// Check is called before any password work, for the account name the
// client typed; the client's address comes from ctx (the zero Addr, an
// unknown peer, is one shared client). It counts the attempt and returns
// nil, or refuses it with a [*LimitedError] whose RetryAfter is positive.
// Refused attempts spend nothing, so hammering a locked account cannot
// drain the limits that keep its owner's path open.
//
// Check fails closed with another error when ctx carries no client
// address (wrapping [clientip.ErrNoClient]) or when a store fails and
// the throttle fails closed (LoginThrottleConfig.FailOpen false): refuse
// the login then (HTTP 500 or 503). With FailOpen, a store failure lets
// the attempt through with a nil error. Either way the failure is
// audited.
func (l *LoginThrottle) Check(ctx context.Context, account string) error {
	ip, err := client(ctx, "check")
	if err != nil {
		return err
	}
	scopes, keys, err := l.attempt(ctx, account, ip)
	if err != nil {
		if err := l.storeFailed(ctx, "check", account, ip, err); err != nil {
			return err
		}
		scopes = []int{scopePair, scopeAccount, scopeIP}
	}
	// Look first: a refused attempt spends nothing.
	worst, worstScope := Decision{Allowed: true}, -1
	for _, sc := range scopes {
		for _, s := range l.scopes[sc].stores {
			d, err := s.Peek(ctx, keys[sc])
			if err != nil {
				if err := l.storeFailed(ctx, "check", account, ip, err); err != nil {
					return err
				}
				continue
			}
			if !d.Allowed && (worst.Allowed || d.RetryAfter > worst.RetryAfter) {
				worst, worstScope = d, sc
			}
		}
	}
	if !worst.Allowed {
		l.record(ctx, ActionLoginThrottled, "too many login attempts", worstScope, account, ip, worst)
		return &LimitedError{RetryAfter: max(worst.RetryAfter, time.Nanosecond)}
	}
	for _, sc := range scopes {
		for _, s := range l.scopes[sc].stores {
			d, err := s.Allow(ctx, keys[sc])
			if err != nil {
				if err := l.storeFailed(ctx, "check", account, ip, err); err != nil {
					return err
				}
				continue
			}
			if !d.Allowed { // a concurrent attempt took the last token
				l.record(ctx, ActionLoginThrottled, "too many login attempts", sc, account, ip, d)
				return &LimitedError{RetryAfter: max(d.RetryAfter, time.Nanosecond)}
			}
		}
	}
	return nil
}

// Failed records a failed attempt (wrong password, unknown or disabled
// account) that [LoginThrottle.Check] let through. Check has already
// counted it; Failed records an [ActionLoginLocked] audit event when this
// failure used up one of the limits. It returns an error when a store
// fails or ctx carries no client address.
func (l *LoginThrottle) Failed(ctx context.Context, account string) error {
	ip, err := client(ctx, "failed")
	if err != nil {
		return err
	}
	scopes, keys, err := l.attempt(ctx, account, ip)
	if err != nil {
		return l.storeError(ctx, "failed", account, ip, err)
	}
	for _, sc := range scopes {
		for _, s := range l.scopes[sc].stores {
			d, err := s.Peek(ctx, keys[sc])
			if err != nil {
				return l.storeError(ctx, "failed", account, ip, err)
			}
			if !d.Allowed {
				l.record(ctx, ActionLoginLocked, "login attempts used up", sc, account, ip, d)
				break // one event per ladder: its first exhausted limit
			}
		}
	}
	return nil
}

// Succeeded records a successful login: the client's own limits on the
// account reset, and its address becomes known to the account for
// LoginThrottleConfig.KnownFor, so that it keeps a way in even while
// others exhaust the account's and the address's shared limits. It
// returns an error when a store fails or ctx carries no client address.
func (l *LoginThrottle) Succeeded(ctx context.Context, account string) error {
	ip, err := client(ctx, "succeeded")
	if err != nil {
		return err
	}
	_, _, pair := l.keys(account, ip)
	for _, s := range l.scopes[scopePair].stores {
		if err := s.Reset(ctx, pair); err != nil {
			return l.storeError(ctx, "succeeded", account, ip, err)
		}
	}
	// Spend the known-address token afresh, so KnownFor runs from now.
	if err := l.known.Reset(ctx, pair); err != nil {
		return l.storeError(ctx, "succeeded", account, ip, err)
	}
	if _, err := l.known.Allow(ctx, pair); err != nil {
		return l.storeError(ctx, "succeeded", account, ip, err)
	}
	return nil
}

// storeFailed applies the failure policy during Check: it audits the
// failure and returns nil to go on (fail open) or the error to return
// (fail closed).
func (l *LoginThrottle) storeFailed(ctx context.Context, step, account string, ip netip.Addr, err error) error {
	err = l.storeError(ctx, step, account, ip, err)
	if l.failOpen {
		return nil
	}
	return err
}

// storeError audits a store failure and returns it wrapped.
func (l *LoginThrottle) storeError(ctx context.Context, step, account string, ip netip.Addr, err error) error {
	if ctx.Err() != nil {
		return fmt.Errorf("ratelimit: login %s: %w", step, err) // the client went away: not an outage
	}
	outcome, policy, reason := audit.OutcomeDenied, "fail closed", "login throttle store failed; attempts refused"
	if l.failOpen {
		outcome, policy, reason = audit.OutcomeFailure, "fail open", "login throttle store failed; attempts let through"
	}
	l.audit.Log(ctx, audit.Event{
		Category: audit.CategoryError,
		Action:   ActionLoginUnavailable,
		Outcome:  outcome,
		ClientIP: ip,
		Reason:   reason,
		Meta: map[string]string{
			"step":           step,
			"policy":         policy,
			"error":          err.Error(),
			"account_digest": l.accountDigest(account),
		},
		Pace: loginPace,
	})
	return fmt.Errorf("ratelimit: login %s: %w", step, err)
}

// record writes a suspicious-activity event; the Logger paces it.
func (l *LoginThrottle) record(ctx context.Context, action audit.Action, reason string, sc int, account string, ip netip.Addr, d Decision) {
	name := l.scopes[sc].name
	l.audit.Log(ctx, audit.Event{
		Category: audit.CategorySuspicious,
		Action:   action,
		Outcome:  audit.OutcomeDenied,
		ClientIP: ip,
		Reason:   reason + " (" + scopeReason[name] + ")",
		Meta: map[string]string{
			"scope":          name,
			"limit":          d.Limit.String(),
			"retry_after":    d.RetryAfter.String(),
			"account_digest": l.accountDigest(account),
		},
		Pace: audit.Pace{Every: loginPace.Every, Burst: loginPace.Burst, Scope: name},
	})
}

// loginPace is the audit budget of the throttle's events, which a flood
// of logins triggers.
var loginPace = audit.Pace{Every: 500 * time.Millisecond, Burst: 20}

var scopeReason = map[string]string{
	"pair":    "this account from this address",
	"account": "this account from unfamiliar addresses",
	"ip":      "this address across accounts",
}

// accountDigest names an account in audit events without its name: a
// keyed digest, so that a reader of the log cannot test guesses against it.
func (l *LoginThrottle) accountDigest(account string) string {
	m := hmac.New(sha256.New, l.digest)
	m.Write([]byte(foldAccount(account)))
	return hex.EncodeToString(m.Sum(nil)[:8])
}
