package auth

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"mime"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/deployedworks/rampart/audit"
	"github.com/deployedworks/rampart/clientip"
	"github.com/deployedworks/rampart/internal/localpath"
)

// Errors of [Guard].
var (
	// ErrUnauthenticated means the request carries no identity. An
	// [IdentitySource] returns it (possibly wrapped) for an anonymous
	// request.
	ErrUnauthenticated = errors.New("auth: not authenticated")

	// ErrForbidden means the identity lacks every required role. It is
	// wrapped by [*ForbiddenError].
	ErrForbidden = errors.New("auth: forbidden")
)

// ForbiddenError is a request refused by [Guard.RequireRole]. It wraps
// [ErrForbidden].
type ForbiddenError struct {
	UserID string
	// Required are the roles of which the identity had none.
	Required []string
}

// Error names the user and the roles required; it is for logs and audit,
// not for the client.
func (e *ForbiddenError) Error() string {
	return fmt.Sprintf("auth: forbidden: user %q has none of the roles %s", e.UserID, strings.Join(e.Required, ", "))
}

// Unwrap returns [ErrForbidden].
func (e *ForbiddenError) Unwrap() error { return ErrForbidden }

// Identity is the authenticated principal of a request, as an
// [IdentitySource] reports it.
type Identity struct {
	// UserID is the authenticated user's stable ID. An Identity with an
	// empty UserID is anonymous.
	UserID string
	// Roles are the user's roles, compared exactly by [Guard.RequireRole].
	Roles []string
	// MFA reports that the session passed a second factor (set by the
	// session/mfa layer after step-up).
	MFA bool
	// SessionRef identifies the session in audit records without revealing
	// its token (see audit.Event.SessionRef); never the token itself.
	SessionRef string
}

// HasRole reports whether id has role.
func (id Identity) HasRole(role string) bool { return slices.Contains(id.Roles, role) }

// IdentitySource finds who sent a request. The session package implements
// it; any other session or token layer can.
//
// Identity returns the request's identity, an error wrapping
// [ErrUnauthenticated] when the request is anonymous (no session, expired,
// revoked, or a second factor still pending), or any other error when it
// cannot tell (the session store is down). [Guard] fails closed on the
// latter: HTTP 500, never an anonymous or authenticated request. It must be
// safe for concurrent use, and use r.Context() for any I/O.
//
// A session layer whose lookup reports (identity, ok) adapts in a few lines
// with [IdentitySourceFunc], for example:
//
//	src := auth.IdentitySourceFunc(func(r *http.Request) (auth.Identity, error) {
//		id, ok := sessions.Identity(r.Context())
//		if !ok {
//			return auth.Identity{}, auth.ErrUnauthenticated
//		}
//		return auth.Identity{UserID: id.UserID, Roles: id.Roles, MFA: !id.MFATime.IsZero()}, nil
//	})
type IdentitySource interface {
	Identity(r *http.Request) (Identity, error)
}

// IdentitySourceFunc adapts a function to [IdentitySource].
type IdentitySourceFunc func(r *http.Request) (Identity, error)

// Identity calls f(r).
func (f IdentitySourceFunc) Identity(r *http.Request) (Identity, error) { return f(r) }

// contextKey is the type of this package's context keys; a pointer to it
// cannot collide with anyone else's key.
type contextKey struct{ name string }

var identityKey = &contextKey{"identity"}

// IdentityFrom returns the identity [Guard.RequireAuth] or
// [Guard.RequireRole] stored in ctx.
func IdentityFrom(ctx context.Context) (Identity, bool) {
	id, ok := ctx.Value(identityKey).(Identity)
	return id, ok
}

// WithIdentity returns ctx carrying id, as the middleware does. It is meant
// for tests of handlers that call [IdentityFrom].
func WithIdentity(ctx context.Context, id Identity) context.Context {
	return context.WithValue(ctx, identityKey, id)
}

// GuardConfig tunes a [Guard]. The zero value is ready to use.
type GuardConfig struct {
	// LoginPath is where HTML clients without an identity are redirected.
	// It must be a local path. Default "/login".
	LoginPath string

	// NextParam is the query parameter that carries the page to return to
	// after login. Default "next". The login handler must check it with
	// [IsLocalPath] before redirecting to it.
	NextParam string

	// WantsHTML reports whether a refusal should be an HTML redirect or
	// page rather than JSON. Default: the Accept header lists text/html,
	// which browsers send for navigations; fetch, XHR and API clients
	// (*/*, application/json, none) get JSON.
	WantsHTML func(r *http.Request) bool

	// Deny writes every refusal. err wraps [ErrUnauthenticated],
	// [ErrForbidden], or another error (the identity source failed). It
	// must not write err's text to the client. Default: [Guard.DefaultDeny].
	Deny func(w http.ResponseWriter, r *http.Request, err error)

	// Audit receives access-denied events (RequireRole) and identity
	// source failures. Default: nil, which discards them.
	Audit *audit.Logger

	// ClientIP resolves the client's address for audit. Default: the
	// peer's address (a resolver that trusts no proxy).
	ClientIP *clientip.Resolver

	// Logger receives identity source failures. Default: slog.Default().
	Logger *slog.Logger
}

