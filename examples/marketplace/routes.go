package main

import (
	"encoding/json"
	"errors"
	"io/fs"
	"net/http"
	"net/url"
	"strings"

	"github.com/deployedworks/rampart/audit"
	"github.com/deployedworks/rampart/auth"
	"github.com/deployedworks/rampart/headers"
	"github.com/deployedworks/rampart/mfa"
	"github.com/deployedworks/rampart/ratelimit"
	"github.com/deployedworks/rampart/session"
)

// buildRoutes registers every route and wraps them in the middleware
// chain, outermost first:
//
//	request deadline → clientip → audit (request ID, panics)
//	→ security headers (CSP nonce) → cross-origin protection
//	→ [static, healthz, livez, security.txt, CSP reports]
//	→ sessions → audit actor → per-route rate limit → routes
//
// Signed-in routes add the auth guard and the MFA policy: Require by
// default, AllowChallenge for the MFA challenge and AllowEnrolment for the
// second-factor settings, so that a route is reachable before MFA only if
// its registration below says so. Admin routes add the role guard and the
// admin-actions audit; sensitive actions add the MFA step-up.
//
// extra, for tests, registers more routes on the app's mux, inside the
// sessions.
func (a *App) buildRoutes(extra ...func(*http.ServeMux)) http.Handler {
	outer := http.NewServeMux()
	app := http.NewServeMux()
	handle := func(mux *http.ServeMux, pattern string, h http.Handler) {
		a.routes = append(a.routes, pattern)
		mux.Handle(pattern, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if a.observe != nil {
				a.observe(pattern)
			}
			h.ServeHTTP(w, r)
		}))
	}
	fn := func(f http.HandlerFunc) http.Handler { return f }

	// Middleware for route groups.
	signedIn, challenge, enrolment := a.signedInRoute, a.challengeRoute, a.enrolmentRoute
	moderator := func(h http.Handler) http.Handler {
		return signedIn(a.guard.RequireRole(roleModerator, roleAdmin)(h))
	}
	admin := func(h http.Handler) http.Handler {
		return signedIn(a.guard.RequireRole(roleAdmin)(a.audit.AdminActions(h)))
	}
	step := a.stepUp
	lim := a.limits

	// Outside sessions: cheap, cacheable or machine endpoints.
	static, _ := fs.Sub(assetsFS, "static")
	handle(outer, "GET /static/", cacheStatic(http.StripPrefix("/static/", http.FileServerFS(static))))
	handle(outer, "GET /healthz", fn(a.healthz))
	handle(outer, "GET /livez", fn(a.livez))
	handle(outer, "GET /.well-known/security.txt", a.securityTxt)
	// CSP reports read the session, if any, for the signed-in budget; a
	// request without a session cookie costs no store lookup.
	handle(outer, "POST /csp-report", a.sessions.Handler(a.cspReports))

	// Public pages.
	handle(app, "GET /{$}", fn(a.home))
	handle(app, "GET /security", fn(a.securityPage))
	handle(app, "GET /listings", fn(a.browse))
	handle(app, "GET /listings/{id}", fn(a.showListing))

	// Signing up, in and out.
	handle(app, "GET /signup", fn(a.signupForm))
	handle(app, "POST /signup", lim.signup.Handler(fn(a.signup)))
	handle(app, "GET /login", fn(a.loginForm))
	handle(app, "POST /login", lim.loginIP.Handler(fn(a.login)))
	handle(app, "POST /login/passkey/begin", lim.loginIP.Handler(fn(a.passkeys.BeginLogin)))
	handle(app, "POST /login/passkey/finish", lim.loginIP.Handler(fn(a.passkeys.FinishLogin)))
	handle(app, "POST /logout", fn(a.logout))
	handle(app, "GET /forgot", fn(a.forgotForm))
	handle(app, "POST /forgot", fn(a.forgot))
	handle(app, "GET /reset", fn(a.resetBegin))
	handle(app, "GET /reset/continue", fn(a.resetContinue))
	handle(app, "POST /reset", fn(a.resetComplete))
	handle(app, "GET /verify", a.linkForm("Confirm your e-mail address", "/verify", "Confirm that this address is yours.", "Confirm my address"))
	handle(app, "POST /verify", fn(a.verifyEmail))
	handle(app, "GET /account/email/confirm", a.linkForm("Confirm your new e-mail address", "/account/email/confirm", "Make this your account's address.", "Confirm the new address"))
	handle(app, "POST /account/email/confirm", fn(a.confirmEmail))
	handle(app, "GET /account/email/undo", a.linkForm("Undo the change of address", "/account/email/undo", "Keep your old address and sign out every session of your account.", "Undo the change"))
	handle(app, "POST /account/email/undo", fn(a.undoEmail))
	handle(app, "GET /setup", fn(a.setupForm))
	handle(app, "POST /setup", lim.setup.Handler(fn(a.setupSubmit)))

	// The MFA challenge (reachable while verification is pending).
	handle(app, "GET /mfa", challenge(fn(a.mfaChallenge)))
	handle(app, "POST /mfa/totp", challenge(fn(a.mfaVerifyTOTP)))
	handle(app, "POST /mfa/recovery", challenge(fn(a.mfaVerifyRecovery)))
	handle(app, "POST /mfa/passkey/begin", challenge(fn(a.passkeys.BeginVerify)))
	handle(app, "POST /mfa/passkey/finish", challenge(fn(a.passkeys.FinishVerify)))

	// The account.
	handle(app, "GET /account", signedIn(fn(a.account)))
	handle(app, "GET /account/password", signedIn(fn(a.passwordForm)))
	handle(app, "POST /account/password", signedIn(step(fn(a.changePassword))))
	handle(app, "GET /account/sessions", signedIn(fn(a.sessionsPage)))
	handle(app, "POST /account/sessions/{handle}/revoke", signedIn(fn(a.revokeSession)))
	handle(app, "POST /account/sessions/revoke-others", signedIn(fn(a.revokeOtherSessions)))
	handle(app, "POST /logout/everywhere", signedIn(fn(a.logoutEverywhere)))
	handle(app, "GET /account/outbox", enrolment(fn(a.outboxPage))) // development: where the confirmation link is
	handle(app, "GET /account/email", signedIn(fn(a.emailForm)))
	handle(app, "POST /account/email", signedIn(fn(a.changeEmail)))
	// Reachable while enrolment is required: a factor needs a confirmed
	// address (confirmed, below).
	handle(app, "POST /account/verify", enrolment(fn(a.resendVerification)))

	// Second factors (reachable while enrolment is required), and the
	// password re-entry that adding a first one asks for. Adding one
	// needs a confirmed address: see confirmedRoute.
	confirmed := a.confirmedRoute
	handle(app, "GET /account/reauth", enrolment(fn(a.reauthForm)))
	handle(app, "POST /account/reauth", enrolment(lim.loginIP.Handler(fn(a.reauth))))
	handle(app, "GET /account/mfa", enrolment(fn(a.mfaSettings)))
	handle(app, "POST /account/mfa/totp", enrolment(confirmed(step(a.secQR.Handler(fn(a.totpEnrol))))))
	handle(app, "POST /account/mfa/totp/confirm", enrolment(confirmed(fn(a.totpConfirm))))
	handle(app, "POST /account/mfa/totp/disable", enrolment(step(fn(a.totpDisable))))
	handle(app, "POST /account/mfa/recovery", enrolment(confirmed(step(fn(a.recoveryGenerate)))))
	handle(app, "POST /account/mfa/passkeys/begin", enrolment(confirmed(step(fn(a.passkeys.BeginRegistration)))))
	handle(app, "POST /account/mfa/passkeys/finish", enrolment(confirmed(step(fn(a.passkeyRegister)))))
	handle(app, "POST /account/mfa/passkeys/delete", enrolment(step(fn(a.passkeyDelete))))

	// Selling.
	handle(app, "GET /my/listings", signedIn(fn(a.myListings)))
	handle(app, "GET /listings/new", signedIn(fn(a.newListingForm)))
	handle(app, "POST /listings", signedIn(lim.write.Handler(fn(a.createListing))))
	handle(app, "GET /listings/{id}/edit", signedIn(fn(a.editListingForm)))
	handle(app, "POST /listings/{id}/edit", signedIn(lim.write.Handler(fn(a.updateListing))))
	handle(app, "POST /listings/{id}/delete", signedIn(lim.write.Handler(fn(a.deleteListing))))
	handle(app, "POST /listings/{id}/report", signedIn(lim.report.Handler(fn(a.reportListing))))

	// Moderation.
	handle(app, "GET /moderation", moderator(fn(a.moderationQueue)))
	handle(app, "POST /moderation/listings/{id}/{action}", moderator(fn(a.moderate)))

	// Administration: MFA required by the policy for the admin role,
	// step-up for every change.
	handle(app, "GET /admin", admin(fn(a.adminHome)))
	handle(app, "GET /admin/users", admin(fn(a.adminUsers)))
	handle(app, "GET /admin/users/{id}", admin(fn(a.adminUser)))
	handle(app, "POST /admin/users/{id}/roles", admin(step(fn(a.adminRoles))))
	handle(app, "POST /admin/users/{id}/disable", admin(step(fn(a.adminDisable))))
	handle(app, "POST /admin/users/{id}/enable", admin(step(fn(a.adminEnable))))
	handle(app, "POST /admin/users/{id}/sessions/revoke", admin(step(fn(a.adminRevokeSessions))))
	handle(app, "POST /admin/users/{id}/reset", admin(step(fn(a.adminSendReset))))
	handle(app, "GET /admin/audit", admin(fn(a.adminAudit)))
	handle(app, "POST /admin/audit/verify", admin(fn(a.adminVerifyAudit)))

	// Anything else.
	handle(app, "/", fn(a.notFound))
	for _, f := range extra {
		f(app)
	}

	var h http.Handler = app
	h = lim.perRoute.Handler(h)
	h = a.sessions.Handler(h)
	h = headers.NoStore(h) // personal pages, each with its own CSP nonce
	outer.Handle("/", h)

	var root http.Handler = outer
	root = a.cross.Handler(root)
	root = a.sec.Handler(root)
	root = a.audit.Handler(root)
	root = a.ips.Handler(root)
	root = a.withDeadline(root)
	return root
}

