package account

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/deployedworks/rampart/audit"
	"github.com/deployedworks/rampart/auth"
	"github.com/deployedworks/rampart/auth/password"
	"github.com/deployedworks/rampart/identity"
	"github.com/deployedworks/rampart/internal/loginkey"
	"github.com/deployedworks/rampart/ratelimit"
	"github.com/deployedworks/rampart/token"
)

const flowChange = "email_change"

// RequestEmailChange asks to change the address of the request's signed-in
// user to newEmail. The user re-authenticates with currentPassword
// (throttled like a login: [Config].Throttle), then, in the background, a
// confirmation link ([token.EmailChange], carrying newEmail) is mailed to
// newEmail, and a notice with a link that cancels the change (and ends
// every session) to the current address. The address changes only when
// the link is opened ([Flows.ConfirmEmailChange]).
//
// If another account has newEmail, its owner is told instead and nothing
// else happens, so the answer, nil, does not reveal whether the address
// is taken: tell the user "we sent a link to the new address". Both
// addresses are limited per account ([Config].PerAccount).
//
// It returns [auth.ErrUnauthenticated] without a signed-in user;
// [auth.ErrInvalidCredentials] if currentPassword is wrong (or the
// account is disabled, gone or has no password); a *ratelimit.LimitedError
// when the throttle, a limit or the full queue refuses; a
// *password.BusyError when hashing is busy; an error wrapping
// [ErrInvalidAddress] for a malformed newEmail or the current address;
// and one wrapping clientip.ErrNoClient without clientip's Handler.
func (f *Flows) RequestEmailChange(r *http.Request, currentPassword, newEmail string) error {
	newEmail = strings.TrimSpace(newEmail)
	ctx := r.Context()
	p, ok := identity.FromContext(ctx)
	if !ok {
		return auth.ErrUnauthenticated
	}
	if _, err := f.clientKey(r, flowChange); err != nil {
		return err
	}
	if !validAddress(newEmail) {
		return fmt.Errorf("account: e-mail change: %w", ErrInvalidAddress)
	}
	u, err := f.users.UserByID(ctx, p.UserID)
	if errors.Is(err, auth.ErrUserNotFound) {
		f.event(ctx, ActionEmailChangeFailed, audit.CategoryAuthentication, audit.OutcomeFailure, p.UserID, "unknown_user", nil)
		return auth.ErrInvalidCredentials
	}
	if err != nil {
		return f.internal(ctx, flowChange, p.UserID, "looking up user", err)
	}
	if err := f.reauthenticate(ctx, u, currentPassword); err != nil {
		return err
	}
	if normalize(newEmail) == normalize(u.Email) {
		return fmt.Errorf("account: e-mail change: %w: it is the current address", ErrInvalidAddress)
	}
	if err := f.allow(ctx, f.perAccount, flowChange+":u:"+u.ID, flowChange, "per_account"); err != nil {
		return err
	}
	if err := f.allow(ctx, f.perAccount, addressKey(flowChange, newEmail), flowChange, "per_account"); err != nil {
		return err
	}
	digest := f.digest(newEmail)
	if err := f.submit(r, flowChange, func(ctx context.Context) {
		f.mailEmailChange(ctx, u.ID, u.Email, newEmail, hashBinding(u.PasswordHash), digest)
	}); err != nil {
		return err
	}
	f.event(ctx, ActionEmailChangeRequested, audit.CategoryAuthentication, audit.OutcomeSuccess, u.ID, "",
		map[string]string{"email_digest": digest})
	return nil
}

// reauthenticate checks u's current password as a login would: throttled,
// failures reported.
func (f *Flows) reauthenticate(ctx context.Context, u auth.User, current string) error {
	account := loginkey.Of(u.Login)
	if err := f.throttle.Check(ctx, account); err != nil {
		if !errors.Is(err, ratelimit.ErrLimited) {
			return f.internal(ctx, flowChange, u.ID, "throttle", err)
		}
		le, ok := errors.AsType[*ratelimit.LimitedError](err)
		if !ok {
			le = &ratelimit.LimitedError{}
		}
		f.throttled(ctx, flowChange, "password", le.RetryAfter)
		return le
	}
	failed := func(reason string) error {
		if err := f.throttle.Failed(ctx, account); err != nil {
			f.note(ctx, flowChange, u.ID, "throttle failure report", err)
		}
		f.event(ctx, ActionEmailChangeFailed, audit.CategoryAuthentication, audit.OutcomeFailure, u.ID, reason, nil)
		return auth.ErrInvalidCredentials
	}
	switch {
	case u.Disabled:
		return failed("disabled")
	case u.PasswordHash == "":
		return failed("no_password")
	case len(current) > f.hasher.MaxPasswordBytes():
		return failed("bad_password")
	}
	if _, err := f.hasher.Verify(ctx, password.Normalize(current), u.PasswordHash); err != nil {
		switch {
		case errors.Is(err, password.ErrMismatch), errors.Is(err, password.ErrPasswordTooLong):
			return failed("bad_password")
		}
		if _, busy := errors.AsType[*password.BusyError](err); busy {
			return err
		}
		return f.internal(ctx, flowChange, u.ID, "verifying password", err)
	}
	if err := f.throttle.Succeeded(ctx, account); err != nil {
		f.note(ctx, flowChange, u.ID, "throttle success report", err)
	}
	return nil
}

