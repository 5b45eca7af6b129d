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
)

// EnrolmentChecker reports whether a user has a confirmed factor. [*TOTP]
// and [*WebAuthn] implement it.
type EnrolmentChecker interface {
	Enrolled(ctx context.Context, userID string) (bool, error)
}

// PolicyConfig configures [NewPolicy].
type PolicyConfig struct {
	// Sessions reads the signed-in user. Required; *session.Manager
	// implements it.
	Sessions IdentityReader

	// Factors are the factors a user can enrol: a user is enrolled when
	// any of them says so. Required. Recovery codes are not a factor: they
	// back one up.
	Factors []EnrolmentChecker

	// Roles must use MFA: a user holding any of them who has no factor can
	// reach only the enrolment paths. Default: ["admin"] (policy section
	// 3). Set it to an empty, non-nil slice to require MFA of no role.
	Roles []string

	// EnrolPath is where a user who must enrol is sent, e.g.
	// "/account/mfa". Required.
	EnrolPath string

	// EnrolPaths are further paths reachable while enrolment is required:
	// the enrolment API (TOTP enrol and confirm, WebAuthn registration),
	// logout. EnrolPath is always included. A path ending in "/" matches
	// its whole subtree; any other matches exactly. Requests whose path is
	// not in canonical form ("/a/../b", "//b") never match.
	EnrolPaths []string

	// ChallengePath is where a user who must verify is sent, e.g.
	// "/mfa/verify". Required.
	ChallengePath string

	// ChallengePaths are further paths reachable while verification is
	// required: the verification API (TOTP and recovery-code checks,
	// WebAuthn BeginVerify and FinishVerify), logout. ChallengePath is
	// always included. Matched like EnrolPaths. Enrolment paths are not
	// reachable then, so that a stolen password cannot add a factor.
	ChallengePaths []string

	// AllowUnverifiedEnrolled, when true, lets users outside Roles who
	// enrolled a factor use the site without verifying it. Default: false:
	// a user who enrolled is challenged like an administrator, so that
	// their factor protects them. Note that this looks up enrolment on
	// every request of such a user that has not verified.
	AllowUnverifiedEnrolled bool

	// DenyHandler answers a refused request; err wraps [ErrUnauthenticated],
	// [ErrEnrolmentRequired], [ErrMFARequired], [ErrStepUpRequired] or a
	// lookup failure. Default: for a GET or HEAD that accepts text/html, a
	// 303 redirect to EnrolPath or ChallengePath with the original path in
	// the "next" query parameter; otherwise a JSON body
	// {"error": code, "location": path} with 401 or 403 as [WriteError]
	// maps them.
	DenyHandler func(w http.ResponseWriter, r *http.Request, err error)

	// Audit receives each refusal (category access, outcome denied).
	// Default: nil, which discards them.
	Audit *audit.Logger

	// Now returns the current time, for StepUp. Default: time.Now.
	Now func() time.Time
}

// Policy enforces MFA: [Policy.Require] for roles that must use it, and
// [Policy.StepUp] for sensitive actions. It is safe for concurrent use
// and fails closed: a failed enrolment lookup refuses the request.
type Policy struct {
	sessions IdentityReader
	factors  []EnrolmentChecker
	roles    []string
	enrolTo  string
	enrol    []string
	challTo  string
	chall    []string
	allowUnv bool
	deny     func(http.ResponseWriter, *http.Request, error)
	audit    *audit.Logger
	now      func() time.Time
}