// signedInRoute is the middleware of signed-in routes: a signed-in user
// who passed MFA if their role or enrolment requires it.
func (a *App) signedInRoute(h http.Handler) http.Handler {
	return a.guard.RequireAuth(a.policy.Require(h))
}

// challengeRoute is signedInRoute, also reachable by a user who must pass
// the MFA challenge: the challenge page and its API only.
func (a *App) challengeRoute(h http.Handler) http.Handler {
	return a.guard.RequireAuth(a.policy.AllowChallenge(h))
}

// enrolmentRoute is signedInRoute, also reachable by a user whose role
// requires MFA and who has no factor yet: the second-factor settings only.
func (a *App) enrolmentRoute(h http.Handler) http.Handler {
	return a.guard.RequireAuth(a.policy.AllowEnrolment(h))
}

// confirmedRoute refuses its route to a user whose address was never
// confirmed: the routes that add a second factor (TOTP, passkey, recovery
// codes). Anyone can sign up with another person's address and sign in
// unconfirmed; a factor added then would be demanded by the owner's
// password reset, locking the owner out of the account the reset should
// give back (account pre-hijacking). Forms get the settings page with
// "confirm your address first" and the button that mails a new link; the
// passkey API gets 403 {"error": "email_unconfirmed"}. Fails closed: an
// error reading the user is a 500.
func (a *App) confirmedRoute(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u, err := a.db.userByID(r.Context(), currentUser(r))
		if err != nil {
			a.serverError(w, r, err)
			return
		}
		if u.EmailVerified {
			h.ServeHTTP(w, r)
			return
		}
		a.audit.Log(r.Context(), audit.Event{Category: audit.CategoryAccess, Action: ActionFactorRefusedUnconfirmed,
			Outcome: audit.OutcomeDenied, Target: audit.Target{Kind: audit.TargetKindUser, ID: u.ID}, Reason: "e-mail address not confirmed"})
		if strings.HasPrefix(r.URL.Path, "/account/mfa/passkeys/") {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusForbidden)
			_ = json.NewEncoder(w).Encode(map[string]string{"error": "email_unconfirmed"})
			return
		}
		a.renderMFASettings(w, r, http.StatusForbidden, msgConfirmFirst)
	})
}

