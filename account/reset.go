package account

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/deployedworks/rampart/audit"
	"github.com/deployedworks/rampart/auth"
	"github.com/deployedworks/rampart/auth/password"
	"github.com/deployedworks/rampart/identity"
	"github.com/deployedworks/rampart/mfa"
	"github.com/deployedworks/rampart/token"
)

const flowReset = "reset"

// Reset is an opened reset link, as [Flows.BeginReset] found it.
type Reset struct {
	// NeedsMFA reports that the user has a second factor: the session was
	// signed in as the user, with no authentication methods, and must pass
	// the app's MFA challenge (which mfa.Policy requires of such a
	// session) before [Flows.CompleteReset] takes effect. Redirect to the
	// challenge, and back to the form after it. When false, nobody was
	// signed in: show the form, which posts the token back.
	NeedsMFA bool
}

// RequestReset asks for a password-reset link to be mailed to email.
// It answers alike, with the same work on the request, whether or not an
// account has the address: it checks the limits (per client address and
// per address typed: see [Config].PerAddress and PerAccount) and queues
// the rest for the background workers, and returns nil: tell the user
// "if an account has this address, we sent it a link".
//
// In the background, if an enabled account with a password has the
// address, a [token.PasswordReset] token bound to the user's current
// password hash is mailed to the address the account has (not the one
// typed); otherwise nothing is sent, and the request is audited
// ([ActionResetNotMailed]).
//
// It returns a *ratelimit.LimitedError (errors.Is ratelimit.ErrLimited)
// when a limit or the full queue refuses the request (answer 429 with
// Retry-After, the same for every address); an error wrapping
// [ErrInvalidAddress] for an address no account can have; and an error
// wrapping clientip.ErrNoClient when r did not pass through clientip's
// Handler (fail closed: the limit is per client address).
func (f *Flows) RequestReset(r *http.Request, email string) error {
	email = strings.TrimSpace(email)
	ctx := r.Context()
	ipKey, err := f.clientKey(r, flowReset)
	if err != nil {
		return err
	}
	if err := f.allow(ctx, f.perAddress, ipKey, flowReset, "per_address"); err != nil {
		return err
	}
	if !validAddress(email) {
		return fmt.Errorf("account: reset: %w", ErrInvalidAddress)
	}
	if err := f.allow(ctx, f.perAccount, addressKey(flowReset, email), flowReset, "per_account"); err != nil {
		return err
	}
	digest := f.digest(email)
	if err := f.submit(r, flowReset, func(ctx context.Context) { f.mailReset(ctx, email, digest) }); err != nil {
		return err
	}
	f.event(ctx, ActionResetRequested, audit.CategoryAuthentication, audit.OutcomeSuccess, "", "",
		map[string]string{"email_digest": digest})
	return nil
}

// mailReset is the background half of RequestReset.
func (f *Flows) mailReset(ctx context.Context, email, digest string) {
	u, err := f.users.UserByEmail(ctx, email)
	notMailed := func(userID, reason string) {
		f.event(ctx, ActionResetNotMailed, audit.CategoryAuthentication, audit.OutcomeFailure, userID, reason,
			map[string]string{"email_digest": digest})
	}
	switch {
	case errors.Is(err, auth.ErrUserNotFound):
		notMailed("", "unknown_address")
		return
	case err != nil:
		f.note(ctx, flowReset, "", "looking up user by address", err)
		return
	case u.Disabled:
		notMailed(u.ID, "disabled")
		return
	case u.PasswordHash == "":
		notMailed(u.ID, "no_password")
		return
	case normalize(u.Email) != normalize(email) || !validAddress(u.Email):
		notMailed(u.ID, "address_mismatch")
		return
	}
	if err := f.mailResetLink(ctx, u); err != nil {
		f.note(ctx, flowReset, u.ID, "mailing reset link", err)
	}
}

// mailResetLink issues a reset token for u, bound to u's current password
// hash, and queues the mail to u's address.
func (f *Flows) mailResetLink(ctx context.Context, u auth.User) error {
	return f.mailLink(ctx, u.ID, token.PasswordReset, resetBinding(u.PasswordHash, u.Email), MailReset, u.Email, ActionResetMailed)
}

