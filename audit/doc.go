// Package audit records security-relevant events: authentication, access
// changes, admin and moderation actions, errors, security alerts,
// suspicious activity and browser reports. Every other Rampart package
// writes to it through one call, [Logger.Log], which never fails the
// request. It imports no other Rampart package but clientip and identity,
// whose request facts it records.
//
// # Threat
//
// An audit log answers "who did what, from where, and when" after an
// incident, and raises alarms while it happens. It fails at that when
// records are missing (a crash, a full queue, a client that disconnects, a
// sink that fails unnoticed), when they leak secrets (a password in a form
// dump, a session token), when an attacker can write into them (a forged
// line in a User-Agent, a request ID of their choosing), or when a flood of
// refusals buries the records that matter. This package addresses each:
//
//   - [Logger.Log] redacts sensitive [Event.Meta] entries at the source
//     ([SensitiveKey]), bounds every field, ignores the caller's
//     cancellation so a disconnecting client cannot erase its record, and
//     reports every event it could not record to its own error log
//     (Config.ErrorLog), never silently.
//   - The Logger paces the actions a flood can trigger (Config.Paces,
//     [Event.Pace]) and records how many it held back.
//   - [AsyncSink] never loses an event silently: it blocks by default when
//     full, retries a failing sink until it recovers, flushes on Close, and
//     counts and audits any drop the application explicitly allows.
//   - [Logger.Handler] believes an inbound X-Request-ID only from a trusted
//     proxy, and answers a panic with a plain 500 that shows the request ID
//     and nothing internal.
//
// Beside it: package audit/chain makes the log tamper-evident (HMAC-chained
// files and a verifier), package audit/detect turns login events into
// alerts (credential stuffing, password spraying), and package
// audit/sqlsink stores events in SQLite or PostgreSQL for admin pages.
//
// # Use
//
// Start with [New] over a sink, and the HTTP middleware inside clientip's:
//
//	sink, err := chain.New("/var/log/app/audit", key, chain.Config{}) // package audit/chain
//	async, err := audit.NewAsyncSink(sink, audit.AsyncConfig{})
//	events, err := audit.New(async, audit.Config{})
//	mux.Handle("/admin/", events.AdminActions(adminMux))
//	handler := ips.Handler(events.Handler(sessions.Handler(mux)))
//
// Log from handlers with the request's context, which fills the request
// ID, client address, User-Agent and the signed-in user (the
// identity.Principal that package session puts there):
//
//	events.Log(r.Context(), audit.Event{
//		Category: audit.CategoryAdmin, Action: ActionUserDisabled, // your own audit.Action constant
//		Outcome: audit.OutcomeSuccess, Target: audit.Target{Kind: audit.TargetKindUser, ID: id},
//	})
//
// On shutdown, flush the queue before closing the sink:
//
//	err = errors.Join(async.Close(ctx), sink.Close(ctx))
//
// Other sinks: [JSONLSink] (any io.Writer), [SlogSink] (any slog.Handler),
// [FanoutSink] (several at once), [MemorySink] (tests). A sink is one
// method, [Sink]; those that can store many events at once also implement
// [BatchSink].
//
// # Actions
//
// Every package exports the actions it writes as [Action] constants, and
// nothing matches on a string literal. The login vocabulary that several
// packages share ([ActionLoginSucceeded], [ActionLoginFailed] and the
// TargetKind constants) is defined here, below both the login packages
// that write it and the detector that reads it.
//
// # Encoding
//
// Events are encoded as one JSON object with these field names, which are
// stable across versions (fields are only ever added):
//
//	time        RFC 3339 with nanoseconds, UTC
//	category    authentication | access | admin | moderation | error |
//	            security_alert | suspicious_activity | browser_report (or an
//	            application's own)
//	action      dotted name, e.g. "login.failed"
//	outcome     success | failure | denied (omitted if empty)
//	actor       {"user_id": ..., "roles": [...], "amr": [...]} (omitted
//	            if empty; amr: RFC 8176 authentication methods)
//	target      {"kind": ..., "id": ...} (omitted if empty)
//	client_ip   textual IP address (omitted if unknown)
//	user_agent, request_id, reason  strings (omitted if empty)
//	session     a reference to the session (see [SessionRef]), never its token
//	meta        object of strings, keys sorted (omitted if empty)
//
// Strings are escaped as encoding/json does (HTML characters and U+2028/9
// included), so no value can break a line of a JSON Lines file.
//
// # Retention
//
// [Retention] sets how long each category is kept. Defaults:
// authentication 1 year, access changes 2 years, admin actions 2 years,
// moderation 1 year, errors 90 days, security alerts 1 year, suspicious
// activity 180 days, browser reports (CSP violations, which any web page
// can make its visitors send) 30 days, other categories 90 days. The SQL
// sink deletes expired rows on Prune; the chain deletes rotated files once
// all their categories have expired, oldest first.
//
// # Out of scope
//
// The Logger records; it decides nothing about the request (it never
// refuses one), and it is not a rate limiter: pacing bounds the log, not
// the traffic (pair it with package ratelimit). Shipping logs off the host
// is left to the deployment (the slog and JSONL sinks make that easy).
package audit