// msgConfirmFirst is what a user whose address is unconfirmed is told on
// the second-factor pages.
const msgConfirmFirst = "Confirm your e-mail address first: open the link we mailed you, or send a new one below. " +
	"A second factor can be added only to an account whose address is confirmed."

// cacheStatic lets browsers cache the embedded assets for an hour.
func cacheStatic(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "public, max-age=3600")
		next.ServeHTTP(w, r)
	})
}

// sessionError answers a request whose session could not be loaded or
// saved.
func (a *App) sessionError(w http.ResponseWriter, r *http.Request, err error) {
	if errors.Is(err, session.ErrInsecureHost) {
		a.fail(w, r, http.StatusBadRequest, "In development mode sessions work only on localhost: open "+a.origin.Origin+" instead.")
		return
	}
	// The session store (Redis or the database) failed or timed out: the
	// request is refused, never served as anyone, and the client told to
	// retry, like the rate limits do when their store is down.
	a.log.ErrorContext(r.Context(), "session store unavailable", "method", r.Method, "path", r.URL.Path,
		"request_id", audit.RequestID(r.Context()), "err", err)
	a.fail(w, r, http.StatusServiceUnavailable, "The service cannot take this request right now. Please try again shortly.")
}

// guardDeny answers requests the auth guard refused.
func (a *App) guardDeny(w http.ResponseWriter, r *http.Request, err error) {
	switch {
	case errors.Is(err, auth.ErrUnauthenticated):
		if r.Method != http.MethodGet && r.Method != http.MethodHead && wantsHTML(r) {
			a.flash(r, "Please log in again to continue.")
		}
		a.guard.DefaultDeny(w, r, err)
	case errors.Is(err, auth.ErrForbidden):
		if !wantsHTML(r) {
			a.guard.DefaultDeny(w, r, err)
			return
		}
		a.fail(w, r, http.StatusForbidden, "You do not have access to this page.")
	default:
		a.serverError(w, r, err)
	}
}

