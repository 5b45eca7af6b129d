package testenv_test

import (
	"io"
	"net"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/deployedworks/rampart/internal/testenv"
)

// TestProxyHangs forwards through the proxy, hangs it (nothing arrives,
// the connection stays open), and resumes it (what was held arrives).
func TestProxyHangs(t *testing.T) {
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
	p := testenv.NewProxy(t, echo.Addr().String())
	c, err := net.Dial("tcp", p.Addr())
	require.NoError(t, err)
	t.Cleanup(func() { _ = c.Close() })
	read := func(d time.Duration) (string, error) {
		require.NoError(t, c.SetReadDeadline(time.Now().Add(d)))
		b := make([]byte, 16)
		n, err := c.Read(b)
		return string(b[:n]), err
	}

	_, err = c.Write([]byte("a"))
	require.NoError(t, err)
	got, err := read(30 * time.Second)
	require.NoError(t, err)
	assert.Equal(t, "a", got)

	p.Hang()
	_, err = c.Write([]byte("b"))
	require.NoError(t, err, "the connection stays open")
	_, err = read(50 * time.Millisecond) // nothing can arrive while hung, however slow the machine
	var ne net.Error
	require.ErrorAs(t, err, &ne)
	assert.True(t, ne.Timeout())

	p.Resume()
	got, err = read(30 * time.Second)
	require.NoError(t, err)
	assert.Equal(t, "b", got, "held bytes are delivered")
}
