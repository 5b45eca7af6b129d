package main

import (
	"context"
	"encoding/base64"
	"errors"
	"html/template"
	"net/http"
	"net/url"
	"strconv"

	"github.com/deployedworks/rampart/identity"
	"github.com/deployedworks/rampart/mfa"
	"github.com/deployedworks/rampart/mfa/passkey"
	"github.com/deployedworks/rampart/ratelimit"
)

// mfaSettingsPage is the data of the second-factor settings page.
type mfaSettingsPage struct {
	TOTP          bool
	Passkeys      []passkeyView
	RecoveryCodes int
	Required      bool // the user's role requires a factor and none is enrolled
	// Unconfirmed: the user's address was never confirmed, so no factor
	// can be added (confirmedRoute); the page offers a new link instead.
	Unconfirmed bool
	Next        string
}

// passkeyView is a registered passkey for display.
type passkeyView struct {
	ID   string // base64url
	Info passkey.CredentialInfo
}

// factors reports which factors uid has.
func (a *App) factors(ctx context.Context, uid string) (totp bool, keys []passkeyView, codes int, err error) {
	if totp, err = a.totp.Enrolled(ctx, uid); err != nil {
		return
	}
	creds, err := a.passkeys.Credentials(ctx, uid)
	if err != nil {
		return
	}
	for _, c := range creds {
		keys = append(keys, passkeyView{ID: base64.RawURLEncoding.EncodeToString(c.ID), Info: c})
	}
	codes, err = a.recovery.Remaining(ctx, uid)
	return
}

func (a *App) mfaSettings(w http.ResponseWriter, r *http.Request) {
	a.renderMFASettings(w, r, http.StatusOK, "")
}

// renderMFASettings answers the second-factor settings page with status
// and, if not empty, the error msg.
func (a *App) renderMFASettings(w http.ResponseWriter, r *http.Request, status int, msg string) {
	uid := currentUser(r)
	totp, keys, codes, err := a.factors(r.Context(), uid)
	if err != nil {
		a.serverError(w, r, err)
		return
	}
	u, err := a.db.userByID(r.Context(), uid)
	if err != nil {
		a.serverError(w, r, err)
		return
	}
	next := r.URL.Query().Get("next")
	if r.Method == http.MethodPost {
		next = r.PostFormValue("next")
	}
	p := mfaSettingsPage{TOTP: totp, Passkeys: keys, RecoveryCodes: codes,
		Required:    errors.Is(a.mfaPending(r), mfa.ErrEnrolmentRequired),
		Unconfirmed: !u.EmailVerified,
		Next:        localNext(next, "")}
	a.render(w, r, status, "mfa_settings", page{Title: "Second factors", Scripts: true, Error: msg, Data: p})
}

// totpEnrolPage is the data of the TOTP enrolment page.
type totpEnrolPage struct {
	QR     template.URL // data: URL of the QR code PNG
	Secret string
	Next   string
}

func (a *App) totpEnrol(w http.ResponseWriter, r *http.Request) {
	if !a.parseForm(w, r) {
		return
	}
	uid := currentUser(r)
	u, err := a.db.userByID(r.Context(), uid)
	if err != nil {
		a.serverError(w, r, err)
		return
	}
	e, err := a.totp.Enrol(r.Context(), uid, u.Email)
	if err != nil {
		if !a.needReauth(w, r, err, "/account/mfa") {
			a.serverError(w, r, err)
		}
		return
	}
	png, err := e.PNG(256)
	if err != nil {
		a.serverError(w, r, err)
		return
	}
	p := totpEnrolPage{
		QR:     template.URL("data:image/png;base64," + base64.StdEncoding.EncodeToString(png)), // #nosec G203 -- a data: URL of a PNG encoded here, not user input
		Secret: e.Secret(),
		Next:   localNext(r.PostForm.Get("next"), ""),
	}
	a.render(w, r, http.StatusOK, "totp_enrol", page{Title: "Set up an authenticator app", Data: p})
}

