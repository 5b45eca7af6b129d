package passkey

import (
	"strings"
	"testing"
)

func FuzzCleanName(f *testing.F) {
	for _, s := range []string{"YubiKey", "  Phone ", "a\x00b", "\u202eevil", strings.Repeat("x", 65), ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n, err := cleanName(s)
		if err != nil {
			return
		}
		if n == "" || len([]rune(n)) > maxCredentialName || strings.TrimSpace(n) != n {
			t.Fatalf("bad name %q from %q", n, s)
		}
	})
}
