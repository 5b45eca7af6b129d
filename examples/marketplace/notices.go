package main

import (
	"context"
	"errors"
	"fmt"
	"net/mail"
	"strings"
	"time"

	"github.com/deployedworks/rampart/audit"
	"github.com/deployedworks/rampart/audit/detect"
	"github.com/deployedworks/rampart/headers"
	"github.com/deployedworks/rampart/mfa"
	"github.com/deployedworks/rampart/mfa/passkey"
	"github.com/deployedworks/rampart/notify"
	"github.com/deployedworks/rampart/ratelimit"
)

// alertContacts are the addresses security alerts go to: Config.AlertTo,
// or the address of a mailto: Contact (security.txt's).
func (a *App) alertContacts() ([]string, error) {
	to := a.cfg.AlertTo
	if len(to) == 0 {
		addr, ok := strings.CutPrefix(a.cfg.Contact, "mailto:")
		if !ok {
			return nil, fmt.Errorf("config: AlertTo is required when Contact (%q) is not a mailto: address: name the addresses security alerts go to (MARKETPLACE_ALERT_TO)", a.cfg.Contact)
		}
		to = []string{addr}
	}
	for _, addr := range to {
		if p, err := mail.ParseAddress(addr); err != nil || p.Address != addr {
			return nil, fmt.Errorf("config: AlertTo %q: want a bare e-mail address", addr)
		}
	}
	return to, nil
}

// buildNotices returns the audit sink that queues, for the events of
// noticeRules, notices to the users and alerts to the security contacts,
// in front of next.
func (a *App) buildNotices(next audit.Sink) (*notify.EventSink, error) {
	contacts, err := a.alertContacts()
	if err != nil {
		return nil, err
	}
	lim, err := a.newStore("notify", ratelimit.Limit{Events: 10, Per: time.Hour, Burst: 5})
	if err != nil {
		return nil, err
	}
	// The outbox is built after the audit Logger it reports to; events
	// reach this sink only once it is (see build).
	q := enqueueFunc(func(ctx context.Context, m notify.Message) error {
		if a.outbox == nil {
			return errors.New("outbox not ready")
		}
		return a.outbox.Enqueue(ctx, m)
	})
	return notify.NewEventSink(next, q, noticeRules(notify.ToUser(a.userAddress), notify.ToAddresses(contacts...)),
		notify.EventSinkConfig{Limiter: lim, ErrorLog: a.log})
}

// noticeRules are the audit events told to the user they concern, and
// those told to the security contacts. Password and address changes are
// told by the account flows themselves.
func noticeRules(user, contacts notify.Recipients) []notify.Rule {
	return []notify.Rule{
		notify.Notice(mfa.ActionTOTPConfirm, "An authenticator app was set up as a second factor on your account.", user),
		notify.Notice(mfa.ActionTOTPDisable, "The authenticator app was removed from your account's second factors.", user),
		notify.Notice(passkey.ActionRegister, "A passkey was added to your account.", user),
		notify.Notice(passkey.ActionRemove, "A passkey was removed from your account.", user),
		notify.Notice(mfa.ActionRecoveryUse, "A recovery code was used to sign in to your account.", user),
		notify.Notice(detect.ActionNewLocation, "Your account was signed in to from a new device or address.", user),
		notify.Notice(ActionAccountDisabled, "Your account was disabled by an administrator.", user),
		notify.Notice(ActionRoleGranted, "An administrator gave your account a new role.", user),

		notify.Alert(detect.ActionCredentialStuffing, "Credential stuffing: one account failed to sign in from many addresses.", contacts),
		notify.Alert(detect.ActionPasswordSpraying, "Password spraying: one address failed to sign in to many accounts.", contacts),
		notify.Alert(detect.ActionLoginAfterFailures, "A sign-in succeeded right after a burst of failures.", contacts),
		notify.Alert(detect.ActionPrivilegedNewLocation, "A privileged user signed in from a new device or address.", contacts),
		notify.Alert(passkey.ActionCloneWarning, "A passkey's signature counter went backwards: it may have been cloned.", contacts),
		notify.Alert(headers.ActionReportsCapped, "A flood of browser security reports reached the daily cap.", contacts),
	}
}

// userAddress is the address of a user, for notices; "" for a user who no
// longer exists.
func (a *App) userAddress(ctx context.Context, userID string) (string, error) {
	u, err := a.db.userByID(ctx, userID)
	if errors.Is(err, errNotFound) {
		return "", nil
	}
	return u.Email, err
}

// enqueueFunc is a function as a notify.Enqueuer.
type enqueueFunc func(ctx context.Context, m notify.Message) error

func (f enqueueFunc) Enqueue(ctx context.Context, m notify.Message) error { return f(ctx, m) }
