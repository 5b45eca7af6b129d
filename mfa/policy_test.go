package mfa_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/deployedworks/rampart/audit"
	"github.com/deployedworks/rampart/identity"
	"github.com/deployedworks/rampart/internal/testenv"
	"github.com/deployedworks/rampart/mfa"
)

// factorFunc adapts a function to mfa.EnrolmentChecker.
type factorFunc func(ctx context.Context, userID string) (bool, error)

func (f factorFunc) Enrolled(ctx context.Context, userID string) (bool, error) { return f(ctx, userID) }

// enrolledUsers is a factor in which the listed users are enrolled and
// "broken" makes the lookup fail.
func enrolledUsers(users ...string) factorFunc {
	return func(_ context.Context, userID string) (bool, error) {
		if userID == "broken" {
			return false, errors.New("database down")
		}
		for _, u := range users {
			if u == userID {
				return true, nil
			}
		}
		return false, nil
	}
}

func newPolicy(t *testing.T, c *testenv.Clock, mutate func(*mfa.PolicyConfig)) (*mfa.Policy, *audit.MemorySink) {
	t.Helper()
	lg, sink := newAudit()
	cfg := mfa.PolicyConfig{
		// TOTP knows enrolled-admin and enrolled-user; passkeys know
		// passkey-admin.
		Factors:       []mfa.EnrolmentChecker{enrolledUsers("enrolled-admin", "enrolled-user"), enrolledUsers("passkey-admin")},
		EnrolPath:     "/account/mfa",
		ChallengePath: "/mfa/verify",
		ReauthPath:    "/account/reauth",
		Audit:         lg,
		Now:           c.Now,
	}
	if mutate != nil {
		mutate(&cfg)
	}
	p, err := mfa.NewPolicy(cfg)
	require.NoError(t, err)
	return p, sink
}

var okHandler = http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok")) })

type policyRow struct {
	name   string
	id     *identity.Principal
	method string
	path   string
	html   bool
	status int
	body   string // substring of the body, or Location for redirects
}