// mailEmailChange is the background half of RequestEmailChange. binding
// is the hashBinding of the password the user re-authenticated with.
func (f *Flows) mailEmailChange(ctx context.Context, userID, oldEmail, newEmail, binding, digest string) {
	owner, err := f.users.UserByEmail(ctx, newEmail)
	switch {
	case err == nil && owner.ID != userID:
		f.event(ctx, ActionEmailChangeFailed, audit.CategoryAuthentication, audit.OutcomeFailure, userID, "address_taken",
			map[string]string{"email_digest": digest})
		m, err := f.mail(MailChangeTaken, MailChangeTaken+":"+nonce(), owner.Email, MailData{})
		f.send(ctx, flowChange, owner.ID, m, err)
		return
	case err != nil && !errors.Is(err, auth.ErrUserNotFound):
		f.note(ctx, flowChange, userID, "looking up user by address", err)
		return
	}
	link, tok, err := f.issueLink(ctx, userID, token.EmailChange, binding+"\n"+newEmail)
	if err != nil {
		f.note(ctx, flowChange, userID, "issuing link", err)
		return
	}
	m, err := f.mail(MailChangeConfirm, MailChangeConfirm+":"+tokenRef(tok), newEmail, MailData{Link: link})
	if !f.send(ctx, flowChange, userID, m, err) {
		return
	}
	undo, undoTok := f.undoLink(ctx, userID, oldEmail, "asked:"+tokenRef(tok))
	ref := undoTok
	if ref == "" {
		ref = tok
	}
	m, err = f.mail(MailChangeRequested, MailChangeRequested+":"+tokenRef(ref), oldEmail, MailData{Undo: undo, NewEmail: newEmail})
	f.send(ctx, flowChange, userID, m, err)
}

// undoLink issues an undo token for a change away from oldEmail and
// returns its link and the token, or "" (audited) if it could not. tag
// names the mail it goes in: the change's confirmation token and whether
// the mail says the change was asked or done.
//
// Undo tokens are issued to a subject of their own for each user, old
// address and mail, not to the user ID: a token store keeps one token per
// subject and purpose, so with the user ID as subject, an attacker who
// changed the address and then changed it again would void the undo link
// mailed to the owner by the undo link of the second change, mailed to
// himself; and with one subject per user and old address, the undo link
// of the "was changed" mail would void the one of the "about to change"
// mail sent a moment before, which the owner may click first. The Data
// carries the user ID and the old address; the number of live undo
// tokens is bounded by the per-account limit on changes and their 7 days.
func (f *Flows) undoLink(ctx context.Context, userID, oldEmail, tag string) (link, tok string) {
	link, tok, err := f.issueLink(ctx, undoSubject(userID, oldEmail)+":"+tag, token.EmailChangeUndo, userID+"\n"+oldEmail)
	if err != nil {
		f.note(ctx, flowChange, userID, "issuing undo link", err)
		return "", ""
	}
	return link, tok
}

// undoSubject is the prefix of the token subjects of undo links for
// userID's change away from oldEmail (links issued before undo links had
// a tag have it as their whole subject).
func undoSubject(userID, oldEmail string) string {
	sum := sha256.Sum256([]byte(userID + "\x00" + normalize(oldEmail)))
	return "undo-email:" + hex.EncodeToString(sum[:16])
}

