package detect

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/deployedworks/rampart/audit"
	"github.com/deployedworks/rampart/identity"
)

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func ip(i int) netip.Addr { return netip.AddrFrom4([4]byte{198, 51, byte(i >> 8), byte(i)}) }

func loginFailed(at time.Duration, account string, addr netip.Addr) audit.Event {
	return audit.Event{Time: t0.Add(at), Category: audit.CategoryAuthentication, Action: audit.ActionLoginFailed, Outcome: audit.OutcomeFailure,
		Target: audit.Target{Kind: audit.TargetKindAccount, ID: account}, ClientIP: addr, UserAgent: "curl/8"}
}

func loginOK(at time.Duration, user string, roles []string, addr netip.Addr, ua string) audit.Event {
	return audit.Event{Time: t0.Add(at), Category: audit.CategoryAuthentication, Action: audit.ActionLoginSucceeded, Outcome: audit.OutcomeSuccess,
		Actor: identity.Principal{UserID: user, Roles: roles}, ClientIP: addr, UserAgent: ua}
}

// accountLoginOK is a plain user's successful login that names the account
// as loginFailed does.
func accountLoginOK(at time.Duration, account string) audit.Event {
	e := loginOK(at, account, nil, ip(1), "ua")
	e.Target = audit.Target{Kind: audit.TargetKindAccount, ID: account}
	return e
}

func observeAll(t *testing.T, d *Detector, events []audit.Event) []audit.Event {
	t.Helper()
	var alerts []audit.Event
	for _, e := range events {
		alerts = append(alerts, d.Observe(context.Background(), e)...)
	}
	return alerts
}

func actions(events []audit.Event) []string {
	var out []string
	for _, e := range events {
		out = append(out, string(e.Action))
	}
	return out
}

func TestDetectorFiresOnAttacks(t *testing.T) {
	admin := []string{"admin"}
	tests := []struct {
		name   string
		events func() []audit.Event
		want   []string
	}{
		{"credential stuffing: one account, many addresses", func() (ev []audit.Event) {
			for i := range 8 {
				ev = append(ev, loginFailed(time.Duration(i)*time.Minute, "alice", ip(i)))
			}
			return ev
		}, []string{string(ActionCredentialStuffing)}},
		{"password spraying: one address, many accounts", func() (ev []audit.Event) {
			for i := range 15 {
				ev = append(ev, loginFailed(time.Duration(i)*time.Second, fmt.Sprint("user", i), ip(1)))
			}
			return ev
		}, []string{string(ActionPasswordSpraying)}},
		{"success right after a burst of failures", func() (ev []audit.Event) {
			for i := range 5 {
				ev = append(ev, loginFailed(time.Duration(i)*time.Second, "bob", ip(1)))
			}
			return append(ev, accountLoginOK(10*time.Second, "bob"))
		}, []string{string(ActionLoginAfterFailures)}},
		{"privileged user from a new address", func() []audit.Event {
			return []audit.Event{
				loginOK(0, "root", admin, ip(1), "Firefox"),
				loginOK(time.Hour, "root", admin, ip(1), "Firefox"),
				loginOK(2*time.Hour, "root", admin, ip(66), "Firefox"),
			}
		}, []string{string(ActionNewLocation), string(ActionPrivilegedNewLocation)}},
		{"privileged user from a new device", func() []audit.Event {
			return []audit.Event{
				loginOK(0, "root", admin, ip(1), "Firefox"),
				loginOK(time.Hour, "root", admin, ip(1), "Evil Browser"),
			}
		}, []string{string(ActionNewLocation), string(ActionPrivilegedNewLocation)}},
		{"ordinary user from a new address", func() []audit.Event {
			return []audit.Event{
				loginOK(0, "judy", []string{"seller"}, ip(1), "Firefox"),
				loginOK(time.Hour, "judy", []string{"seller"}, ip(66), "Firefox"),
			}
		}, []string{string(ActionNewLocation)}},
		{"ordinary user roams: each new place once", func() (ev []audit.Event) {
			for i := range 10 {
				ev = append(ev, loginOK(time.Duration(i)*time.Hour, "judy", []string{"seller"}, ip(i), fmt.Sprint("ua", i)))
			}
			for i := range 10 { // back to places seen: nothing new
				ev = append(ev, loginOK(time.Duration(10+i)*time.Hour, "judy", []string{"seller"}, ip(i), fmt.Sprint("ua", i)))
			}
			return ev
		}, slices.Repeat([]string{string(ActionNewLocation)}, 9)},
		{"stuffing from IPv6 needs distinct /64s", func() (ev []audit.Event) {
			for i := range 5 { // one /64: counts once
				a := netip.MustParseAddr(fmt.Sprintf("2001:db8:0:1::%x", i+1))
				ev = append(ev, loginFailed(time.Duration(i)*time.Second, "carol", a))
			}
			for i := range 4 { // four more /64s: five in all
				a := netip.MustParseAddr(fmt.Sprintf("2001:db8:0:%x::1", i+2))
				ev = append(ev, loginFailed(time.Duration(10+i)*time.Second, "carol", a))
			}
			return ev
		}, []string{string(ActionCredentialStuffing)}},
		{"spraying from rotating addresses of one IPv6 /64: one source", func() (ev []audit.Event) {
			for i := range 15 {
				a := netip.MustParseAddr(fmt.Sprintf("2001:db8:7:9::%x", i+1))
				ev = append(ev, loginFailed(time.Duration(i)*time.Second, fmt.Sprint("user", i), a))
			}
			return ev
		}, []string{string(ActionPasswordSpraying)}},
		{"stuffing alert repeats after a quiet window", func() (ev []audit.Event) {
			for round := range 2 {
				for i := range 5 {
					ev = append(ev, loginFailed(time.Duration(round)*time.Hour+time.Duration(i)*time.Second, "dave", ip(round*10+i)))
				}
			}
			return ev
		}, []string{string(ActionCredentialStuffing), string(ActionCredentialStuffing)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, err := New(&audit.MemorySink{}, Config{})
			require.NoError(t, err)
			assert.Equal(t, tt.want, actions(observeAll(t, d, tt.events())))
		})
	}
}

