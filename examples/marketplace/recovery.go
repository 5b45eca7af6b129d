package main

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/deployedworks/rampart/account"
	"github.com/deployedworks/rampart/auth"
	"github.com/deployedworks/rampart/identity"
	"github.com/deployedworks/rampart/mfa"
	"github.com/deployedworks/rampart/ratelimit"
	"github.com/deployedworks/rampart/token"
	tokensql "github.com/deployedworks/rampart/token/sqlstore"
)

// Routes the mailed links lead to, by token purpose.
var linkPaths = map[token.Purpose]string{
	token.PasswordReset:   "/reset",
	token.EmailVerify:     "/verify",
	token.EmailChange:     "/account/email/confirm",
	token.EmailChangeUndo: "/account/email/undo",
}

// resetLinkTTL is how long a reset link works; the pages that promise a
// link say so from it.
const resetLinkTTL = 30 * time.Minute

// resetLinkLife is resetLinkTTL in words.
var resetLinkLife = strconv.Itoa(int(resetLinkTTL/time.Minute)) + " minutes"

// resetTokenKey is the session key that holds a reset link's token while
// its user passes the MFA challenge.
const resetTokenKey = "reset_token"

// buildAccount wires the account flows (reset, verification, change of
// address) on the token table and the outbox. The token table is migrated
// with the others (see build).
func (a *App) buildAccount() error {
	var err error
	if a.tokenSQL, err = tokensql.New(a.db.db, a.db.sqlDialect(), tokensql.Config{}); err != nil {
		return err
	}
	issuer, err := token.New(a.tokenSQL, token.Config{Now: a.cfg.Now, TTL: map[token.Purpose]time.Duration{token.PasswordReset: resetLinkTTL}})
	if err != nil {
		return err
	}
	perAddress, err := a.newStore("account-address", a.cfg.Limits.AccountPerAddress)
	if err != nil {
		return err
	}
	perAccount, err := a.newStore("account-mailbox", a.cfg.Limits.AccountPerMailbox)
	if err != nil {
		return err
	}
	a.flows, err = account.New(account.Config{
		Users: authUsers{a.db}, Tokens: issuer, Notifier: a.outbox, Sessions: a.sessions,
		Factors: []mfa.EnrolmentChecker{a.totp, a.passkeys},
		Link: func(p token.Purpose, tok string) (string, error) {
			path, ok := linkPaths[p]
			if !ok {
				return "", fmt.Errorf("account link: no route for purpose %q", p)
			}
			return a.origin.Origin + path + "?token=" + url.QueryEscape(tok), nil
		},
		Hasher: a.hasher, Policy: a.pwPolicy,
		PerAddress: perAddress, PerAccount: perAccount,
		Throttle: a.loginThrottle,
		Now:      a.cfg.Now,
	})
	if err != nil {
		return err
	}
	// Registered after the outbox: closers run in reverse, so the queued
	// jobs finish while the outbox still takes their mail.
	a.onClose(a.flows.Close)
	return nil
}

// forgotForm asks for the address to mail a reset link to.
func (a *App) forgotForm(w http.ResponseWriter, r *http.Request) {
	a.render(w, r, http.StatusOK, "forgot", page{Title: "Forgot your password?"})
}

// forgot mails a reset link if an account has the address, and answers
// the same whether or not one does.
func (a *App) forgot(w http.ResponseWriter, r *http.Request) {
	if !a.parseForm(w, r) {
		return
	}
	err := a.flows.RequestReset(r, r.PostForm.Get("email"))
	switch {
	case err == nil:
		a.render(w, r, http.StatusOK, "inbox", page{Title: "Check your inbox",
			Data: "If an account has this address, we have sent it a link to choose a new password. The link works once, for " + resetLinkLife + "."})
	case errors.Is(err, account.ErrInvalidAddress):
		a.render(w, r, http.StatusUnprocessableEntity, "forgot", page{Title: "Forgot your password?", Error: "Enter a valid e-mail address."})
	case errors.Is(err, ratelimit.ErrLimited):
		a.rateLimited(w, r, err)
	default:
		a.serverError(w, r, err)
	}
}

// resetPage is the data of the new-password form.
type resetPage struct{ Token string }

// invalidLink answers a link that cannot be used.
func (a *App) invalidLink(w http.ResponseWriter, r *http.Request, what string) {
	a.fail(w, r, http.StatusBadRequest, "This "+what+" link is invalid or has expired, or was used already. Links work once, for a limited time.")
}

// noReferrer keeps a page whose URL holds a link's token from sending
// that URL as Referer with its subresources and links (the site's default
// policy, same-origin, would send it to the site itself: its access logs,
// a proxy's). Every page a mailed link opens sends it.
func noReferrer(w http.ResponseWriter) {
	w.Header().Set("Referrer-Policy", "no-referrer")
}

