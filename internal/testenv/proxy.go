package testenv

import (
	"net"
	"sync"
	"testing"
)

// Proxy is a TCP proxy in front of a backend (PostgreSQL, Redis) that a
// test can hang: while hung it still accepts connections and keeps every
// connection open, but forwards nothing in either direction, like a
// backend that stopped answering (a stalled disk, a lock, a partition that
// drops packets) rather than one that refuses connections. Bytes read
// while hung are held and delivered on Resume. Close it (NewProxy does at
// cleanup) before the clients that use it, so that they do not wait for
// it.
type Proxy struct {
	ln       net.Listener
	upstream string

	mu     sync.Mutex
	open   chan struct{} // closed while forwarding
	closed bool
	conns  map[net.Conn]struct{}
	wg     sync.WaitGroup
}

// NewProxy listens on a free loopback port and forwards every connection
// to upstream (host:port). It is closed when the test ends.
func NewProxy(t testing.TB, upstream string) *Proxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("testenv: proxy: listen: %v", err)
	}
	p := &Proxy{ln: ln, upstream: upstream, open: make(chan struct{}), conns: make(map[net.Conn]struct{})}
	close(p.open)
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
	select {
	case <-p.open:
		p.open = make(chan struct{})
	default: // hung already
	}
}

// Resume forwards again, the held bytes first.
func (p *Proxy) Resume() {
	p.mu.Lock()
	defer p.mu.Unlock()
	select {
	case <-p.open:
	default:
		close(p.open)
	}
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
	_ = p.ln.Close()
	for c := range p.conns {
		_ = c.Close()
	}
	p.mu.Unlock()
	p.Resume()
	p.wg.Wait()
}

// gate returns the channel that is closed while forwarding.
func (p *Proxy) gate() <-chan struct{} {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.open
}

// track records c so that Close closes it; false if the proxy is closed.
func (p *Proxy) track(c net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		_ = c.Close()
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
			return
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
		return
	}
	if !p.track(u) {
		return
	}
	defer p.untrack(u)
	var wg sync.WaitGroup
	wg.Go(func() { p.copy(u, c) })
	wg.Go(func() { p.copy(c, u) })
	wg.Wait()
}

// copy forwards src to dst, holding each chunk while the proxy is hung.
// When either side fails it closes both, which ends the other copy.
func (p *Proxy) copy(dst, src net.Conn) {
	defer func() { _ = dst.Close(); _ = src.Close() }()
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			<-p.gate()
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil { // EOF, closed, or reset: either way this pair is done
			return
		}
	}
}