func TestDetectorQuietOnNormalTraffic(t *testing.T) {
	admin := []string{"admin"}
	tests := []struct {
		name   string
		events func() []audit.Event
	}{
		{"mistyped password then success", func() []audit.Event {
			return []audit.Event{loginFailed(0, "erin", ip(1)), loginFailed(10*time.Second, "erin", ip(1)), accountLoginOK(time.Minute, "erin")}
		}},
		{"a few failures from a few addresses", func() (ev []audit.Event) {
			for i := range 4 {
				ev = append(ev, loginFailed(time.Duration(i)*time.Minute, "frank", ip(i)))
			}
			return ev
		}},
		{"many addresses of one IPv6 /64 on one account: one source", func() (ev []audit.Event) {
			for i := range 8 {
				a := netip.MustParseAddr(fmt.Sprintf("2001:db8:0:1:%x::1", i+1))
				ev = append(ev, loginFailed(time.Duration(i)*time.Second, "frank", a))
			}
			return ev
		}},
		{"admin from another address of the usual IPv6 /64", func() []audit.Event {
			return []audit.Event{
				loginOK(0, "root", admin, netip.MustParseAddr("2001:db8:5:6::1"), "Firefox"),
				loginOK(time.Hour, "root", admin, netip.MustParseAddr("2001:db8:5:6:a:b:c:d"), "Firefox"),
			}
		}},
		{"failures spread over a day", func() (ev []audit.Event) {
			for i := range 20 {
				ev = append(ev, loginFailed(time.Duration(i)*time.Hour, "grace", ip(i)))
			}
			return ev
		}},
		{"many failures from one address on one account", func() (ev []audit.Event) {
			for i := range 30 {
				ev = append(ev, loginFailed(time.Duration(i)*time.Second, "heidi", ip(1)))
			}
			return ev
		}},
		{"office NAT: several users mistype", func() (ev []audit.Event) {
			for i := range 9 {
				ev = append(ev, loginFailed(time.Duration(i)*time.Minute, fmt.Sprint("staff", i), ip(1)))
			}
			return ev
		}},
		{"success after failures outside the window", func() (ev []audit.Event) {
			for i := range 5 {
				ev = append(ev, loginFailed(time.Duration(i)*time.Minute, "ivan", ip(1)))
			}
			return append(ev, accountLoginOK(2*time.Hour, "ivan"))
		}},
		{"admin from the usual place", func() (ev []audit.Event) {
			for i := range 10 {
				ev = append(ev, loginOK(time.Duration(i)*time.Hour, "root", admin, ip(1), "Firefox"))
			}
			return ev
		}},
		{"admin's first login", func() []audit.Event {
			// A first login is learnt, not alerted on; the detector keeps
			// up to 16 addresses per user.
			return []audit.Event{loginOK(0, "root", admin, ip(1), "Firefox")}
		}},
		{"ordinary user from the usual place", func() (ev []audit.Event) {
			for i := range 10 {
				ev = append(ev, loginOK(time.Duration(i)*time.Hour, "judy", []string{"seller"}, ip(1), "Firefox"))
			}
			return ev
		}},
		{"ordinary user's first login", func() []audit.Event {
			return []audit.Event{loginOK(0, "judy", nil, ip(1), "Firefox")}
		}},
		{"non-login events", func() []audit.Event {
			return []audit.Event{
				{Time: t0, Category: audit.CategoryAdmin, Action: "user.disabled", Outcome: audit.OutcomeFailure, ClientIP: ip(1)},
				{Time: t0, Category: audit.CategoryAuthentication, Action: "mfa.failed", Outcome: audit.OutcomeFailure, ClientIP: ip(1)},
				{Time: t0, Category: audit.CategoryAuthentication, Action: audit.ActionLoginFailed, ClientIP: ip(1)}, // no outcome
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, err := New(&audit.MemorySink{}, Config{})
			require.NoError(t, err)
			assert.Empty(t, actions(observeAll(t, d, tt.events())))
		})
	}
}

func TestDetectorAlertFields(t *testing.T) {
	d, err := New(&audit.MemorySink{}, Config{})
	require.NoError(t, err)
	var alerts []audit.Event
	for i := range 5 {
		e := loginFailed(time.Duration(i)*time.Second, "alice", ip(i))
		e.RequestID = fmt.Sprint("req", i)
		alerts = append(alerts, d.Observe(context.Background(), e)...)
	}
	require.Len(t, alerts, 1)
	a := alerts[0]
	assert.Equal(t, audit.CategorySuspicious, a.Category)
	assert.Equal(t, audit.Target{Kind: audit.TargetKindAccount, ID: "alice"}, a.Target)
	assert.Equal(t, ip(4), a.ClientIP)
	assert.Equal(t, "req4", a.RequestID)
	assert.Equal(t, "5", a.Meta["distinct_ips"])
	assert.Equal(t, t0.Add(4*time.Second), a.Time)
}

// The detector as a sink: events pass through, alerts follow them into the
// same sink and to OnAlert.
func TestDetectorAsSink(t *testing.T) {
	sink := &audit.MemorySink{}
	var paged []string
	d, err := New(sink, Config{
		SprayingAccounts: 3,
		OnAlert:          func(_ context.Context, a audit.Event) { paged = append(paged, string(a.Action)) },
	})
	require.NoError(t, err)
	l := audit.MustNew(d, audit.Config{Now: func() time.Time { return t0 }})
	ctx := audit.WithRequest(context.Background(), audit.Request{ClientIP: ip(9)})
	for _, acct := range []string{"a", "b", "c"} {
		l.Log(ctx, audit.Event{Category: audit.CategoryAuthentication, Action: audit.ActionLoginFailed,
			Outcome: audit.OutcomeFailure, Target: audit.Target{Kind: audit.TargetKindUser, ID: acct}})
	}
	got := actions(sink.Events())
	assert.Equal(t, []string{string(audit.ActionLoginFailed), string(audit.ActionLoginFailed), string(audit.ActionLoginFailed), string(ActionPasswordSpraying)}, got)
	assert.Equal(t, []string{string(ActionPasswordSpraying)}, paged)
}

// Hundreds of thousands of distinct keys must not grow memory past
// MaxKeys, and an attack in progress must stay tracked through the flood
// as long as fewer than MaxKeys/2 new keys arrive between two of its
// attempts (here 200 between each, with MaxKeys 1000).
func TestDetectorMemoryBoundedUnderFlood(t *testing.T) {
	d, err := New(&audit.MemorySink{}, Config{MaxKeys: 1000})
	require.NoError(t, err)
	var alerts []audit.Event
	victim := 0
	for i := range 200_000 {
		at := time.Duration(i) * time.Millisecond
		alerts = append(alerts, d.Observe(context.Background(), loginFailed(at, fmt.Sprint("random", i), ip(i%60000+100)))...)
		if i%200 == 0 && victim < 6 {
			alerts = append(alerts, d.Observe(context.Background(), loginFailed(at, "victim", ip(victim)))...)
			victim++
		}
	}
	assert.LessOrEqual(t, d.local.keys(kindStuffing), 1000)
	assert.LessOrEqual(t, d.local.keys(kindSpraying), 1000)
	found := false
	for _, a := range alerts {
		if a.Action == ActionCredentialStuffing && a.Target.ID == "victim" {
			found = true
		}
	}
	assert.True(t, found, "the attack on victim was detected despite the flood")
}

// Every user who logs in is remembered for ActionNewLocation, so a flood
// of distinct users (or of successful logins on accounts an attacker
// controls) must not grow memory past MaxKeys; a user forgotten is
// learnt again silently.
func TestDetectorNewLocationMemoryBounded(t *testing.T) {
	d, err := New(&audit.MemorySink{}, Config{MaxKeys: 1000})
	require.NoError(t, err)
	for i := range 100_000 {
		assert.Empty(t, d.Observe(context.Background(), loginOK(time.Duration(i)*time.Millisecond, fmt.Sprint("user", i), nil, ip(i%60000), "ua")))
	}
	assert.LessOrEqual(t, d.local.keys(kindAddresses), 1000)
	assert.LessOrEqual(t, d.local.keys(kindDevices), 1000)
	assert.Empty(t, d.Observe(context.Background(), loginOK(time.Hour, "user0", nil, ip(9), "other")), "a forgotten user is learnt silently")
	got := d.Observe(context.Background(), loginOK(2*time.Hour, "user0", nil, ip(10), "other"))
	assert.Equal(t, []string{string(ActionNewLocation)}, actions(got), "and watched again")
}

func TestNewValidates(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
	}{
		{"threshold too high", Config{StuffingIPs: 65}},
		{"negative threshold", Config{BurstFailures: -1}},
		{"negative window", Config{Window: -time.Second}},
		{"negative max keys", Config{MaxKeys: -1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := New(&audit.MemorySink{}, tt.cfg)
			assert.Error(t, err)
		})
	}
	_, err := New(nil, Config{})
	assert.ErrorContains(t, err, "nil audit.Sink")
}

