// Package mfa provides second factors (TOTP, recovery codes, WebAuthn
// passkeys) and the policy that enforces them, for policy section 3: MFA
// may be required for administrators and offered to other users.
//
// # Threat
//
// A stolen, guessed or phished password is enough to take over an account
// that has only a password. The factors here add something the attacker
// does not have:
//
//   - [TOTP]: codes from an authenticator app (RFC 6238). Secrets are 160
//     bits, encrypted at rest with a [secrets.Keyring] and bound to the
//     user; codes are compared in constant time, accepted at most one time
//     step either side, each time step at most once per user (a code seen
//     over a shoulder or in a proxy log cannot be replayed), and attempts
//     are throttled and audited.
//   - [Recovery]: single-use codes for a user who lost their
//     authenticator, stored only as keyed hashes. Each use is a security
//     event in audit.
//   - [WebAuthn]: passkeys and security keys (W3C WebAuthn Level 3), which
//     also resist phishing: the browser binds each signature to the
//     origin. Discoverable credentials with user verification allow
//     passwordless sign-in; a sign counter that goes backwards (a cloned
//     authenticator) raises a security alert and fails the login.
//
// [Policy] enforces them: [Policy.Require] makes administrators (or any
// roles) enrol and verify a factor before they reach anything else, and
// challenges every user who enrolled; [Policy.StepUp] asks for a fresh
// verification before sensitive actions.
//
// # Use
//
// Build the session manager first: mfa reads the signed-in user and
// records verifications through it ([Sessions], [IdentityReader],
// [ChallengeStore], all implemented by *session.Manager). Then:
//
//	store := ... // your SQL implementation of TOTPStore, RecoveryStore, CredentialStore, FactorStore
//	totp, err := mfa.NewTOTP(mfa.TOTPConfig{Issuer: "Marketplace", Keyring: keys, Store: store, Sessions: sessions, Audit: auditLog})
//	codes, err := mfa.NewRecovery(mfa.RecoveryConfig{Key: recoveryKey, Store: store, Sessions: sessions, Audit: auditLog})
//	passkeys, err := mfa.NewWebAuthn(mfa.WebAuthnConfig{
//		RPID: "example.com", RPDisplayName: "Marketplace", RPOrigins: []string{"https://example.com"},
//		Credentials: store, Sessions: sessions, Challenges: sessions, Audit: auditLog,
//		OnLogin: func(w http.ResponseWriter, r *http.Request, res mfa.LoginResult) error {
//			return sessions.Login(r.Context(), res.UserID, rolesOf(res.UserID), res.ReadAt, "passkey")
//		},
//	})
//	policy, err := mfa.NewPolicy(mfa.PolicyConfig{
//		Sessions: sessions, Factors: []mfa.EnrolmentChecker{totp, passkeys},
//		EnrolPath: "/account/mfa", EnrolPaths: []string{"/account/mfa/", "/logout"},
//		ChallengePath: "/mfa", ChallengePaths: []string{"/mfa/", "/logout"},
//		Audit: auditLog,
//	})
//	r.Use(sessions.Handler)
//	r.Group(func(r chi.Router) { // every route for signed-in users
//		r.Use(requireLogin, policy.Require)
//		r.With(policy.StepUp(10 * time.Minute)).Post("/account/email", changeEmail)
//	})
//
// Require refuses requests without a signed-in user, so install it on the
// routes that need one, after the authentication middleware.
//
// After a successful [TOTP.Confirm], [TOTP.Verify] or [Recovery.Use], call
// the session's MarkMFA with [MethodTOTP] or [MethodRecovery]; the WebAuthn
// handlers mark the session themselves. Offer recovery codes
// ([Recovery.Generate]) as soon as a first factor is confirmed.
//
// Remove factors with [TOTP.Disable] and [WebAuthn.RemoveCredential],
// behind StepUp, passing keepLast = policy.Required(roles): a user whose
// role requires MFA then keeps their last factor, even when two removals
// race, because the store checks and deletes in one atomic step
// ([FactorStore]: give TOTP and WebAuthn the same store).
//
// # Throttling
//
// TOTP and recovery-code checks are throttled at two levels, because the
// attacker to worry about knows the password: they can sign in as the
// user, and a limit per user alone would let them keep it shut with one
// wrong guess every few minutes, locking the owner out of their own
// account.
//
//   - Per user and session ([TOTPConfig.Limiter]; default 5 attempts per
//     15 minutes): refuses fast. The attacker's session spends its own
//     budget, never the owner's; a success resets it.
//   - Per user, over all sessions ([TOTPConfig.UserLimiter]; default 20
//     at once, then one every 45 seconds): a ceiling for an attacker who
//     signs in again and again for fresh sessions. It refills steadily
//     and is never reset, so it delays rather than locks: a refusal asks
//     to wait at most 45 seconds. Sessions that already passed MFA as the
//     user (the owner stepping up) skip it.
//
// The trade-off: with the defaults one session can never empty the
// ceiling, but an attacker who keeps four or more sessions guessing can
// take most of its slots, and the owner's new sessions then wait their
// turn, up to 45 seconds an attempt, for as long as the attack goes on
// (their verified sessions are unaffected). In exchange the attacker gets
// at most about 1,900 guesses a day at a 6-digit code. Every refusal is
// audited (outcome denied); the remedy for a stolen password is to change
// it, which ends the attacker's sessions. With several instances, pass
// limiters shared through Redis (ratelimit/redisstore) for both levels.
//
// [MemoryStore] implements every store interface in memory, bounded, for
// tests and single-instance apps that can afford to lose enrolments on
// restart.
//
// # Out of scope
//
// Passwords and account lockout belong to the auth package, and rate
// limits shared across instances to ratelimit (pass them through
// [AttemptLimiter]). SMS and e-mail codes are not offered: they are
// phishable and SMS is open to SIM swapping (NIST SP 800-63B §5.1.3.3).
// Attestation (which authenticator models are allowed) is not checked:
// credentials are registered with attestation "none". How a user who lost
// every factor and every recovery code proves who they are is a support
// procedure, not code. The first enrolment of an account that must use MFA
// is only as strong as its password (trust on first use).
package mfa
