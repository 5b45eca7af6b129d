package main

import (
	"bytes"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestReadme keeps the README's quickstart and this program the same.
func TestReadme(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	require.NoError(t, err)
	src, err := os.ReadFile("main.go")
	require.NoError(t, err)
	assert.True(t, bytes.Contains(readme, []byte("```go\n"+string(src)+"```\n")),
		"README.md's quickstart must be examples/quickstart/main.go verbatim: copy it over")
}

func TestQuickstart(t *testing.T) {
	var events bytes.Buffer
	srv := httptest.NewServer(newServer(&events))
	defer srv.Close()
	jar, err := cookiejar.New(nil)
	require.NoError(t, err)
	c := &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

	get := func(path string) (int, string) {
		t.Helper()
		resp, err := c.Get(srv.URL + path)
		require.NoError(t, err)
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	post := func(form url.Values, hdr map[string]string) int {
		t.Helper()
		req, _ := http.NewRequest(http.MethodPost, srv.URL+"/login", strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		for k, v := range hdr {
			req.Header.Set(k, v)
		}
		resp, err := c.Do(req)
		require.NoError(t, err)
		resp.Body.Close()
		return resp.StatusCode
	}

	status, _ := get("/")
	assert.Equal(t, http.StatusUnauthorized, status, "signed out")
	status, page := get("/login")
	assert.Equal(t, http.StatusOK, status)
	assert.Contains(t, page, `<style nonce="`)

	alice := url.Values{"login": {"alice"}, "password": {"correct horse battery staple"}}
	assert.Equal(t, http.StatusForbidden, post(alice, map[string]string{"Sec-Fetch-Site": "cross-site"}), "cross-site login form post")
	assert.Equal(t, http.StatusUnauthorized, post(url.Values{"login": {"alice"}, "password": {"wrong"}}, nil))
	assert.Equal(t, http.StatusUnauthorized, post(url.Values{"login": {"mallory"}, "password": {"wrong"}}, nil))
	assert.Equal(t, http.StatusSeeOther, post(alice, nil))

	status, body := get("/")
	assert.Equal(t, http.StatusOK, status)
	assert.Equal(t, "Hello, u1.\n", body)

	// The rate limit: 10 a second per address; a burst past it is refused
	// (by the 11th request, unless the machine is so slow that a request
	// takes the 100 ms a token takes to refill: 500 tries leave room).
	refused := false
	for range 500 {
		if s, _ := get("/login"); s == http.StatusTooManyRequests {
			refused = true
			break
		}
	}
	assert.True(t, refused, "the per-address limit refuses a burst")

	// Every component records through the Logger in the request context,
	// though none was given it.
	log := events.String()
	for _, action := range []string{`"login.failed"`, `"login.succeeded"`, `"csrf.rejected"`, `"session.login"`, `"ratelimit.exceeded"`} {
		assert.Contains(t, log, action)
	}
	assert.NotContains(t, log, "correct horse")
}

// An oversized login body is refused before any hashing.
func TestQuickstartBoundsTheForm(t *testing.T) {
	srv := httptest.NewServer(newServer(io.Discard))
	defer srv.Close()
	body := "login=alice&password=" + strings.Repeat("x", 8<<10)
	resp, err := http.Post(srv.URL+"/login", "application/x-www-form-urlencoded", strings.NewReader(body))
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusBadRequest, resp.StatusCode)
}