func BenchmarkDetectorObserve(b *testing.B) {
	d, err := New(&audit.MemorySink{}, Config{})
	require.NoError(b, err)
	events := make([]audit.Event, 4096)
	for i := range events {
		events[i] = loginFailed(time.Duration(i)*time.Millisecond, fmt.Sprint("acct", i), ip(i))
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		d.Observe(context.Background(), events[i%len(events)])
		i++
	}
}

// Successful logins: every user's places are learnt (ActionNewLocation),
// the path most events of a healthy site take.
func BenchmarkDetectorObserveSuccess(b *testing.B) {
	d, err := New(&audit.MemorySink{}, Config{})
	require.NoError(b, err)
	events := make([]audit.Event, 4096)
	for i := range events {
		events[i] = loginOK(time.Duration(i)*time.Millisecond, fmt.Sprint("user", i%512), nil, ip(i%7), "Firefox")
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		d.Observe(context.Background(), events[i%len(events)])
		i++
	}
}

// Unknown login names (audit.TargetKindLogin, as package auth writes them) count
// as accounts: spraying over them is seen, alone or mixed with known
// accounts, and stuffing on one is reported under its kind. Before, events
// without an account all fell into one and 20 unknown names raised nothing.
func TestDetectorCountsUnknownLogins(t *testing.T) {
	failed := func(i int, kind, id string, addr netip.Addr) audit.Event {
		return audit.Event{Time: t0.Add(time.Duration(i) * time.Second), Category: audit.CategoryAuthentication,
			Action: audit.ActionLoginFailed, Outcome: audit.OutcomeFailure, Target: audit.Target{Kind: kind, ID: id}, ClientIP: addr}
	}
	for _, known := range []int{0, 10, 20} {
		t.Run(fmt.Sprint(known, " known of 20"), func(t *testing.T) {
			d, err := New(&audit.MemorySink{}, Config{})
			require.NoError(t, err)
			var ev []audit.Event
			for i := range 20 {
				if i < known {
					ev = append(ev, failed(i, audit.TargetKindUser, fmt.Sprint("u", i), ip(1)))
				} else {
					ev = append(ev, failed(i, audit.TargetKindLogin, fmt.Sprintf("%016x", i), ip(1)))
				}
			}
			got := observeAll(t, d, ev)
			require.Equal(t, []string{string(ActionPasswordSpraying)}, actions(got))
			assert.Equal(t, "10", got[0].Meta["distinct_accounts"])
		})
	}
	t.Run("stuffing on an unknown name", func(t *testing.T) {
		d, err := New(&audit.MemorySink{}, Config{})
		require.NoError(t, err)
		var ev []audit.Event
		for i := range 5 {
			ev = append(ev, failed(i, audit.TargetKindLogin, "00c0ffee00c0ffee", ip(i)))
		}
		got := observeAll(t, d, ev)
		require.Equal(t, []string{string(ActionCredentialStuffing)}, actions(got))
		assert.Equal(t, audit.Target{Kind: audit.TargetKindLogin, ID: "00c0ffee00c0ffee"}, got[0].Target)
	})
}

