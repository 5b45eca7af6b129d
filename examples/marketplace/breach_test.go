package main

import (
	"context"
	"crypto/sha1"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/deployedworks/rampart/internal/testenv"
	"github.com/deployedworks/rampart/secrets"
)

// breachedPassword passes every local check; the range server below
// knows it from a breach.
const breachedPassword = "amber kettle prism tundra 1987"

// rangeServer is an in-process Pwned Passwords range API: it answers
// GET /range/{5 hex} with the suffixes it knows and padding, or with
// status when set, or not at all when hang is set (until the client gives
// up).
type rangeServer struct {
	*httptest.Server
	mu     sync.Mutex
	paths  []string
	status int
	hang   bool
}

func newRangeServer(t *testing.T, breached ...string) *rangeServer {
	t.Helper()
	rs := &rangeServer{}
	known := map[string]bool{}
	for _, pw := range breached {
		sum := sha1.Sum([]byte(pw))
		known[strings.ToUpper(hex.EncodeToString(sum[:]))] = true
	}
	rs.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rs.mu.Lock()
		rs.paths = append(rs.paths, r.URL.Path)
		status, hang := rs.status, rs.hang
		rs.mu.Unlock()
		switch {
		case hang:
			<-r.Context().Done() // the client's timeout ends it
			return
		case status != 0:
			w.WriteHeader(status)
			return
		}
		prefix := strings.TrimPrefix(r.URL.Path, "/range/")
		for full := range known {
			if strings.HasPrefix(full, prefix) {
				fmt.Fprintf(w, "%s:%d\r\n", full[5:], 42)
			}
		}
		fmt.Fprintf(w, "%035X:0\r\n", 1) // padding
	}))
	t.Cleanup(rs.Close)
	return rs
}

func (rs *rangeServer) requests() []string {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	return append([]string(nil), rs.paths...)
}

