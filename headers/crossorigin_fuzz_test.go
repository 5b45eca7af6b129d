package headers

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// FuzzCrossOriginCheck feeds untrusted Origin, Host and Sec-Fetch-Site
// values to parseOrigin and to CrossOrigin.Check. Neither may panic; an
// origin parseOrigin accepts is normalised (http or https, a lower-case
// host without brackets, slashes, @ or spaces, a port); and an unsafe
// request whose Origin is not the public origin, with no Sec-Fetch-Site,
// is always refused (fail closed).
func FuzzCrossOriginCheck(f *testing.F) {
	for _, s := range [][3]string{
		{"https://shop.example", "shop.example", ""},
		{"https://SHOP.example:443", "shop.example", ""},
		{"http://shop.example", "shop.example", ""},
		{"https://shop.example.evil", "shop.example", ""},
		{"https://user@shop.example", "shop.example", ""},
		{"https://[::1]:8443", "[::1]:8443", ""},
		{"null", "shop.example", ""},
		{"https://shop.example/", "shop.example", "same-origin"},
		{"https://shop.example", "evil.example", "cross-site"},
		{"https://sh\x00op.example", "shop.example", ""},
	} {
		f.Add(s[0], s[1], s[2])
	}
	co, err := NewCrossOrigin(CrossOriginConfig{PublicOrigin: "https://shop.example"})
	if err != nil {
		f.Fatal(err)
	}
	public, _ := parseOrigin("https://shop.example")
	f.Fuzz(func(t *testing.T, origin, host, site string) {
		o, ok := parseOrigin(origin)
		if ok {
			if o.scheme != "http" && o.scheme != "https" {
				t.Fatalf("parseOrigin(%q): scheme %q", origin, o.scheme)
			}
			if o.host == "" || o.port == "" || o.host != strings.ToLower(o.host) || strings.ContainsAny(o.host, "[]/@ ") {
				t.Fatalf("parseOrigin(%q) = %+v: not normalised", origin, o)
			}
		}
		r := httptest.NewRequest(http.MethodPost, "/", nil)
		r.Host = host
		// Header values a client could send: net/http drops requests
		// whose header values hold CR, LF or NUL before any handler runs.
		if strings.ContainsAny(origin+site, "\r\n\x00") {
			return
		}
		r.Header.Set("Origin", origin)
		if site != "" {
			r.Header.Set("Sec-Fetch-Site", site)
		}
		err := co.Check(r)
		if err != nil && !errors.Is(err, ErrCrossOrigin) {
			t.Fatalf("Check: %v, want an ErrCrossOrigin", err)
		}
		if origin != "" && site == "" && (!ok || o != public) && err == nil {
			t.Fatalf("Check allowed a POST from Origin %q (Host %q): want it refused", origin, host)
		}
	})
}