// Guard is the authentication and authorization middleware. Build one with
// [NewGuard]; it is safe for concurrent use.
type Guard struct {
	src       IdentitySource
	loginPath string
	nextParam string
	wantsHTML func(*http.Request) bool
	deny      func(http.ResponseWriter, *http.Request, error)
	audit     *audit.Logger
	ips       *clientip.Resolver
	log       *slog.Logger
}

// NewGuard returns a Guard reading identities from src. It returns an error
// if src is nil or LoginPath is not a local path.
func NewGuard(src IdentitySource, cfg GuardConfig) (*Guard, error) {
	if src == nil {
		return nil, errors.New("auth: NewGuard: IdentitySource is nil")
	}
	g := &Guard{src: src, loginPath: cfg.LoginPath, nextParam: cfg.NextParam, wantsHTML: cfg.WantsHTML,
		deny: cfg.Deny, audit: cfg.Audit, ips: cfg.ClientIP, log: cfg.Logger}
	if g.loginPath == "" {
		g.loginPath = "/login"
	}
	if !IsLocalPath(g.loginPath) {
		return nil, fmt.Errorf("auth: GuardConfig.LoginPath %q must be a local path such as /login", g.loginPath)
	}
	if g.nextParam == "" {
		g.nextParam = "next"
	}
	if g.wantsHTML == nil {
		g.wantsHTML = acceptsHTML
	}
	if g.deny == nil {
		g.deny = g.DefaultDeny
	}
	if g.log == nil {
		g.log = slog.Default()
	}
	if g.ips == nil {
		g.ips = clientip.MustNew(nil, clientip.Config{Logger: g.log})
	}
	return g, nil
}

// Check is the decision [Guard.RequireAuth] (no roles) and
// [Guard.RequireRole] (roles) make, without a server. It returns the
// request's identity, or an error wrapping [ErrUnauthenticated], a
// [*ForbiddenError] when the identity has none of roles, or the identity
// source's error. It reuses an identity already in the request's context.
func (g *Guard) Check(r *http.Request, roles ...string) (Identity, error) {
	id, ok := IdentityFrom(r.Context())
	if !ok {
		var err error
		id, err = g.src.Identity(r)
		switch {
		case errors.Is(err, ErrUnauthenticated):
			return Identity{}, err
		case err != nil:
			return Identity{}, fmt.Errorf("auth: identity source: %w", err)
		}
	}
	if id.UserID == "" {
		return Identity{}, ErrUnauthenticated // fail closed on an empty identity
	}
	if len(roles) > 0 && !slices.ContainsFunc(roles, id.HasRole) {
		return id, &ForbiddenError{UserID: id.UserID, Required: roles}
	}
	return id, nil
}

// RequireAuth lets requests with an identity through, with the identity in
// their context ([IdentityFrom]). Others are refused by the Deny handler:
// by default a 303 redirect to the login page for HTML clients and a 401
// JSON response for API clients, or a 500 if the identity source failed.
// Use it as r.Use(g.RequireAuth).
func (g *Guard) RequireAuth(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id, err := g.Check(r)
		if err != nil {
			g.refuse(w, r, id, err)
			return
		}
		next.ServeHTTP(w, r.WithContext(WithIdentity(r.Context(), id)))
	})
}

// RequireRole returns middleware that lets through requests whose identity
// has at least one of roles. Anonymous requests are refused as by
// [Guard.RequireAuth]; authenticated ones without the role get 403 and an
// access-denied audit event naming the user, their roles, the route and
// the roles required. Panics if roles is empty or contains "".
func (g *Guard) RequireRole(roles ...string) func(http.Handler) http.Handler {
	if len(roles) == 0 || slices.Contains(roles, "") {
		panic("auth: RequireRole needs at least one non-empty role")
	}
	roles = slices.Clone(roles)
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			id, err := g.Check(r, roles...)
			if err != nil {
				g.refuse(w, r, id, err)
				return
			}
			next.ServeHTTP(w, r.WithContext(WithIdentity(r.Context(), id)))
		})
	}
}

