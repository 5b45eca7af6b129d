package notify_test

import (
	"context"
	"fmt"
	"net/netip"
	"time"

	"github.com/deployedworks/rampart/audit"
	"github.com/deployedworks/rampart/audit/detect"
	"github.com/deployedworks/rampart/identity"
	"github.com/deployedworks/rampart/mfa"
	"github.com/deployedworks/rampart/notify"
)

// printOutbox stands in for the durable outbox: it prints what it is
// given.
type printOutbox struct{}

func (printOutbox) Enqueue(_ context.Context, m notify.Message) error {
	fmt.Printf("to %s: %s\n", m.To, m.Subject)
	return nil
}

// Notices to the user an event is about, alerts to the security contacts.
// Package notify knows none of these actions: the application chooses which
// events to tell, its own ones too (here, an account disabled). Password and
// e-mail changes are notified by the flows that make them (package account),
// not here.
func ExampleNewEventSink() {
	const actionAccountDisabled audit.Action = "app.account.disabled" // the application's own
	user := notify.ToUser(func(ctx context.Context, userID string) (string, error) {
		return userID + "@example.com", nil // the application's user table
	})
	security := notify.ToAddresses("security@example.com")
	rules := []notify.Rule{
		notify.Notice(mfa.ActionTOTPConfirm, "An authenticator app was added to your account.", user),
		notify.Notice(actionAccountDisabled, "Your account was disabled.", user),
		notify.Alert(detect.ActionCredentialStuffing, "Credential stuffing: one account failed to sign in from many addresses.", security),
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
