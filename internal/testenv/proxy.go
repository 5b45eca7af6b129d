package testenv

import (
	"bytes"
	"net"
	"sync"
	"testing"
	"time"
)

// Proxy is a TCP proxy in front of a backend (PostgreSQL, Redis) that a
// test can fault, mid-traffic, the ways a backend fails in production:
//
//   - [Proxy.Hang]: the backend stops answering (a stalled disk, a lock, a
//     partition that drops packets). Every connection stays open and new
//     ones are accepted, but nothing is forwarded in either direction;
//     bytes read meanwhile are held and delivered on [Proxy.Resume].
//   - [Proxy.HangReplies]: the backend's answers are lost (an asymmetric
//     partition): requests reach it and are acted on, its answers are held
//     until [Proxy.Resume]. With [Proxy.Reset] after it, the client never
//     learns the outcome of what it sent (a COMMIT that committed).
//   - [Proxy.Drop]: the backend is down. Every open connection is reset
//     and each new one is reset as soon as it is accepted, as a host
//     answers for a port nothing listens on (the client sees ECONNRESET or
//     EOF on its first read instead of ECONNREFUSED on connect: the
//     listener stays open so that the address survives the fault).
//   - [Proxy.Reset]: the backend (or a middlebox between) loses its
//     connections once: every open connection is reset (RST), new ones
//     are forwarded.
//   - [Proxy.Slow]: the backend is slow: each chunk, in either direction,
//     is held for an added latency before it is forwarded.
//
// [Proxy.Recover] ends every fault. Close it (NewProxy does at cleanup)
// before the clients that use it, so that they do not wait for it.
type Proxy struct {
	ln       net.Listener
	upstream string
	done     chan struct{} // closed by Close

	mu      sync.Mutex
	open    chan struct{} // closed while forwarding requests (not hung)
	replies chan struct{} // closed while forwarding replies
	dropped bool
	latency time.Duration
	marker  []byte // HangRepliesAfter's
	closed  bool
	conns   map[net.Conn]struct{}
	wg      sync.WaitGroup
}

// NewProxy listens on a free loopback port and forwards every connection
// to upstream (host:port). It is closed when the test ends.
func NewProxy(t testing.TB, upstream string) *Proxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("testenv: proxy: listen: %v", err)
	}
	p := &Proxy{ln: ln, upstream: upstream, done: make(chan struct{}), open: make(chan struct{}), replies: make(chan struct{}), conns: make(map[net.Conn]struct{})}
	close(p.open)
	close(p.replies)
	p.wg.Go(p.accept)
	t.Cleanup(p.Close)
	return p
}

// Addr is the host:port to connect to instead of the upstream.
func (p *Proxy) Addr() string { return p.ln.Addr().String() }

// Hang stops forwarding, without closing anything.
func (p *Proxy) Hang() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.open = hang(p.open)
	p.replies = hang(p.replies)
}

// HangReplies stops forwarding the backend's replies, without closing
// anything; what clients send is still forwarded.
func (p *Proxy) HangReplies() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.replies = hang(p.replies)
}

// HangRepliesAfter hangs the replies, as [Proxy.HangReplies] does, just
// before it forwards the next chunk a client sends that contains marker:
// say "commit", so that PostgreSQL commits a transaction whose outcome the
// client never hears. It holds for the first such chunk only.
func (p *Proxy) HangRepliesAfter(marker string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.marker = []byte(marker)
}

// hangOn hangs the replies if chunk, sent by a client, holds the marker.
func (p *Proxy) hangOn(chunk []byte) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.marker) > 0 && bytes.Contains(chunk, p.marker) {
		p.marker = nil
		p.replies = hang(p.replies)
	}
}

// hang returns a closed gate's replacement, or gate if it is open already.
func hang(gate chan struct{}) chan struct{} {
	select {
	case <-gate:
		return make(chan struct{})
	default: // hung already
		return gate
	}
}

// Resume ends a [Proxy.Hang] or [Proxy.HangReplies]: it forwards again, the held bytes first.
// Other faults stay; [Proxy.Recover] ends them all.
func (p *Proxy) Resume() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.resume()
}

func (p *Proxy) resume() {
	for _, gate := range []chan struct{}{p.open, p.replies} {
		select {
		case <-gate:
		default:
			close(gate)
		}
	}
}

// Drop resets every open connection and every new one until
// [Proxy.Recover].
func (p *Proxy) Drop() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.dropped = true
	p.resetAll()
}

// Reset resets every open connection (the client reads ECONNRESET); new
// connections are forwarded as before.
func (p *Proxy) Reset() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.resetAll()
}

