package testenv_test

import (
	"errors"
	"io"
	"net"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/deployedworks/rampart/internal/testenv"
)

// echoProxy starts an echo server and a proxy in front of it.
func echoProxy(t *testing.T) *testenv.Proxy {
	t.Helper()
	echo, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { _ = echo.Close() })
	go func() {
		for {
			c, err := echo.Accept()
			if err != nil {
				return
			}
			go func() { _, _ = io.Copy(c, c); _ = c.Close() }()
		}
	}()
	return testenv.NewProxy(t, echo.Addr().String())
}

// conn is a client connection through the proxy.
type conn struct {
	t *testing.T
	net.Conn
}

func dial(t *testing.T, p *testenv.Proxy) conn {
	t.Helper()
	c, err := net.Dial("tcp", p.Addr())
	require.NoError(t, err)
	t.Cleanup(func() { _ = c.Close() })
	return conn{t, c}
}

// roundTrip writes s and reads what comes back within d.
func (c conn) roundTrip(s string, d time.Duration) (string, error) {
	if _, err := c.Write([]byte(s)); err != nil {
		return "", err
	}
	return c.read(d)
}

func (c conn) read(d time.Duration) (string, error) {
	require.NoError(c.t, c.SetReadDeadline(time.Now().Add(d)))
	b := make([]byte, 16)
	n, err := c.Read(b)
	return string(b[:n]), err
}

// assertBroken checks that err is the end of the connection (reset or
// EOF), not a timeout: the proxy ended it rather than holding it.
func assertBroken(t *testing.T, err error) {
	t.Helper()
	require.Error(t, err)
	var ne net.Error
	if errors.As(err, &ne) {
		assert.False(t, ne.Timeout(), "the connection was held, not ended: %v", err)
	}
	assert.True(t, errors.Is(err, syscall.ECONNRESET) || errors.Is(err, io.EOF) || errors.Is(err, syscall.EPIPE), "%v", err)
}

// TestProxyHangs forwards through the proxy, hangs it (nothing arrives,
// the connection stays open), and resumes it (what was held arrives).
func TestProxyHangs(t *testing.T) {
	p := echoProxy(t)
	c := dial(t, p)
	got, err := c.roundTrip("a", 30*time.Second)
	require.NoError(t, err)
	assert.Equal(t, "a", got)

	p.Hang()
	_, err = c.roundTrip("b", 50*time.Millisecond) // nothing can arrive while hung, however slow the machine
	var ne net.Error
	require.ErrorAs(t, err, &ne)
	assert.True(t, ne.Timeout())

	p.Resume()
	got, err = c.read(30 * time.Second)
	require.NoError(t, err)
	assert.Equal(t, "b", got, "held bytes are delivered")
}

// TestProxyDrops resets the open connections and every new one until
// Recover; then new connections are forwarded.
func TestProxyDrops(t *testing.T) {
	p := echoProxy(t)
	c := dial(t, p)
	_, err := c.roundTrip("a", 30*time.Second)
	require.NoError(t, err)

	p.Drop()
	_, err = c.read(30 * time.Second)
	assertBroken(t, err)
	for range 3 { // refused on connect, or reset on the first read
		c, err := net.Dial("tcp", p.Addr())
		if err == nil {
			_, err = conn{t, c}.roundTrip("b", 30*time.Second)
			_ = c.Close()
		}
		assertBroken(t, err)
	}

	p.Recover()
	got, err := dial(t, p).roundTrip("c", 30*time.Second)
	require.NoError(t, err)
	assert.Equal(t, "c", got)
}

// TestProxyResets resets the open connections once; new ones work.
func TestProxyResets(t *testing.T) {
	p := echoProxy(t)
	c := dial(t, p)
	_, err := c.roundTrip("a", 30*time.Second)
	require.NoError(t, err)

	p.Reset()
	_, err = c.read(30 * time.Second)
	require.ErrorIs(t, err, syscall.ECONNRESET, "a reset, not an orderly close")

	got, err := dial(t, p).roundTrip("b", 30*time.Second)
	require.NoError(t, err)
	assert.Equal(t, "b", got)
}

// TestProxySlows adds the latency to each chunk, both ways, until Recover.
func TestProxySlows(t *testing.T) {
	p := echoProxy(t)
	c := dial(t, p)
	const d = 100 * time.Millisecond
	p.Slow(d)
	start := time.Now()
	got, err := c.roundTrip("a", 30*time.Second)
	require.NoError(t, err)
	assert.Equal(t, "a", got)
	assert.GreaterOrEqual(t, time.Since(start), 2*d, "held once each way")

	p.Hang()
	p.Recover() // ends the hang and the latency
	got, err = c.roundTrip("b", 30*time.Second)
	require.NoError(t, err)
	assert.Equal(t, "b", got)
}

// TestProxyHangsReplies forwards what the client sends but holds what the
// backend answers until Resume.
func TestProxyHangsReplies(t *testing.T) {
	got := make(chan string, 1)
	srv, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { _ = srv.Close() })
	go func() {
		c, err := srv.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		b := make([]byte, 16)
		for {
			n, err := c.Read(b)
			if err != nil {
				return
			}
			got <- string(b[:n])
			_, _ = c.Write(b[:n])
		}
	}()
	p := testenv.NewProxy(t, srv.Addr().String())
	c := dial(t, p)
	p.HangReplies()
	_, err = c.roundTrip("a", 50*time.Millisecond)
	var ne net.Error
	require.ErrorAs(t, err, &ne)
	assert.True(t, ne.Timeout(), "the reply is held")
	assert.Equal(t, "a", <-got, "the request arrived")

	p.Resume()
	r, err := c.read(30 * time.Second)
	require.NoError(t, err)
	assert.Equal(t, "a", r)
}
