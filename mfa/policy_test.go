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
	"github.com/deployedworks/rampart/internal/testenv"
	"github.com/deployedworks/rampart/mfa"
)

// ctxIdentity reads the identity a test put in the request context.
type ctxIdentity struct{}

type identityKey struct{}

func (ctxIdentity) Identity(ctx context.Context) (mfa.Identity, bool) {
	id, ok := ctx.Value(identityKey{}).(mfa.Identity)
	return id, ok
}

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
		Sessions: ctxIdentity{},
		// TOTP knows enrolled-admin and enrolled-user; WebAuthn knows
		// passkey-admin.
		Factors:        []mfa.EnrolmentChecker{enrolledUsers("enrolled-admin", "enrolled-user"), enrolledUsers("passkey-admin")},
		EnrolPath:      "/account/mfa",
		EnrolPaths:     []string{"/account/mfa/", "/logout"},
		ChallengePath:  "/mfa/verify",
		ChallengePaths: []string{"/mfa/api/", "/logout"},
		Audit:          lg,
		Now:            c.Now,
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
	id     *mfa.Identity
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
				req = req.WithContext(context.WithValue(req.Context(), identityKey{}, *r.id))
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
	admin := func(user string, mfaAt time.Time) *mfa.Identity {
		return &mfa.Identity{UserID: user, Roles: []string{"admin"}, MFATime: mfaAt}
	}
	user := func(id string, mfaAt time.Time) *mfa.Identity {
		return &mfa.Identity{UserID: id, Roles: []string{"buyer"}, MFATime: mfaAt}
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
		{"attack: admin not enrolled, traversal out of the enrol subtree", admin("new-admin", zero), "", "/account/mfa/../../admin", false, 403, "mfa_enrolment_required"},
		{"attack: admin not enrolled, prefix without slash", admin("new-admin", zero), "", "/account/mfa-admin", false, 403, "mfa_enrolment_required"},

		{"admin enrolled, not verified: app route, JSON", admin("enrolled-admin", zero), "", "/admin", false, 401, `{"error":"mfa_required","location":"/mfa/verify"}`},
		{"admin enrolled, not verified: app route, browser", admin("enrolled-admin", zero), "", "/admin", true, 303, "/mfa/verify?next=%2Fadmin"},
		{"admin enrolled, not verified: HEAD from browser", admin("enrolled-admin", zero), http.MethodHead, "/admin", true, 303, "/mfa/verify?next=%2Fadmin"},
		{"admin enrolled, not verified: POST from browser gets JSON", admin("enrolled-admin", zero), http.MethodPost, "/admin", true, 401, ""},
		{"admin enrolled, not verified: challenge page", admin("enrolled-admin", zero), "", "/mfa/verify", true, 200, "ok"},
		{"admin enrolled, not verified: challenge API", admin("enrolled-admin", zero), http.MethodPost, "/mfa/api/totp", false, 200, "ok"},
		{"attack: stolen password adds a factor", admin("enrolled-admin", zero), http.MethodPost, "/account/mfa/totp/enrol", false, 401, "mfa_required"},
		{"attack: traversal out of the challenge subtree", admin("enrolled-admin", zero), "", "/mfa/api/../../admin", false, 401, "mfa_required"},
		{"attack: double slash", admin("enrolled-admin", zero), "", "//mfa/api/x", false, 401, "mfa_required"},
		{"attack: open redirect through next", admin("enrolled-admin", zero), "", "//evil.example/x", true, 303, "/mfa/verify"},

		{"user not enrolled: allowed", user("plain-user", zero), "", "/orders", false, 200, "ok"},
		{"user enrolled, not verified: challenged", user("enrolled-user", zero), "", "/orders", false, 401, "mfa_required"},
		{"user enrolled, verified", user("enrolled-user", verified), "", "/orders", false, 200, "ok"},

		{"lookup fails: closed", admin("broken", zero), "", "/admin", false, 500, "internal_error"},
		{"lookup fails for a user: closed", user("broken", zero), "", "/orders", false, 500, "internal_error"},
	}
	runPolicy(t, p.Require(okHandler), rows)

	denied := events(sink, "mfa.policy.denied")
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
		p, _ := newPolicy(t, c, func(cfg *mfa.PolicyConfig) { cfg.AllowUnverifiedEnrolled = true })
		runPolicy(t, p.Require(okHandler), []policyRow{
			{"user enrolled, not verified", &mfa.Identity{UserID: "enrolled-user"}, "", "/orders", false, 200, "ok"},
			{"admin still challenged", &mfa.Identity{UserID: "enrolled-admin", Roles: []string{"admin"}}, "", "/admin", false, 401, "mfa_required"},
		})
	})
	t.Run("custom roles", func(t *testing.T) {
		p, _ := newPolicy(t, c, func(cfg *mfa.PolicyConfig) { cfg.Roles = []string{"moderator"} })
		runPolicy(t, p.Require(okHandler), []policyRow{
			{"moderator not enrolled", &mfa.Identity{UserID: "m", Roles: []string{"buyer", "moderator"}}, "", "/mod", false, 403, "mfa_enrolment_required"},
			{"admin is no longer required", &mfa.Identity{UserID: "a", Roles: []string{"admin"}, MFATime: zero}, "", "/admin", false, 200, "ok"},
		})
	})
	t.Run("custom deny handler gets the reason", func(t *testing.T) {
		var got error
		p, _ := newPolicy(t, c, func(cfg *mfa.PolicyConfig) {
			cfg.DenyHandler = func(w http.ResponseWriter, _ *http.Request, err error) {
				got = err
				w.WriteHeader(http.StatusTeapot)
			}
		})
		runPolicy(t, p.Require(okHandler), []policyRow{
			{"denied", &mfa.Identity{UserID: "new-admin", Roles: []string{"admin"}}, "", "/admin", false, http.StatusTeapot, ""},
		})
		assert.ErrorIs(t, got, mfa.ErrEnrolmentRequired)
	})
}