// Slow holds each chunk read, in either direction, for d before
// forwarding it, until [Proxy.Recover] or Slow(0). A chunk already held
// keeps the latency it was given.
func (p *Proxy) Slow(d time.Duration) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.latency = max(d, 0)
}

// Fault is one way a backend fails, for a table-driven fault test.
type Fault struct {
	Name   string
	Inject func(*Proxy)
	// Fails says whether every call that needs the backend fails while
	// the fault lasts: a drop or a hang. After a reset or on a slow link
	// calls may succeed.
	Fails bool
}

// Faults are the faults every fault test puts a backend through: drop,
// hang, reset and slow (2 ms a chunk).
func Faults() []Fault {
	return []Fault{
		{"drop", (*Proxy).Drop, true},
		{"hang", (*Proxy).Hang, true},
		{"reset", (*Proxy).Reset, false},
		{"slow", func(p *Proxy) { p.Slow(2 * time.Millisecond) }, false},
	}
}

// Recover ends every fault: it forwards again (the bytes held by a hang
// first), accepts new connections, and adds no latency. Connections reset
// meanwhile stay closed: clients reconnect.
func (p *Proxy) Recover() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.dropped = false
	p.latency = 0
	p.marker = nil
	p.resume()
}

// Close stops listening, closes every connection and waits for the
// proxy's goroutines.
func (p *Proxy) Close() {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return
	}
	p.closed = true
	close(p.done)
	_ = p.ln.Close()
	for c := range p.conns {
		_ = c.Close()
	}
	p.resume()
	p.mu.Unlock()
	p.wg.Wait()
}

// resetAll closes every connection with an RST rather than a FIN, so that
// the peers see a reset, not an orderly end of stream. Call with p.mu held.
func (p *Proxy) resetAll() {
	for c := range p.conns { // all first: a copy that sees one end fail closes the other
		setLinger0(c)
	}
	for c := range p.conns {
		_ = c.Close()
	}
}

func setLinger0(c net.Conn) {
	if tc, ok := c.(*net.TCPConn); ok {
		_ = tc.SetLinger(0) // close sends RST
	}
}

func reset(c net.Conn) {
	setLinger0(c)
	_ = c.Close()
}

// state returns the channel that is closed while forwarding in the
// direction given (replies or requests) and the added latency.
func (p *Proxy) state(replies bool) (<-chan struct{}, time.Duration) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if replies {
		return p.replies, p.latency
	}
	return p.open, p.latency
}

// track records c so that Close, Drop and Reset close it; false (and c
// closed) if the proxy is closed, or reset while it drops.
func (p *Proxy) track(c net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	switch {
	case p.closed:
		_ = c.Close()
		return false
	case p.dropped:
		reset(c)
		return false
	}
	p.conns[c] = struct{}{}
	return true
}

func (p *Proxy) untrack(c net.Conn) {
	p.mu.Lock()
	defer p.mu.Unlock()
	delete(p.conns, c)
	_ = c.Close()
}

func (p *Proxy) accept() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return // closed
		}
		if !p.track(c) {
			continue // dropped (or closed: the next Accept fails)
		}
		p.wg.Go(func() { p.serve(c) })
	}
}

// serve connects c to the upstream and copies both ways until either side
// closes.
func (p *Proxy) serve(c net.Conn) {
	defer p.untrack(c)
	u, err := net.Dial("tcp", p.upstream)
	if err != nil {
		reset(c)
		return
	}
	if !p.track(u) {
		reset(c)
		return
	}
	defer p.untrack(u)
	var wg sync.WaitGroup
	wg.Go(func() { p.copy(u, c, false) })
	wg.Go(func() { p.copy(c, u, true) })
	wg.Wait()
}

// copy forwards src to dst, holding each chunk while the proxy is hung or
// slow. When either side fails it closes both, which ends the other copy;
// a reset read from one side is passed on to the other as a reset.
func (p *Proxy) copy(dst, src net.Conn, replies bool) {
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			if !replies {
				p.hangOn(buf[:n])
			}
			open, latency := p.state(replies)
			select {
			case <-open:
			case <-p.done:
			}
			if latency > 0 {
				t := time.NewTimer(latency)
				select {
				case <-t.C:
				case <-p.done:
					t.Stop()
				}
			}
			if _, werr := dst.Write(buf[:n]); werr != nil {
				reset(src)
				return
			}
		}
		if err != nil { // EOF, closed, or reset: either way this pair is done
			_ = dst.Close()
			_ = src.Close()
			return
		}
	}
}
