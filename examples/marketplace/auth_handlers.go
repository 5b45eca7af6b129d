package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/mail"
	"net/url"
	"strings"
	"unicode"

	"github.com/deployedworks/rampart/account"
	"github.com/deployedworks/rampart/audit"
	"github.com/deployedworks/rampart/auth"
	"github.com/deployedworks/rampart/auth/password"
	"github.com/deployedworks/rampart/identity"
	"github.com/deployedworks/rampart/mfa"
	"github.com/deployedworks/rampart/mfa/passkey"
	"github.com/deployedworks/rampart/ratelimit"
)

// accountForm is the sign-up (and setup) form as submitted, for
// re-rendering after an error. Passwords and the setup token are never
// echoed back.
type accountForm struct {
	Email, Name string
}

// validEmail checks an e-mail address: a bare address of at most 254
// bytes, as RFC 5321 allows, that can log in (auth.ValidLoginName: no
// control characters, which net/mail lets through above U+007F), and
// without format characters (bidirectional overrides, zero-width
// characters: an address shown to an administrator or in a notice must
// read as it is).
func validEmail(s string) bool {
	if len(s) > 254 || strings.ContainsAny(s, " \t\r\n<>") || !auth.ValidLoginName(s) ||
		strings.ContainsFunc(s, func(r rune) bool { return unicode.Is(unicode.Cf, r) }) {
		return false
	}
	a, err := mail.ParseAddress(s)
	return err == nil && a.Address == s && a.Name == "" && strings.Contains(s[strings.LastIndexByte(s, '@'):], ".")
}

// checkAccountForm validates the e-mail, name and password fields and
// returns a message for the user, or "".
func checkAccountForm(email, name, pw, pw2 string) (string, string, string) {
	email = normEmail(email)
	name, nameOK := textOK(name, 1, 60, false)
	switch {
	case email == "" || name == "" || pw == "":
		return email, name, "Fill in your e-mail address, your name and a password."
	case !validEmail(email):
		return email, name, "Enter a valid e-mail address, like name@example.com."
	case !nameOK:
		return email, name, "Your name must be 1 to 60 characters, without control characters."
	case pw != pw2:
		return email, name, "The two passwords do not match."
	}
	return email, name, ""
}

func (a *App) signupForm(w http.ResponseWriter, r *http.Request) {
	if _, _, ok := a.signedIn(r); ok {
		redirect(w, r, "/account")
		return
	}
	a.render(w, r, http.StatusOK, "signup", page{Title: "Sign up", Data: accountForm{}})
}

func (a *App) signup(w http.ResponseWriter, r *http.Request) {
	if !a.parseForm(w, r) {
		return
	}
	f := r.PostForm
	email, name, msg := checkAccountForm(f.Get("email"), f.Get("name"), f.Get("password"), f.Get("password2"))
	again := func(status int, msg string) {
		a.render(w, r, status, "signup", page{Title: "Sign up", Error: msg, Data: accountForm{Email: email, Name: name}})
	}
	if msg != "" {
		again(http.StatusUnprocessableEntity, msg)
		return
	}
	hash, ok := a.hashNewPassword(w, r, email, f.Get("password"), again)
	if !ok {
		return
	}
	// The same work and the same answer whether or not the address has an
	// account: the flows create it in the background, and mail either a
	// verification link or, to the owner of a taken address, a notice.
	err := a.flows.SignUp(r, email, func(ctx context.Context) (string, error) {
		u, err := a.db.createUser(ctx, user{Email: email, DisplayName: name, Hash: hash})
		if errors.Is(err, errEmailTaken) {
			return "", fmt.Errorf("%w: %w", account.ErrEmailTaken, err)
		}
		if err != nil {
			return "", err
		}
		a.audit.Log(ctx, audit.Event{Category: audit.CategoryAuthentication, Action: ActionAccountCreated, Outcome: audit.OutcomeSuccess,
			Actor: identity.Principal{UserID: u.ID}, Target: audit.Target{Kind: "user", ID: u.ID}})
		return u.ID, nil
	})
	switch {
	case err == nil:
		a.render(w, r, http.StatusOK, "inbox", page{Title: "Check your inbox",
			Data: "We have sent a message to " + email + ". Follow its link to confirm your address, then log in."})
	case errors.Is(err, account.ErrInvalidAddress):
		again(http.StatusUnprocessableEntity, "Enter a valid e-mail address.")
	case errors.Is(err, ratelimit.ErrLimited):
		a.rateLimited(w, r, err)
	default:
		a.serverError(w, r, err)
	}
}