// NewPolicy checks cfg and returns a Policy. It keeps a copy of cfg.
func NewPolicy(cfg PolicyConfig) (*Policy, error) {
	if cfg.Sessions == nil {
		return nil, errors.New("mfa: PolicyConfig.Sessions is required (a *session.Manager)")
	}
	if len(cfg.Factors) == 0 || slices.Contains(cfg.Factors, nil) {
		return nil, errors.New("mfa: PolicyConfig.Factors is required: pass the *mfa.TOTP and/or *mfa.WebAuthn users can enrol")
	}
	for _, p := range append([]string{cfg.EnrolPath, cfg.ChallengePath}, append(cfg.EnrolPaths, cfg.ChallengePaths...)...) {
		if !strings.HasPrefix(p, "/") || !cleanPath(p) || p == "/" {
			return nil, fmt.Errorf("mfa: PolicyConfig: path %q: EnrolPath and ChallengePath are required, and every path must be absolute, clean and not \"/\"", p)
		}
	}
	p := &Policy{
		sessions: cfg.Sessions,
		factors:  slices.Clone(cfg.Factors),
		roles:    slices.Clone(cfg.Roles),
		enrolTo:  cfg.EnrolPath,
		enrol:    append([]string{cfg.EnrolPath}, cfg.EnrolPaths...),
		challTo:  cfg.ChallengePath,
		chall:    append([]string{cfg.ChallengePath}, cfg.ChallengePaths...),
		allowUnv: cfg.AllowUnverifiedEnrolled,
		deny:     cfg.DenyHandler,
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
//   - the user holds one of Roles and has no factor: only the enrolment
//     paths are reachable ([ErrEnrolmentRequired]);
//   - the user has a factor (and holds one of Roles, or
//     AllowUnverifiedEnrolled is false): only the challenge paths are
//     reachable ([ErrMFARequired]);
//   - otherwise (a user who may use MFA and has not enrolled): allowed.
//
// Use it as r.Use(policy.Require).
func (p *Policy) Require(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := p.Check(r); err != nil {
			p.refuse(w, r, err)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// Check is the decision of [Policy.Require] for r: nil to allow, or an
// error saying why not.
func (p *Policy) Check(r *http.Request) error {
	ctx := r.Context()
	id, ok := p.sessions.Identity(ctx)
	if !ok || id.UserID == "" {
		return ErrUnauthenticated
	}
	if !id.MFATime.IsZero() {
		return nil
	}
	required := p.Required(id.Roles)
	if !required && p.allowUnv {
		return nil
	}
	enrolled, err := p.enrolled(ctx, id.UserID)
	if err != nil {
		return err
	}
	switch {
	case enrolled:
		if matchPath(r.URL.Path, p.chall) {
			return nil
		}
		return ErrMFARequired
	case required:
		if matchPath(r.URL.Path, p.enrol) {
			return nil
		}
		return ErrEnrolmentRequired
	}
	return nil
}

// Required reports whether a user holding roles must use MFA: whether
// any of them is in [PolicyConfig.Roles]. Such a user can reach only the
// enrolment paths until they enrol, and must keep a factor: pass
// Required's answer as keepLast to [TOTP.Disable] and
// [WebAuthn.RemoveCredential].
func (p *Policy) Required(roles []string) bool {
	return slices.ContainsFunc(roles, func(role string) bool { return slices.Contains(p.roles, role) })
}

// StepUp returns middleware for sensitive actions (changing a password or
// email, removing a factor, administrative changes): a user who has a
// factor must have verified it in this session within maxAge, or is
// refused with [ErrStepUpRequired] and sent to the challenge. A user with
// no factor passes, as there is nothing to step up with; combine StepUp
// with [Policy.Require] so that roles that must use MFA have one. Use it
// as r.With(policy.StepUp(10*time.Minute)). Panics if maxAge is not
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
	id, ok := p.sessions.Identity(ctx)
	if !ok || id.UserID == "" {
		return ErrUnauthenticated
	}
	if !id.MFATime.IsZero() && p.now().Sub(id.MFATime) <= maxAge {
		return nil
	}
	enrolled, err := p.enrolled(ctx, id.UserID)
	if err != nil {
		return err
	}
	if !enrolled {
		return nil
	}
	return ErrStepUpRequired
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
	id, _ := p.sessions.Identity(r.Context())
	logEvent(r.Context(), p.audit, audit.Event{
		Category: audit.CategoryAccess, Action: "mfa.policy.denied", Outcome: audit.OutcomeDenied,
		Actor: audit.Actor{UserID: id.UserID, Roles: id.Roles}, Reason: err.Error(),
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
	}
	if to == "" {
		WriteError(w, r, err)
		return
	}
	if (r.Method == http.MethodGet || r.Method == http.MethodHead) && strings.Contains(r.Header.Get("Accept"), "text/html") {
		if next := r.URL.RequestURI(); safeNext(next) {
			to += "?next=" + url.QueryEscape(next)
		}
		w.Header().Set("Cache-Control", "no-store")
		http.Redirect(w, r, to, http.StatusSeeOther)
		return
	}
	status, code := errorStatus(err)
	writeJSON(w, status, map[string]string{"error": code, "location": to})
}

// safeNext reports whether s is a local path that cannot be read as
// another origin ("//host", "/\host").
func safeNext(s string) bool {
	return strings.HasPrefix(s, "/") && !strings.HasPrefix(s, "//") && !strings.HasPrefix(s, "/\\") &&
		!strings.ContainsAny(s, "\r\n\t")
}

// cleanPath reports whether p is in canonical form: path.Clean would not
// change it, apart from a trailing slash.
func cleanPath(p string) bool {
	c := path.Clean(p)
	return c == p || c+"/" == p
}

// matchPath reports whether the request path p is one of patterns: equal
// to one, or inside one that ends in "/". A path not in canonical form
// matches nothing.
func matchPath(p string, patterns []string) bool {
	if !strings.HasPrefix(p, "/") || !cleanPath(p) {
		return false
	}
	for _, pat := range patterns {
		if p == pat || strings.HasSuffix(pat, "/") && strings.HasPrefix(p, pat) {
			return true
		}
	}
	return false
}
