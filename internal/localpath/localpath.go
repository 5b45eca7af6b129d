// Package localpath is the one open-redirect check of Rampart: whether a
// string is a path on this site that is safe to redirect to. Package auth
// exports it as auth.IsLocalPath; mfa and the example apps use it for their
// "next" parameters, without importing auth.
package localpath

import (
	"net/url"
	"strings"
)

// MaxLen bounds a redirect target, in bytes.
const MaxLen = 2048

// Is reports whether s is a path on this site that is safe to redirect
// to, such as a login form's "next" parameter: it starts with a single "/"
// (not "//" or "/\", which browsers read as another host), has no scheme,
// host or user info, no backslash, no control character or space (browsers
// strip tabs and newlines, turning "/\t/evil" into "//evil"), and at most
// [MaxLen] bytes. Anything else, including an empty string, is refused.
func Is(s string) bool {
	if len(s) == 0 || len(s) > MaxLen || s[0] != '/' {
		return false
	}
	if len(s) > 1 && (s[1] == '/' || s[1] == '\\') {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; c <= ' ' || c == 0x7f || c == '\\' {
			return false
		}
	}
	u, err := url.Parse(s)
	return err == nil && u.Scheme == "" && u.Host == "" && u.User == nil && u.Opaque == "" && strings.HasPrefix(u.Path, "/")
}