// BeginReset opens a reset link: call it from the page the link leads to.
// It checks tok without consuming it, and that the user's password is
// still the one the link was issued against. If the user has a second
// factor, it signs the session in as the user with no authentication
// methods ([Sessions].Login, which renews the session token) and returns
// Reset{NeedsMFA: true}: the mailbox is the first factor, and the app's
// MFA challenge the second. Otherwise it signs nobody in.
//
// It returns an error wrapping [token.ErrInvalid] for a link that cannot
// be used (malformed, unknown, expired, used, voided, for a disabled or
// deleted account, issued before the password last changed, or mailed to
// an address the account no longer has): show one
// message and offer a new link. Other errors are failures of a
// dependency (answer 500).
func (f *Flows) BeginReset(r *http.Request, tok string) (Reset, error) {
	ctx := r.Context()
	readAt := f.now()
	rec, u, err := f.openReset(ctx, tok)
	if err != nil {
		return Reset{}, err
	}
	enrolled, err := f.enrolled(ctx, u.ID)
	if err != nil {
		return Reset{}, f.internal(ctx, flowReset, u.ID, "enrolment lookup", err)
	}
	if !enrolled {
		f.event(ctx, ActionResetBegun, audit.CategoryAuthentication, audit.OutcomeSuccess, rec.UserID, "",
			map[string]string{"mfa": "none"})
		return Reset{}, nil
	}
	if err := f.sessions.Login(ctx, identity.Principal{UserID: u.ID, Roles: u.Roles, AuthTime: readAt}); err != nil {
		return Reset{}, f.internal(ctx, flowReset, u.ID, "signing in for the MFA challenge", err)
	}
	f.event(ctx, ActionResetBegun, audit.CategoryAuthentication, audit.OutcomeSuccess, rec.UserID, "",
		map[string]string{"mfa": "required"})
	return Reset{NeedsMFA: true}, nil
}

// openReset checks a reset token and the user it was issued to.
func (f *Flows) openReset(ctx context.Context, tok string) (token.Record, auth.User, error) {
	rec, err := f.tokens.Check(ctx, tok, token.PasswordReset)
	if err != nil {
		return rec, auth.User{}, f.tokenFailed(ctx, flowReset, ActionResetFailed, "", err)
	}
	u, err := f.users.UserByID(ctx, rec.UserID)
	switch {
	case errors.Is(err, auth.ErrUserNotFound):
		return rec, u, f.refuse(ctx, ActionResetFailed, rec.UserID, "unknown_user")
	case err != nil:
		return rec, u, f.internal(ctx, flowReset, rec.UserID, "looking up user", err)
	case u.Disabled:
		return rec, u, f.refuse(ctx, ActionResetFailed, rec.UserID, "disabled")
	}
	pw, addr, _ := strings.Cut(rec.Data, ":")
	if pwOK, addrOK := bound(pw, u.PasswordHash), boundAddress(addr, u.Email); !pwOK || !addrOK {
		// The password or the address changed by a path that did not void
		// the link (or the job that mailed it read the user just before a
		// change of address).
		reason := "password_changed"
		if pwOK {
			reason = "address_changed"
		}
		if err := f.tokens.Void(ctx, u.ID, token.PasswordReset); err != nil {
			f.note(ctx, flowReset, u.ID, "voiding stale reset tokens", err)
		}
		return rec, u, f.refuse(ctx, ActionResetFailed, rec.UserID, reason)
	}
	return rec, u, nil
}

