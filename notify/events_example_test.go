package notify_test

import (
	"context"
	"fmt"
	"net/netip"
	"time"

	"github.com/deployedworks/rampart/audit"
	"github.com/deployedworks/rampart/audit/detect"
	"github.com/deployedworks/rampart/headers"
	"github.com/deployedworks/rampart/identity"
	"github.com/deployedworks/rampart/mfa"
	"github.com/deployedworks/rampart/mfa/passkey"
	"github.com/deployedworks/rampart/notify"
)

// printOutbox stands in for the durable outbox: it prints what it is
// given.
type printOutbox struct{}

func (printOutbox) Enqueue(_ context.Context, m notify.Message) error {
	fmt.Printf("to %s: %s\n", m.To, m.Subject)
	return nil
}

// The notices and alerts of issue 14, wired by an application: notices to
// the user an event is about, alerts to the security contacts. Package
// notify knows none of these actions; the application passes them,
// its own ones too (an account disabled, a role granted). Password and
// e-mail changes are notified by the flows that make them (package
// account), not here.
func ExampleNewEventSink() {
	const (
		actionAccountDisabled audit.Action = "app.account.disabled" // the application's own
		actionRoleGranted     audit.Action = "app.role.granted"
	)
	user := notify.ToUser(func(ctx context.Context, userID string) (string, error) {
		return userID + "@example.com", nil // the application's user table
	})
	security := notify.ToAddresses("security@example.com")
	rules := []notify.Rule{
		notify.Notice(mfa.ActionTOTPConfirm, "An authenticator app was added to your account.", user),
		notify.Notice(mfa.ActionTOTPDisable, "An authenticator app was removed from your account.", user),
		notify.Notice(passkey.ActionRegister, "A passkey was added to your account.", user),
		notify.Notice(passkey.ActionRemove, "A passkey was removed from your account.", user),
		notify.Notice(mfa.ActionRecoveryUse, "A recovery code was used to sign in to your account.", user),
		notify.Notice(detect.ActionNewLocation, "Someone signed in to your account from a new device or address.", user),
		notify.Notice(actionAccountDisabled, "Your account was disabled.", user),
		notify.Notice(actionRoleGranted, "You were granted a new role.", user),

		notify.Alert(detect.ActionCredentialStuffing, "Credential stuffing: one account failed to sign in from many addresses.", security),
		notify.Alert(detect.ActionPasswordSpraying, "Password spraying: one address failed to sign in to many accounts.", security),
		notify.Alert(detect.ActionLoginAfterFailures, "A sign-in succeeded right after a burst of failures.", security),
		notify.Alert(detect.ActionPrivilegedNewLocation, "An administrator signed in from a new device or address.", security),
		notify.Alert(passkey.ActionCloneWarning, "A passkey's signature counter went backwards: it may be cloned.", security),
		notify.Alert(headers.ActionReportsCapped, "Browser reports reached the day's cap: a flood.", security),
	}

	store := &audit.MemorySink{} // the audit log: a database, a file
	notices, err := notify.NewEventSink(store, printOutbox{}, rules, notify.EventSinkConfig{})
	if err != nil {
		panic(err)
	}
	det, err := detect.New(notices, detect.Config{}) // above the EventSink: it sees the alerts
	if err != nil {
		panic(err)
	}
	events, err := audit.New(det, audit.Config{})
	if err != nil {
		panic(err)
	}

	ctx := context.Background()
	events.Log(ctx, audit.Event{Category: audit.CategoryAuthentication, Action: mfa.ActionTOTPConfirm,
		Outcome: audit.OutcomeSuccess, Actor: identity.Principal{UserID: "u42"}, RequestID: "req-1"})
	events.Log(ctx, audit.Event{Category: audit.CategoryAuthentication, Action: mfa.ActionTOTPConfirm,
		Outcome: audit.OutcomeFailure, Actor: identity.Principal{UserID: "u42"}, RequestID: "req-2"}) // a wrong code: no change, no notice

	// Five addresses fail on one account: the detector raises credential
	// stuffing, and the security contacts get one alert.
	for i := range 5 {
		events.Log(ctx, audit.Event{Time: time.Now().Add(time.Duration(i) * time.Second),
			Category: audit.CategoryAuthentication, Action: audit.ActionLoginFailed, Outcome: audit.OutcomeFailure,
			Target: audit.Target{Kind: audit.TargetKindUser, ID: "u7"}, ClientIP: netip.AddrFrom4([4]byte{203, 0, 113, byte(i)})})
	}
	// Output:
	// to u42@example.com: Security notice: An authenticator app was added to your account.
	// to security@example.com: Security alert: Credential stuffing: one account failed to sign in from many addresses.
}