// The events exactly as the login packages write them (package auth's
// Login: an unknown name as a keyed digest under TargetKindLogin, a known
// user under TargetKindUser, the throttled attempt as suspicious activity;
// package ratelimit's login throttle: suspicious activity with an account
// digest in Meta) raise the alerts they should, and only those. The
// spraying gap of an earlier release was one package writing failures that
// the detector did not count as the other spelled them.
func TestDetectorReadsEventsAsLoginPackagesWriteThem(t *testing.T) {
	client := netip.MustParseAddr("2001:db8:1:2::7")
	const ua = "Mozilla/5.0"
	unknownName := func(at time.Duration, digest string) audit.Event { // auth: no such account
		return audit.Event{Time: t0.Add(at), Category: audit.CategoryAuthentication, Action: audit.ActionLoginFailed,
			Outcome: audit.OutcomeFailure, Target: audit.Target{Kind: audit.TargetKindLogin, ID: digest},
			ClientIP: client, UserAgent: ua, Reason: "no such user"}
	}
	wrongPassword := func(at time.Duration, user string, addr netip.Addr) audit.Event { // auth: known user
		return audit.Event{Time: t0.Add(at), Category: audit.CategoryAuthentication, Action: audit.ActionLoginFailed,
			Outcome: audit.OutcomeFailure, Actor: identity.Principal{UserID: user},
			Target: audit.Target{Kind: audit.TargetKindUser, ID: user}, ClientIP: addr, UserAgent: ua, Reason: "wrong password"}
	}
	throttled := func(at time.Duration) []audit.Event {
		return []audit.Event{
			{Time: t0.Add(at), Category: audit.CategorySuspicious, Action: "login.throttled", Outcome: audit.OutcomeDenied,
				Target: audit.Target{Kind: audit.TargetKindLogin, ID: "d-x"}, ClientIP: client, Meta: map[string]string{"retry_after": "1s"}},
			{Time: t0.Add(at), Category: audit.CategorySuspicious, Action: "ratelimit.login.throttled", Outcome: audit.OutcomeDenied,
				ClientIP: client, Meta: map[string]string{"scope": "ip", "account_digest": "d-x"}},
		}
	}
	succeeded := func(at time.Duration, user string, roles []string, addr netip.Addr) audit.Event {
		return audit.Event{Time: t0.Add(at), Category: audit.CategoryAuthentication, Action: audit.ActionLoginSucceeded,
			Outcome: audit.OutcomeSuccess, Actor: identity.Principal{UserID: user, Roles: roles},
			Target: audit.Target{Kind: audit.TargetKindUser, ID: user}, ClientIP: addr, UserAgent: ua,
			Meta: map[string]string{"mfa_required": "false", "rehashed": "false"}}
	}

	t.Run("spraying over unknown names", func(t *testing.T) {
		d, err := New(&audit.MemorySink{}, Config{})
		require.NoError(t, err)
		var events []audit.Event
		for i := range 20 {
			events = append(events, unknownName(time.Duration(i)*time.Second, fmt.Sprint("digest-", i)))
			events = append(events, throttled(time.Duration(i)*time.Second)...) // not login attempts: not counted
		}
		assert.Equal(t, []string{string(ActionPasswordSpraying)}, actions(observeAll(t, d, events)))
	})
	t.Run("throttle events alone raise nothing", func(t *testing.T) {
		d, err := New(&audit.MemorySink{}, Config{})
		require.NoError(t, err)
		var events []audit.Event
		for i := range 50 {
			events = append(events, throttled(time.Duration(i)*time.Second)...)
		}
		assert.Empty(t, observeAll(t, d, events))
	})
	t.Run("stuffing, then the password found", func(t *testing.T) {
		d, err := New(&audit.MemorySink{}, Config{})
		require.NoError(t, err)
		var events []audit.Event
		for i := range 5 {
			events = append(events, wrongPassword(time.Duration(i)*time.Second, "u1", ip(i)))
		}
		events = append(events, succeeded(10*time.Second, "u1", nil, ip(9)))
		assert.Equal(t, []string{string(ActionCredentialStuffing), string(ActionLoginAfterFailures)}, actions(observeAll(t, d, events)))
	})
	t.Run("privileged user from a new address", func(t *testing.T) {
		d, err := New(&audit.MemorySink{}, Config{})
		require.NoError(t, err)
		events := []audit.Event{succeeded(0, "adm", []string{"admin"}, ip(1)), succeeded(time.Hour, "adm", []string{"admin"}, ip(2))}
		assert.Equal(t, []string{string(ActionNewLocation), string(ActionPrivilegedNewLocation)}, actions(observeAll(t, d, events)))
	})
	t.Run("ordinary user from a new address: the notice names the user", func(t *testing.T) {
		d, err := New(&audit.MemorySink{}, Config{})
		require.NoError(t, err)
		assert.Empty(t, d.Observe(context.Background(), succeeded(0, "u7", nil, ip(1))))
		got := d.Observe(context.Background(), succeeded(time.Hour, "u7", nil, ip(2)))
		require.Len(t, got, 1)
		n := got[0]
		assert.Equal(t, ActionNewLocation, n.Action)
		assert.Equal(t, audit.CategoryAuthentication, n.Category)
		assert.Equal(t, audit.OutcomeSuccess, n.Outcome)
		assert.Equal(t, audit.Target{Kind: audit.TargetKindUser, ID: "u7"}, n.Target, "a user notice finds its user in Target")
		assert.Equal(t, "u7", n.Actor.UserID)
		assert.Equal(t, ip(2), n.ClientIP)
		assert.Equal(t, t0.Add(time.Hour), n.Time)
		assert.Equal(t, map[string]string{"new_ip": "true", "new_device": "false"}, n.Meta)
	})
}

