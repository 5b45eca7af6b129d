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

// Actions of the audit events that an [EventSink] writes, to the sink it
// wraps, about the messages it could not queue. Each names the event that
// should have been notified: Target is that event's Target,
// Meta["event_action"] its Action, Meta["kind"] the message kind. Both are
// paced (10 at once, then one a minute each); the next one recorded
// carries the number held back meanwhile in Meta["suppressed"].
//
// Rules on actions of package notify are refused (see [NewEventSink]): a
// message about a message not sent could loop.
const (
	// ActionQueueFailed (CategoryError, OutcomeFailure): a message for an
	// audit event was not queued: the recipients could not be found, the
	// template failed, or the outbox refused it. Meta["step"] is
	// "recipients", "limiter", "render" or "enqueue"; Reason is the
	// error, cut and stripped of control characters. Nobody was told.
	ActionQueueFailed audit.Action = "notify.queue_failed"
	// ActionHeldBack (CategorySuspicious, OutcomeDenied): the rate limit
	// of an [EventSink] held back a message (a flood of alerts, or of
	// notices to one user). The next message of the same rule to the same
	// recipient says how many were held back ([EventData].HeldBack).
	ActionHeldBack audit.Action = "notify.held_back"
)
