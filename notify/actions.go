package notify

import "github.com/deployedworks/rampart/audit"

// Actions of the audit events that an [Outbox] writes, to
// [OutboxConfig.Audit]. Each event's Target is {Kind: [TargetKindMessage],
// ID: the message's Key}; Meta holds the message's kind and the attempts
// made; Reason is the Sender's error, cut and stripped of control
// characters.
const (
	// ActionSendFailed (CategoryError, OutcomeFailure): a send failed and
	// the message will be tried again after a backoff. Paced: a Sender
	// that is down fails every message.
	ActionSendFailed audit.Action = "notify.send_failed"
	// ActionGivenUp (CategoryError, OutcomeFailure): the outbox gave a
	// message up, because the Sender's error wrapped [ErrPermanent] or
	// after [OutboxConfig.MaxAttempts] attempts. Nobody was told: the
	// event is the record that a person was not notified.
	ActionGivenUp audit.Action = "notify.given_up"
)

// TargetKindMessage is the Target.Kind of the outbox's audit events:
// Target.ID is a [Message] Key.
const TargetKindMessage = "notify.message"
