package main

import (
	"errors"
	"net/http"
	"net/url"

	"github.com/deployedworks/rampart/auth"
	"github.com/deployedworks/rampart/mfa"
	"github.com/deployedworks/rampart/ratelimit"
	"github.com/deployedworks/rampart/session"
)

// reauthForm asks the signed-in user for their password again: the MFA
// policy sends a user without a second factor here before adding one
// (ASVS 5.0 §7.5.1), and the sessions page before signing out other
// sessions (§7.5.2).
func (a *App) reauthForm(w http.ResponseWriter, r *http.Request) {
	a.render(w, r, http.StatusOK, "reauth", page{Title: "Confirm it is you", Data: localNext(r.URL.Query().Get("next"), "/account")})
}

// reauth checks the password and records the re-authentication in the
// session, then goes back to where the user was going.
func (a *App) reauth(w http.ResponseWriter, r *http.Request) {
	if !a.parseForm(w, r) {
		return
	}
	next := localNext(r.PostForm.Get("next"), "/account")
	again := func(status int, msg string) {
		a.render(w, r, status, "reauth", page{Title: "Confirm it is you", Error: msg, Data: next})
	}
	pw := r.PostForm.Get("current")
	if pw == "" {
		again(http.StatusBadRequest, "Enter your password.")
		return
	}
	err := a.authn.Reauthenticate(r, pw)
	var te *ratelimit.LimitedError
	switch {
	case err == nil:
		redirect(w, r, next)
	case errors.As(err, &te):
		setRetryAfter(w, te.RetryAfter)
		again(http.StatusTooManyRequests, "Too many attempts. Please wait "+retryText(te.RetryAfter)+" and try again.")
	case errors.Is(err, auth.ErrInvalidCredentials):
		again(http.StatusUnauthorized, "That password is not right.")
	case hashingBusy(w, err, again):
	default:
		a.serverError(w, r, err)
	}
}

// needReauth answers an action the session layer or mfa refused for want
// of a recent authentication: a user with a second factor is sent to the
// challenge, one without to the password page, and back to next after.
// It reports whether err was such a refusal.
func (a *App) needReauth(w http.ResponseWriter, r *http.Request, err error, next string) bool {
	switch {
	case errors.Is(err, session.ErrReauthRequired):
		has, herr := a.db.hasFactor(r.Context(), currentUser(r))
		if herr != nil {
			a.serverError(w, r, herr)
			return true
		}
		if has {
			err = mfa.ErrStepUpRequired
		} else {
			err = mfa.ErrReauthRequired
		}
	case errors.Is(err, mfa.ErrReauthRequired), errors.Is(err, mfa.ErrStepUpRequired):
	default:
		return false
	}
	to, msg := "/account/reauth", "Please enter your password again to continue."
	if errors.Is(err, mfa.ErrStepUpRequired) {
		to, msg = "/mfa", "Please confirm it is you with your second factor, then try again."
	}
	a.flash(r, msg)
	redirect(w, r, to+"?next="+url.QueryEscape(localNext(next, "/account")))
	return true
}
