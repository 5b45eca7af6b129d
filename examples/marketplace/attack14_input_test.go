package main

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
)

// TestAttack_ControlCharacters: addresses with control characters or of
// absurd length get a clear refusal, never a 500, and nothing is mailed.
func TestAttack_ControlCharacters(t *testing.T) {
	t.Parallel()
	ta := newTestApp(t)
	bad := []string{"a\r\nBcc: x@example.com", "a@example.com\r\nBcc: x@example.com", "a\x00@example.com", "a\x7f@example.com",
		strings.Repeat("a", 300) + "@example.com", "a@" + strings.Repeat("b", 300) + ".com", "\u202ea@example.com"}
	for _, e := range bad {
		if !strings.HasPrefix(e, "\u202e") { // a format character: /forgot's answer is the same either way
			r := ta.client().post("/forgot", url.Values{"email": {e}})
			assert.Equal(t, http.StatusUnprocessableEntity, r.Status, "%q: %s", e, r.Body)
		}
		r := ta.client().post("/signup", signupForm(e, "X", goodPassword, goodPassword))
		assert.Equal(t, http.StatusUnprocessableEntity, r.Status, "%q", e)
	}
	r := ta.client().post("/forgot", url.Values{"email": {strings.Repeat("a", 1<<20)}})
	assert.Equal(t, http.StatusRequestEntityTooLarge, r.Status)
}

// TestAttack_EmailChangeFormatCharacters: a new address with a
// bidirectional override or a zero-width character is refused.
func TestAttack_EmailChangeFormatCharacters(t *testing.T) {
	t.Parallel()
	ta := newTestApp(t)
	c, _ := ta.userClient("nora@example.com", "Nora")
	for _, e := range []string{"\u202enora2@example.com", "no\u200bra@example.com", "nora\ufeff@example.com"} {
		r := c.post("/account/email", url.Values{"email": {e}, "current": {goodPassword}})
		assert.Equal(t, http.StatusUnprocessableEntity, r.Status, "%q", e)
	}
}
