package session_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/deployedworks/rampart/audit"
	"github.com/deployedworks/rampart/session"
	st "github.com/deployedworks/rampart/session/internal/storetest"
)

// TestRevokeOthersNeedsRecentAuth: ASVS 5.0 §7.5.2. A session whose
// sign-in is older than ReauthAge cannot sign its owner's other sessions
// out (a stolen session must not lock the owner out) until it proves a
// credential again: a password (Reauthenticate) or a second factor
// (MarkMFA). Nothing is revoked by the refused call.
func TestRevokeOthersNeedsRecentAuth(t *testing.T) {
	for _, how := range []string{"/reauth", "/mfa"} {
		t.Run(how, func(t *testing.T) {
			e := newEnv(t, nil)
			h := st.App(e.M, e.Clock.Now)
			other := e.Login(t, "ann", "")
			tok := e.Login(t, "ann", "")

			assert.Equal(t, http.StatusOK, st.Do(t, h, "/whoami", tok).Code)
			e.Clock.Add(session.DefaultReauthAge - time.Second)
			tok = st.Do(t, h, "/whoami", tok).Token
			e.Clock.Add(2 * time.Second) // past ReauthAge, within the idle timeout
			r := st.Do(t, h, "/revoke-others", tok)
			assert.Equal(t, http.StatusInternalServerError, r.Code)
			assert.Contains(t, r.Body, session.ErrReauthRequired.Error())
			assert.Equal(t, "ann||pwd|-", e.WhoAmI(t, other), "attack refused: the other session lives")

			r = st.Do(t, h, how, tok)
			require.Equal(t, "ok", r.Body)
			tok = r.Token
			require.Equal(t, "ok", st.Do(t, h, "/revoke-others", tok).Body)
			assert.Equal(t, "anonymous", e.WhoAmI(t, other))
		})
	}
}

// TestRevokeOwnSessionNeedsRecentAuth: a user signing out one of their
// own sessions needs a recent authentication too; an administrator
// revoking another user's session does not (the app guards that route).
func TestRevokeOwnSessionNeedsRecentAuth(t *testing.T) {
	e := newEnv(t, nil)
	h := st.App(e.M, e.Clock.Now)
	victim := e.Login(t, "bo", "")
	tok := e.Login(t, "bo", "")
	admin := e.Login(t, "root", "admin")
	var victimHandle string
	lines := strings.Split(strings.TrimSpace(st.Do(t, h, "/sessions", victim).Body), "\n")
	require.Len(t, lines, 2)
	for _, l := range lines {
		if h, ok := strings.CutSuffix(l, " current"); ok {
			victimHandle = h // the session of that request
		}
	}
	require.NotEmpty(t, victimHandle)

	e.Clock.Add(session.DefaultReauthAge + time.Second)
	r := st.Do(t, h, "/revoke?user=bo&h="+victimHandle, tok)
	assert.Contains(t, r.Body, session.ErrReauthRequired.Error())
	assert.Equal(t, "bo||pwd|-", e.WhoAmI(t, victim))

	assert.Equal(t, "ok", st.Do(t, h, "/revoke?user=bo&h="+victimHandle, admin).Body, "another user's session: no re-authentication asked")
	assert.Equal(t, "anonymous", e.WhoAmI(t, victim))
}

// TestReauthenticate: it renews the token, moves AuthTime and adds the
// method once, and is audited; it needs a signed-in session.
func TestReauthenticate(t *testing.T) {
	e := newEnv(t, nil)
	h := st.App(e.M, e.Clock.Now)
	assert.Contains(t, st.Do(t, h, "/reauth", "").Body, session.ErrNotLoggedIn.Error())
	tok := e.Login(t, "cy", "")
	e.Clock.Add(time.Hour / 4)
	r := st.Do(t, h, "/reauth", tok)
	require.Equal(t, "ok", r.Body)
	assert.NotEqual(t, tok, r.Token, "token renewed")
	assert.Equal(t, "anonymous", e.WhoAmI(t, tok), "old token gone")
	assert.Equal(t, "cy||pwd|-", e.WhoAmI(t, r.Token), "pwd listed once, no MFA")
	st.AssertEvent(t, e.Audit, string(session.ActionReauth), "")
}

func TestReauthAgeConfig(t *testing.T) {
	_, err := session.New(session.Config{ReauthAge: -time.Second})
	assert.ErrorContains(t, err, "ReauthAge")
	e := newEnv(t, func(c *session.Config) { c.ReauthAge = time.Minute })
	h := st.App(e.M, e.Clock.Now)
	tok := e.Login(t, "di", "")
	e.Clock.Add(time.Minute + time.Second)
	assert.Contains(t, st.Do(t, h, "/revoke-others", tok).Body, session.ErrReauthRequired.Error())
}

// TestMalformedCookieAudited: ASVS 5.0 §16.3.3. A session cookie of the
// wrong shape is ignored (the request is anonymous) and recorded as
// suspicious, paced, since anyone can send one; no cookie, or a
// well-formed one, records nothing of the kind.
func TestMalformedCookieAudited(t *testing.T) {
	e := newEnv(t, nil)
	h := st.App(e.M, e.Clock.Now)
	for _, v := range []string{"not-a-token", strings.Repeat("A", 5000), "a\x00b", `"quoted junk"`} {
		req := httptest.NewRequest(http.MethodGet, "/whoami", nil)
		req.Header.Set("Cookie", session.DefaultCookieName+"="+v)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		assert.Equal(t, "anonymous", rec.Body.String())
	}
	st.Do(t, h, "/whoami", "")
	var n int
	for _, ev := range e.Audit.Events() {
		if ev.Action == session.ActionCookieRejected {
			n++
			assert.Equal(t, audit.CategorySuspicious, ev.Category)
			assert.Equal(t, audit.OutcomeDenied, ev.Outcome)
		}
	}
	assert.Equal(t, 4, n, "one per malformed cookie, none for a request without one")

	// A flood is paced: the clock stands still, so the budget's burst is
	// all that is recorded (and the Logger reports what it dropped).
	for range 200 {
		req := httptest.NewRequest(http.MethodGet, "/whoami", nil)
		req.Header.Set("Cookie", session.DefaultCookieName+"=junk")
		h.ServeHTTP(httptest.NewRecorder(), req)
	}
	n = 0
	for _, ev := range e.Audit.Events() {
		if ev.Action == session.ActionCookieRejected {
			n++
		}
	}
	assert.Less(t, n, 50, "paced")
}