// CompleteReset sets the password of the user tok was issued to. It
// checks the link again (as [Flows.BeginReset]); if the user has a second
// factor, the request's principal must be that user with MFA verified in
// this session after the link was issued ([identity.Principal.MFATime]);
// the new password must pass the [password.Policy] (with the user's login
// and address as context words). Then it consumes tok (of concurrent
// completions of one link, one succeeds), stores the new hash with
// compare-and-swap against the hash the link was bound to, marks the
// address the link was mailed to confirmed ([Users].SetEmailVerified:
// opening the link proved it is read by whoever completes the reset; a
// failure is noted, not returned), voids the user's other reset links,
// ends every session of the user, this one too ([Sessions].RevokeUser),
// and mails a "password changed" notice. The user
// then signs in with the new password (and MFA).
//
// It returns an error wrapping [token.ErrInvalid] for a link that cannot
// be used, or was used meanwhile, or whose password changed meanwhile
// (wrapping [auth.ErrHashConflict] too); one wrapping [mfa.ErrMFARequired]
// when the user must pass the MFA challenge first (redirect to it; the
// link stays valid); a [*password.PolicyError] for a rejected password
// (show its Message; the link stays valid); a [*password.BusyError] when
// hashing is busy (503); and one wrapping [auth.ErrSessionsNotRevoked]
// when the password was changed but the sessions could not be ended (tell
// the user, and retry the revocation). Other errors are failures of a
// dependency (500).
func (f *Flows) CompleteReset(r *http.Request, tok, newPassword string) error {
	ctx := r.Context()
	rec, u, err := f.openReset(ctx, tok)
	if err != nil {
		return err
	}
	enrolled, err := f.enrolled(ctx, u.ID)
	if err != nil {
		return f.internal(ctx, flowReset, u.ID, "enrolment lookup", err)
	}
	if enrolled {
		p, ok := identity.FromContext(ctx)
		if !ok || p.UserID != u.ID || !p.MFA() || p.MFATime.Before(rec.Created) {
			f.event(ctx, ActionResetFailed, audit.CategoryAuthentication, audit.OutcomeFailure, u.ID, "mfa_required", nil)
			return fmt.Errorf("account: reset: %w", mfa.ErrMFARequired)
		}
	}
	if len(newPassword) > f.hasher.MaxPasswordBytes() {
		return f.policyFailed(ctx, u.ID, &password.PolicyError{Code: password.CodeTooLong,
			Message: fmt.Sprintf("Use at most %d characters.", f.policy.MaxLength())})
	}
	nw := password.Normalize(newPassword)
	err = f.policy.Check(ctx, nw, password.Context{UserName: u.Login, Email: u.Email, MFA: enrolled || u.MFAEnabled})
	if pe, ok := errors.AsType[*password.PolicyError](err); ok {
		return f.policyFailed(ctx, u.ID, pe)
	}
	if err != nil {
		return f.internal(ctx, flowReset, u.ID, "password policy", err)
	}
	h, err := f.hasher.Hash(ctx, nw)
	if err != nil {
		if _, busy := errors.AsType[*password.BusyError](err); busy {
			return err
		}
		return f.internal(ctx, flowReset, u.ID, "hashing", err)
	}
	if _, err := f.tokens.Redeem(ctx, tok, token.PasswordReset); err != nil {
		return f.tokenFailed(ctx, flowReset, ActionResetFailed, u.ID, err)
	}
	if err := f.users.SetPasswordHash(ctx, u.ID, u.PasswordHash, h); err != nil {
		if errors.Is(err, auth.ErrHashConflict) {
			f.event(ctx, ActionResetFailed, audit.CategoryAuthentication, audit.OutcomeFailure, u.ID, "conflict", nil)
			return fmt.Errorf("account: reset: %w: %w", token.ErrInvalid, err)
		}
		return f.internal(ctx, flowReset, u.ID, "storing hash", err)
	}
	// The link reached the address it is bound to: its reader owns it.
	// (An account signed up with someone else's address is theirs now.)
	if err := f.users.SetEmailVerified(ctx, u.ID, u.Email); err != nil {
		f.note(ctx, flowReset, u.ID, "confirming the address", err)
	}
	if err := f.tokens.Void(ctx, u.ID, token.PasswordReset); err != nil {
		f.note(ctx, flowReset, u.ID, "voiding other reset tokens", err)
	}
	revokeErr := f.sessions.RevokeUser(ctx, u.ID)
	if revokeErr != nil {
		f.note(ctx, flowReset, u.ID, "revoking sessions", revokeErr)
	}
	m, err := f.mail(MailPasswordChanged, MailPasswordChanged+":"+tokenRef(tok), u.Email, MailData{})
	f.send(ctx, flowReset, u.ID, m, err)
	f.event(ctx, ActionResetCompleted, audit.CategoryAuthentication, audit.OutcomeSuccess, u.ID, "",
		map[string]string{"sessions_revoked": fmt.Sprint(revokeErr == nil)})
	if revokeErr != nil {
		return fmt.Errorf("account: reset: %w: %w", auth.ErrSessionsNotRevoked, revokeErr)
	}
	return nil
}

func (f *Flows) policyFailed(ctx context.Context, userID string, pe *password.PolicyError) error {
	f.event(ctx, ActionResetFailed, audit.CategoryAuthentication, audit.OutcomeFailure, userID, "policy:"+string(pe.Code), nil)
	return pe
}

// tokenFailed audits a token the issuer refused: invalid, or a store
// failure.
func (f *Flows) tokenFailed(ctx context.Context, flow string, a audit.Action, userID string, err error) error {
	if !errors.Is(err, token.ErrInvalid) {
		return f.internal(ctx, flow, userID, "token store", err)
	}
	f.event(ctx, a, audit.CategoryAuthentication, audit.OutcomeFailure, userID, "invalid_token", nil)
	return fmt.Errorf("account: %s: %w", flow, err)
}

// refuse audits a link refused for the state of its account, and returns
// token.ErrInvalid: the client learns no more than for a bad token.
func (f *Flows) refuse(ctx context.Context, a audit.Action, userID, reason string) error {
	f.event(ctx, a, audit.CategoryAuthentication, audit.OutcomeFailure, userID, reason, nil)
	return fmt.Errorf("account: %w", token.ErrInvalid)
}

// hashBinding is a digest of a password hash, in the Data of reset and
// change-of-address tokens, so that any change of password voids them.
// Unkeyed: it protects no secret (the hash is in the user table), and
// every instance must compute it alike.
func hashBinding(passwordHash string) string {
	sum := sha256.Sum256([]byte("rampart/account reset binding\x00" + passwordHash))
	return hex.EncodeToString(sum[:])
}

// resetBinding is the Data of a reset token: the hashBinding of the
// password hash it is issued against and a digest of the address it is
// mailed to (folded as [normalize] does), so that a change of either voids
// it.
func resetBinding(passwordHash, email string) string {
	return hashBinding(passwordHash) + ":" + addressBinding(email)
}

func addressBinding(email string) string {
	sum := sha256.Sum256([]byte("rampart/account reset address\x00" + normalize(email)))
	return hex.EncodeToString(sum[:16])
}

// boundAddress reports whether data binds a reset token to email.
func boundAddress(data, email string) bool {
	return subtle.ConstantTimeCompare([]byte(data), []byte(addressBinding(email))) == 1
}

// bound reports whether data binds the reset token to passwordHash.
func bound(data, passwordHash string) bool {
	return subtle.ConstantTimeCompare([]byte(data), []byte(hashBinding(passwordHash))) == 1
}
