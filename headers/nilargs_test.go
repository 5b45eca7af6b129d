package headers_test

import (
	"reflect"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/deployedworks/rampart/headers"
)

// TestNilArguments: every constructor refuses a nil required argument,
// also a nil pointer inside an interface, with an error that names it and
// says what to pass, and returns no half-built value.
func TestNilArguments(t *testing.T) {

	for _, tc := range []struct {
		name string
		new  func() (any, error)
		want string
	}{
		{"NewRedirect: allowedHosts", func() (any, error) { return headers.NewRedirect(nil, headers.RedirectConfig{}) }, "empty allowedHosts: list the host names"},
		{"NewSecurityTxt: Contact", func() (any, error) { return headers.NewSecurityTxt(headers.SecurityTxtConfig{}) }, "Contact is required (RFC 9116 §2.5.3): add"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v, err := tc.new()
			assert.ErrorContains(t, err, tc.want)
			assert.True(t, reflect.ValueOf(v).IsNil(), "no half-built value")
		})
	}
}
