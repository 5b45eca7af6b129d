// Package detect turns authentication events into security alerts while an
// attack happens: credential stuffing (one account failing from many
// addresses), password spraying (one address failing on many accounts,
// known or not), a success right after a burst of failures, and a
// privileged user's login from a new address or device. It also marks
// every user's login from a new address or device ([ActionNewLocation]),
// which is no alert but what a "was this you?" notice to the user hangs
// off (package notify turns audit events into such notices).
//
// A [Detector] is an audit.Sink that wraps another: it passes every event
// on and adds its alerts to the same sink, so that they are recorded beside
// the events that raised them.
//
//	det, err := detect.New(sink, detect.Config{})
//	events, err := audit.New(det, audit.Config{})
//
// It reads the shared login vocabulary of package audit
// ([audit.ActionLoginSucceeded], [audit.ActionLoginFailed],
// [audit.TargetKindUser], [audit.TargetKindLogin]), which the login
// packages write, so that the two cannot disagree on a name.
//
// # Several instances
//
// By default a Detector counts in memory, so several instances of an
// application each see only their share of the traffic, and an attack
// spread over them can stay below every threshold. Set Config.State to a
// store they share (package audit/detect/redisstate keeps the counts in
// Redis): each alert is then raised once, by the instance whose event
// crosses the threshold. When that store fails, each instance counts in
// its own memory until it answers again, and says so in the audit log.
//
// # Out of scope
//
// What a Detector has learnt in memory is lost on restart. It is a
// tripwire, not a rate limiter: pair it with package ratelimit, which
// refuses the attempts.
package detect
