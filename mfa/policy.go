package mfa

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"path"
	"slices"
	"strings"
	"time"

	"github.com/deployedworks/rampart/audit"
	"github.com/deployedworks/rampart/identity"
	"github.com/deployedworks/rampart/internal/localpath"
	"github.com/deployedworks/rampart/internal/nilarg"
	"github.com/deployedworks/rampart/internal/reauth"
)

// EnrolmentChecker reports whether a user has a confirmed factor. [*TOTP]
// and *passkey.RelyingParty implement it.
type EnrolmentChecker interface {
	Enrolled(ctx context.Context, userID string) (bool, error)
}

// PolicyConfig configures [NewPolicy].
type PolicyConfig struct {
	// Factors are the factors a user can enrol: a user is enrolled when
	// any of them says so. Required. Recovery codes are not a factor: they
	// back one up.
	Factors []EnrolmentChecker

	// Roles must use MFA: a user holding any of them who has no factor can
	// reach only the routes wrapped in [Policy.AllowEnrolment]. Default:
	// ["admin"]. Set it to an empty, non-nil slice to require MFA of no
	// role.
	Roles []string

	// EnrolPath is where the default OnDeny sends a browser whose user
	// must enrol, e.g. "/account/mfa". Required: an absolute, clean path.
	// It only names a page: the route itself must be registered with
	// [Policy.AllowEnrolment] to be reachable.
	EnrolPath string

	// ChallengePath is where the default OnDeny sends a browser whose
	// user must verify, e.g. "/mfa". Required, like EnrolPath; register
	// the route with [Policy.AllowChallenge].
	ChallengePath string

	// ReauthPath is where the default OnDeny sends a browser whose user
	// has no factor and must re-enter their password before a sensitive
	// action ([ErrReauthRequired] from [Policy.StepUp]), e.g.
	// "/account/reauth". Required, like EnrolPath; the page checks the
	// password with auth's Authenticator.Reauthenticate.
	ReauthPath string

	// AllowUnverifiedEnrolled, when true, lets users outside Roles who
	// enrolled a factor use the site without verifying it. Default: false:
	// a user who enrolled is challenged like an administrator, so that
	// their factor protects them. Even when true, a principal with no
	// [identity.Principal.Methods] (signed in by a password-reset link,
	// which proves only the mailbox: see package account) whose user is
	// enrolled is challenged. Note that this looks up enrolment on every
	// request of such a user that has not verified.
	AllowUnverifiedEnrolled bool

	// OnDeny answers a refused request; err wraps [ErrUnauthenticated],
	// [ErrEnrolmentRequired], [ErrMFARequired], [ErrStepUpRequired] or a
	// lookup failure. Default: for a GET or HEAD that accepts text/html, a
	// 303 redirect to EnrolPath or ChallengePath with the original path in
	// the "next" query parameter; otherwise a JSON body
	// {"error": code, "location": path} with 401 or 403 as [WriteError]
	// maps them.
	OnDeny func(w http.ResponseWriter, r *http.Request, err error)

	// Audit receives each refusal (category access, action
	// [ActionPolicyDenied], outcome denied). Default: nil, the
	// [audit.Logger] whose Handler serves the request.
	Audit *audit.Logger

	// Now returns the current time, for StepUp. Default: time.Now.
	// Tests in a testing/synctest bubble leave it nil (the bubble's fake
	// clock drives time.Now); set it only to drive one clock through a
	// whole application outside a bubble (against a real database).
	Now func() time.Time
}

// Policy enforces MFA on routes, as middleware that each route's
// registration chooses:
//
//   - [Policy.Require], the default for signed-in routes: reachable once
//     MFA is done, or when the user need not use it;
//   - [Policy.AllowEnrolment]: also reachable by a user who must enrol a
//     factor and has none yet (the enrolment page and API);
//   - [Policy.AllowChallenge]: also reachable by a user who must pass the
//     MFA challenge (the challenge page and the verification API);
//   - [Policy.StepUp]: a fresh verification for sensitive actions.
//
// A route is reachable before MFA only if its own registration says so:
// a new route under the enrolment pages wrapped in Require is refused to
// a user who has not enrolled. Routes that need no MFA state at all
// (logout) take none of these.
//
// The signed-in user is the principal in the request context
// ([identity.FromContext]), set by the session layer. The session passed
// MFA when the principal says so ([identity.Principal.MFA]: a second
// factor was verified in it, which sets MFATime, or its methods include
// [identity.MethodMultiFactor]). A passwordless sign-in with a
// user-verified passkey marks the session that way, so it satisfies the
// policy by itself.
//
// A Policy is safe for concurrent use and fails closed: a failed
// enrolment lookup refuses the request.
type Policy struct {
	factors  []EnrolmentChecker
	roles    []string
	enrolTo  string
	challTo  string
	reauthTo string
	allowUnv bool
	deny     func(http.ResponseWriter, *http.Request, error)
	audit    *audit.Logger
	now      func() time.Time
}

