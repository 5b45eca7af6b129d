package password

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParseRange(t *testing.T) {
	const suffix = "0018A45C4D1DEF81644B54AB7F969B88D65"
	n, err := parseRange([]byte("00000000000000000000000000000000000:0\r\n"+suffix+":21\r\n"), suffix)
	require.NoError(t, err)
	assert.Equal(t, 21, n)
	n, err = parseRange(nil, suffix)
	require.NoError(t, err)
	assert.Zero(t, n)
	for _, bad := range []string{"x", suffix + ":", suffix + ":1x", suffix + ":+1", suffix + ":99999999999", suffix[1:] + ":1", suffix + "\r\n\r\n" + suffix + ":1", "G" + suffix[1:] + ":1"} {
		_, err := parseRange([]byte(bad), suffix)
		assert.Error(t, err, "%q", bad)
	}
}

// FuzzParseRange: the range response parser never panics, and reports a
// count only for the exact suffix asked about.
func FuzzParseRange(f *testing.F) {
	const suffix = "0018A45C4D1DEF81644B54AB7F969B88D65"
	f.Add([]byte(suffix + ":3\r\n00000000000000000000000000000000000:0\r\n"))
	f.Add([]byte(strings.ToLower(suffix) + ":1\n"))
	f.Add([]byte(":\r\n\r\n"))
	f.Add([]byte(suffix + ":18446744073709551616"))
	f.Fuzz(func(t *testing.T, body []byte) {
		n, err := parseRange(body, suffix)
		if err != nil {
			return
		}
		if n < 0 {
			t.Fatalf("negative count %d", n)
		}
		if n > 0 && !strings.Contains(strings.ToUpper(string(body)), suffix+":") {
			t.Fatalf("count %d without the suffix in %q", n, body)
		}
	})
}
