package auth

import (
	"errors"
	"fmt"
	"mime"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/deployedworks/rampart/audit"
	"github.com/deployedworks/rampart/clientip"
	"github.com/deployedworks/rampart/identity"
	"github.com/deployedworks/rampart/internal/localpath"
)

// Errors of [Guard].
var (
	// ErrUnauthenticated means the request has no signed-in user: no
	// principal in its context ([identity.FromContext]).
	ErrUnauthenticated = errors.New("auth: not authenticated")

	// ErrForbidden means the principal lacks every required role. It is
	// wrapped by [*ForbiddenError].
	ErrForbidden = errors.New("auth: forbidden")
)

// ForbiddenError is a request refused by [Guard.RequireRole]. It wraps
// [ErrForbidden].
type ForbiddenError struct {
	UserID string
	// Required are the roles of which the principal had none.
	Required []string
}

// Error names the user and the roles required; it is for logs and audit,
// not for the client.
func (e *ForbiddenError) Error() string {
	return fmt.Sprintf("auth: forbidden: user %q has none of the roles %s", e.UserID, strings.Join(e.Required, ", "))
}

// Unwrap returns [ErrForbidden].
func (e *ForbiddenError) Unwrap() error { return ErrForbidden }

// GuardConfig tunes a [Guard]. The zero value is ready to use.
type GuardConfig struct {
	// LoginPath is where HTML clients without a signed-in user are
	// redirected. It must be a local path. Default "/login".
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

	// OnDeny writes every refusal. err is [ErrUnauthenticated] or a
	// [*ForbiddenError] (errors.Is [ErrForbidden]). It must not write
	// err's text to the client. Default: [Guard.DefaultDeny].
	OnDeny func(w http.ResponseWriter, r *http.Request, err error)

	// Audit receives access-denied events ([ActionAccessDenied], from
	// RequireRole). Default: nil, the [audit.Logger] whose Handler serves
	// the request.
	Audit *audit.Logger
}

// Guard is the authentication and authorization middleware. It reads the
// request's principal with [identity.FromContext], which the session layer
// sets: install the session middleware outside the guard. Build one with
// [NewGuard]; it is safe for concurrent use.
type Guard struct {
	loginPath string
	nextParam string
	wantsHTML func(*http.Request) bool
	deny      func(http.ResponseWriter, *http.Request, error)
	audit     *audit.Logger
}

// NewGuard returns a Guard. It returns an error if LoginPath is not a local
// path.
func NewGuard(cfg GuardConfig) (*Guard, error) {
	g := &Guard{loginPath: cfg.LoginPath, nextParam: cfg.NextParam, wantsHTML: cfg.WantsHTML,
		deny: cfg.OnDeny, audit: cfg.Audit}
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
	return g, nil
}

// Check is the decision [Guard.RequireAuth] (no roles) and
// [Guard.RequireRole] (roles) make, without a server. It returns the
// request's principal ([identity.FromContext]), or [ErrUnauthenticated]
// when there is none, or a [*ForbiddenError] when the principal has none of
// roles.
func (g *Guard) Check(r *http.Request, roles ...string) (identity.Principal, error) {
	p, ok := identity.FromContext(r.Context())
	if !ok {
		return identity.Principal{}, ErrUnauthenticated
	}
	if len(roles) > 0 && !slices.ContainsFunc(roles, p.HasRole) {
		return p, &ForbiddenError{UserID: p.UserID, Required: roles}
	}
	return p, nil
}

// RequireAuth lets requests with a signed-in user through. Others are
// refused by the OnDeny handler: by default a 303 redirect to the login
// page for HTML clients and a 401 JSON response for API clients. Use it as
// r.Use(g.RequireAuth).
func (g *Guard) RequireAuth(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if p, err := g.Check(r); err != nil {
			g.refuse(w, r, p, err)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// RequireRole returns middleware that lets through requests whose
// principal has at least one of roles ([identity.Principal.HasRole]).
// Anonymous requests are refused as by [Guard.RequireAuth]; signed-in ones
// without the role get 403 and an access-denied audit event naming the
// user, their roles, the route and the roles required. Panics if roles is
// empty or contains "".
func (g *Guard) RequireRole(roles ...string) func(http.Handler) http.Handler {
	if len(roles) == 0 || slices.Contains(roles, "") {
		panic("auth: RequireRole needs at least one non-empty role")
	}
	roles = slices.Clone(roles)
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if p, err := g.Check(r, roles...); err != nil {
				g.refuse(w, r, p, err)
				return
			}
			next.ServeHTTP(w, r)
		})
	}
}

// refuse audits a refusal where one is due and hands it to the OnDeny
// handler.
func (g *Guard) refuse(w http.ResponseWriter, r *http.Request, p identity.Principal, err error) {
	if fe := (*ForbiddenError)(nil); errors.As(err, &fe) {
		e := audit.Event{Category: audit.CategoryAccess, Action: ActionAccessDenied, Outcome: audit.OutcomeDenied,
			Actor: identity.Principal{UserID: fe.UserID, Roles: p.Roles}, SessionRef: p.SessionRef,
			Target: audit.Target{Kind: "route", ID: route(r)}, Reason: "missing_role", UserAgent: truncate(r.UserAgent(), 256),
			Meta: map[string]string{"required_roles": strings.Join(fe.Required, ",")}}
		if info, ok := clientip.FromContext(r.Context()); ok {
			e.ClientIP = info.Addr
		}
		g.audit.Log(r.Context(), e)
	}
	g.deny(w, r, err)
}

// route names the request's route for audit: the ServeMux pattern when
// known, else the method and path.
func route(r *http.Request) string {
	if r.Pattern != "" {
		return r.Pattern
	}
	return r.Method + " " + truncate(r.URL.Path, 256)
}

// DefaultDeny is the default OnDeny handler. For [ErrUnauthenticated] it
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