// NewPolicy checks cfg and returns a Policy. It keeps a copy of cfg.
func NewPolicy(cfg PolicyConfig) (*Policy, error) {
	if len(cfg.Factors) == 0 || slices.ContainsFunc(cfg.Factors, func(f EnrolmentChecker) bool { return nilarg.Is(f) }) {
		return nil, errors.New("mfa: PolicyConfig.Factors is required: pass the *mfa.TOTP and/or *passkey.RelyingParty users can enrol")
	}
	for _, p := range []string{cfg.EnrolPath, cfg.ChallengePath, cfg.ReauthPath} {
		if !strings.HasPrefix(p, "/") || !cleanPath(p) || p == "/" {
			return nil, fmt.Errorf("mfa: PolicyConfig: path %q: EnrolPath, ChallengePath and ReauthPath are required, and must be absolute, clean and not \"/\"", p)
		}
	}
	p := &Policy{
		factors:  slices.Clone(cfg.Factors),
		roles:    slices.Clone(cfg.Roles),
		enrolTo:  cfg.EnrolPath,
		challTo:  cfg.ChallengePath,
		reauthTo: cfg.ReauthPath,
		allowUnv: cfg.AllowUnverifiedEnrolled,
		deny:     cfg.OnDeny,
		audit:    cfg.Audit,
		now:      cfg.Now,
	}
	if cfg.Roles == nil {
		p.roles = []string{"admin"}
	}
	if p.now == nil {
		p.now = time.Now
	}
	if p.deny == nil {
		p.deny = p.defaultDeny
	}
	return p, nil
}

// Require is middleware that enforces MFA for every request it wraps:
//
//   - no signed-in user: refused with [ErrUnauthenticated] (put Require
//     after the authentication middleware);
//   - the session passed MFA: allowed;
//   - the user holds one of Roles and has no factor: refused with
//     [ErrEnrolmentRequired];
//   - the user has a factor (and holds one of Roles, or
//     AllowUnverifiedEnrolled is false, or the principal has no
//     authentication methods): refused with [ErrMFARequired];
//   - otherwise (a user who may use MFA and has not enrolled): allowed.
//
// Use it as r.Use(policy.Require) on every signed-in route group, and
// [Policy.AllowEnrolment] or [Policy.AllowChallenge] instead on the few
// routes that must be reachable before MFA.
func (p *Policy) Require(next http.Handler) http.Handler {
	return p.guard(next, nil)
}

// AllowEnrolment is middleware like [Policy.Require], except that it also
// lets through a user who must enrol a factor and has none
// ([ErrEnrolmentRequired]). Wrap the enrolment page and API in it (TOTP
// enrol and confirm, passkey registration), behind [Policy.StepUp]. A
// user who has a factor but has not verified it in this session is still
// refused with [ErrMFARequired], so that a stolen password cannot add a
// factor.
func (p *Policy) AllowEnrolment(next http.Handler) http.Handler {
	return p.guard(next, ErrEnrolmentRequired)
}

// AllowChallenge is middleware like [Policy.Require], except that it also
// lets through a user who must pass the MFA challenge ([ErrMFARequired]).
// Wrap the challenge page and the verification API in it (TOTP and
// recovery-code checks, passkey verification). A user who must enrol
// first is still refused with [ErrEnrolmentRequired].
func (p *Policy) AllowChallenge(next http.Handler) http.Handler {
	return p.guard(next, ErrMFARequired)
}

