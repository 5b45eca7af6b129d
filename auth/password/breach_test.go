package password_test

import (
	"context"
	"crypto/sha1"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/deployedworks/rampart/auth/password"
)

func sha1Hex(s string) string {
	sum := sha1.Sum([]byte(s))
	return strings.ToUpper(hex.EncodeToString(sum[:]))
}

// rangeServer imitates api.pwnedpasswords.com/range/{prefix}: it knows the
// given passwords with their counts and pads every answer.
type rangeServer struct {
	mu     sync.Mutex
	known  map[string]int // full SHA-1 -> count
	seen   []*http.Request
	status int
	body   string // overrides the generated body when set
}

func (s *rangeServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.seen = append(s.seen, r)
	if s.status != 0 {
		w.WriteHeader(s.status)
		return
	}
	if s.body != "" {
		fmt.Fprint(w, s.body)
		return
	}
	prefix := strings.TrimPrefix(r.URL.Path, "/range/")
	for full, n := range s.known {
		if strings.HasPrefix(full, prefix) {
			fmt.Fprintf(w, "%s:%d\r\n", full[5:], n)
		}
	}
	if r.Header.Get("Add-Padding") == "true" {
		for i := range 3 {
			fmt.Fprintf(w, "%035X:0\r\n", i)
		}
	}
}

func newRangeClient(t *testing.T, s *rangeServer, cfg password.RangeClientConfig) *password.RangeClient {
	t.Helper()
	srv := httptest.NewTLSServer(s)
	t.Cleanup(srv.Close)
	cfg.BaseURL = srv.URL + "/range"
	cfg.HTTPClient = srv.Client()
	c, err := password.NewRangeClient(cfg)
	require.NoError(t, err)
	return c
}

func TestRangeClient(t *testing.T) {
	ctx := context.Background()
	s := &rangeServer{known: map[string]int{sha1Hex("P@ssw0rd"): 52_000, sha1Hex("rarely-seen-one"): 3}}
	c := newRangeClient(t, s, password.RangeClientConfig{})

	got, err := c.Breached(ctx, "P@ssw0rd")
	require.NoError(t, err)
	assert.True(t, got)
	got, err = c.Breached(ctx, "velvet lantern orbit")
	require.NoError(t, err)
	assert.False(t, got)

	// k-anonymity: only the 5-character prefix leaves the process.
	s.mu.Lock()
	r := s.seen[0]
	s.mu.Unlock()
	assert.Equal(t, "/range/"+sha1Hex("P@ssw0rd")[:5], r.URL.Path)
	assert.Empty(t, r.URL.RawQuery)
	assert.Equal(t, "true", r.Header.Get("Add-Padding"))
	assert.Equal(t, "rampart-auth", r.Header.Get("User-Agent"))
	assert.NotContains(t, r.URL.String(), sha1Hex("P@ssw0rd")[5:])

	t.Run("MinCount", func(t *testing.T) {
		c := newRangeClient(t, s, password.RangeClientConfig{MinCount: 10})
		got, err := c.Breached(ctx, "rarely-seen-one")
		require.NoError(t, err)
		assert.False(t, got)
		got, err = c.Breached(ctx, "P@ssw0rd")
		require.NoError(t, err)
		assert.True(t, got)
	})
	t.Run("padding lines never match", func(t *testing.T) {
		pad := &rangeServer{body: sha1Hex("velvet lantern orbit")[5:] + ":0\r\n"}
		c := newRangeClient(t, pad, password.RangeClientConfig{})
		got, err := c.Breached(ctx, "velvet lantern orbit")
		require.NoError(t, err)
		assert.False(t, got)
	})
	t.Run("lower-case hex and LF", func(t *testing.T) {
		lc := &rangeServer{body: strings.ToLower(sha1Hex("abc")[5:]) + ":7\n"}
		got, err := newRangeClient(t, lc, password.RangeClientConfig{}).Breached(ctx, "abc")
		require.NoError(t, err)
		assert.True(t, got)
	})
	t.Run("padding disabled", func(t *testing.T) {
		s2 := &rangeServer{}
		_, err := newRangeClient(t, s2, password.RangeClientConfig{DisablePadding: true, UserAgent: "marketplace"}).Breached(ctx, "x")
		require.NoError(t, err)
		assert.Empty(t, s2.seen[0].Header.Get("Add-Padding"))
		assert.Equal(t, "marketplace", s2.seen[0].Header.Get("User-Agent"))
	})
}