// resetBegin opens a reset link: the token moves from the URL into the
// session (so that it is not left in the address bar, the history, or a
// Referer), then the form, or, for a user with a second factor, the MFA
// challenge first.
func (a *App) resetBegin(w http.ResponseWriter, r *http.Request) {
	a.openResetLink(w, r, r.URL.Query().Get("token"))
}

// openResetLink opens the reset link of tok, for resetBegin and for a
// reset that found its session waiting for another user's challenge.
func (a *App) openResetLink(w http.ResponseWriter, r *http.Request, tok string) {
	noReferrer(w)
	res, err := a.flows.BeginReset(r, tok)
	switch {
	case errors.Is(err, token.ErrInvalid):
		a.invalidLink(w, r, "password reset")
		return
	case err != nil:
		a.serverError(w, r, err)
		return
	}
	if res.NeedsMFA {
		a.toResetMFA(w, r, tok)
		return
	}
	if err := a.sessions.Put(r.Context(), resetTokenKey, tok); err != nil {
		a.serverError(w, r, err)
		return
	}
	redirect(w, r, "/reset/continue")
}

// toResetMFA keeps the reset link's token in the session (out of the
// URLs) and sends the user to the MFA challenge, then to resetContinue.
func (a *App) toResetMFA(w http.ResponseWriter, r *http.Request, tok string) {
	if err := a.sessions.Put(r.Context(), resetTokenKey, tok); err != nil {
		a.serverError(w, r, err)
		return
	}
	a.flash(r, "Your account has a second factor: confirm it is you, then choose your new password.")
	redirect(w, r, "/mfa?next="+url.QueryEscape("/reset/continue"))
}

// resetContinue shows the new-password form of the link the session
// holds (after the MFA challenge, for a user with a second factor).
// CompleteReset checks the link and the second factor again.
func (a *App) resetContinue(w http.ResponseWriter, r *http.Request) {
	tok, ok := a.sessions.Get(r.Context(), resetTokenKey)
	if !ok { // no link pending: ask for one
		a.forgotForm(w, r)
		return
	}
	if _, signedIn := identity.FromContext(r.Context()); signedIn && a.policy.Check(r) != nil {
		// Out of order: the challenge first.
		redirect(w, r, "/mfa?next="+url.QueryEscape("/reset/continue"))
		return
	}
	a.render(w, r, http.StatusOK, "reset", page{Title: "Choose a new password", Data: resetPage{Token: tok}})
}

// resetComplete sets the new password.
func (a *App) resetComplete(w http.ResponseWriter, r *http.Request) {
	if !a.parseForm(w, r) {
		return
	}
	f := r.PostForm
	tok := f.Get("token")
	again := func(status int, msg string) {
		a.render(w, r, status, "reset", page{Title: "Choose a new password", Error: msg, Data: resetPage{Token: tok}})
	}
	if f.Get("password") != f.Get("password2") {
		again(http.StatusUnprocessableEntity, "The two passwords do not match.")
		return
	}
	err := a.flows.CompleteReset(r, tok, f.Get("password"))
	if hashingBusy(w, err, again) {
		return
	}
	if msg, status, ok := passwordProblem(err); !ok && status != 0 {
		again(status, msg)
		return
	}
	switch {
	case err == nil:
		a.sessions.Remove(r.Context(), resetTokenKey)
		a.flash(r, "Your password is changed, and every session of your account is signed out. Log in with the new password.")
		redirect(w, r, "/login")
	case errors.Is(err, token.ErrInvalid):
		a.sessions.Remove(r.Context(), resetTokenKey)
		a.invalidLink(w, r, "password reset")
	case errors.Is(err, mfa.ErrMFARequired):
		// Open the link again: the session becomes its user's, waiting
		// for that user's challenge (it may have been another user's,
		// verified, which would lead back to this form in a loop).
		a.openResetLink(w, r, tok)
	case errors.Is(err, auth.ErrSessionsNotRevoked):
		a.log.ErrorContext(r.Context(), "reset: sessions not revoked", "err", err)
		a.fail(w, r, http.StatusInternalServerError, "Your password is changed, but your other sessions could not all be signed out. Log in, and use “Log out everywhere” on your account page.")
	default:
		a.serverError(w, r, err)
	}
}

// linkPage is the page a mailed link opens: a button that posts the token
// back, so that a mail scanner fetching the link consumes nothing.
type linkPage struct {
	Action, Token, Text, Button string
}

// linkForm shows the button of a mailed link.
func (a *App) linkForm(title, action, text, button string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		noReferrer(w)
		a.render(w, r, http.StatusOK, "link", page{Title: title,
			Data: linkPage{Action: action, Token: r.URL.Query().Get("token"), Text: text, Button: button}})
	}
}