// newBreachApp builds the app for https://market.example, in production
// mode (prod) or development mode, asking rs, and returns a sign-up
// function that answers with the status and body.
func newBreachApp(t *testing.T, rs *rangeServer, prod bool, mutate func(*Config)) (signup func(email, pw string) (int, string), logs *syncBuffer) {
	t.Helper()
	logs = &syncBuffer{}
	cfg := testConfig(t, "https://market.example", testenv.NewClock(time.Now()), logs)
	cfg.Prod = prod
	if prod {
		cfg.Secrets = secrets.Env{LookupEnv: mapEnv(prodEnv(t))}
	}
	cfg.BreachRangeURL = rs.URL + "/range/"
	if mutate != nil {
		mutate(&cfg)
	}
	app, err := New(context.Background(), cfg)
	require.NoError(t, err, "logs: %s", logs)
	t.Cleanup(func() { require.NoError(t, app.Close(context.Background())) })
	h := app.Handler()
	return func(email, pw string) (int, string) {
		form := signupForm(email, "Someone", pw, pw)
		req := httptest.NewRequest(http.MethodPost, "https://market.example/signup", strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		body, _ := io.ReadAll(rec.Result().Body)
		return rec.Code, string(body)
	}, logs
}

// TestBreachCheck_OnInProduction: production mode asks the range API
// about new passwords by default, sending only a 5-character hash prefix,
// and refuses a breached one; development mode does not ask.
func TestBreachCheck_OnInProduction(t *testing.T) {
	t.Parallel()
	rs := newRangeServer(t, breachedPassword)
	signup, _ := newBreachApp(t, rs, true, nil)

	status, body := signup("first@example.com", breachedPassword)
	assert.Equal(t, http.StatusUnprocessableEntity, status)
	assert.Contains(t, body, "appeared in a data breach")
	assert.NotContains(t, body, breachedPassword)
	sum := sha1.Sum([]byte(breachedPassword))
	prefix := strings.ToUpper(hex.EncodeToString(sum[:]))[:5]
	assert.Equal(t, []string{"/range/" + prefix}, rs.requests(), "only the prefix leaves the server")

	status, _ = signup("second@example.com", goodPassword)
	assert.Equal(t, http.StatusOK, status)
	assert.Len(t, rs.requests(), 2)

	// A locally refused password is not sent at all.
	status, _ = signup("third@example.com", "P@ssw0rd12345678")
	assert.Equal(t, http.StatusUnprocessableEntity, status)
	assert.Len(t, rs.requests(), 2)

	t.Run("development mode does not ask", func(t *testing.T) {
		rs := newRangeServer(t, breachedPassword)
		signup, _ := newBreachApp(t, rs, false, nil)
		status, _ := signup("dev@example.com", breachedPassword)
		assert.Equal(t, http.StatusOK, status)
		assert.Empty(t, rs.requests())
	})
	t.Run("development mode, opted in", func(t *testing.T) {
		rs := newRangeServer(t, breachedPassword)
		signup, _ := newBreachApp(t, rs, false, func(c *Config) { c.BreachCheck = BreachCheckOn })
		status, _ := signup("dev@example.com", breachedPassword)
		assert.Equal(t, http.StatusUnprocessableEntity, status)
		assert.Len(t, rs.requests(), 1)
	})
}

// TestBreachCheck_OptOut: -breach-check=false turns it off in production.
func TestBreachCheck_OptOut(t *testing.T) {
	t.Parallel()
	rs := newRangeServer(t, breachedPassword)
	signup, _ := newBreachApp(t, rs, true, func(c *Config) { c.BreachCheck = BreachCheckOff })
	status, _ := signup("first@example.com", breachedPassword)
	assert.Equal(t, http.StatusOK, status)
	assert.Empty(t, rs.requests())
	// The local checks still apply.
	status, _ = signup("second@example.com", "P@ssw0rd12345678")
	assert.Equal(t, http.StatusUnprocessableEntity, status)
}

// TestBreachCheck_FailsOpen: a range API that errs, is unreachable or
// hangs past BreachTimeout does not stop sign-ups: the local checks decide,
// and each failure is logged without the password or its hash prefix.
func TestBreachCheck_FailsOpen(t *testing.T) {
	t.Parallel()
	sum := sha1.Sum([]byte(goodPassword))
	prefix := strings.ToUpper(hex.EncodeToString(sum[:]))[:5]
	tests := []struct {
		name  string
		setup func(rs *rangeServer)
	}{
		{"service error", func(rs *rangeServer) { rs.status = http.StatusServiceUnavailable }},
		{"unreachable", func(rs *rangeServer) { rs.Close() }},
		{"hangs past the timeout", func(rs *rangeServer) { rs.hang = true }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			rs := newRangeServer(t)
			signup, logs := newBreachApp(t, rs, true, func(c *Config) { c.BreachTimeout = 200 * time.Millisecond })
			tt.setup(rs)
			status, body := signup("first@example.com", goodPassword)
			assert.Equal(t, http.StatusOK, status, body)
			// Still refused locally.
			status, _ = signup("second@example.com", "P@ssw0rd12345678")
			assert.Equal(t, http.StatusUnprocessableEntity, status)

			assert.Equal(t, 1, strings.Count(logs.String(), "breach check failed"), "one warning for the one check: %s", logs)
			assert.NotContains(t, logs.String(), goodPassword)
			assert.NotContains(t, logs.String(), prefix)
		})
	}
}

func TestParseServeFlags_BreachCheck(t *testing.T) {
	t.Parallel()
	testServeFlag(t, func(f serveFlags) BreachCheck { return f.breachCheck }, []flagCase[BreachCheck]{
		{name: "default: by mode", want: BreachCheckAuto},
		{name: "default with -prod: by mode", args: []string{"-prod"}, want: BreachCheckAuto},
		{name: "flag on", args: []string{"-breach-check"}, want: BreachCheckOn},
		{name: "flag off: the opt-out", args: []string{"-prod", "-breach-check=false"}, want: BreachCheckOff},
		{name: "env off", env: map[string]string{"MARKETPLACE_BREACH_CHECK": "0"}, want: BreachCheckOff},
		{name: "env on", env: map[string]string{"MARKETPLACE_BREACH_CHECK": "1"}, want: BreachCheckOn},
		{name: "flag beats env", env: map[string]string{"MARKETPLACE_BREACH_CHECK": "0"}, args: []string{"-breach-check"}, want: BreachCheckOn},
		{name: "env not a boolean", env: map[string]string{"MARKETPLACE_BREACH_CHECK": "maybe"}, wantE: "MARKETPLACE_BREACH_CHECK"},
	})
}
