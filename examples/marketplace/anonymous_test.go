package main

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	vwa "github.com/descope/virtualwebauthn"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/deployedworks/rampart/internal/testenv"
)

// TestAnonymousRequests_NoSessionRows is the regression test for issue 12
// point 8: each anonymous POST /logout, refused POST and passkey-begin used
// to write one session row, kept 30 minutes, so that anyone could grow the
// session table without limit. Their state (the flash, the challenge) now
// travels sealed in the cookie, and still works.
func TestAnonymousRequests_NoSessionRows(t *testing.T) {
	t.Parallel()
	ta := newTestApp(t)
	sessions := func() int { return ta.count(`SELECT COUNT(*) FROM rampart_sessions`) }
	before := sessions()
	const n = 10
	for range n {
		c := ta.client()
		r := c.post("/logout", nil)
		require.Equal(t, http.StatusSeeOther, r.Status, r.Body)
		assert.Contains(t, c.follow(r).Body, "You are logged out.", "the flash still shows")
		assert.NotContains(t, c.get("/").Body, "You are logged out.", "once")

		r = c.post("/listings", url.Values{"title": {"x"}})
		require.Equal(t, http.StatusSeeOther, r.Status, r.Body)
		assert.Contains(t, c.follow(r).Body, "Please log in again to continue.")

		r = c.postJSON("/login/passkey/begin", "")
		require.Equal(t, http.StatusOK, r.Status, r.Body)
		assert.Contains(t, r.Body, `"challenge"`)
	}
	assert.Equal(t, before, sessions(), "anonymous requests wrote session rows")
	ta.assertNoErrorsLogged()
}

// TestAnonymousRequests_PasskeyChallengeOnce sends one passwordless
// assertion four times at once with the same cookie, which holds the
// sealed challenge: exactly one signs in, because the challenge is claimed
// in the store.
func TestAnonymousRequests_PasskeyChallengeOnce(t *testing.T) {
	t.Parallel()
	ta := newTestApp(t)
	c, u := ta.userClient("sam@example.com", "Sam")
	pk := ta.newPasskey(vwa.AuthenticatorOptions{})
	require.Equal(t, http.StatusCreated, ta.registerPasskey(c, pk, "Key").Status)
	userSessions := func() int {
		return ta.count(`SELECT COUNT(*) FROM rampart_sessions WHERE user_id = ?`, u.ID)
	}
	before := userSessions()

	b := ta.client()
	r := b.postJSON("/login/passkey/begin", "")
	require.Equal(t, http.StatusOK, r.Status, r.Body)
	ao, err := vwa.ParseAssertionOptions(r.Body)
	require.NoError(t, err)
	pk.cred.Counter++
	assertion := vwa.CreateAssertionResponse(pk.rp, pk.auth, pk.cred, *ao)
	base, err := url.Parse(ta.URL)
	require.NoError(t, err)
	cookies := b.hc.Jar.Cookies(base)
	require.NotEmpty(t, cookies)

	const n = 4
	reqs := make([]*http.Request, n)
	for i := range reqs {
		req, err := http.NewRequest(http.MethodPost, ta.URL+"/login/passkey/finish", strings.NewReader(assertion))
		require.NoError(t, err)
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Accept", "application/json")
		for _, ck := range cookies {
			req.AddCookie(ck)
		}
		reqs[i] = req
	}
	codes := make([]int, n)
	testenv.Race(n, func(i int) {
		res, err := http.DefaultClient.Do(reqs[i])
		if err != nil {
			t.Error(err)
			return
		}
		codes[i] = res.StatusCode
		_ = res.Body.Close()
	})
	ok := 0
	for _, code := range codes {
		if code == http.StatusOK {
			ok++
		}
	}
	assert.Equal(t, 1, ok, "statuses %v", codes)
	assert.Equal(t, before+1, userSessions(), "exactly one session")
}