// The client fails closed: anything but a clean answer is an error.
func TestRangeClientFailsClosed(t *testing.T) {
	tests := []struct {
		name string
		s    *rangeServer
	}{
		{"server error", &rangeServer{status: http.StatusInternalServerError}},
		{"rate limited", &rangeServer{status: http.StatusTooManyRequests}},
		{"html instead of ranges", &rangeServer{body: "<html>maintenance</html>"}},
		{"truncated line", &rangeServer{body: "0018A45C4D1DEF81644B54AB7F969B88D65:1\r\n0018A45C4D1DEF81644B5"}},
		{"negative count", &rangeServer{body: "0018A45C4D1DEF81644B54AB7F969B88D65:-1\r\n"}},
		{"oversized", &rangeServer{body: strings.Repeat("0018A45C4D1DEF81644B54AB7F969B88D65:1\r\n", 30_000)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := newRangeClient(t, tt.s, password.RangeClientConfig{}).Breached(context.Background(), "P@ssw0rd")
			require.Error(t, err)
			assert.NotContains(t, err.Error(), "P@ssw0rd")
			assert.NotContains(t, err.Error(), sha1Hex("P@ssw0rd")[:5])
		})
	}
	t.Run("unreachable", func(t *testing.T) {
		srv := httptest.NewServer(http.NotFoundHandler())
		srv.Close() // nothing listens at its address any more
		c, err := password.NewRangeClient(password.RangeClientConfig{BaseURL: srv.URL + "/range/"})
		require.NoError(t, err)
		_, err = c.Breached(context.Background(), "P@ssw0rd")
		require.Error(t, err)
		assert.NotContains(t, err.Error(), sha1Hex("P@ssw0rd")[:5], "the hash prefix is not in the error")
		assert.NotContains(t, err.Error(), "/range/")
	})
	t.Run("canceled", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		_, err := newRangeClient(t, &rangeServer{}, password.RangeClientConfig{}).Breached(ctx, "x")
		assert.ErrorIs(t, err, context.Canceled)
	})
}

func TestNewRangeClient(t *testing.T) {
	for _, u := range []string{"", "https://api.pwnedpasswords.com/range/", "http://127.0.0.1:8080/range", "http://localhost/range/", "http://[::1]/r"} {
		_, err := password.NewRangeClient(password.RangeClientConfig{BaseURL: u})
		assert.NoError(t, err, u)
	}
	for _, u := range []string{"http://api.pwnedpasswords.com/range/", "ftp://example.com/", "/range/", "https://example.com/range?x=1", "::"} {
		_, err := password.NewRangeClient(password.RangeClientConfig{BaseURL: u})
		assert.Error(t, err, u)
	}
	_, err := password.NewRangeClient(password.RangeClientConfig{MinCount: -1})
	assert.Error(t, err)
}

// The policy and the client together, against a local server.
func TestPolicyWithRangeClient(t *testing.T) {
	s := &rangeServer{known: map[string]int{sha1Hex("velvet lantern orbit"): 2}}
	p := newPolicy(t, password.PolicyConfig{Breach: newRangeClient(t, s, password.RangeClientConfig{})})
	err := p.Check(context.Background(), "velvet lantern orbit", password.Context{})
	assert.Equal(t, password.CodeBreached, codeOf(err))
	assert.NoError(t, p.Check(context.Background(), "velvet lantern orbit mist", password.Context{}))
}
