package mfa

// Seal seals secret for userID with t's enrolment parameters, as Enrol
// does with a random one: for tests that need a known secret.
func (t *TOTP) Seal(userID string, secret []byte) ([]byte, error) {
	return t.seal(userID, t.params, secret)
}
