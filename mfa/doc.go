// Package mfa provides second factors (TOTP, recovery codes) and the
// policy that enforces them: MFA may be required for administrators (or
// any roles) and offered to other users. Passkeys, the phishing-resistant
// factor, are in package mfa/passkey, so that a program using TOTP alone
// links no WebAuthn code.
//
// # Threat
//
// A stolen, guessed or phished password is enough to take over an account
// that has only a password. The factors here add something the attacker
// does not have:
//
//   - [TOTP]: codes from an authenticator app (RFC 6238). Secrets are 160
//     bits, encrypted at rest with a [secrets.Keyring] and bound to the
//     user; codes are compared in constant time, accepted during their
//     own 30-second time step only (one step either side is an explicit
//     option, TOTPConfig.AllowClockSkew), each time step at most once per user (a code seen
//     over a shoulder or in a proxy log cannot be replayed), and attempts
//     are throttled and audited.
//   - [Recovery]: single-use codes for a user who lost their
//     authenticator, stored only as keyed hashes. Each use is a security
//     event in audit.
//
// [Policy] enforces them, as middleware on route groups:
// [Policy.Require] makes administrators (or any roles) enrol and verify a
// factor before they reach anything else, and challenges every user who
// enrolled; [Policy.AllowEnrolment] and [Policy.AllowChallenge] mark the
// few routes reachable before that; [Policy.StepUp] asks for a fresh
// verification before sensitive actions.
//
// # Use
//
// The signed-in user is the [identity.Principal] that the session layer
// puts in the request context; mfa reads it with [identity.FromContext].
// Install the session middleware first, then:
//
//	store, err := sqlstore.New(db, sqldb.PostgreSQL, sqlstore.Config{}) // package mfa/sqlstore
//	err = store.Migrate(ctx)
//	totp, err := mfa.NewTOTP(mfa.TOTPConfig{Issuer: "Marketplace", Keyring: keys, Store: store, Sessions: sessions, Audit: auditLog})
//	codes, err := mfa.NewRecovery(mfa.RecoveryConfig{Key: recoveryKey, Store: store, Audit: auditLog})
//	policy, err := mfa.NewPolicy(mfa.PolicyConfig{
//		Factors:   []mfa.EnrolmentChecker{totp}, // and the *passkey.RelyingParty, if any
//		EnrolPath: "/account/mfa", ChallengePath: "/mfa", ReauthPath: "/account/reauth",
//		Audit:     auditLog,
//	})
//	r.Use(sessions.Handler)
//	r.Post("/logout", logout) // no MFA state needed
//	r.Group(func(r chi.Router) { // the MFA challenge
//		r.Use(requireLogin, policy.AllowChallenge)
//		r.Get("/mfa", challengePage)
//		r.Post("/mfa/totp", verifyTOTP)
//	})
//	r.Group(func(r chi.Router) { // the second-factor settings
//		r.Use(requireLogin, policy.AllowEnrolment, policy.StepUp(10*time.Minute))
//		r.Get("/account/mfa", settingsPage)
//		r.Post("/account/mfa/totp", enrolTOTP)
//	})
//	r.Group(func(r chi.Router) { // every other route for signed-in users
//		r.Use(requireLogin, policy.Require)
//		r.With(policy.StepUp(10 * time.Minute)).Post("/account/email", changeEmail)
//	})
//
// A route is reachable before MFA only if its own registration says so: a
// new route added to the Require group is refused to a user who has not
// enrolled or verified, wherever its path. Require refuses requests
// without a signed-in user, so install it after the authentication
// middleware.
//
// # Changing factors
//
// Adding a factor needs a recent proof in the user's own session
// ([CheckReauth], OWASP ASVS 5.0 §7.5.1): a user who has a factor must
// have verified one within the ReauthAge of [TOTPConfig] (and of package
// mfa/passkey), one who has none must have signed in or re-entered their
// password (auth's Authenticator.Reauthenticate) within it, so that a
// session stolen after sign-in cannot add a factor of its own and keep
// access after a password change. [Policy.StepUp] makes the same check
// for the routes it guards, sending a user without a factor to
// ReauthPath. Adding or removing a factor signs the user's other sessions
// out ([Sessions], §7.4.3); the request's own survives, renewed.
//
// After a successful [TOTP.Confirm], [TOTP.Verify] or [Recovery.Use], call
// the session's MarkMFA with [identity.MethodOTP] (a recovery code is a
// one-time password; its audit action, [ActionRecoveryUse], says which).
// Offer recovery codes ([Recovery.Generate]) as soon as a first factor is
// confirmed.
//
// Remove factors with [TOTP.Disable] and passkey's RemoveCredential,
// behind StepUp, passing keepLast = policy.Required(roles): a user whose
// role requires MFA then keeps their last factor, even when two removals
// race, because the store checks and deletes in one atomic step
// ([FactorStore]: give TOTP and passkeys the same store).
//
// # When MFA is satisfied
//
// A session passed MFA when its principal says so
// ([identity.Principal.MFA]): a second factor was verified in it, which
// sets its MFATime, or its methods include [identity.MethodMultiFactor].
// A passwordless sign-in with a user-verified passkey marks the session
// that way at once (package mfa/passkey), so it satisfies the policy by
// itself; a password sign-in does not.
//
// # Throttling
//
// TOTP and recovery-code checks are throttled at two levels, because the
// attacker to worry about knows the password: they can sign in as the
// user, and a limit per user alone would let them keep it shut with one
// wrong guess every few minutes, locking the owner out of their own
// account. Both levels take a [ratelimit.Limiter].
//
//   - Per user and session ([TOTPConfig.Limiter]; default 5 attempts at
//     once, then one every 3 minutes): refuses fast. The attacker's
//     session spends its own budget, never the owner's; a success resets
//     it when the limiter can forget a key (a [ratelimit.Store] can).
//   - Per user, over all sessions ([TOTPConfig.UserLimiter]; default 20
//     at once, then one every 45 seconds): a ceiling for an attacker who
//     signs in again and again for fresh sessions. It refills steadily
//     and is never reset, so it delays rather than locks: a refusal asks
//     to wait at most 45 seconds. Sessions that already passed MFA as the
//     user (the owner stepping up) skip it.
//
// A refusal is a *[ratelimit.LimitedError] (errors.Is
// [ratelimit.ErrLimited]) that says when to retry. The trade-off: with
// the defaults one session can never empty the ceiling, but an attacker
// who keeps four or more sessions guessing can take most of its slots,
// and the owner's new sessions then wait their turn, up to 45 seconds an
// attempt, for as long as the attack goes on (their verified sessions are
// unaffected). In exchange the attacker gets at most about 1,900 guesses
// a day at a 6-digit code. Every refusal is audited (outcome denied); the
// remedy for a stolen password is to change it, which ends the attacker's
// sessions. With several instances, pass limiters shared through Redis
// (ratelimit/redisstore) for both levels.
//
// # Stores
//
// The factors keep their state through the interfaces [TOTPStore],
// [RecoveryStore], [CredentialStore] and [FactorStore]; one store
// usually implements them all. Package mfa/sqlstore keeps them in SQLite
// or PostgreSQL; package mfa/memstore keeps them in memory, bounded, for
// tests and single-instance apps that can afford to lose enrolments on
// restart. Package mfa/mfatest checks that a store of your own keeps
// their contracts.
//
// # Out of scope
//
// Passwords and account lockout belong to the auth package. SMS and
// e-mail codes are not offered: they are phishable and SMS is open to SIM
// swapping (NIST SP 800-63B §5.1.3.3). How a user who lost every factor
// and every recovery code proves who they are is a support procedure, not
// code. The first enrolment of an account that must use MFA is only as
// strong as its password (trust on first use).
package mfa
