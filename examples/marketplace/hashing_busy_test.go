package main

import (
	"context"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/deployedworks/rampart/auth"
	"github.com/deployedworks/rampart/auth/password"
)

// gatedUsers is the app's user store, except that a lookup of the login
// held reports on entered and then waits until open is closed: a login
// admitted for hashing and held there for as long as the test likes.
type gatedUsers struct {
	auth.UserStore
	held    string
	entered chan struct{}
	open    chan struct{}
}

func (g gatedUsers) UserByLogin(ctx context.Context, login string) (auth.User, error) {
	if login == g.held {
		g.entered <- struct{}{}
		<-g.open
	}
	return g.UserStore.UserByLogin(ctx, login)
}

// TestHashingBusyIs503: when password hashing has more work than it can do
// in time, log-in, sign-up, password change and setup answer 503 with
// Retry-After and a plain message, change nothing, and a login right after
// the burst succeeds. The old app queued them without end (here the login
// went through while two others were waiting).
func TestHashingBusyIs503(t *testing.T) {
	t.Parallel()
	console := &syncBuffer{}
	ta := newTestApp(t, func(c *Config) {
		c.DisableSetupToken = false
		c.Console = console
	})
	m := regexp.MustCompile(`setup token:\s+([A-Z2-7]+)`).FindStringSubmatch(console.String())
	require.Len(t, m, 2, console.String())
	seller, _ := ta.userClient("seller@example.com", "Seller")

	// The app's Authenticator, with room for one hash and one in the queue,
	// over a store that holds logins of held@example.com.
	hasher, err := password.NewHasher(password.HasherConfig{Params: cheapHashing.Params, AllowWeakParams: true,
		Peppers: ta.keys.Peppers, MaxConcurrent: 1, MaxQueue: 1})
	require.NoError(t, err)
	users := gatedUsers{UserStore: authUsers{ta.db}, held: "held@example.com", entered: make(chan struct{}, 2), open: make(chan struct{})}
	ta.authn, err = auth.NewAuthenticator(users, ta.sessions, auth.AuthenticatorConfig{
		Hasher: hasher, Throttle: ta.loginThrottle, Audit: ta.audit})
	require.NoError(t, err)

	held := make(chan int, 2)
	for range 2 {
		go func() {
			res, err := http.PostForm(ta.URL+"/login", url.Values{"email": {"held@example.com"}, "password": {"wrong password"}})
			if err != nil {
				held <- 0
				return
			}
			res.Body.Close()
			held <- res.StatusCode
		}()
		<-users.entered
	}

	setup := url.Values{"token": {m[1]}, "email": {"root@example.com"}, "name": {"Root"}, "password": {goodPassword}, "password2": {goodPassword}}
	const next = "quiet harbour lamps at dusk 7"
	for _, tc := range []struct {
		name, path string
		c          *client
		form       url.Values
	}{
		{"log-in", "/login", ta.client(), url.Values{"email": {"seller@example.com"}, "password": {goodPassword}}},
		{"sign-up", "/signup", ta.client(), signupForm("new@example.com", "New", goodPassword, goodPassword)},
		{"password change", "/account/password", seller, url.Values{"current": {goodPassword}, "password": {next}, "password2": {next}}},
		{"setup", "/setup", ta.client(), setup},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := tc.c.post(tc.path, tc.form)
			assert.Equal(t, http.StatusServiceUnavailable, r.Status, r.Body)
			assert.Regexp(t, `^[1-9][0-9]*$`, r.Header.Get("Retry-After"))
			assert.Contains(t, r.Body, "The site is busy right now. Please wait")
			for _, internal := range []string{"auth:", "queue", "hashing"} {
				assert.NotContains(t, strings.ToLower(r.Body), internal)
			}
		})
	}
	assert.Equal(t, 1, ta.count(`SELECT COUNT(*) FROM users`), "nobody signed up or set up")

	close(users.open)
	for range 2 {
		assert.Equal(t, http.StatusUnauthorized, <-held, "the admitted logins are answered")
	}
	r := ta.client().post("/login", url.Values{"email": {"seller@example.com"}, "password": {goodPassword}})
	assert.Equal(t, http.StatusSeeOther, r.Status, "after the burst, a login succeeds with the unchanged password")
	assert.Positive(t, ta.waitAudit(string(auth.ActionHashingBusy)))
}