// linkDone answers a posted link: the page on success, the invalid-link
// page, or an error.
func (a *App) linkDone(w http.ResponseWriter, r *http.Request, err error, what, done, next string) {
	switch {
	case err == nil:
		a.flash(r, done)
		redirect(w, r, next)
	case errors.Is(err, token.ErrInvalid):
		a.invalidLink(w, r, what)
	case errors.Is(err, account.ErrOtherUser):
		a.fail(w, r, http.StatusForbidden, "This link is for another account than the one you are signed in to. Log out, then open the link again. Nothing was changed.")
	case errors.Is(err, account.ErrEmailTaken):
		a.fail(w, r, http.StatusConflict, "That address now belongs to another account, so it cannot be yours. Nothing was changed.")
	case errors.Is(err, auth.ErrSessionsNotRevoked):
		a.log.ErrorContext(r.Context(), what+": sessions not revoked", "err", err)
		a.fail(w, r, http.StatusInternalServerError, "Your address is restored, but your sessions could not all be signed out. Log in, and use “Log out everywhere” on your account page.")
	default:
		a.serverError(w, r, err)
	}
}

// verifyEmail consumes a verification link.
func (a *App) verifyEmail(w http.ResponseWriter, r *http.Request) {
	if !a.parseForm(w, r) {
		return
	}
	a.linkDone(w, r, a.flows.VerifyEmail(r, r.PostForm.Get("token")), "verification", "Your e-mail address is confirmed.", a.afterLink(r))
}

// afterLink is where a link's page leads: the account when signed in,
// else the login.
func (a *App) afterLink(r *http.Request) string {
	if _, _, ok := a.signedIn(r); ok {
		return "/account"
	}
	return "/login"
}

// resendVerification mails the signed-in user a new verification link.
func (a *App) resendVerification(w http.ResponseWriter, r *http.Request) {
	err := a.flows.SendVerification(r, currentUser(r))
	switch {
	case err == nil:
		a.flash(r, "We have sent you a new link: open it to confirm your address.")
		redirect(w, r, localNext(r.URL.Query().Get("next"), "/account"))
	case errors.Is(err, ratelimit.ErrLimited):
		a.rateLimited(w, r, err)
	default:
		a.serverError(w, r, err)
	}
}

// emailForm asks for the new address and the password.
func (a *App) emailForm(w http.ResponseWriter, r *http.Request) {
	a.render(w, r, http.StatusOK, "email", page{Title: "Change your e-mail address"})
}

// changeEmail re-authenticates the user and mails a confirmation link to
// the new address (and a notice with an undo link to the current one).
func (a *App) changeEmail(w http.ResponseWriter, r *http.Request) {
	if !a.parseForm(w, r) {
		return
	}
	again := func(status int, msg string) {
		a.render(w, r, status, "email", page{Title: "Change your e-mail address", Error: msg})
	}
	newEmail := normEmail(r.PostForm.Get("email"))
	if !validEmail(newEmail) { // the rule of sign-up
		again(http.StatusUnprocessableEntity, "Enter a valid e-mail address.")
		return
	}
	err := a.flows.RequestEmailChange(r, r.PostForm.Get("current"), newEmail)
	if hashingBusy(w, err, again) {
		return
	}
	switch {
	case err == nil:
		a.render(w, r, http.StatusOK, "inbox", page{Title: "Check your inbox",
			Data: "We have sent a link to " + newEmail + ": your address changes when you open it. Your current address has been told, with a link to cancel."})
	case errors.Is(err, auth.ErrInvalidCredentials):
		again(http.StatusUnauthorized, "That password is not right.")
	case errors.Is(err, account.ErrInvalidAddress):
		again(http.StatusUnprocessableEntity, "Enter a valid e-mail address.")
	case errors.Is(err, ratelimit.ErrLimited):
		a.rateLimited(w, r, err)
	default:
		a.serverError(w, r, err)
	}
}

// confirmEmail consumes a confirmation link opened from the new address
// (a browser signed in as another user is refused, the link unused:
// account.ErrOtherUser).
func (a *App) confirmEmail(w http.ResponseWriter, r *http.Request) {
	if !a.parseForm(w, r) {
		return
	}
	a.linkDone(w, r, a.flows.ConfirmEmailChange(r, r.PostForm.Get("token")), "confirmation", "Your e-mail address is changed.", a.afterLink(r))
}

// undoEmail consumes an undo link opened from the old address: the change
// is undone and every session ends.
func (a *App) undoEmail(w http.ResponseWriter, r *http.Request) {
	if !a.parseForm(w, r) {
		return
	}
	a.linkDone(w, r, a.flows.UndoEmailChange(r, r.PostForm.Get("token")), "cancellation",
		"The change of address is undone and every session of your account is signed out. We have mailed you a link to choose a new password: someone who knew it asked for the change.", "/login")
}
