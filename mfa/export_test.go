package mfa

// Seal seals secret for userID with t's enrolment parameters, as Enrol
// does with a random one: for tests that need a known secret.
func (t *TOTP) Seal(userID string, secret []byte) ([]byte, error) {
	return t.seal(userID, t.params, secret)
}

// HashCode is the stored hash of code (already canonical) for userID: for
// tests that plant a code set, such as one of legacy codes.
func (r *Recovery) HashCode(userID, code string) []byte {
	return r.hash(userID, []byte(code))
}
