package main

import (
	"errors"
	"net/http"

	"github.com/deployedworks/rampart/auth"
	"github.com/deployedworks/rampart/identity"
	"github.com/deployedworks/rampart/ratelimit"
	"github.com/deployedworks/rampart/session"
)

// accountPage is the data of the account page.
type accountPage struct {
	User          user
	Identity      identity.Principal
	TOTP          bool
	Passkeys      int
	RecoveryCodes int
	Listings      int
	DevMail       bool // /account/outbox exists
}

func (a *App) account(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	uid := currentUser(r)
	u, err := a.db.userByID(ctx, uid)
	if err != nil {
		a.serverError(w, r, err)
		return
	}
	id, _ := identity.FromContext(ctx)
	p := accountPage{User: u, Identity: id, DevMail: a.devMail != nil}
	if p.TOTP, err = a.totp.Enrolled(ctx, uid); err != nil {
		a.serverError(w, r, err)
		return
	}
	creds, err := a.passkeys.Credentials(ctx, uid)
	if err != nil {
		a.serverError(w, r, err)
		return
	}
	p.Passkeys = len(creds)
	if p.RecoveryCodes, err = a.recovery.Remaining(ctx, uid); err != nil {
		a.serverError(w, r, err)
		return
	}
	if p.Listings, err = a.db.countListings(ctx, uid); err != nil {
		a.serverError(w, r, err)
		return
	}
	a.render(w, r, http.StatusOK, "account", page{Title: "Your account", Data: p})
}

func (a *App) passwordForm(w http.ResponseWriter, r *http.Request) {
	a.render(w, r, http.StatusOK, "password", page{Title: "Change password"})
}

func (a *App) changePassword(w http.ResponseWriter, r *http.Request) {
	if !a.parseForm(w, r) {
		return
	}
	f := r.PostForm
	again := func(status int, msg string) {
		a.render(w, r, status, "password", page{Title: "Change password", Error: msg})
	}
	cur, next, next2 := f.Get("current"), f.Get("password"), f.Get("password2")
	switch {
	case cur == "" || next == "":
		again(http.StatusBadRequest, "Enter your current password and a new password.")
		return
	case next != next2:
		again(http.StatusUnprocessableEntity, "The two new passwords do not match.")
		return
	}
	err := a.authn.ChangePassword(r, cur, next)
	var te *ratelimit.LimitedError
	switch {
	case err == nil:
		a.flash(r, "Your password is changed, and your other sessions are signed out.")
		redirect(w, r, "/account")
	case errors.As(err, &te):
		setRetryAfter(w, te.RetryAfter)
		again(http.StatusTooManyRequests, "Too many attempts. Please wait "+retryText(te.RetryAfter)+" and try again.")
	case errors.Is(err, auth.ErrInvalidCredentials):
		again(http.StatusUnprocessableEntity, "Your current password is not right.")
	case hashingBusy(w, err, again):
	case errors.Is(err, auth.ErrHashConflict):
		again(http.StatusConflict, "Your password was changed by another request meanwhile. Please try again.")
	case errors.Is(err, auth.ErrSessionsNotRevoked):
		a.flash(r, "Your password is changed, but your other sessions could not be signed out: use “Log out everywhere”.")
		redirect(w, r, "/account/sessions")
	default:
		if msg, status, ok := passwordProblem(err); !ok && status != 0 {
			again(status, msg)
			return
		}
		a.serverError(w, r, err)
	}
}

func (a *App) sessionsPage(w http.ResponseWriter, r *http.Request) {
	list, err := a.sessions.Sessions(r.Context(), currentUser(r))
	if err != nil {
		a.serverError(w, r, err)
		return
	}
	a.render(w, r, http.StatusOK, "sessions", page{Title: "Where you are signed in", Data: list})
}

// validHandle checks the shape of a session handle from a URL, so that
// junk never reaches the store.
func validHandle(s string) bool {
	if s == "" || len(s) > 128 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

func (a *App) revokeSession(w http.ResponseWriter, r *http.Request) {
	handle := r.PathValue("handle")
	if !validHandle(handle) {
		a.fail(w, r, http.StatusNotFound, "There is no such session: it may have ended already.")
		return
	}
	// Scoped to the signed-in user: another user's handle is unknown here.
	err := a.sessions.Revoke(r.Context(), currentUser(r), handle)
	switch {
	case a.needReauth(w, r, err, "/account/sessions"):
	case errors.Is(err, session.ErrUnknownSession):
		a.fail(w, r, http.StatusNotFound, "There is no such session: it may have ended already.")
	case err != nil:
		a.serverError(w, r, err)
	default:
		a.flash(r, "That session is signed out.")
		redirect(w, r, "/account/sessions")
	}
}

func (a *App) revokeOtherSessions(w http.ResponseWriter, r *http.Request) {
	if err := a.sessions.RevokeOthers(r.Context()); err != nil {
		if !a.needReauth(w, r, err, "/account/sessions") {
			a.serverError(w, r, err)
		}
		return
	}
	a.flash(r, "Every other session is signed out.")
	redirect(w, r, "/account/sessions")
}

// logoutEverywhere signs out every session of the user, this one too.
// The other sessions are signed out first by RevokeOthers, which asks for
// a recent authentication (ASVS 5.0 §7.5.2): a stolen session must not
// sign its owner out.
func (a *App) logoutEverywhere(w http.ResponseWriter, r *http.Request) {
	if err := a.sessions.RevokeOthers(r.Context()); err != nil {
		if !a.needReauth(w, r, err, "/account/sessions") {
			a.serverError(w, r, err)
		}
		return
	}
	if err := a.sessions.RevokeUser(r.Context(), currentUser(r)); err != nil {
		a.serverError(w, r, err)
		return
	}
	a.flash(r, "You are logged out on every device.")
	redirect(w, r, "/login")
}