// codeProblem turns a TOTP or recovery-code error into a status and a
// message; status 0 means an unexpected error.
func codeProblem(w http.ResponseWriter, err error) (int, string) {
	var te *ratelimit.LimitedError
	switch {
	case errors.As(err, &te):
		setRetryAfter(w, te.RetryAfter)
		return http.StatusTooManyRequests, "Too many attempts. Please wait " + retryText(te.RetryAfter) + " and try again."
	case errors.Is(err, mfa.ErrCodeReused):
		return http.StatusUnprocessableEntity, "That code was used already. Wait for the next code from your app."
	case errors.Is(err, mfa.ErrInvalidCode):
		return http.StatusUnprocessableEntity, "That code is not right. Check the code (and your device's clock) and try again."
	case errors.Is(err, mfa.ErrNoPendingEnrolment):
		return http.StatusConflict, "There is no set-up in progress: start again from your second-factor settings."
	case errors.Is(err, mfa.ErrNotEnrolled):
		return http.StatusConflict, "You have not set up this kind of second factor."
	}
	return 0, ""
}

// codeField describes the one-time code field of a form.
type codeField struct {
	maxLen  int    // longest code accepted, in bytes
	missing string // message for an empty or overlong code
	invalid string // message for a wrong code; "" for codeProblem's
}

var (
	totpCode     = codeField{maxLen: 32, missing: "Enter the 6-digit code your app shows."}
	recoveryCode = codeField{maxLen: 64, missing: "Enter one of your recovery codes, like ABCD-EFGH-JKMN-PQRS-TVWX-YZ01.",
		invalid: "That recovery code is not right, or was used already."}
)

// checkCode parses the form and passes its code field, if it has the
// shape f allows, to check. It reports whether check accepted the code;
// otherwise it has answered: through again with 400 for a missing or
// overlong code and with codeProblem's status for a refused one, or with
// a 500 for an unexpected error.
func (a *App) checkCode(w http.ResponseWriter, r *http.Request, f codeField, check func(code string) error, again func(w http.ResponseWriter, r *http.Request, status int, msg string)) bool {
	if !a.parseForm(w, r) {
		return false
	}
	code := r.PostForm.Get("code")
	if code == "" || len(code) > f.maxLen {
		again(w, r, http.StatusBadRequest, f.missing)
		return false
	}
	err := check(code)
	if err == nil {
		return true
	}
	if a.needReauth(w, r, err, localNext(r.PostForm.Get("next"), "/account/mfa")) {
		return false
	}
	status, msg := codeProblem(w, err)
	switch {
	case status == 0:
		a.serverError(w, r, err)
	case f.invalid != "" && errors.Is(err, mfa.ErrInvalidCode):
		again(w, r, status, f.invalid)
	default:
		again(w, r, status, msg)
	}
	return false
}

func (a *App) totpConfirm(w http.ResponseWriter, r *http.Request) {
	uid := currentUser(r)
	done := "Your authenticator app is set up. Your other sessions are signed out."
	if !a.checkCode(w, r, totpCode, func(code string) error {
		err := a.totp.Confirm(r.Context(), uid, code)
		if errors.Is(err, mfa.ErrSessionsNotRevoked) { // confirmed all the same
			a.log.ErrorContext(r.Context(), "TOTP confirmed, other sessions not signed out", "err", err)
			done = "Your authenticator app is set up. Your other sessions could not be signed out: sign them out from “Where you are signed in”."
			return nil
		}
		return err
	}, a.confirmAgain) {
		return
	}
	next := localNext(r.PostForm.Get("next"), "")
	if err := a.sessions.MarkMFA(r.Context(), identity.MethodOTP); err != nil {
		a.serverError(w, r, err)
		return
	}
	n, err := a.recovery.Remaining(r.Context(), uid)
	if err != nil {
		a.serverError(w, r, err)
		return
	}
	if n == 0 {
		a.showNewRecoveryCodes(w, r, done, next)
		return
	}
	a.flash(r, done)
	redirect(w, r, localNext(next, "/account/mfa"))
}

// confirmAgain shows the TOTP confirmation form again with an error.
func (a *App) confirmAgain(w http.ResponseWriter, r *http.Request, status int, msg string) {
	a.render(w, r, status, "totp_enrol", page{Title: "Set up an authenticator app", Error: msg,
		Data: totpEnrolPage{Next: localNext(r.PostForm.Get("next"), "")}})
}

// showNewRecoveryCodes generates a new set of recovery codes and shows
// them once.
func (a *App) showNewRecoveryCodes(w http.ResponseWriter, r *http.Request, flash, next string) {
	codes, err := a.recovery.Generate(r.Context(), currentUser(r))
	if err != nil {
		a.serverError(w, r, err)
		return
	}
	a.render(w, r, http.StatusOK, "recovery_codes", page{Title: "Your recovery codes", Flash: flash,
		Data: struct {
			Codes []string
			Next  string
		}{codes, localNext(next, "/account/mfa")}})
}

