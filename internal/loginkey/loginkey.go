// Package loginkey folds a login name into the key a login throttle keeps,
// so that package auth and package account, sharing one throttle, agree on
// it.
package loginkey

import (
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/deployedworks/rampart/auth/password"
)

// Of returns the throttling key for a login name: trimmed, NFKC, lower
// case, so that "Alice" and "alice " share a budget, with invalid UTF-8 and
// control characters replaced by U+FFFD, so that a name like "a\x00" makes
// a key any throttle store can keep.
func Of(login string) string {
	return strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return utf8.RuneError
		}
		return r
	}, strings.ToLower(password.Normalize(strings.TrimSpace(strings.ToValidUTF8(login, string(utf8.RuneError))))))
}
