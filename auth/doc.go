// Package auth runs an enumeration-resistant password login that signs the
// user in on the session, changes passwords, and guards handlers with
// RequireAuth and RequireRole. Passwords are hashed and checked by package
// [password]; the signed-in user is an [identity.Principal], which the
// session layer puts in the request context and [Guard] reads.
//
// # Threats
//
//   - Online guessing. [Authenticator] asks a [Throttle] (the ratelimit
//     package's login throttle) before any hashing, keyed on the account
//     and on the client address that the clientip middleware put in the
//     context, and reports every outcome to it and to audit, naming the
//     account of every failure (an unknown login name by a keyed digest)
//     so that the audit detector sees password spraying over unknown
//     names too. Without a client address in the context (the clientip
//     middleware is missing), [Authenticator.Login] fails closed with an
//     error wrapping [clientip.ErrNoClient], rather than counting every
//     client as the proxy in front of them.
//   - Account enumeration. Every failed login returns
//     [ErrInvalidCredentials] after the same work: an unknown user, a login
//     name no account can have (invalid UTF-8, control characters, over
//     320 bytes: see [ValidLoginName]; the store is not asked), or a user
//     with an unusable stored hash, is checked against a dummy hash at the
//     current parameters and pepper, and a disabled account is checked
//     like any other before being refused. Hashes at other parameters are
//     upgraded on login so that every account costs the same. Hashing is
//     admitted before the user is looked up, so a [*password.BusyError]
//     (HTTP 503) says nothing about the account either; refusals are
//     audited ([ActionHashingBusy], paced).
//   - A stolen user table, weak and breached passwords, and memory
//     exhaustion by a burst of logins: see package [password], whose
//     [password.Hasher] and [password.Policy] the Authenticator uses.
//     Legacy bcrypt and Argon2i hashes are upgraded as users log in.
//   - Hashing held busy by signed-in users. [Authenticator.ChangePassword]
//     spends a per-user budget (AuthenticatorConfig.PasswordChanges,
//     default 5 per 15 minutes) that a successful change does not reset.
//   - Hijacked sessions surviving a password change.
//     [Authenticator.ChangePassword] verifies the current password and asks
//     [Sessions] to end every other session.
//   - Session fixation and a login racing a revocation.
//     [Authenticator.Login] signs the user in through [Sessions], which
//     renews the session token, with a principal whose AuthTime is when the
//     account was read, before its password was hashed: the session layer
//     refuses a session established before the user's sessions were last
//     revoked (account disabled, role removed, password changed meanwhile).
//   - Unauthenticated or unauthorised requests. [Guard.RequireAuth] and
//     [Guard.RequireRole] fail closed: a request without a principal in its
//     context is anonymous, and the login redirect never points off-site
//     ([IsLocalPath]).
//
// # Use
//
// Install the clientip middleware outermost and the session middleware
// inside it. Build one [Authenticator] over your [UserStore] and the
// session manager, and one [Guard]; a login handler then branches on the
// error only (see the example of [Authenticator.Login]):
//
//	login, err := auth.NewAuthenticator(users, sessions, auth.AuthenticatorConfig{
//		Throttle: loginThrottle, Audit: events,
//	})
//	guard, err := auth.NewGuard(auth.GuardConfig{Audit: events})
//	mux.Handle("/account/", guard.RequireAuth(accountPages))
//	mux.Handle("/admin/", guard.RequireRole("admin")(adminPages))
//
//	// In the POST /login handler:
//	_, err := login.Login(r, r.PostFormValue("login"), r.PostFormValue("password"))
//
// At registration and reset, [Authenticator.HashNewPassword] applies the
// policy and hashes.
//
// # Interfaces other packages implement
//
//   - [UserStore]: the app's user table (with compare-and-swap on the hash).
//   - [Throttle]: ratelimit's login throttle.
//   - [Sessions]: the session package's Manager, or any session layer that
//     can sign a principal in and end a user's other sessions.
//   - [password.BreachChecker], through password.PolicyConfig.
//
// # Out of scope
//
// Sessions, cookies and token renewal (package session), second factors
// (package mfa), the throttling algorithm (package ratelimit), hashing and
// the password policy (package password), account recovery e-mails, and
// CSRF on the login form (package headers). Timing differences inside the
// app's [UserStore] (a database lookup that misses may be faster than one
// that hits) are the store's to equalise.
package auth
