package passkey

import "errors"

// Errors callers branch on. Handlers pass them, wrapped with detail, to
// [Config.OnError], so test with [errors.Is]. Errors of package mfa
// (mfa.ErrUnauthenticated, mfa.ErrNotEnrolled, mfa.ErrStoreFull,
// mfa.ErrExists, mfa.ErrNotFound, mfa.ErrLastFactor) are passed as they
// are.
var (
	// ErrNoChallenge means a ceremony was finished without a matching
	// begin in this session, or after its challenge expired.
	ErrNoChallenge = errors.New("passkey: no pending challenge in this session, or it expired; begin again")

	// ErrVerification means a response failed verification (bad
	// signature, wrong origin or RP ID, challenge mismatch, user not
	// verified when required, unknown credential). The details go to the
	// audit log only.
	ErrVerification = errors.New("passkey: verification failed")

	// ErrClonedAuthenticator means a sign counter went backwards: two
	// copies of the credential's private key may exist. The login is
	// rejected unless [Config.AllowSignCountRegression] is set, and a
	// security alert is written to audit either way.
	ErrClonedAuthenticator = errors.New("passkey: sign counter went backwards (possible cloned authenticator)")
)
