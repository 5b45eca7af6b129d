package main

import (
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"time"

	"github.com/deployedworks/rampart/internal/gate"
	"github.com/deployedworks/rampart/ratelimit"
)

// Defaults of the connection caps (-max-conns, -max-conns-per-addr). The
// total stays well below common file-descriptor limits (ulimit -n, often
// 1024 raised by Go to the hard limit, or the container's), leaving room
// for database, Redis and audit files; each open connection also holds
// some tens of KiB of buffers. Per address: browsers open up to six
// HTTP/1.1 connections per site, and a NAT may put many users behind one
// address.
const (
	defaultMaxConns        = 4096
	defaultMaxConnsPerAddr = 64
)

// connLimiter caps the connections open on the listeners it wraps, so that
// many slow or idle connections (20,000 exhausted the file descriptors)
// cannot starve the server. It is shared by all the server's listeners, so
// the total is the process's.
//
//   - In total, at most -max-conns: at the cap, Accept waits for a
//     connection to close before taking the next from the kernel, so new connections
//     wait in the kernel's listen backlog (and past it are refused or
//     dropped by the kernel) and are served once slots free up; the
//     server's timeouts bound how long a slow connection keeps its slot.
//   - Per client address, at most -max-conns-per-addr: one more is closed as soon as
//     it is accepted, without a response, and frees its slot at once.
//     Addresses are grouped as [ratelimit.AddrKey] groups them (IPv4 alone,
//     IPv6 by /64), so a client cannot take a fresh address from its block
//     for each connection.
//
// The address is the TCP peer's. Behind a proxy that is the proxy's,
// carrying many clients: connections from an address exempt returns true
// for (the trusted proxies) count towards the total only.
type connLimiter struct {
	slots   chan struct{} // one token per open connection
	perAddr int
	exempt  func(netip.Addr) bool
	log     *slog.Logger
	// warnAddr and warnFull pace the warnings of each cap: one per
	// connWarnEvery, so that a flood of connections cannot flood the log.
	warnAddr, warnFull *gate.Gate

	mu    sync.Mutex
	conns int            // connections open
	open  map[string]int // of which per address key (exempt ones not); no zero entries

	waiting func() // tests: called when Accept starts waiting for a slot
}

// connWarnEvery is the least time between two warnings of one cap.
const connWarnEvery = time.Minute

// newConnLimiter returns a limiter of total connections in all and perAddr
// per address (both at least 1: parseServeFlags checks); exempt (nil: none) lists the addresses
// capped by the total only.
func newConnLimiter(total, perAddr int, exempt func(netip.Addr) bool, log *slog.Logger) *connLimiter {
	if exempt == nil {
		exempt = func(netip.Addr) bool { return false }
	}
	return &connLimiter{slots: make(chan struct{}, total), perAddr: perAddr, exempt: exempt, log: log,
		warnAddr: gate.New(connWarnEvery, 1), warnFull: gate.New(connWarnEvery, 1), open: map[string]int{}}
}

// listener wraps ln; closing the result closes ln.
func (l *connLimiter) listener(ln net.Listener) net.Listener {
	return &limitedListener{Listener: ln, lim: l, done: make(chan struct{})}
}

// acquire takes a slot, waiting for one while the total cap is reached;
// false if done closed first.
func (l *connLimiter) acquire(done <-chan struct{}) bool {
	select {
	case l.slots <- struct{}{}:
		return true
	default:
	}
	if warn, _ := l.warnFull.Allow(time.Now()); warn {
		l.log.Warn("connection cap reached: new connections wait in the listen backlog until others close; raise -max-conns (and the file-descriptor limit) if this is legitimate load",
			"max_conns", cap(l.slots))
	}
	if l.waiting != nil {
		l.waiting()
	}
	select {
	case l.slots <- struct{}{}:
		return true
	case <-done:
		return false
	}
}

// admit counts a connection from peer against its address, or reports
// false when the address has perAddr open already. key is "" for an
// exempt address.
func (l *connLimiter) admit(peer net.Addr) (key string, ok bool) {
	var a netip.Addr
	if tcp, isTCP := peer.(*net.TCPAddr); isTCP {
		a = tcp.AddrPort().Addr().Unmap()
	}
	exempt := a.IsValid() && l.exempt(a)
	if !exempt {
		key = ratelimit.AddrKey(a)
	}
	l.mu.Lock()
	ok = exempt || l.open[key] < l.perAddr
	if ok {
		l.conns++
		if !exempt {
			l.open[key]++
		}
	}
	l.mu.Unlock()
	if !ok {
		if warn, held := l.warnAddr.Allow(time.Now()); warn {
			l.log.Warn("connections refused: too many open from one address; raise -max-conns-per-addr if legitimate clients share an address (NAT), or list your proxies in -trusted-proxies",
				"addr", a.String(), "max_conns_per_addr", l.perAddr, "refused", held+1)
		}
		return "", false
	}
	return key, true
}

// free gives back a slot that admitted no connection.
func (l *connLimiter) free() { <-l.slots }

// closed forgets an admitted connection (key from admit) and frees its
// slot.
func (l *connLimiter) closed(key string) {
	l.mu.Lock()
	l.conns--
	if key != "" {
		if l.open[key]--; l.open[key] <= 0 {
			delete(l.open, key)
		}
	}
	l.mu.Unlock()
	l.free()
}

// stats returns the connections open, of which per address key, and the
// slots taken (the open connections and any Accept in progress), for
// tests.
func (l *connLimiter) stats() (conns int, perAddr map[string]int, slots int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	perAddr = make(map[string]int, len(l.open))
	for k, n := range l.open {
		perAddr[k] = n
	}
	return l.conns, perAddr, len(l.slots)
}

// limitedListener is a listener whose connections a connLimiter caps.
type limitedListener struct {
	net.Listener
	lim       *connLimiter
	done      chan struct{}
	closeOnce sync.Once
}

// Accept returns the next connection within the caps: it waits while the
// total cap is reached, and closes connections over their address's cap.
func (ln *limitedListener) Accept() (net.Conn, error) {
	for {
		if !ln.lim.acquire(ln.done) {
			return nil, net.ErrClosed
		}
		c, err := ln.Listener.Accept()
		if err != nil {
			ln.lim.free()
			return nil, err
		}
		key, ok := ln.lim.admit(c.RemoteAddr())
		if !ok {
			_ = c.Close()
			ln.lim.free()
			continue
		}
		return &limitedConn{Conn: c, release: func() { ln.lim.closed(key) }}, nil
	}
}

// Close closes the listener and ends an Accept waiting for a slot.
func (ln *limitedListener) Close() error {
	ln.closeOnce.Do(func() { close(ln.done) })
	return ln.Listener.Close()
}

// limitedConn gives back its slot when first closed.
type limitedConn struct {
	net.Conn
	once    sync.Once
	release func()
}

func (c *limitedConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(c.release)
	return err
}