// ConfirmEmailChange consumes a confirmation link opened from the new
// address, and makes it the user's address, if the user's password is
// still the one they re-authenticated with when they asked (a change of
// password, by a reset or otherwise, voids a pending change: whoever
// asked may have known only the old password) ([Users].SetEmail,
// compare-and-swap, then SetEmailVerified: opening the link proves the
// mailbox). It voids the user's other change, reset and verification
// links (those went to the old address), and mails the new address a
// notice and the old one a notice with an undo link, valid 7 days.
//
// It returns an error wrapping [token.ErrInvalid] for a link that cannot
// be used, or for an account disabled or whose address or password
// changed meanwhile;
// one wrapping [ErrEmailTaken] when another account took the address
// meanwhile; one wrapping [ErrOtherUser], the link unused, when r is
// signed in as another user than the link's; other errors are failures
// of a dependency.
func (f *Flows) ConfirmEmailChange(r *http.Request, tok string) error {
	ctx := r.Context()
	if p, ok := identity.FromContext(ctx); ok {
		if rec, err := f.tokens.Check(ctx, tok, token.EmailChange); err == nil && rec.UserID != p.UserID {
			f.event(ctx, ActionEmailChangeFailed, audit.CategoryAuthentication, audit.OutcomeFailure, rec.UserID, "other_user_signed_in", nil)
			return fmt.Errorf("account: e-mail change: %w", ErrOtherUser)
		}
	}
	rec, err := f.tokens.Redeem(ctx, tok, token.EmailChange)
	if err != nil {
		return f.tokenFailed(ctx, flowChange, ActionEmailChangeFailed, "", err)
	}
	binding, newEmail, _ := strings.Cut(rec.Data, "\n")
	u, err := f.users.UserByID(ctx, rec.UserID)
	switch {
	case errors.Is(err, auth.ErrUserNotFound):
		return f.refuse(ctx, ActionEmailChangeFailed, rec.UserID, "unknown_user")
	case err != nil:
		return f.internal(ctx, flowChange, rec.UserID, "looking up user", err)
	case u.Disabled:
		return f.refuse(ctx, ActionEmailChangeFailed, u.ID, "disabled")
	case !bound(binding, u.PasswordHash):
		// The password changed since the change was asked: whoever asked
		// may have known only the old one.
		return f.refuse(ctx, ActionEmailChangeFailed, u.ID, "password_changed")
	case !validAddress(newEmail) || normalize(newEmail) == normalize(u.Email):
		return f.refuse(ctx, ActionEmailChangeFailed, u.ID, "unchanged")
	}
	oldEmail := u.Email
	if err := f.users.SetEmail(ctx, u.ID, oldEmail, newEmail); err != nil {
		switch {
		case errors.Is(err, ErrEmailTaken):
			f.event(ctx, ActionEmailChangeFailed, audit.CategoryAuthentication, audit.OutcomeFailure, u.ID, "address_taken", nil)
			return fmt.Errorf("account: e-mail change: %w", err)
		case errors.Is(err, ErrEmailConflict):
			return f.refuse(ctx, ActionEmailChangeFailed, u.ID, "conflict")
		}
		return f.internal(ctx, flowChange, u.ID, "storing address", err)
	}
	if err := f.users.SetEmailVerified(ctx, u.ID, newEmail); err != nil {
		f.note(ctx, flowChange, u.ID, "marking address verified", err)
	}
	if err := f.tokens.Void(ctx, u.ID, token.EmailChange, token.PasswordReset, token.EmailVerify); err != nil {
		f.note(ctx, flowChange, u.ID, "voiding links to the old address", err)
	}
	f.event(ctx, ActionEmailChanged, audit.CategoryAuthentication, audit.OutcomeSuccess, u.ID, "", nil)
	undo, _ := f.undoLink(ctx, u.ID, oldEmail, "done:"+tokenRef(tok))
	ref := tokenRef(tok)
	m, err := f.mail(MailChangedOld, MailChangedOld+":"+ref, oldEmail, MailData{Undo: undo, NewEmail: newEmail})
	f.send(ctx, flowChange, u.ID, m, err)
	m, err = f.mail(MailChangedNew, MailChangedNew+":"+ref, newEmail, MailData{NewEmail: newEmail})
	f.send(ctx, flowChange, u.ID, m, err)
	return nil
}

