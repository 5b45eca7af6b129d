// Package audit records security-relevant events: authentication, access
// changes, admin and moderation actions, errors, security alerts,
// suspicious activity and browser reports (policy sections 5 and 7). Every other Rampart
// package writes to it; it imports no other Rampart package but clientip.
//
// # Threat
//
// An audit log answers "who did what, from where, and when" after an
// incident, and raises alarms while it happens. It fails at that when
// records are missing (a crash, a full queue, a client that disconnects),
// when an intruder edits them to cover their tracks, when they leak
// secrets (a password in a form dump, a session token), or when an
// attacker can write into them (a forged line in a User-Agent, a request
// ID of their choosing). This package addresses each:
//
//   - [Logger.Log] redacts sensitive [Event.Meta] entries at the source
//     ([SensitiveKey]), bounds every field, and ignores the caller's
//     cancellation so a disconnecting client cannot erase its record.
//   - [FileSink] chains records with HMAC-SHA256 so that [Verify] (and
//     `go run ./audit/cmd/auditverify`) reports the first modified,
//     deleted, reordered or truncated record.
//   - [AsyncSink] never loses an event silently: it blocks by default when
//     full, retries a failing sink until it recovers, flushes on Close, and
//     counts and audits any drop the application explicitly allows.
//   - [Middleware.Handler] believes an inbound X-Request-ID only from a
//     trusted proxy, and answers a panic with a plain 500 that shows the
//     request ID and nothing internal.
//   - [Detector] turns authentication events into alerts: credential
//     stuffing, password spraying, a success right after a burst of
//     failures, a privileged login from a new address or device.
//
// # Use
//
// Start with [New] over a sink, and the HTTP middleware:
//
//	fs, err := audit.NewFileSink("/var/log/app/audit", key, audit.FileConfig{}) // key from package secrets
//	async, err := audit.NewAsyncSink(fs, audit.AsyncConfig{})
//	det, err := audit.NewDetector(async, audit.DetectorConfig{})
//	events := audit.New(det, audit.Config{})
//	mw := events.Middleware(ips) // ips: the application's *clientip.Resolver
//	mux.Handle("/admin/", mw.AdminActions(adminMux))
//	handler := ips.Handler(mw.Handler(auth(mux)))
//
// Log from handlers with the request's context, which fills the request
// ID, client address, User-Agent and actor ([WithActor]):
//
//	events.Log(r.Context(), audit.Event{
//		Category: audit.CategoryAuthentication, Action: audit.ActionLoginFailed,
//		Outcome: audit.OutcomeFailure, Target: audit.Target{Kind: "account", ID: email},
//	})
//
// On shutdown, flush the queue before sealing the file:
//
//	err = errors.Join(async.Close(ctx), fs.Close(ctx))
//
// Other sinks: [JSONLSink] (any io.Writer), [SlogSink] (any slog.Handler),
// [FanoutSink] (several at once), audit/sqlsink (SQLite or PostgreSQL, with
// a query API for admin pages), [MemorySink] (tests). A sink is one method,
// [Sink]; those that can store many events at once also implement
// [BatchSink].
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
//	actor       {"user_id": ..., "roles": [...]} (omitted if empty)
//	target      {"kind": ..., "id": ...} (omitted if empty)
//	client_ip   textual IP address (omitted if unknown)
//	user_agent, request_id, reason  strings (omitted if empty)
//	session     a reference to the session (see [SessionRef]), never its token
//	meta        object of strings, keys sorted (omitted if empty)
//
// Strings are escaped as encoding/json does (HTML characters and U+2028/9
// included), so no value can break a line of a JSON Lines file.
//
// # Chain format
//
// A [FileSink] writes files PREFIX-SEQ.jsonl (SEQ: 20 digits, the first
// record's sequence number). Each line is
//
//	{"seq":N,"KIND":BODY,"mac":"HEX"}
//
// with KIND "file" (a header: the MAC it chains to, creation time, and the
// oldest sequence number the writer still keeps), "event" (an event as
// above) or "seal" (reason, time and the categories in the file; written on
// rotation and Close). mac is HMAC-SHA256 over the previous record's MAC
// followed by the line's bytes up to `,"mac":"`. The first record of a chain
// chains to 32 zero bytes.
//
// # Retention
//
// [Retention] sets how long each category is kept. Defaults:
// authentication 1 year, access changes 2 years, admin actions 2 years,
// moderation 1 year, errors 90 days, security alerts 1 year, suspicious
// activity 180 days, browser reports (CSP violations, which any web page
// can make its visitors send) 30 days, other categories 90 days. The SQL
// sink deletes expired rows on Prune; the file sink deletes rotated files
// once all their categories have expired, oldest first, and records in
// each new file how far it pruned, so that [Verify] tells retention from
// tampering. A chain file therefore keeps its browser reports as long as
// its longest-kept category: whoever writes them must also bound how many
// (package headers caps them per day).
//
// # Out of scope
//
// The chain proves integrity against someone who cannot read the key; it
// does not encrypt, and it cannot by itself detect removal of the newest
// records while the writer runs: ship [FileSink.Checkpoint] values
// elsewhere and pass them to [Verify]. The [Detector] keeps its state in
// memory (it forgets on restart) and is a tripwire, not a rate limiter:
// pair it with package ratelimit. Shipping logs off the host is left to the
// deployment (the slog and JSONL sinks make that easy).
package audit