func TestPolicy_StepUp(t *testing.T) {
	c := newClock()
	p, sink := newPolicy(t, c, nil)
	now := c.Now()
	at := func(user string, mfaAt time.Time) *mfa.Identity {
		return &mfa.Identity{UserID: user, Roles: []string{"admin"}, MFATime: mfaAt}
	}
	rows := []policyRow{
		{"no session", nil, http.MethodPost, "/admin/delete", false, 401, "unauthenticated"},
		{"verified a minute ago", at("enrolled-admin", now.Add(-time.Minute)), http.MethodPost, "/admin/delete", false, 200, "ok"},
		{"verified exactly maxAge ago", at("enrolled-admin", now.Add(-10*time.Minute)), http.MethodPost, "/admin/delete", false, 200, "ok"},
		{"verified just over maxAge ago", at("enrolled-admin", now.Add(-10*time.Minute-time.Nanosecond)), http.MethodPost, "/admin/delete", false, 401, `{"error":"step_up_required","location":"/mfa/verify"}`},
		{"verified an hour ago, browser", at("enrolled-admin", now.Add(-time.Hour)), "", "/admin/settings", true, 303, "/mfa/verify?next=%2Fadmin%2Fsettings"},
		{"never verified", at("enrolled-admin", time.Time{}), http.MethodPost, "/admin/delete", false, 401, "step_up_required"},
		{"no factor: nothing to step up with", at("plain", time.Time{}), http.MethodPost, "/account/email", false, 200, "ok"},
		{"lookup fails: closed", at("broken", time.Time{}), http.MethodPost, "/admin/delete", false, 500, "internal_error"},
	}
	runPolicy(t, p.StepUp(10*time.Minute)(okHandler), rows)
	assert.NotEmpty(t, events(sink, "mfa.policy.denied"))

	req := httptest.NewRequest(http.MethodGet, "/x", nil)
	req = req.WithContext(context.WithValue(req.Context(), identityKey{}, *at("enrolled-admin", now.Add(-time.Hour))))
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
		{"ok", mfa.PolicyConfig{Sessions: ctxIdentity{}, Factors: f, EnrolPath: "/e", ChallengePath: "/c"}, true},
		{"no sessions", mfa.PolicyConfig{Factors: f, EnrolPath: "/e", ChallengePath: "/c"}, false},
		{"no factors", mfa.PolicyConfig{Sessions: ctxIdentity{}, EnrolPath: "/e", ChallengePath: "/c"}, false},
		{"nil factor", mfa.PolicyConfig{Sessions: ctxIdentity{}, Factors: []mfa.EnrolmentChecker{nil}, EnrolPath: "/e", ChallengePath: "/c"}, false},
		{"no enrol path", mfa.PolicyConfig{Sessions: ctxIdentity{}, Factors: f, ChallengePath: "/c"}, false},
		{"no challenge path", mfa.PolicyConfig{Sessions: ctxIdentity{}, Factors: f, EnrolPath: "/e"}, false},
		{"relative path", mfa.PolicyConfig{Sessions: ctxIdentity{}, Factors: f, EnrolPath: "e", ChallengePath: "/c"}, false},
		{"unclean path", mfa.PolicyConfig{Sessions: ctxIdentity{}, Factors: f, EnrolPath: "/e", ChallengePath: "/c", ChallengePaths: []string{"/a/../b"}}, false},
		{"root matches everything", mfa.PolicyConfig{Sessions: ctxIdentity{}, Factors: f, EnrolPath: "/e", ChallengePath: "/c", EnrolPaths: []string{"/"}}, false},
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