func (a *App) recoveryGenerate(w http.ResponseWriter, r *http.Request) {
	if !a.parseForm(w, r) {
		return
	}
	ok, err := a.db.hasFactor(r.Context(), currentUser(r))
	if err != nil {
		a.serverError(w, r, err)
		return
	}
	if !ok {
		a.fail(w, r, http.StatusConflict, "Set up an authenticator app or a passkey first: recovery codes back up a second factor.")
		return
	}
	a.showNewRecoveryCodes(w, r, "", r.PostForm.Get("next"))
}

func (a *App) totpDisable(w http.ResponseWriter, r *http.Request) {
	uid := currentUser(r)
	on, err := a.totp.Enrolled(r.Context(), uid)
	if err != nil {
		a.serverError(w, r, err)
		return
	}
	if !on {
		a.fail(w, r, http.StatusConflict, "You have no authenticator app set up.")
		return
	}
	keep, err := a.mustKeepFactor(r)
	if err != nil {
		a.serverError(w, r, err)
		return
	}
	err = a.totp.Disable(r.Context(), uid, keep)
	switch {
	case errors.Is(err, mfa.ErrLastFactor):
		a.refuseLastFactor(w, r)
		return
	case err != nil && !errors.Is(err, mfa.ErrSessionsNotRevoked): // removed all the same
		a.serverError(w, r, err)
		return
	}
	a.afterFactorRemoved(w, r, "Your authenticator app is removed.", err)
}

func (a *App) passkeyDelete(w http.ResponseWriter, r *http.Request) {
	if !a.parseForm(w, r) {
		return
	}
	id, err := base64.RawURLEncoding.DecodeString(r.PostForm.Get("id"))
	if err != nil || len(id) == 0 || len(id) > 1023 {
		a.fail(w, r, http.StatusNotFound, "There is no such passkey.")
		return
	}
	keep, err := a.mustKeepFactor(r)
	if err != nil {
		a.serverError(w, r, err)
		return
	}
	err = a.passkeys.RemoveCredential(r.Context(), currentUser(r), id, keep) // scoped to the user
	switch {
	case errors.Is(err, mfa.ErrNotFound):
		a.fail(w, r, http.StatusNotFound, "There is no such passkey.")
		return
	case errors.Is(err, mfa.ErrLastFactor):
		a.refuseLastFactor(w, r)
		return
	case err != nil && !errors.Is(err, mfa.ErrSessionsNotRevoked): // removed all the same
		a.serverError(w, r, err)
		return
	}
	a.afterFactorRemoved(w, r, "The passkey is removed.", err)
}

// mustKeepFactor reports whether the signed-in user must keep a second
// factor: the MFA policy requires one of their roles, as stored now or as
// granted to this session. Without it, removing the last factor would
// leave an administrator without one, their session still MFA-verified.
// The removal itself checks, atomically, that another factor is left.
func (a *App) mustKeepFactor(r *http.Request) (bool, error) {
	ctx := r.Context()
	u, err := a.db.userByID(ctx, currentUser(r))
	if err != nil {
		return false, err
	}
	id, _ := identity.FromContext(ctx)
	return a.policy.Required(u.Roles) || a.policy.Required(id.Roles), nil
}

// refuseLastFactor answers a removal refused with mfa.ErrLastFactor.
func (a *App) refuseLastFactor(w http.ResponseWriter, r *http.Request) {
	a.fail(w, r, http.StatusConflict, "Administrators must keep a second factor: add another one (a passkey or a new authenticator app) before removing this one.")
}

// afterFactorRemoved revokes the recovery codes once no factor is left:
// they back up a factor, and alone they would be a password. signOutErr
// is the removal's failure to sign out the other sessions, if any.
func (a *App) afterFactorRemoved(w http.ResponseWriter, r *http.Request, msg string, signOutErr error) {
	uid := currentUser(r)
	ok, err := a.db.hasFactor(r.Context(), uid)
	if err != nil {
		a.serverError(w, r, err)
		return
	}
	if !ok {
		if err := a.recovery.Revoke(r.Context(), uid); err != nil {
			a.serverError(w, r, err)
			return
		}
		msg += " You have no second factor left, so your recovery codes are cancelled too."
	}
	if signOutErr != nil {
		a.log.ErrorContext(r.Context(), "factor removed, other sessions not signed out", "err", signOutErr)
		msg += " Your other sessions could not be signed out: sign them out from “Where you are signed in”."
	} else {
		msg += " Your other sessions are signed out."
	}
	a.flash(r, msg)
	redirect(w, r, "/account/mfa")
}

