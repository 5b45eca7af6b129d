// Package passkey offers passkeys and security keys (W3C Web
// Authentication Level 3) as a second factor and for passwordless
// sign-in, beside the TOTP and recovery codes of package mfa. It is the
// only Rampart package that imports go-webauthn, so that a program using
// TOTP alone links none of its CBOR, JWT and TPM code.
//
// # Threat
//
// A stolen, guessed or phished password, and a phished one-time code:
// the browser binds each passkey signature to the site's origin, so a
// look-alike site cannot relay it. Every credential is discoverable and
// requires user verification (PIN or biometric), so one gesture proves
// possession of the key and the user's knowledge or presence: two
// factors ([identity.MethodHardwareKey] and [identity.MethodPIN]). A sign
// counter that goes backwards (a cloned authenticator) raises a security
// alert and fails the login.
//
// # Use
//
// Build the session manager first, then the [mfa.Policy] and this:
//
//	passkeys, err := passkey.New(passkey.Config{
//		RPID: "example.com", RPDisplayName: "Marketplace", RPOrigins: []string{"https://example.com"},
//		Credentials: store, Sessions: sessions, Challenges: sessions, Audit: auditLog,
//		OnLogin: func(w http.ResponseWriter, r *http.Request, res passkey.LoginResult) error {
//			return sessions.Login(r.Context(), identity.Principal{UserID: res.UserID, Roles: rolesOf(res.UserID), AuthTime: res.ReadAt, Methods: res.Methods})
//		},
//	})
//	r.With(policy.AllowEnrolment, policy.StepUp(10*time.Minute)).Post("/account/mfa/passkeys/begin", passkeys.BeginRegistration)
//	r.With(policy.AllowEnrolment, policy.StepUp(10*time.Minute)).Post("/account/mfa/passkeys/finish", passkeys.FinishRegistration)
//	r.With(policy.AllowChallenge).Post("/mfa/passkey/begin", passkeys.BeginVerify)
//	r.With(policy.AllowChallenge).Post("/mfa/passkey/finish", passkeys.FinishVerify)
//	r.Post("/login/passkey/begin", passkeys.BeginLogin)
//	r.Post("/login/passkey/finish", passkeys.FinishLogin)
//
// Pass the [*RelyingParty] to [mfa.PolicyConfig.Factors] so that a user
// with a passkey counts as enrolled, and give it the store of the TOTP
// secrets ([mfa.FactorStore]) so that a user who must keep a factor cannot
// remove their last one, even in a race.
//
// # How a passkey satisfies MFA
//
// After a successful verification or passwordless login the handlers call
// [Sessions.MarkMFA] with [identity.MethodHardwareKey]: the session's
// principal then has an MFA time, and [mfa.Policy] lets it through. For a
// passwordless login, user verification is required, and
// [LoginResult.Methods] carries [identity.MethodPIN] beside the hardware
// key for the principal the application signs in, so that the session's
// methods say the two factors were one gesture.
//
// # Out of scope
//
// Attestation (which authenticator models are allowed) is not checked:
// credentials are registered with attestation "none". Synced passkeys and
// device-bound keys are both recorded as [identity.MethodHardwareKey].
package passkey
