// Package session keeps server-side sessions for signed-in users (policy
// sections 2 and 5: authenticated sessions, and access removed when no
// longer needed). It builds on github.com/alexedwards/scs/v2 and adds what
// a security-critical application needs on top: hardened cookies, identity
// helpers, timeouts under an injectable clock, revocation through a
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
//     tokens (scs's HashTokenInStore), so a backup or a read of the
//     database yields no live session. With Config.Keyring, session data is
//     encrypted too, bound to its record.
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
// [Manager.Handler]. In handlers, call [Manager.Login] after checking the
// password, [Manager.MarkMFA] after a second factor, [Manager.Logout], and
// read [Manager.Identity]. Pass [Manager.AuthSource] to the auth package's
// guard, and the Manager itself as auth's SessionRevoker. Keep the app's
// own small values with [Manager.Put], [Manager.Get] and [Manager.Pop].
//
// The default store is a [MemoryStore], for one instance. Several
// instances share session/sqlstore (SQLite, PostgreSQL) or
// session/redisstore, leaf packages so that importing session compiles no
// database driver, and a Config.Keyring (required with any store but a
// MemoryStore) so that each opens the others' cookies. Any [Store] must
// keep the per-user index, the revocation watermark, the conditional
// writes and the claims its documentation describes.
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