func runPolicy(t *testing.T, h http.Handler, rows []policyRow) {
	t.Helper()
	for _, r := range rows {
		t.Run(r.name, func(t *testing.T) {
			method := r.method
			if method == "" {
				method = http.MethodGet
			}
			req := httptest.NewRequest(method, r.path, nil)
			if r.html {
				req.Header.Set("Accept", "text/html,application/xhtml+xml")
			} else {
				req.Header.Set("Accept", "application/json")
			}
			if r.id != nil {
				req = req.WithContext(identity.NewContext(req.Context(), *r.id))
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			assert.Equal(t, r.status, rec.Code, rec.Body.String())
			if rec.Code == http.StatusSeeOther {
				assert.Equal(t, r.body, rec.Header().Get("Location"))
			} else {
				assert.Contains(t, rec.Body.String(), r.body)
			}
		})
	}
}

func TestPolicy_Require(t *testing.T) {
	c := newClock()
	p, sink := newPolicy(t, c, nil)
	verified := c.Now().Add(-time.Hour)
	admin := func(user string, mfaAt time.Time) *identity.Principal {
		return &identity.Principal{UserID: user, Roles: []string{"admin"}, MFATime: mfaAt}
	}
	user := func(id string, mfaAt time.Time) *identity.Principal {
		return &identity.Principal{UserID: id, Roles: []string{"buyer"}, MFATime: mfaAt}
	}
	var zero time.Time
	rows := []policyRow{
		{"no session", nil, "", "/admin", false, 401, `"unauthenticated"`},
		{"no session, browser", nil, "", "/admin", true, 401, `"unauthenticated"`},

		{"admin verified", admin("enrolled-admin", verified), "", "/admin", false, 200, "ok"},
		{"admin with passkey verified", admin("passkey-admin", verified), "", "/admin", false, 200, "ok"},

		{"admin not enrolled: app route, JSON", admin("new-admin", zero), http.MethodPost, "/admin/users", false, 403, `{"error":"mfa_enrolment_required","location":"/account/mfa"}`},
		{"admin not enrolled: app route, browser", admin("new-admin", zero), "", "/admin/users?page=2", true, 303, "/account/mfa?next=%2Fadmin%2Fusers%3Fpage%3D2"},
		{"admin not enrolled: enrol page", admin("new-admin", zero), "", "/account/mfa", true, 200, "ok"},
		{"admin not enrolled: enrol API", admin("new-admin", zero), http.MethodPost, "/account/mfa/totp/confirm", false, 200, "ok"},
		{"admin not enrolled: logout", admin("new-admin", zero), http.MethodPost, "/logout", false, 200, "ok"},
		{"admin not enrolled: challenge is not reachable", admin("new-admin", zero), "", "/mfa/verify", false, 403, "mfa_enrolment_required"},
		{"admin not enrolled: a new route under the enrolment pages, registered with Require", admin("new-admin", zero), http.MethodPost, "/account/mfa/export", false, 403, "mfa_enrolment_required"},
		{"attack: admin not enrolled, prefix without slash", admin("new-admin", zero), "", "/account/mfa-admin", false, 403, "mfa_enrolment_required"},

		{"admin enrolled, not verified: app route, JSON", admin("enrolled-admin", zero), "", "/admin", false, 401, `{"error":"mfa_required","location":"/mfa/verify"}`},
		{"admin enrolled, not verified: app route, browser", admin("enrolled-admin", zero), "", "/admin", true, 303, "/mfa/verify?next=%2Fadmin"},
		{"admin enrolled, not verified: HEAD from browser", admin("enrolled-admin", zero), http.MethodHead, "/admin", true, 303, "/mfa/verify?next=%2Fadmin"},
		{"admin enrolled, not verified: POST from browser gets JSON", admin("enrolled-admin", zero), http.MethodPost, "/admin", true, 401, ""},
		{"admin enrolled, not verified: challenge page", admin("enrolled-admin", zero), "", "/mfa/verify", true, 200, "ok"},
		{"admin enrolled, not verified: challenge API", admin("enrolled-admin", zero), http.MethodPost, "/mfa/api/totp", false, 200, "ok"},
		{"attack: stolen password adds a factor", admin("enrolled-admin", zero), http.MethodPost, "/account/mfa/totp/enrol", false, 401, "mfa_required"},
		{"admin enrolled, not verified: a new route under the challenge, registered with Require", admin("enrolled-admin", zero), http.MethodPost, "/mfa/api/export", false, 401, "mfa_required"},

		{"user not enrolled: allowed", user("plain-user", zero), "", "/orders", false, 200, "ok"},
		{"user enrolled, not verified: challenged", user("enrolled-user", zero), "", "/orders", false, 401, "mfa_required"},
		{"user enrolled, verified", user("enrolled-user", verified), "", "/orders", false, 200, "ok"},

		{"lookup fails: closed", admin("broken", zero), "", "/admin", false, 500, "internal_error"},
		{"lookup fails for a user: closed", user("broken", zero), "", "/orders", false, 500, "internal_error"},
	}
	// Each route's registration says whether it is reachable before MFA.
	mux := http.NewServeMux()
	mux.Handle("/", p.Require(okHandler))
	mux.Handle("GET /account/mfa", p.AllowEnrolment(okHandler))
	mux.Handle("POST /account/mfa/totp/confirm", p.AllowEnrolment(okHandler))
	mux.Handle("POST /account/mfa/totp/enrol", p.AllowEnrolment(okHandler))
	mux.Handle("POST /account/mfa/export", p.Require(okHandler))
	mux.Handle("GET /mfa/verify", p.AllowChallenge(okHandler))
	mux.Handle("POST /mfa/api/totp", p.AllowChallenge(okHandler))
	mux.Handle("POST /logout", okHandler)
	runPolicy(t, mux, rows)

	// The redirect's next parameter never points off-site.
	runPolicy(t, p.Require(okHandler), []policyRow{
		{"attack: open redirect through next", admin("enrolled-admin", zero), "", "//evil.example/x", true, 303, "/mfa/verify"},
	})

	denied := events(sink, string(mfa.ActionPolicyDenied))
	require.NotEmpty(t, denied)
	for _, e := range denied {
		assert.Equal(t, audit.CategoryAccess, e.Category)
		assert.Equal(t, audit.OutcomeDenied, e.Outcome)
		assert.NotEmpty(t, e.Meta["path"])
	}
}

func TestPolicy_RequireOptions(t *testing.T) {
	c := newClock()
	var zero time.Time
	t.Run("AllowUnverifiedEnrolled", func(t *testing.T) {
		pwd := []identity.Method{identity.MethodPassword}
		p, _ := newPolicy(t, c, func(cfg *mfa.PolicyConfig) { cfg.AllowUnverifiedEnrolled = true })
		runPolicy(t, p.Require(okHandler), []policyRow{
			{"user enrolled, not verified", &identity.Principal{UserID: "enrolled-user", Methods: pwd}, "", "/orders", false, 200, "ok"},
			{"admin still challenged", &identity.Principal{UserID: "enrolled-admin", Roles: []string{"admin"}, Methods: pwd}, "", "/admin", false, 401, "mfa_required"},
			// A session signed in by possession of the mailbox alone (a
			// password-reset link: no methods) must pass the factor.
			{"attack: user enrolled, signed in by a reset link", &identity.Principal{UserID: "enrolled-user"}, "", "/orders", false, 401, "mfa_required"},
			{"user not enrolled, signed in by a reset link", &identity.Principal{UserID: "plain-user"}, "", "/orders", false, 200, "ok"},
			{"user enrolled, signed in by a reset link, verified", &identity.Principal{UserID: "enrolled-user", MFATime: c.Now()}, "", "/orders", false, 200, "ok"},
		})
	})
	t.Run("custom roles", func(t *testing.T) {
		p, _ := newPolicy(t, c, func(cfg *mfa.PolicyConfig) { cfg.Roles = []string{"moderator"} })
		runPolicy(t, p.Require(okHandler), []policyRow{
			{"moderator not enrolled", &identity.Principal{UserID: "m", Roles: []string{"buyer", "moderator"}}, "", "/mod", false, 403, "mfa_enrolment_required"},
			{"admin is no longer required", &identity.Principal{UserID: "a", Roles: []string{"admin"}, MFATime: zero}, "", "/admin", false, 200, "ok"},
		})
	})
	t.Run("custom deny handler gets the reason", func(t *testing.T) {
		var got error
		p, _ := newPolicy(t, c, func(cfg *mfa.PolicyConfig) {
			cfg.OnDeny = func(w http.ResponseWriter, _ *http.Request, err error) {
				got = err
				w.WriteHeader(http.StatusTeapot)
			}
		})
		runPolicy(t, p.Require(okHandler), []policyRow{
			{"denied", &identity.Principal{UserID: "new-admin", Roles: []string{"admin"}}, "", "/admin", false, http.StatusTeapot, ""},
		})
		assert.ErrorIs(t, got, mfa.ErrEnrolmentRequired)
	})
}

func TestPolicy_StepUp(t *testing.T) {
	c := newClock()
	p, sink := newPolicy(t, c, nil)
	now := c.Now()
	at := func(user string, mfaAt time.Time) *identity.Principal {
		return &identity.Principal{UserID: user, Roles: []string{"admin"}, MFATime: mfaAt}
	}
	signedInAt := func(user string, authAt time.Time) *identity.Principal {
		return &identity.Principal{UserID: user, Methods: []identity.Method{identity.MethodPassword}, AuthTime: authAt}
	}
	rows := []policyRow{
		{"no session", nil, http.MethodPost, "/admin/delete", false, 401, "unauthenticated"},
		{"verified a minute ago", at("enrolled-admin", now.Add(-time.Minute)), http.MethodPost, "/admin/delete", false, 200, "ok"},
		{"verified exactly maxAge ago", at("enrolled-admin", now.Add(-10*time.Minute)), http.MethodPost, "/admin/delete", false, 200, "ok"},
		{"verified just over maxAge ago", at("enrolled-admin", now.Add(-10*time.Minute-time.Nanosecond)), http.MethodPost, "/admin/delete", false, 401, `{"error":"step_up_required","location":"/mfa/verify"}`},
		{"verified an hour ago, browser", at("enrolled-admin", now.Add(-time.Hour)), "", "/admin/settings", true, 303, "/mfa/verify?next=%2Fadmin%2Fsettings"},
		{"never verified", at("enrolled-admin", time.Time{}), http.MethodPost, "/admin/delete", false, 401, "step_up_required"},
		// ASVS 5.0 §7.5.1: a user with no factor re-enters the password
		// instead: a session stolen after sign-in cannot add a first factor.
		{"no factor, signed in a minute ago", signedInAt("plain", now.Add(-time.Minute)), http.MethodPost, "/account/mfa/totp", false, 200, "ok"},
		{"no factor, re-authenticated exactly maxAge ago", signedInAt("plain", now.Add(-10*time.Minute)), http.MethodPost, "/account/mfa/totp", false, 200, "ok"},
		{"attack: no factor, stolen session signed in an hour ago", signedInAt("plain", now.Add(-time.Hour)), http.MethodPost, "/account/mfa/totp", false, 401, `{"error":"reauth_required","location":"/account/reauth"}`},
		{"attack: no factor, stale session, browser", signedInAt("plain", now.Add(-time.Hour)), "", "/account/mfa", true, 303, "/account/reauth?next=%2Faccount%2Fmfa"},
		{"no factor, no sign-in time", at("plain", time.Time{}), http.MethodPost, "/account/email", false, 401, "reauth_required"},
		{"attack: a factor, fresh password only", signedInAt("enrolled-admin", now), http.MethodPost, "/admin/delete", false, 401, "step_up_required"},
		{"lookup fails: closed", at("broken", time.Time{}), http.MethodPost, "/admin/delete", false, 500, "internal_error"},
	}
	runPolicy(t, p.StepUp(10*time.Minute)(okHandler), rows)
	assert.NotEmpty(t, events(sink, string(mfa.ActionPolicyDenied)))

	req := httptest.NewRequest(http.MethodGet, "/x", nil)
	req = req.WithContext(identity.NewContext(req.Context(), *at("enrolled-admin", now.Add(-time.Hour))))
	assert.ErrorIs(t, p.CheckStepUp(req, time.Hour), nil)
	assert.ErrorIs(t, p.CheckStepUp(req, time.Minute), mfa.ErrStepUpRequired)

	assert.Panics(t, func() { p.StepUp(0) })
}

func TestNewPolicy_Config(t *testing.T) {
	f := []mfa.EnrolmentChecker{enrolledUsers()}
	for _, r := range []struct {
		name string
		cfg  mfa.PolicyConfig
		ok   bool
	}{
		{"ok", mfa.PolicyConfig{Factors: f, EnrolPath: "/e", ChallengePath: "/c", ReauthPath: "/r"}, true},
		{"no factors", mfa.PolicyConfig{EnrolPath: "/e", ChallengePath: "/c", ReauthPath: "/r"}, false},
		{"nil factor", mfa.PolicyConfig{Factors: []mfa.EnrolmentChecker{nil}, EnrolPath: "/e", ChallengePath: "/c", ReauthPath: "/r"}, false},
		{"no enrol path", mfa.PolicyConfig{Factors: f, ChallengePath: "/c", ReauthPath: "/r"}, false},
		{"no challenge path", mfa.PolicyConfig{Factors: f, EnrolPath: "/e", ReauthPath: "/r"}, false},
		{"no reauth path", mfa.PolicyConfig{Factors: f, EnrolPath: "/e", ChallengePath: "/c"}, false},
		{"relative path", mfa.PolicyConfig{Factors: f, EnrolPath: "e", ChallengePath: "/c", ReauthPath: "/r"}, false},
		{"unclean path", mfa.PolicyConfig{Factors: f, EnrolPath: "/e", ChallengePath: "/a/../b", ReauthPath: "/r"}, false},
		{"root", mfa.PolicyConfig{Factors: f, EnrolPath: "/", ChallengePath: "/c", ReauthPath: "/r"}, false},
	} {
		t.Run(r.name, func(t *testing.T) {
			_, err := mfa.NewPolicy(r.cfg)
			assert.Equal(t, r.ok, err == nil, "%v", err)
			if err != nil {
				assert.True(t, strings.HasPrefix(err.Error(), "mfa: "))
			}
		})
	}
}

// The policy names the users who must keep a factor.
func TestPolicy_Required(t *testing.T) {
	p, err := mfa.NewPolicy(mfa.PolicyConfig{Factors: []mfa.EnrolmentChecker{stubChecker{}},
		EnrolPath: "/enrol", ChallengePath: "/mfa", ReauthPath: "/reauth"})
	require.NoError(t, err)
	assert.True(t, p.Required([]string{"seller", "admin"}), "admin by default")
	assert.False(t, p.Required([]string{"seller"}))
	assert.False(t, p.Required(nil))
	p, err = mfa.NewPolicy(mfa.PolicyConfig{Factors: []mfa.EnrolmentChecker{stubChecker{}},
		Roles: []string{}, EnrolPath: "/enrol", ChallengePath: "/mfa", ReauthPath: "/reauth"})
	require.NoError(t, err)
	assert.False(t, p.Required([]string{"admin"}), "no role required")
}

type stubChecker struct{}

func (stubChecker) Enrolled(context.Context, string) (bool, error) { return false, nil }