// UndoEmailChange consumes an undo link opened from the old address. If
// the change was confirmed, it restores the old address, whatever the
// address is now (compare-and-swap); if not, it voids the confirmation
// link. Either way whoever asked knew the password, so it ends every
// session of the user, voids their other links, marks the old address
// verified, and mails it a notice with a fresh reset link (when the
// account has a password); an address the undo replaced is told too
// ([MailChangeReverted]): the owner may have moved away from an old
// mailbox that someone else now reads.
//
// It returns an error wrapping [token.ErrInvalid] for a link that cannot
// be used or an account disabled or gone; one wrapping [ErrEmailTaken] if
// another account took the old address meanwhile; one wrapping
// [auth.ErrSessionsNotRevoked] if the address was restored but the
// sessions could not be ended; other errors are failures of a dependency.
func (f *Flows) UndoEmailChange(r *http.Request, tok string) error {
	ctx := r.Context()
	rec, err := f.tokens.Redeem(ctx, tok, token.EmailChangeUndo)
	if err != nil {
		return f.tokenFailed(ctx, flowChange, ActionEmailChangeFailed, "", err)
	}
	i := strings.LastIndexByte(rec.Data, '\n')
	ok := i >= 0
	if ok {
		sub := undoSubject(rec.Data[:i], rec.Data[i+1:])
		ok = rec.UserID == sub || strings.HasPrefix(rec.UserID, sub+":")
	}
	if !ok {
		return f.refuse(ctx, ActionEmailChangeFailed, "", "invalid_undo_data")
	}
	userID, oldEmail := rec.Data[:i], rec.Data[i+1:]
	state, replaced := "cancelled", ""
	var u auth.User
	for attempt := 0; ; attempt++ {
		u, err = f.users.UserByID(ctx, userID)
		switch {
		case errors.Is(err, auth.ErrUserNotFound):
			return f.refuse(ctx, ActionEmailChangeFailed, userID, "unknown_user")
		case err != nil:
			return f.internal(ctx, flowChange, userID, "looking up user", err)
		case u.Disabled:
			return f.refuse(ctx, ActionEmailChangeFailed, userID, "disabled")
		}
		if u.Email == oldEmail {
			break
		}
		err = f.users.SetEmail(ctx, u.ID, u.Email, oldEmail)
		if err == nil {
			state, replaced = "reverted", u.Email
			break
		}
		switch {
		case errors.Is(err, ErrEmailTaken):
			f.event(ctx, ActionEmailChangeFailed, audit.CategoryAuthentication, audit.OutcomeFailure, u.ID, "address_taken", nil)
			return fmt.Errorf("account: undo e-mail change: %w", err)
		case errors.Is(err, ErrEmailConflict) && attempt < 2:
			continue // changed meanwhile: read it again
		}
		return f.internal(ctx, flowChange, u.ID, "restoring address", err)
	}
	if err := f.users.SetEmailVerified(ctx, u.ID, oldEmail); err != nil {
		f.note(ctx, flowChange, u.ID, "marking address verified", err)
	}
	if err := f.tokens.Void(ctx, u.ID, token.EmailChange, token.PasswordReset, token.EmailVerify); err != nil {
		f.note(ctx, flowChange, u.ID, "voiding links", err)
	}
	revokeErr := f.sessions.RevokeUser(ctx, u.ID)
	if revokeErr != nil {
		f.note(ctx, flowChange, u.ID, "revoking sessions", revokeErr)
	}
	f.audit.Log(ctx, audit.Event{Category: audit.CategorySecurityAlert, Action: ActionEmailChangeUndone,
		Outcome: audit.OutcomeSuccess, Target: userTarget(u.ID),
		Meta: map[string]string{"state": state, "sessions_revoked": fmt.Sprint(revokeErr == nil)}})
	var d MailData
	if u.PasswordHash != "" {
		var err error
		if d.Link, _, err = f.issueLink(ctx, u.ID, token.PasswordReset, resetBinding(u.PasswordHash, oldEmail)); err != nil {
			f.note(ctx, flowChange, u.ID, "issuing reset link", err)
		}
	}
	m, err := f.mail(MailChangeUndone, MailChangeUndone+":"+tokenRef(tok), oldEmail, d)
	f.send(ctx, flowChange, u.ID, m, err)
	if replaced != "" && validAddress(replaced) {
		// The address the undo replaced may be the owner's (who moved away
		// from an old mailbox that someone else now reads): tell it.
		m, err := f.mail(MailChangeReverted, MailChangeReverted+":"+tokenRef(tok), replaced, MailData{NewEmail: oldEmail})
		f.send(ctx, flowChange, u.ID, m, err)
	}
	if revokeErr != nil {
		return fmt.Errorf("account: undo e-mail change: %w: %w", auth.ErrSessionsNotRevoked, revokeErr)
	}
	return nil
}
