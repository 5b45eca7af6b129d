package localpath_test

import (
	"net/url"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/deployedworks/rampart/internal/localpath"
)

func TestIs(t *testing.T) {
	tests := []struct {
		in   string
		want bool
	}{
		{"/", true},
		{"/orders", true},
		{"/orders?page=2#top", true},
		{"/search?q=a%20b&next=https://x", true},
		{"/%2F%2Fevil.example", true},
		{"/" + strings.Repeat("a", 2047), true},
		{"", false},
		{"orders", false},
		{"//evil.example", false},
		{"///evil.example", false},
		{"/\\evil.example", false},
		{"\\\\evil.example", false},
		{"/ok\\..\\..", false},
		{"https://evil.example/", false},
		{"javascript:alert(1)", false},
		{"/\t/evil.example", false},
		{"/\n/evil.example", false},
		{"/\r\n/evil.example", false},
		{" /orders", false},
		{"/orders x", false},
		{"/\x00", false},
		{"/\x7f", false},
		{"/" + strings.Repeat("a", 2048), false},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.want, localpath.Is(tt.in), "%q", tt.in)
	}
}

// FuzzIs: whatever Is accepts stays on the site when a browser resolves
// it against the current page.
func FuzzIs(f *testing.F) {
	for _, s := range []string{"/", "/a?b#c", "//evil", "/\\evil", "/\t/evil", "https://evil", "/%2f/evil", "/.//evil", "/@evil"} {
		f.Add(s)
	}
	base, _ := url.Parse("https://site.example/dir/page")
	f.Fuzz(func(t *testing.T, s string) {
		if !localpath.Is(s) {
			return
		}
		ref, err := url.Parse(s)
		if err != nil {
			t.Fatalf("accepted %q, which does not parse: %v", s, err)
		}
		if u := base.ResolveReference(ref); u.Host != base.Host || u.Scheme != base.Scheme || u.User != nil {
			t.Fatalf("accepted %q, which leaves the site: %v", s, u)
		}
	})
}
