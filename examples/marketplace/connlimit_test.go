package main

import (
	"bufio"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/deployedworks/rampart/ratelimit"
)

// failsafe bounds a read that must end (the peer closes, or answers), so
// that a broken cap fails the test instead of hanging it. Passing never
// depends on it.
const failsafe = 30 * time.Second

// acceptor accepts every connection of ln in the background, handing
// them to the test in order.
type acceptor struct {
	t     *testing.T
	ln    net.Listener
	conns chan net.Conn
}

// serveCapped listens on host:0, wraps the listener with lim and accepts
// in the background until the test ends.
func serveCapped(t *testing.T, host string, lim *connLimiter) *acceptor {
	t.Helper()
	raw, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
	if err != nil {
		t.Skipf("no loopback listener on %s here: %v", host, err)
	}
	a := &acceptor{t: t, ln: lim.listener(raw), conns: make(chan net.Conn, 16)}
	go func() {
		defer close(a.conns)
		for {
			c, err := a.ln.Accept()
			if err != nil {
				return
			}
			a.conns <- c
		}
	}()
	t.Cleanup(func() { a.close() })
	return a
}

// close closes the listener and every accepted connection not yet taken,
// and returns once the accepting goroutine has ended.
func (a *acceptor) close() {
	_ = a.ln.Close()
	for c := range a.conns {
		_ = c.Close()
	}
}

// next returns the next accepted connection.
func (a *acceptor) next() net.Conn {
	a.t.Helper()
	c, ok := <-a.conns
	require.True(a.t, ok, "the listener stopped")
	a.t.Cleanup(func() { _ = c.Close() })
	return c
}

// dialFrom connects to addr from the local address from (any port).
func dialFrom(t *testing.T, from, addr string) net.Conn {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}}
	c, err := d.Dial("tcp", addr)
	require.NoError(t, err, "dial %s from %s", addr, from)
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// assertClosedByPeer checks that the server closed c without sending
// anything.
func assertClosedByPeer(t *testing.T, c net.Conn, msgAndArgs ...any) {
	t.Helper()
	require.NoError(t, c.SetReadDeadline(time.Now().Add(failsafe)))
	n, err := c.Read(make([]byte, 1))
	assert.Zero(t, n, msgAndArgs...)
	assert.True(t, errors.Is(err, io.EOF) || errors.Is(err, syscall.ECONNRESET), "closed by the server, got %v", err)
}

// peerIP returns the client address of a server-side connection.
func peerIP(c net.Conn) string {
	return c.RemoteAddr().(*net.TCPAddr).AddrPort().Addr().Unmap().String()
}

// key is the address key connLimiter counts ip under.
func key(ip string) string { return ratelimit.AddrKey(netip.MustParseAddr(ip)) }

// TestConnLimit_PerAddress: the connection over an address's cap is closed
// at once while other addresses are still served; a closed connection
// frees its address's slot; nothing stays counted once all are closed.
func TestConnLimit_PerAddress(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct{ name, host, other string }{
		{"IPv4", "127.0.0.1", "127.0.0.2"}, // all of 127.0.0.0/8 is local on Linux
		{"IPv6", "::1", ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			lim := newConnLimiter(10, 2, nil, discardLogger())
			a := serveCapped(t, tt.host, lim)
			addr := a.ln.Addr().String()

			dialFrom(t, tt.host, addr)
			s1 := a.next()
			dialFrom(t, tt.host, addr)
			s2 := a.next()
			assert.Equal(t, tt.host, peerIP(s2))
			conns, per, _ := lim.stats()
			assert.Equal(t, 2, conns)
			assert.Equal(t, map[string]int{key(tt.host): 2}, per)

			// The third from the address is closed without an answer.
			refused := dialFrom(t, tt.host, addr)
			_, _ = refused.Write([]byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n"))
			assertClosedByPeer(t, refused, "over the per-address cap")

			// Another address is still served.
			if tt.other != "" {
				dialFrom(t, tt.other, addr)
				s3 := a.next()
				assert.Equal(t, tt.other, peerIP(s3), "the refused connection was never handed out")
				conns, per, _ = lim.stats()
				assert.Equal(t, 3, conns)
				assert.Equal(t, map[string]int{key(tt.host): 2, key(tt.other): 1}, per)
				require.NoError(t, s3.Close())
			}

			// Closing a connection frees its slot at once.
			require.NoError(t, s1.Close())
			_ = s1.Close() // closing twice frees one slot
			_, per, _ = lim.stats()
			assert.Equal(t, map[string]int{key(tt.host): 1}, per)
			dialFrom(t, tt.host, addr)
			s4 := a.next()
			assert.Equal(t, tt.host, peerIP(s4))

			// No leak: with everything closed, nothing is counted.
			require.NoError(t, s2.Close())
			require.NoError(t, s4.Close())
			a.close()
			conns, per, slots := lim.stats()
			assert.Zero(t, conns)
			assert.Empty(t, per)
			assert.Zero(t, slots)
		})
	}
}