// challengePage is the data of the MFA challenge page.
type challengePage struct {
	TOTP          bool
	Passkey       bool
	RecoveryCodes int
	Next          string
}

func (a *App) mfaChallenge(w http.ResponseWriter, r *http.Request) {
	totp, keys, codes, err := a.factors(r.Context(), currentUser(r))
	if err != nil {
		a.serverError(w, r, err)
		return
	}
	p := challengePage{TOTP: totp, Passkey: len(keys) > 0, RecoveryCodes: codes,
		Next: localNext(r.URL.Query().Get("next"), "/account")}
	a.render(w, r, http.StatusOK, "mfa_challenge", page{Title: "Confirm it is you", Scripts: true, Data: p})
}

// verified marks the session after a successful check and sends the user
// on.
func (a *App) verified(w http.ResponseWriter, r *http.Request, method identity.Method, next, msg string) {
	if err := a.sessions.MarkMFA(r.Context(), method); err != nil {
		a.serverError(w, r, err)
		return
	}
	if msg != "" {
		a.flash(r, msg)
	}
	redirect(w, r, localNext(next, "/account"))
}

// challengeAgain shows the challenge page again with an error, keeping
// the form's next.
func (a *App) challengeAgain(w http.ResponseWriter, r *http.Request, status int, msg string) {
	totp, keys, codes, err := a.factors(r.Context(), currentUser(r))
	if err != nil {
		a.serverError(w, r, err)
		return
	}
	a.render(w, r, status, "mfa_challenge", page{Title: "Confirm it is you", Scripts: true, Error: msg,
		Data: challengePage{TOTP: totp, Passkey: len(keys) > 0, RecoveryCodes: codes, Next: localNext(r.PostForm.Get("next"), "/account")}})
}

func (a *App) mfaVerifyTOTP(w http.ResponseWriter, r *http.Request) {
	uid := currentUser(r)
	if !a.checkCode(w, r, totpCode, func(code string) error { return a.totp.Verify(r.Context(), uid, code) }, a.challengeAgain) {
		return
	}
	a.verified(w, r, identity.MethodOTP, r.PostForm.Get("next"), "")
}

func (a *App) mfaVerifyRecovery(w http.ResponseWriter, r *http.Request) {
	uid := currentUser(r)
	var left int
	use := func(code string) (err error) {
		left, err = a.recovery.Use(r.Context(), uid, code)
		return err
	}
	if !a.checkCode(w, r, recoveryCode, use, a.challengeAgain) {
		return
	}
	next := r.PostForm.Get("next")
	msg := "Recovery code accepted. You have " + strconv.Itoa(left) + " left."
	if left < 3 {
		msg += " Make a new set now, and set up your second factor again if you lost it."
		next = "/account/mfa?next=" + url.QueryEscape(localNext(next, "/account"))
	}
	a.verified(w, r, identity.MethodOTP, next, msg) // a recovery code is a one-time password; its audit event says which
}

// passkeyRegister finishes a passkey registration
// (passkey.RelyingParty.FinishRegistration) and, like a confirmed authenticator
// app, marks the session as verified with the new passkey: the ceremony
// required user verification on the authenticator. Without the mark a
// user who registers their first passkey was sent straight to the MFA
// challenge for the rest of that session.
func (a *App) passkeyRegister(w http.ResponseWriter, r *http.Request) {
	a.passkeys.FinishRegistration(&markOnCreated{ResponseWriter: w, a: a, r: r}, r)
}

// markOnCreated marks the session as passkey-verified just before a 201
// response is written, while the session can still be saved.
type markOnCreated struct {
	http.ResponseWriter
	a     *App
	r     *http.Request
	wrote bool
}

func (m *markOnCreated) WriteHeader(status int) {
	if !m.wrote {
		m.wrote = true
		if status == http.StatusCreated {
			if err := m.a.sessions.MarkMFA(m.r.Context(), identity.MethodHardwareKey); err != nil {
				m.a.log.WarnContext(m.r.Context(), "passkey registered, session not marked verified", "err", err)
			}
		}
	}
	m.ResponseWriter.WriteHeader(status)
}

func (m *markOnCreated) Write(b []byte) (int, error) {
	if !m.wrote {
		m.WriteHeader(http.StatusOK)
	}
	return m.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (m *markOnCreated) Unwrap() http.ResponseWriter { return m.ResponseWriter }
