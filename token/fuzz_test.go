package token_test

import (
	"encoding/base64"
	"strings"
	"testing"

	"github.com/deployedworks/rampart/token"
)

// FuzzRedeem feeds arbitrary strings to the token parser, through Check
// and Redeem: they never panic, answer ErrInvalid for anything but the one
// issued token, and ask the store only about strings that are exactly a
// 32-byte value in canonical unpadded base64url.
func FuzzRedeem(f *testing.F) {
	cs := &countingStore{Store: newMemoryStore(f)}
	is, err := token.New(cs, token.Config{})
	if err != nil {
		f.Fatal(err)
	}
	good, err := is.Issue(f.Context(), "alice", token.PasswordReset, "")
	if err != nil {
		f.Fatal(err)
	}
	for _, s := range []string{good, "", good[:42], good + "=", good[:42] + "B", strings.Repeat("_", 43), strings.Repeat("/", 43), "\x00", good[:41] + "é"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, tok string) {
		before := cs.lookups.Load()
		_, checkErr := is.Check(t.Context(), tok, token.PasswordReset)
		asked := cs.lookups.Load() != before
		raw, decErr := base64.RawURLEncoding.DecodeString(tok)
		canonical := decErr == nil && len(raw) == 32 && base64.RawURLEncoding.EncodeToString(raw) == tok
		if asked != canonical {
			t.Fatalf("Check(%q) asked the store: %v; canonical 32-byte token: %v", tok, asked, canonical)
		}
		if tok == good {
			if checkErr != nil {
				t.Fatalf("Check(issued token): %v", checkErr)
			}
			return
		}
		if checkErr != token.ErrInvalid {
			t.Fatalf("Check(%q) = %v, want token.ErrInvalid", tok, checkErr)
		}
		if _, err := is.Redeem(t.Context(), tok, token.PasswordReset); err != token.ErrInvalid {
			t.Fatalf("Redeem(%q) = %v, want token.ErrInvalid", tok, err)
		}
	})
}