// TestConnLimit_Total: at the total cap the listener accepts nothing more
// (new connections wait in the kernel's backlog) until a connection
// closes, then the waiting one is served.
func TestConnLimit_Total(t *testing.T) {
	t.Parallel()
	lim := newConnLimiter(2, 2, nil, discardLogger())
	waiting := make(chan struct{}, 1)
	lim.waiting = func() {
		select {
		case waiting <- struct{}{}:
		default:
		}
	}
	a := serveCapped(t, "127.0.0.1", lim)
	addr := a.ln.Addr().String()

	dialFrom(t, "127.0.0.1", addr)
	s1 := a.next()
	dialFrom(t, "127.0.0.2", addr)
	a.next()
	<-waiting // Accept is held: both slots are taken
	c3 := dialFrom(t, "127.0.0.3", addr)
	select {
	case c := <-a.conns:
		t.Fatalf("a third connection was accepted over the total cap: from %s", peerIP(c))
	default:
	}
	conns, _, slots := lim.stats()
	assert.Equal(t, 2, conns)
	assert.Equal(t, 2, slots)

	require.NoError(t, s1.Close())
	s3 := a.next()
	assert.Equal(t, "127.0.0.3", peerIP(s3), "the connection from the backlog is served once a slot frees")
	// And it works: the server side reads what the client wrote.
	_, err := c3.Write([]byte("ping"))
	require.NoError(t, err)
	require.NoError(t, s3.SetReadDeadline(time.Now().Add(failsafe)))
	buf := make([]byte, 4)
	_, err = io.ReadFull(s3, buf)
	require.NoError(t, err)
	assert.Equal(t, "ping", string(buf))
}

// TestConnLimit_TrustedProxyExempt: a trusted proxy's connections carry
// many clients, so they count towards the total only.
func TestConnLimit_TrustedProxyExempt(t *testing.T) {
	t.Parallel()
	proxy := netip.MustParseAddr("127.0.0.1")
	lim := newConnLimiter(10, 1, func(a netip.Addr) bool { return a == proxy }, discardLogger())
	a := serveCapped(t, "127.0.0.1", lim)
	addr := a.ln.Addr().String()
	for range 3 {
		dialFrom(t, "127.0.0.1", addr)
		assert.Equal(t, "127.0.0.1", peerIP(a.next()))
	}
	dialFrom(t, "127.0.0.2", addr)
	a.next()
	assertClosedByPeer(t, dialFrom(t, "127.0.0.2", addr), "other addresses keep their cap")
	conns, per, _ := lim.stats()
	assert.Equal(t, 4, conns)
	assert.Equal(t, map[string]int{key("127.0.0.2"): 1}, per)
}

// TestConnLimit_WarningsPaced: a flood of refused connections logs one
// warning a minute, not one per connection.
func TestConnLimit_WarningsPaced(t *testing.T) {
	t.Parallel()
	logs := &syncBuffer{}
	lim := newConnLimiter(10, 1, nil, slog.New(slog.NewTextHandler(logs, nil)))
	a := serveCapped(t, "127.0.0.1", lim)
	addr := a.ln.Addr().String()
	dialFrom(t, "127.0.0.1", addr)
	a.next()
	for range 3 {
		assertClosedByPeer(t, dialFrom(t, "127.0.0.1", addr), "over the per-address cap")
	}
	assert.Equal(t, 1, strings.Count(logs.String(), "connections refused"), logs.String())
	assert.Contains(t, logs.String(), "refused=1")
}

