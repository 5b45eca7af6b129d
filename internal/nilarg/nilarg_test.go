package nilarg_test

import (
	"bytes"
	"io"
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/deployedworks/rampart/internal/nilarg"
)

func TestIs(t *testing.T) {
	var buf *bytes.Buffer
	var w io.Writer
	var h http.HandlerFunc
	for _, tc := range []struct {
		name string
		v    any
		want bool
	}{
		{"nil", nil, true},
		{"nil interface", w, true},
		{"nil pointer in an interface", io.Writer(buf), true},
		{"nil func in an interface", http.Handler(h), true},
		{"nil map", map[string]int(nil), true},
		{"nil slice", []byte(nil), true},
		{"pointer", &bytes.Buffer{}, false},
		{"func", http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}), false},
		{"empty slice", []byte{}, false},
		{"zero struct", struct{}{}, false},
		{"zero int", 0, false},
		{"empty string", "", false},
	} {
		assert.Equal(t, tc.want, nilarg.Is(tc.v), tc.name)
	}
}