// refuse audits a refusal where one is due and hands it to the Deny
// handler.
func (g *Guard) refuse(w http.ResponseWriter, r *http.Request, id Identity, err error) {
	var fe *ForbiddenError
	switch {
	case errors.As(err, &fe):
		g.record(r, audit.Event{Category: audit.CategoryAccess, Action: "access.denied", Outcome: audit.OutcomeDenied,
			Actor: audit.Actor{UserID: fe.UserID, Roles: id.Roles}, SessionRef: id.SessionRef,
			Target: audit.Target{Kind: "route", ID: route(r)}, Reason: "missing_role",
			Meta: map[string]string{"required_roles": strings.Join(fe.Required, ",")}})
	case !errors.Is(err, ErrUnauthenticated):
		g.log.ErrorContext(r.Context(), "auth: identity source failed", slog.String("route", route(r)), slog.Any("error", err))
		g.record(r, audit.Event{Category: audit.CategoryError, Action: "identity.error", Outcome: audit.OutcomeFailure,
			Target: audit.Target{Kind: "route", ID: route(r)}, Reason: err.Error()})
	}
	g.deny(w, r, err)
}

func (g *Guard) record(r *http.Request, e audit.Event) {
	e.ClientIP = g.ips.Resolve(r).Addr
	e.UserAgent = truncate(r.UserAgent(), 256)
	if err := g.audit.Log(r.Context(), e); err != nil {
		g.log.ErrorContext(r.Context(), "auth: audit log failed", slog.String("action", string(e.Action)), slog.Any("error", err))
	}
}

// route names the request's route for audit: the ServeMux pattern when
// known, else the method and path.
func route(r *http.Request) string {
	if r.Pattern != "" {
		return r.Pattern
	}
	return r.Method + " " + truncate(r.URL.Path, 256)
}

// DefaultDeny is the default Deny handler. For [ErrUnauthenticated] it
// redirects HTML clients (303 See Other) to LoginPath, with NextParam set to
// the requested path and query for GET and HEAD requests whose target is a
// local path, and answers API clients 401 with
// {"error":"unauthenticated"}. For [ErrForbidden] it answers 403, and for
// any other error 500, as HTML or JSON, never with the error's text. Every
// response is marked Cache-Control: no-store and Vary: Accept.
func (g *Guard) DefaultDeny(w http.ResponseWriter, r *http.Request, err error) {
	h := w.Header()
	h.Set("Cache-Control", "no-store")
	h.Add("Vary", "Accept")
	html := g.wantsHTML(r)
	switch {
	case errors.Is(err, ErrUnauthenticated) && html:
		http.Redirect(w, r, g.loginURL(r), http.StatusSeeOther)
	case errors.Is(err, ErrUnauthenticated):
		writeError(w, false, http.StatusUnauthorized, "unauthenticated", "Sign in to continue.")
	case errors.Is(err, ErrForbidden):
		writeError(w, html, http.StatusForbidden, "forbidden", "You do not have access to this page.")
	default:
		writeError(w, html, http.StatusInternalServerError, "internal_error", "Something went wrong. Try again later.")
	}
}

// loginURL is LoginPath with NextParam pointing back at r, when safe.
func (g *Guard) loginURL(r *http.Request) string {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		return g.loginPath // a form post cannot be replayed by a redirect
	}
	next := r.URL.RequestURI()
	if !IsLocalPath(next) {
		return g.loginPath
	}
	u, _ := url.Parse(g.loginPath) // validated by NewGuard
	q := u.Query()
	q.Set(g.nextParam, next)
	u.RawQuery = q.Encode()
	return u.String()
}

func writeError(w http.ResponseWriter, html bool, status int, code, message string) {
	h := w.Header()
	h.Set("X-Content-Type-Options", "nosniff")
	if html {
		h.Set("Content-Type", "text/html; charset=utf-8")
		w.WriteHeader(status)
		fmt.Fprintf(w, "<!doctype html>\n<title>%d %s</title>\n<p>%s</p>\n", status, http.StatusText(status), message)
		return
	}
	h.Set("Content-Type", "application/json")
	w.WriteHeader(status)
	fmt.Fprintf(w, "{\"error\":%q,\"message\":%q}\n", code, message)
}

// acceptsHTML reports whether the Accept header lists text/html with a
// non-zero quality, as browsers do for page navigations.
func acceptsHTML(r *http.Request) bool {
	for _, line := range r.Header.Values("Accept") {
		for part := range strings.SplitSeq(line, ",") {
			mt, params, err := mime.ParseMediaType(strings.TrimSpace(part))
			if err != nil || mt != "text/html" {
				continue
			}
			if q, ok := params["q"]; ok {
				if v, err := strconv.ParseFloat(q, 64); err != nil || v <= 0 {
					continue
				}
			}
			return true
		}
	}
	return false
}

// IsLocalPath reports whether s is a path on this site that is safe to
// redirect to, such as a login form's "next" parameter: it starts with a
// single "/" (not "//" or "/\", which browsers read as another host), has
// no scheme, host or user info, no backslash, no control character or
// space (browsers strip tabs and newlines, turning "/\t/evil" into
// "//evil"), and at most 2048 bytes. Anything else, including an empty
// string, is refused: redirect to a fixed page instead.
func IsLocalPath(s string) bool { return localpath.Is(s) }