// Windows expire on the clock for events without a Time: failures a
// window apart do not add up, in memory (synctest drives time.Now).
func TestDetectorWindowsExpireInMemory(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		d, err := New(&audit.MemorySink{}, Config{Window: time.Minute})
		require.NoError(t, err)
		fail := func(i int) []audit.Event {
			e := loginFailed(0, "ivy", ip(i))
			e.Time = time.Time{}
			return d.Observe(context.Background(), e)
		}
		var got []audit.Event
		for i := range 4 {
			got = append(got, fail(i)...)
		}
		time.Sleep(time.Minute + time.Second)
		for i := 4; i < 8; i++ {
			got = append(got, fail(i)...)
		}
		assert.Empty(t, got, "4 then 4 a window apart")
		got = fail(8)
		assert.Equal(t, []string{string(ActionCredentialStuffing)}, actions(got), "5 within the window")
	})
}

// brokenState fails every call, as a store that is down does.
type brokenState struct{ calls int }

func (b *brokenState) Add(context.Context, Kind, string, string, time.Time, Window) (Count, error) {
	b.calls++
	return Count{}, errors.New("store down")
}

func (b *brokenState) Take(context.Context, Kind, string, time.Time, Window) (int, error) {
	b.calls++
	return 0, errors.New("store down")
}

