// Package session keeps server-side sessions for signed-in users, and
// removes access when it is no longer needed. It builds on
// github.com/alexedwards/scs/v2 and adds what a security-critical
// application needs around it: hardened cookies, the signed-in user in the
// request context (identity.Principal), timeouts, revocation through a
// per-user index, hashed tokens and optional encryption at rest, and a
// fail-closed middleware.
//
// # Threats covered
//
//   - Session fixation: [Manager.Login] and [Manager.MarkMFA] renew the
//     token; a token planted before login is dead after it.
//   - Cookie theft and planting: the cookie is __Host- prefixed, Secure,
//     HttpOnly, SameSite=Lax, Path=/, without Domain, and a session cookie
//     (gone when the browser closes) unless the app calls
//     [Manager.Remember]. Malformed cookies never reach the store.
//   - Sessions that outlive their purpose: an idle timeout (30 min) and an
//     absolute lifetime (12 h), enforced by the Manager with its own clock
//     whatever the store does; [Manager.RevokeUser] ends every session of
//     a user on every instance sharing the store (password change, role
//     removed, account disabled, "log out everywhere"), and
//     [Manager.Sessions] with [Manager.Revoke] let users end one. A request
//     in flight cannot write back a session revoked while it ran.
//   - Sessions piling up behind a stolen password: a user holds at most
//     Config.MaxSessions signed-in sessions (default 10); a login beyond
//     that signs out the least recently used (OWASP ASVS 5.0 §7.1.2).
//   - A stolen session locking its owner out: [Manager.RevokeOthers], and
//     [Manager.Revoke] of one's own sessions, need a sign-in,
//     [Manager.Reauthenticate] or [Manager.MarkMFA] within
//     Config.ReauthAge (default 10 minutes; §7.5.2).
//   - A login racing a revocation: a login reads the user, then hashes the
//     password for a second, while an administrator disables the account.
//     Revocation sets a per-user watermark in the store, and [Manager.Login]
//     takes the time the user was read: the store refuses, at save and at
//     load, a session established before the watermark, so the login
//     leaves no session with the old state.
//   - Replayed ceremonies: [Manager.TakeChallenge] hands a WebAuthn
//     challenge to one request only, even when several requests carrying
//     the same cookie race for it across instances ([Store.Claim]).
//   - Store disclosure: the store holds SHA-256 hashes of tokens, never
//     tokens (the Manager hashes each token before it reaches the store),
//     so a backup or a read of the database yields no live session. With
//     Config.Keyring, session data is encrypted too, bound to its record.
//   - Store failure: [Manager.Handler] answers 500 with no details and logs
//     an audit event; it never serves the request as anonymous or with a
//     stale identity.
//   - Store growth by strangers: only signed-in sessions have a record in
//     the store. What the app keeps for a visitor who is not signed in (a
//     flash message, a passkey sign-in's challenge) travels in the cookie,
//     sealed with the keyring and accepted for 10 minutes, at most 2 KiB,
//     so that a flood of anonymous requests (log-outs, refused forms,
//     ceremonies begun) writes nothing. [Manager.TakeChallenge] claims each
//     challenge in the store, so that it is answered once even when the
//     cookie is replayed or sent by several requests at once.
//
// # Use
//
// Build one [Manager] with [New] and wrap the routes with
// [Manager.Handler], inside clientip's Handler (the client address is
// recorded with each session and in audit events). In handlers, call
// [Manager.Login] after checking the password, [Manager.MarkMFA] after a
// second factor, and [Manager.Logout]; read the signed-in user with
// identity.FromContext, which is how a guard, an MFA policy and the audit
// log find it too. The principal in a request's context is the one its
// session had when the request began: a handler that signs a user in and
// then decides for them passes the principal it gave Login along itself.
// Keep the app's own small values with [Manager.Put], [Manager.Get] and
// [Manager.Pop].
//
// The default store is a [MemoryStore], for one instance. Several
// instances share session/sqlstore (SQLite, PostgreSQL) or
// session/redisstore, leaf packages so that importing session compiles no
// database driver, and a Config.Keyring (required with any store but a
// MemoryStore) so that each opens the others' cookies. Any [Store] must
// keep the per-user index, the revocation watermark, the conditional
// writes and the claims its documentation describes; the package
// session/sessiontest checks an implementation.
//
// # How scs is used
//
// scs is the session engine, through its extension points: the Manager's
// scs.SessionManager loads and commits sessions, generates tokens, encodes
// values with this package's codec (an scs.Codec), keeps "remember me"
// (RememberMe, with Cookie.Persist false) and holds the cookie settings;
// the [Store] reaches scs as an scs.CtxStore that hashes tokens into store
// keys (in place of scs's HashTokenInStore, so that a request's token is
// hashed once) and keeps no request state (what a write needs besides the
// data, such as the record it replaces, is in the session's metadata,
// which the codec writes first), and
// [Manager.Sessions] iterates a user's sessions with scs over an
// scs.IterableCtxStore view of the per-user index. The SessionManager is
// built without scs.New, whose memory store starts a goroutine: a Manager
// starts none, and has nothing to close.
//
// Four pieces sit beside scs, each because scs cannot carry it:
//
//   - The middleware: scs's LoadAndSave cannot fail closed (it serves the
//     response after its ErrorFunc ran), check revocation and timeouts
//     against the Manager's clock, or keep anonymous state out of the
//     store. [Manager.Handler] uses scs's Load and Commit, and writes the
//     cookie from scs's cookie settings itself so that Max-Age follows the
//     Manager's clock and an app's Cache-Control: no-store is not joined
//     by a weaker directive.
//   - The idle timeout: scs's IdleTimeout writes every request's session
//     back to the store; the Manager records activity at most once a
//     minute instead.
//   - Token renewal and the end of a session: scs's RenewToken deletes
//     the old record before the new one is written, which would let a
//     session revoked in between come back, and neither it nor Destroy
//     knows the record's user, which the per-user index needs. The Manager
//     starts a new scs session carrying the values, which the store writes
//     in place of the old record in one atomic step, and deletes records
//     itself.
//   - Anonymous state, sealed in the cookie (see [Manager.Put]): scs keeps
//     a session's data in the store, which is the write per visitor this
//     avoids. It is loaded into the request's scs session and sealed again
//     only when the app changed it.
//
// # Out of scope
//
// The package does not authenticate users (see auth and mfa), does not
// protect against cross-site request forgery beyond SameSite=Lax (use the
// headers package's cross-origin protection), and does not bind sessions
// to IP addresses or devices, which breaks mobile users and stops little.
// Cookies scoped to a parent domain, shared by subdomains, are not
// supported: __Host- forbids them on purpose.
package session