// guard refuses the requests [Policy.Check] refuses, except with allowed.
func (p *Policy) guard(next http.Handler, allowed error) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := p.Check(r); err != nil && (allowed == nil || !errors.Is(err, allowed)) {
			p.refuse(w, r, err)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// Check is the decision of [Policy.Require] for r: nil to allow, or an
// error saying why not. [Policy.AllowEnrolment] allows an error wrapping
// [ErrEnrolmentRequired] too, and [Policy.AllowChallenge] one wrapping
// [ErrMFARequired].
func (p *Policy) Check(r *http.Request) error {
	ctx := r.Context()
	id, ok := identity.FromContext(ctx)
	if !ok {
		return ErrUnauthenticated
	}
	if id.MFA() {
		return nil
	}
	required := p.Required(id.Roles)
	// A principal with no methods was signed in by something other than a
	// credential (a password-reset link: possession of the mailbox): it
	// is challenged whatever AllowUnverifiedEnrolled says.
	if !required && p.allowUnv && len(id.Methods) > 0 {
		return nil
	}
	enrolled, err := p.enrolled(ctx, id.UserID)
	if err != nil {
		return err
	}
	switch {
	case enrolled:
		return ErrMFARequired
	case required:
		return ErrEnrolmentRequired
	}
	return nil
}

// Required reports whether a user holding roles must use MFA: whether
// any of them is in [PolicyConfig.Roles]. Such a user can reach only the
// routes wrapped in [Policy.AllowEnrolment] until they enrol, and must
// keep a factor: pass Required's answer as keepLast to [TOTP.Disable] and
// to passkey's RemoveCredential.
func (p *Policy) Required(roles []string) bool {
	return slices.ContainsFunc(roles, func(role string) bool { return slices.Contains(p.roles, role) })
}

// StepUp returns middleware for sensitive actions (changing a password or
// email, adding or removing a factor, administrative changes): a user who
// has a factor must have verified it in this session within maxAge, or is
// refused with [ErrStepUpRequired] and sent to the challenge. A user with
// no factor must have signed in or re-entered their password within
// maxAge, or is refused with [ErrReauthRequired] and sent to ReauthPath
// (OWASP ASVS 5.0 §7.5.1: a session stolen after sign-in cannot add its
// own first factor). Combine StepUp with [Policy.Require] so that roles
// that must use MFA have a factor. Use it as
// r.With(policy.StepUp(10*time.Minute)). Panics if maxAge is not
// positive.
func (p *Policy) StepUp(maxAge time.Duration) func(http.Handler) http.Handler {
	if maxAge <= 0 {
		panic("mfa: StepUp: maxAge must be positive")
	}
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if err := p.CheckStepUp(r, maxAge); err != nil {
				p.refuse(w, r, err)
				return
			}
			next.ServeHTTP(w, r)
		})
	}
}

// CheckStepUp is the decision of [Policy.StepUp] for r.
func (p *Policy) CheckStepUp(r *http.Request, maxAge time.Duration) error {
	ctx := r.Context()
	id, ok := identity.FromContext(ctx)
	if !ok {
		return ErrUnauthenticated
	}
	if reauth.Recent(id, p.now(), maxAge, true) {
		return nil
	}
	enrolled, err := p.enrolled(ctx, id.UserID)
	if err != nil {
		return err
	}
	return CheckReauth(ctx, id.UserID, enrolled, maxAge, p.now())
}

func (p *Policy) enrolled(ctx context.Context, userID string) (bool, error) {
	for _, f := range p.factors {
		ok, err := f.Enrolled(ctx, userID)
		if err != nil {
			return false, fmt.Errorf("mfa: policy: enrolment lookup: %w", err)
		}
		if ok {
			return true, nil
		}
	}
	return false, nil
}

// refuse audits a refusal and hands it to the deny handler.
func (p *Policy) refuse(w http.ResponseWriter, r *http.Request, err error) {
	id, _ := identity.FromContext(r.Context())
	p.audit.Log(r.Context(), audit.Event{
		Category: audit.CategoryAccess, Action: ActionPolicyDenied, Outcome: audit.OutcomeDenied,
		Actor: identity.Principal{UserID: id.UserID, Roles: id.Roles}, Reason: err.Error(),
		UserAgent: r.UserAgent(), Meta: map[string]string{"path": r.URL.Path, "method": r.Method},
	})
	p.deny(w, r, err)
}

// defaultDeny redirects browsers navigating to a page and answers JSON to
// everything else.
func (p *Policy) defaultDeny(w http.ResponseWriter, r *http.Request, err error) {
	to := ""
	switch {
	case errors.Is(err, ErrEnrolmentRequired):
		to = p.enrolTo
	case errors.Is(err, ErrMFARequired), errors.Is(err, ErrStepUpRequired):
		to = p.challTo
	case errors.Is(err, ErrReauthRequired):
		to = p.reauthTo
	}
	if to == "" {
		WriteError(w, r, err)
		return
	}
	if (r.Method == http.MethodGet || r.Method == http.MethodHead) && strings.Contains(r.Header.Get("Accept"), "text/html") {
		if next := r.URL.RequestURI(); localpath.Is(next) {
			to += "?next=" + url.QueryEscape(next)
		}
		w.Header().Set("Cache-Control", "no-store")
		http.Redirect(w, r, to, http.StatusSeeOther)
		return
	}
	status, code := errorStatus(err)
	writeJSON(w, status, map[string]string{"error": code, "location": to})
}

// cleanPath reports whether p is in canonical form: path.Clean would not
// change it, apart from a trailing slash.
func cleanPath(p string) bool {
	c := path.Clean(p)
	return c == p || c+"/" == p
}
