// Package auth stores passwords as Argon2id hashes, applies a NIST SP
// 800-63B-4 password policy, runs an enumeration-resistant login flow, and
// guards handlers with RequireAuth and RequireRole (policy section 2:
// accounts require authentication; passwords are strong, unique, and stored
// as hashes).
//
// # Threats
//
//   - A stolen user table. Passwords are hashed with Argon2id (RFC 9106) at
//     [DefaultParams] (64 MiB, 3 passes, 4 lanes: RFC 9106's second
//     recommended option, about five times OWASP's minimum cost), with a
//     random 16-byte salt, optionally peppered with a key kept outside the
//     database ([Pepper], from the secrets package), and encoded as standard
//     PHC strings that other implementations read. Legacy bcrypt and
//     Argon2i hashes verify and report that they need a rehash, which
//     [Authenticator.Login] performs, so that apps migrate as users log in.
//     A password over bcrypt's 72-byte limit never matches a bcrypt hash
//     (it is not truncated: that would accept any password sharing the
//     first 72 bytes, and store it as the new one).
//   - Online guessing. [Authenticator] asks a [Throttle] (the ratelimit
//     package's login throttle) before any hashing, and reports every
//     outcome to it and to audit, naming the account of every failure
//     (an unknown login name by a keyed digest) so that an
//     [audit.Detector] sees password spraying over unknown names too.
//   - Account enumeration. Every failed login returns
//     [ErrInvalidCredentials] after the same work: an unknown user, a login
//     name no account can have (invalid UTF-8, control characters, over
//     320 bytes: see [ValidLoginName]; the store is not asked), or a user
//     with an unusable stored hash, is checked against a dummy hash at the
//     current parameters and pepper, and a disabled account is checked
//     like any other before being refused. Hashes at other parameters are
//     upgraded on login so that every account costs the same.
//   - Weak and reused passwords. [Policy] requires 15 characters (8 with
//     MFA), accepts up to 256 and every printable character, normalises
//     Unicode (NFKC), has no composition rules, and rejects the 100,000 most
//     common passwords (embedded, compressed, loaded on first use) and
//     their disguises (digits or symbols around them, look-alike
//     characters, capitals, repeats, keyboard walks, sequences, dates:
//     "P@ssw0rd12345678"), judged by a zxcvbn-style estimate of the
//     guesses needed, so that random passphrases pass; passwords built on
//     the user name, e-mail address or site name, disguised or not;
//     trivial patterns; and, through a [BreachChecker] such as
//     [RangeClient], passwords from known breaches.
//   - Memory exhaustion by a burst of logins. A [Hasher] runs at most
//     HasherConfig.MaxConcurrent hashes at once (default GOMAXPROCS). Live
//     hashing memory stays at MaxConcurrent × Params.Memory (the heap
//     peaks at about three times that before the collector reclaims
//     finished hashes), whatever the size of the burst.
//   - Unanswered requests and a server hashing for clients that have gone.
//     Hashing is admitted, not queued without end: at most MaxQueue more
//     requests (default 8 × MaxConcurrent) wait for a slot, at most
//     MaxPerClient requests (default MaxConcurrent, at least 2) from one
//     client address (IPv6 by /64) are admitted at a time, hashing or
//     waiting, and none waits longer than MaxWait (default 5 s) or its
//     context. The rest get a [*BusyError], which apps answer with HTTP 503
//     and Retry-After; [Authenticator] admits a
//     request before the user lookup, so the refusal is the same for every
//     account and is not a failed attempt, and it audits refusals
//     ([ActionHashingBusy], paced). A request whose context ends never
//     starts hashing.
//   - Hashing held busy by signed-in users. [Authenticator.ChangePassword]
//     spends a per-user budget (AuthenticatorConfig.PasswordChanges,
//     default 5 per 15 minutes) that a successful change does not reset.
//   - Hijacked sessions surviving a password change.
//     [Authenticator.ChangePassword] verifies the current password and asks
//     the [SessionRevoker] to end every other session.
//   - A login racing a revocation. A login reads the user, then spends a
//     second hashing; LoginResult.ReadAt records when it read, and the
//     session package refuses a session established before the user's
//     sessions were last revoked (account disabled, role removed, password
//     changed meanwhile).
//   - Unauthenticated or unauthorised requests. [Guard.RequireAuth] and
//     [Guard.RequireRole] fail closed: an identity source error is a 500,
//     never an anonymous or authenticated request, and the login redirect
//     never points off-site ([IsLocalPath]).
//
// # Use
//
// Build one [Authenticator] over your [UserStore] and your session layer,
// and one [Guard] over the session layer's [IdentitySource]:
//
//	hasher, err := auth.NewHasher(auth.HasherConfig{
//		Peppers: []auth.Pepper{{ID: "2026-06", Key: pepper.Reveal()}}, // optional
//	})
//	a, err := auth.NewAuthenticator(users, sessions, auth.AuthenticatorConfig{
//		Hasher: hasher, Throttle: loginThrottle, Audit: auditLog, ClientIP: ips,
//	})
//	res, err := a.Login(r, r.PostFormValue("login"), r.PostFormValue("password"))
//	// ... on success:
//	err = sessions.Login(r.Context(), res.UserID, res.Roles, res.ReadAt, "password")
//
//	guard, err := auth.NewGuard(sessions, auth.GuardConfig{Audit: auditLog, ClientIP: ips})
//	mux.Handle("/account/", guard.RequireAuth(accountPages))
//	mux.Handle("/admin/", guard.RequireRole("admin")(adminPages))
//
// At registration and reset, [Authenticator.HashNewPassword] applies the
// policy and hashes. [Hasher] and [Policy] are usable on their own;
// [Calibrate] picks parameters for a target time on your hardware.
//
// # Interfaces other packages implement
//
//   - [UserStore]: the app's user table (with compare-and-swap on the hash).
//   - [Throttle]: ratelimit's login throttle (*ratelimit.Login has these
//     methods).
//   - [SessionRevoker]: the session package (*session.Manager has
//     RevokeOthers(ctx)), or any session layer via [SessionRevokerFunc].
//   - [IdentitySource]: the session package through a short
//     [IdentitySourceFunc] adapter (see [IdentitySource]), or any session
//     or token layer.
//   - [BreachChecker]: [RangeClient], or a local copy of a breach corpus.
//
// # Passwords are normalised
//
// [Authenticator] applies [Normalize] (NFKC) to every password before
// hashing and verifying, as NIST recommends, so "ｐａｓｓ" and "pass" are
// one password. ASCII is unchanged. Hashes imported from a system that did
// not normalise still verify for ASCII passwords; users with non-ASCII
// passwords whose NFKC form differs must reset them.
//
// # Out of scope
//
// Sessions, cookies and token renewal (package session), second factors
// (package mfa), the throttling algorithm (package ratelimit), account
// recovery e-mails, and CSRF on the login form (package headers). Timing
// differences inside the app's [UserStore] (a database lookup that misses
// may be faster than one that hits) are the store's to equalise.
package auth