// hashNewPassword checks a new password for the account email against the
// password policy and hashes it. On a refusal it has answered: through
// again with the policy's status and message, or with a 500.
func (a *App) hashNewPassword(w http.ResponseWriter, r *http.Request, email, pw string, again func(status int, msg string)) (string, bool) {
	hash, err := a.authn.HashNewPassword(r.Context(), auth.User{Login: email, Email: email}, pw)
	if hashingBusy(w, err, again) {
		return "", false
	}
	msg, status, ok := passwordProblem(err)
	switch {
	case ok:
		return hash, true
	case status == 0:
		a.serverError(w, r, err)
	default:
		again(status, msg)
	}
	return "", false
}

// hashingBusy answers an *password.BusyError (password hashing has more work
// than it can do in time) through again: 503 with Retry-After and a plain
// message. It reports whether err was one.
func hashingBusy(w http.ResponseWriter, err error, again func(status int, msg string)) bool {
	var be *password.BusyError
	if !errors.As(err, &be) {
		return false
	}
	setRetryAfter(w, be.RetryAfter)
	again(http.StatusServiceUnavailable, "The site is busy right now. Please wait "+retryText(be.RetryAfter)+" and try again.")
	return true
}

// passwordProblem turns a password-policy error into a message and status;
// ok is true for a nil error, status 0 for an unexpected error.
func passwordProblem(err error) (msg string, status int, ok bool) {
	var pe *password.PolicyError
	switch {
	case err == nil:
		return "", 0, true
	case errors.As(err, &pe):
		return pe.Message, http.StatusUnprocessableEntity, false
	case errors.Is(err, password.ErrBreachCheckFailed):
		return "We could not check your password against known breaches just now. Please try again in a minute.", http.StatusServiceUnavailable, false
	case errors.Is(err, password.ErrPasswordTooLong):
		return "That password is too long.", http.StatusUnprocessableEntity, false
	}
	return "", 0, false
}

// loginPage is the data of the login form.
type loginPage struct {
	Email, Next string
}

func (a *App) loginForm(w http.ResponseWriter, r *http.Request) {
	next := localNext(r.URL.Query().Get("next"), "")
	if _, _, ok := a.signedIn(r); ok {
		redirect(w, r, localNext(next, "/account"))
		return
	}
	a.render(w, r, http.StatusOK, "login", page{Title: "Log in", Scripts: true, Data: loginPage{Next: next}})
}

func (a *App) login(w http.ResponseWriter, r *http.Request) {
	if !a.parseForm(w, r) {
		return
	}
	f := r.PostForm
	lp := loginPage{Email: strings.TrimSpace(f.Get("email")), Next: localNext(f.Get("next"), "")}
	again := func(status int, msg string) {
		a.render(w, r, status, "login", page{Title: "Log in", Scripts: true, Error: msg, Data: lp})
	}
	if lp.Email == "" || f.Get("password") == "" {
		again(http.StatusBadRequest, "Enter your e-mail address and your password.")
		return
	}
	// Login signs the session in itself: if the account is disabled, a
	// role removed or the password changed while the password hashed, the
	// session is refused.
	res, err := a.authn.Login(r, normEmail(lp.Email), f.Get("password"))
	var te *ratelimit.LimitedError
	switch {
	case errors.As(err, &te):
		setRetryAfter(w, te.RetryAfter)
		again(http.StatusTooManyRequests, "Too many sign-in attempts. Please wait "+retryText(te.RetryAfter)+" and try again.")
		return
	case errors.Is(err, auth.ErrInvalidCredentials):
		again(http.StatusUnauthorized, "Wrong e-mail address or password.")
		return
	case hashingBusy(w, err, again):
		return
	case err != nil:
		a.serverError(w, r, err)
		return
	}
	// The request's context still names who sent it (nobody); the policy
	// decides for the user just signed in.
	redirect(w, r, a.afterLogin(r.WithContext(identity.NewContext(r.Context(), res.Principal)), lp.Next))
}