// rawGet sends a GET for / over c and reads the answer.
func rawGet(c net.Conn) (*http.Response, error) {
	if _, err := c.Write([]byte("GET / HTTP/1.1\r\nHost: localhost\r\n\r\n")); err != nil {
		return nil, err
	}
	if err := c.SetReadDeadline(time.Now().Add(failsafe)); err != nil {
		return nil, err
	}
	res, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		return nil, err
	}
	_, _ = io.Copy(io.Discard, res.Body)
	return res, res.Body.Close()
}

// TestServe_ConnectionCapsRegression: 20,000 slow connections from one
// address exhausted the server's file descriptors. The serve command now
// caps connections per address (MARKETPLACE_MAX_CONNS_PER_ADDR here),
// except from trusted proxies.
func TestServe_ConnectionCapsRegression(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name, proxies string
		proxyExempt   bool
	}{
		{"direct", "", false},
		{"behind a trusted proxy", "127.0.0.1/32", true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			env := map[string]string{"MARKETPLACE_ADDR": "127.0.0.1:0", "MARKETPLACE_MAX_CONNS_PER_ADDR": "2"}
			if tt.proxies != "" {
				env["MARKETPLACE_TRUSTED_PROXIES"] = tt.proxies
			}
			s := startServe(t, env, "-data", t.TempDir())
			addr := s.addrs["http"]
			// Keep-alive connections, each answered once: held open.
			for i := range 2 {
				res, err := rawGet(dialFrom(t, "127.0.0.1", addr))
				require.NoError(t, err, "connection %d", i+1)
				assert.Equal(t, http.StatusOK, res.StatusCode)
			}
			res, err := rawGet(dialFrom(t, "127.0.0.1", addr))
			if tt.proxyExempt {
				require.NoError(t, err, "the trusted proxy is not capped per address")
				assert.Equal(t, http.StatusOK, res.StatusCode)
			} else {
				assert.Error(t, err, "the third connection from one address is closed unanswered")
			}
			res, err = rawGet(dialFrom(t, "127.0.0.2", addr))
			require.NoError(t, err, "another address is served")
			assert.Equal(t, http.StatusOK, res.StatusCode)
			if tt.proxyExempt {
				_, err = rawGet(dialFrom(t, "127.0.0.2", addr))
				require.NoError(t, err)
				_, err = rawGet(dialFrom(t, "127.0.0.2", addr))
				assert.Error(t, err, "addresses other than the proxy keep their cap")
			}
			require.Equal(t, 0, s.shutdown())
			assert.Contains(t, s.log.String(), "connections refused: too many open from one address")
		})
	}
}

func TestParseServeFlags_ConnectionCaps(t *testing.T) {
	t.Parallel()
	caps := func(f serveFlags) [2]int { return [2]int{f.maxConns, f.maxConnsPerAddr} }
	testServeFlag(t, caps, []flagCase[[2]int]{
		{name: "defaults", want: [2]int{defaultMaxConns, defaultMaxConnsPerAddr}},
		{name: "env", env: map[string]string{"MARKETPLACE_MAX_CONNS": "100", "MARKETPLACE_MAX_CONNS_PER_ADDR": " 5 "}, want: [2]int{100, 5}},
		{name: "flags beat env", env: map[string]string{"MARKETPLACE_MAX_CONNS": "100"}, args: []string{"-max-conns", "200", "-max-conns-per-addr", "10"}, want: [2]int{200, 10}},
		{name: "env not a number", env: map[string]string{"MARKETPLACE_MAX_CONNS_PER_ADDR": "lots"}, wantE: `MARKETPLACE_MAX_CONNS_PER_ADDR="lots": give a whole number`},
		{name: "zero", args: []string{"-max-conns", "0"}, wantE: "must be at least 1"},
		{name: "negative", args: []string{"-max-conns-per-addr", "-1"}, wantE: "must be at least 1"},
	})
}
