package account

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/deployedworks/rampart/audit"
	"github.com/deployedworks/rampart/auth"
	"github.com/deployedworks/rampart/token"
)

const (
	flowVerify = "verify"
	flowSignUp = "signup"
)

// SendVerification mails the user userID a link that proves they read
// their address (a [token.EmailVerify] token carrying the address), for
// a "send the link again" button of a signed-in user, or after a sign-up
// the app runs itself ([Flows.SignUp] sends it on its own). It is limited
// per user ([Config].PerAccount).
//
// It returns an error wrapping [auth.ErrUserNotFound] for an unknown user,
// [ErrInvalidAddress] if the user's address is malformed, a
// *ratelimit.LimitedError when the limit refuses, and other errors for a
// failing dependency (500).
func (f *Flows) SendVerification(r *http.Request, userID string) error {
	ctx := r.Context()
	u, err := f.users.UserByID(ctx, userID)
	if errors.Is(err, auth.ErrUserNotFound) {
		return fmt.Errorf("account: verify: %w", err)
	}
	if err != nil {
		return f.internal(ctx, flowVerify, userID, "looking up user", err)
	}
	if !validAddress(u.Email) {
		return fmt.Errorf("account: verify: user %q: %w", u.ID, ErrInvalidAddress)
	}
	if err := f.allow(ctx, f.perAccount, flowVerify+":u:"+u.ID, flowVerify, "per_account"); err != nil {
		return err
	}
	if err := f.mailVerification(ctx, u); err != nil {
		return f.internal(ctx, flowVerify, u.ID, "mailing verification link", err)
	}
	return nil
}

// mailVerification issues an EmailVerify token for u's address and queues
// the mail.
func (f *Flows) mailVerification(ctx context.Context, u auth.User) error {
	return f.mailLink(ctx, u.ID, token.EmailVerify, u.Email, MailVerify, u.Email, ActionVerificationMailed)
}

// VerifyEmail consumes a verification link and records that its user
// reads the address it was sent to ([Users].SetEmailVerified), if that is
// still the user's address. It returns an error wrapping
// [token.ErrInvalid] for a link that cannot be used or whose address is
// no longer the user's; other errors are failures of a dependency.
func (f *Flows) VerifyEmail(r *http.Request, tok string) error {
	ctx := r.Context()
	rec, err := f.tokens.Redeem(ctx, tok, token.EmailVerify)
	if err != nil {
		return f.tokenFailed(ctx, flowVerify, ActionVerificationFailed, "", err)
	}
	u, err := f.users.UserByID(ctx, rec.UserID)
	switch {
	case errors.Is(err, auth.ErrUserNotFound):
		return f.refuse(ctx, ActionVerificationFailed, rec.UserID, "unknown_user")
	case err != nil:
		return f.internal(ctx, flowVerify, rec.UserID, "looking up user", err)
	case u.Email != rec.Data:
		return f.refuse(ctx, ActionVerificationFailed, u.ID, "address_changed")
	}
	if err := f.users.SetEmailVerified(ctx, u.ID, rec.Data); err != nil {
		if errors.Is(err, ErrEmailConflict) {
			return f.refuse(ctx, ActionVerificationFailed, u.ID, "address_changed")
		}
		return f.internal(ctx, flowVerify, u.ID, "marking address verified", err)
	}
	f.event(ctx, ActionEmailVerified, audit.CategoryAuthentication, audit.OutcomeSuccess, u.ID, "", nil)
	return nil
}

// SignUp registers an account for email without revealing whether the
// address has one already. Call it after validating the form (the
// password's policy, the other fields), with create, a function that
// inserts the account and returns its user ID. SignUp checks the limits
// (as [Flows.RequestReset]) and queues the rest, and returns nil in
// either case: show "check your inbox" and sign nobody in.
//
// In the background, if an account has the address, nothing is created
// and its owner is mailed "someone tried to sign up with your address";
// otherwise create runs, and the new user is mailed a verification link.
// If create returns an error wrapping [ErrEmailTaken] (a sign-up racing
// this one took the address: the user table's unique index), the owner is
// told as well. create runs with a context that carries the request's
// values but not its cancellation; its other errors are audited, never
// shown to the client.
//
// Errors are those of RequestReset, and an error for a nil create.
func (f *Flows) SignUp(r *http.Request, email string, create func(ctx context.Context) (userID string, err error)) error {
	email = strings.TrimSpace(email)
	if create == nil {
		return errors.New("account: SignUp: create is nil: pass the function that inserts the account")
	}
	ctx := r.Context()
	ipKey, err := f.clientKey(r, flowSignUp)
	if err != nil {
		return err
	}
	if err := f.allow(ctx, f.perAddress, ipKey, flowSignUp, "per_address"); err != nil {
		return err
	}
	if !validAddress(email) {
		return fmt.Errorf("account: sign-up: %w", ErrInvalidAddress)
	}
	if err := f.allow(ctx, f.perAccount, addressKey(flowSignUp, email), flowSignUp, "per_account"); err != nil {
		return err
	}
	digest := f.digest(email)
	return f.submit(r, flowSignUp, func(ctx context.Context) { f.signUp(ctx, email, digest, create) })
}

// signUp is the background half of SignUp.
func (f *Flows) signUp(ctx context.Context, email, digest string, create func(context.Context) (string, error)) {
	u, err := f.users.UserByEmail(ctx, email)
	if errors.Is(err, auth.ErrUserNotFound) {
		var id string
		id, err = create(ctx)
		if errors.Is(err, ErrEmailTaken) {
			u, err = f.users.UserByEmail(ctx, email)
		} else if err != nil {
			f.note(ctx, flowSignUp, "", "creating the account", err)
			return
		} else {
			f.signedUp(ctx, id, digest)
			return
		}
	}
	if err != nil {
		f.note(ctx, flowSignUp, "", "looking up user by address", err)
		return
	}
	f.event(ctx, ActionSignUpExisting, audit.CategoryAuthentication, audit.OutcomeFailure, u.ID, "address_taken",
		map[string]string{"email_digest": digest})
	m, err := f.mail(MailSignUpExisting, MailSignUpExisting+":"+nonce(), u.Email, MailData{})
	f.send(ctx, flowSignUp, u.ID, m, err)
}

// signedUp mails the verification link to a new account.
func (f *Flows) signedUp(ctx context.Context, id, digest string) {
	f.event(ctx, ActionSignUpCreated, audit.CategoryAccess, audit.OutcomeSuccess, id, "",
		map[string]string{"email_digest": digest})
	u, err := f.users.UserByID(ctx, id)
	if err != nil {
		f.note(ctx, flowSignUp, id, "looking up the new user", err)
		return
	}
	if err := f.mailVerification(ctx, u); err != nil {
		f.note(ctx, flowSignUp, id, "mailing verification link", err)
	}
}