// afterLogin is where a freshly signed-in user goes: the MFA challenge or
// enrolment when the policy asks for it, else next or the account page.
func (a *App) afterLogin(r *http.Request, next string) string {
	dest := localNext(next, "/account")
	// The principal in r's context is the one the request started with,
	// before the sign-in.
	switch err := a.policy.Check(r); {
	case errors.Is(err, mfa.ErrMFARequired):
		return "/mfa?next=" + url.QueryEscape(dest)
	case errors.Is(err, mfa.ErrEnrolmentRequired):
		return "/account/mfa?next=" + url.QueryEscape(dest)
	}
	return dest
}

func (a *App) logout(w http.ResponseWriter, r *http.Request) {
	if err := a.sessions.Logout(r.Context()); err != nil {
		a.serverError(w, r, err)
		return
	}
	a.flash(r, "You are logged out.")
	redirect(w, r, "/")
}

// errAccountDisabled refuses a passkey sign-in to a disabled account.
var errAccountDisabled = errors.New("marketplace: account disabled")

// passkeyLogin completes a passwordless sign-in (passkey.Config.OnLogin).
func (a *App) passkeyLogin(_ http.ResponseWriter, r *http.Request, res passkey.LoginResult) error {
	u, err := a.db.userByID(r.Context(), res.UserID)
	if err != nil {
		return err
	}
	if u.Disabled {
		a.logAudit(r, audit.Event{Category: audit.CategoryAuthentication, Action: audit.ActionLoginFailed, Outcome: audit.OutcomeDenied,
			Target: audit.Target{Kind: audit.TargetKindUser, ID: u.ID}, Reason: "account disabled", Meta: map[string]string{"method": "passkey"}})
		return errAccountDisabled
	}
	// res.ReadAt predates the read of u: a revocation after it wins.
	if err := a.sessions.Login(r.Context(), identity.Principal{UserID: u.ID, Roles: u.Roles, Methods: res.Methods, AuthTime: res.ReadAt}); err != nil {
		return err
	}
	// The app's own login record, with the action and target package
	// auth gives password logins, so that the audit Detector counts
	// passkey sign-ins as the same account's.
	a.logAudit(r, audit.Event{Category: audit.CategoryAuthentication, Action: audit.ActionLoginSucceeded, Outcome: audit.OutcomeSuccess,
		Actor: identity.Principal{UserID: u.ID, Roles: u.Roles}, Target: audit.Target{Kind: audit.TargetKindUser, ID: u.ID},
		Meta: map[string]string{"method": "passkey"}})
	return nil
}

// passkeyNames labels a new passkey in the authenticator with the user's
// e-mail address and name.
func (a *App) passkeyNames(ctx context.Context, userID string) (string, string, error) {
	u, err := a.db.userByID(ctx, userID)
	if err != nil {
		return "", "", err
	}
	return u.Email, u.DisplayName, nil
}

// passkeyError answers a failed WebAuthn request as JSON for webauthn.js.
func (a *App) passkeyError(w http.ResponseWriter, r *http.Request, err error) {
	if errors.Is(err, errAccountDisabled) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusForbidden)
		_ = json.NewEncoder(w).Encode(map[string]string{"error": "account_disabled"})
		return
	}
	// passkey.WriteError maps every client error (a bad or oversized body, a
	// failed verification, a bad name) to a 4xx; only what it answers
	// with a 500 is the server's problem, worth an error log.
	sw := &statusRecorder{ResponseWriter: w}
	passkey.WriteError(sw, r, err)
	if sw.status >= http.StatusInternalServerError {
		a.log.ErrorContext(r.Context(), "passkey", "path", r.URL.Path, "request_id", audit.RequestID(r.Context()), "err", err)
	}
}

// statusRecorder remembers the status written through it.
type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (s *statusRecorder) WriteHeader(status int) {
	if s.status == 0 {
		s.status = status
	}
	s.ResponseWriter.WriteHeader(status)
}