func (b *brokenState) Learn(context.Context, Kind, string, string, time.Time, Window) (bool, error) {
	b.calls++
	return false, errors.New("store down")
}

// A failing State: every event passes through, detection goes on in
// memory, the failure is recorded, and the State is left alone for a
// second after each failure (one call per second, not per event).
func TestDetectorFallsBackToMemory(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		sink, errs := &audit.MemorySink{}, &audit.MemorySink{}
		st := &brokenState{}
		d, err := New(sink, Config{State: st, Audit: audit.MustNew(errs, audit.Config{})})
		require.NoError(t, err)
		for i := range 5 {
			require.NoError(t, d.Write(context.Background(), loginFailed(time.Duration(i)*time.Second, "jack", ip(i))))
		}
		assert.Equal(t, 1, st.calls, "left alone after the first failure")
		assert.Equal(t, []string{string(audit.ActionLoginFailed), string(audit.ActionLoginFailed), string(audit.ActionLoginFailed),
			string(audit.ActionLoginFailed), string(audit.ActionLoginFailed), string(ActionCredentialStuffing)}, actions(sink.Events()))
		require.Len(t, errs.Events(), 1)
		assert.Equal(t, ActionStateError, errs.Events()[0].Action)
		assert.Equal(t, "store down", errs.Events()[0].Meta["error"])

		time.Sleep(stateRetry)
		d.Observe(context.Background(), accountLoginOK(time.Minute, "jack"))
		assert.Equal(t, 2, st.calls, "tried again a second later")
		assert.Len(t, errs.Events(), 2)
	})
}