// mfaDeny answers requests the MFA policy refused: browsers are sent to
// enrol or verify and then back; scripts get JSON.
func (a *App) mfaDeny(w http.ResponseWriter, r *http.Request, err error) {
	var to, msg string
	switch {
	case errors.Is(err, mfa.ErrUnauthenticated):
		to = "/login"
	case errors.Is(err, mfa.ErrEnrolmentRequired):
		to, msg = "/account/mfa", "Your role requires a second factor: set one up to continue."
	case errors.Is(err, mfa.ErrMFARequired):
		to = "/mfa"
	case errors.Is(err, mfa.ErrStepUpRequired):
		to, msg = "/mfa", "Please confirm it is you with your second factor, then try again."
	case errors.Is(err, mfa.ErrReauthRequired):
		to, msg = "/account/reauth", "Please enter your password again to continue."
	default:
		a.serverError(w, r, err)
		return
	}
	if !wantsHTML(r) {
		mfa.WriteError(w, r, err)
		return
	}
	next := r.URL.RequestURI()
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		next = refererPath(r, "/account")
	}
	if msg != "" {
		a.flash(r, msg)
	}
	redirect(w, r, to+"?next="+url.QueryEscape(localNext(next, "/account")))
}

// rateLimited answers a request refused by a rate limit.
func (a *App) rateLimited(w http.ResponseWriter, r *http.Request, err error) {
	le, limited := errors.AsType[*ratelimit.LimitedError](err)
	if !limited {
		a.log.ErrorContext(r.Context(), "rate limit unavailable", "err", err)
		a.fail(w, r, http.StatusServiceUnavailable, "The service cannot take this request right now. Please try again shortly.")
		return
	}
	if !wantsHTML(r) {
		ratelimit.DenyJSON(w, r, err)
		return
	}
	a.fail(w, r, http.StatusTooManyRequests, "Too many requests. Please wait "+retryText(le.RetryAfter)+" and try again.")
}

// securityPage shows how to report a vulnerability (the platform's reporting and disclosure policy, as in SECURITY.md).
func (a *App) securityPage(w http.ResponseWriter, r *http.Request) {
	a.render(w, r, http.StatusOK, "security", page{Title: "Security", Data: struct{ Contact string }{a.cfg.Contact}})
}