func (s *statusRecorder) Write(b []byte) (int, error) {
	if s.status == 0 {
		s.status = http.StatusOK
	}
	return s.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (s *statusRecorder) Unwrap() http.ResponseWriter { return s.ResponseWriter }

// setupOpen reports whether the deployment's setup token waits to be used,
// answering with an error page when it does not.
func (a *App) setupOpen(w http.ResponseWriter, r *http.Request) bool {
	open, err := a.db.setupOpen(r.Context())
	if err != nil {
		a.serverError(w, r, err)
		return false
	}
	if !open {
		a.fail(w, r, http.StatusNotFound, "Setup is complete: an administrator exists. Log in instead.")
	}
	return open
}

func (a *App) setupForm(w http.ResponseWriter, r *http.Request) {
	if !a.setupOpen(w, r) {
		a.fail(w, r, http.StatusNotFound, "Setup is complete: an administrator exists. Log in instead.")
		return
	}
	a.render(w, r, http.StatusOK, "setup", page{Title: "Create the first administrator", Data: accountForm{}})
}

func (a *App) setupSubmit(w http.ResponseWriter, r *http.Request) {
	if !a.setupOpen(w, r) {
		return
	}
	if !a.parseForm(w, r) {
		return
	}
	f := r.PostForm
	email, name, msg := checkAccountForm(f.Get("email"), f.Get("name"), f.Get("password"), f.Get("password2"))
	again := func(status int, msg string) {
		a.render(w, r, status, "setup", page{Title: "Create the first administrator", Error: msg, Data: accountForm{Email: email, Name: name}})
	}
	tok := f.Get("token")
	match, err := a.db.setupTokenMatches(r.Context(), tok)
	if err != nil {
		a.serverError(w, r, err)
		return
	}
	if !match {
		a.logAudit(r, audit.Event{Category: audit.CategorySuspicious, Action: ActionSetupTokenRejected, Outcome: audit.OutcomeDenied})
		again(http.StatusForbidden, "That setup token is not right. Copy it from the server's console output.")
		return
	}
	if msg != "" {
		again(http.StatusUnprocessableEntity, msg)
		return
	}
	hash, ok := a.hashNewPassword(w, r, email, f.Get("password"), again)
	if !ok {
		return
	}
	createdAt := a.cfg.Now()
	u, err := a.db.createFirstAdmin(r.Context(), user{Email: email, DisplayName: name, Hash: hash}, tok)
	switch {
	case errors.Is(err, errBadSetupToken): // used meanwhile, on this instance or another
		a.logAudit(r, audit.Event{Category: audit.CategorySuspicious, Action: ActionSetupTokenRejected, Outcome: audit.OutcomeDenied})
		again(http.StatusForbidden, "That setup token is not right. Copy it from the server's console output.")
		return
	case errors.Is(err, errAdminExists):
		a.fail(w, r, http.StatusConflict, "An administrator exists already. Log in instead.")
		return
	case errors.Is(err, errEmailTaken):
		again(http.StatusConflict, "An account with this e-mail address exists already: use another address.")
		return
	case err != nil:
		a.serverError(w, r, err)
		return
	}
	a.logAudit(r, audit.Event{Category: audit.CategoryAccess, Action: ActionRoleGranted, Outcome: audit.OutcomeSuccess,
		Actor: identity.Principal{UserID: u.ID}, Target: audit.Target{Kind: "user", ID: u.ID}, Reason: "first administrator, created with the setup token",
		Meta: map[string]string{"role": roleAdmin}})
	if err := a.sessions.Login(r.Context(), identity.Principal{UserID: u.ID, Roles: u.Roles, Methods: []identity.Method{identity.MethodPassword}, AuthTime: createdAt}); err != nil {
		a.serverError(w, r, err)
		return
	}
	// A second factor needs a confirmed address (confirmedRoute): the
	// setup token proves the operator, not the mailbox typed in.
	if err := a.flows.SendVerification(r, u.ID); err != nil {
		a.log.WarnContext(r.Context(), "setup: the confirmation link was not sent; the administrator can ask again", "err", err)
	}
	a.flash(r, "Administrator created. Administrators must use a second factor: confirm your e-mail address with the link we mailed you, then set one up.")
	redirect(w, r, "/account/mfa")
}
