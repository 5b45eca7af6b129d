package account_test

import (
	"errors"
	"testing"

	"github.com/deployedworks/rampart/account"
	"github.com/deployedworks/rampart/ratelimit"
	"github.com/deployedworks/rampart/token"
)

// FuzzRequestReset: any address typed by a client is accepted (nil) or
// refused with ErrInvalidAddress or a limit, never a panic, and what the
// workers do with an accepted one panics neither.
func FuzzRequestReset(f *testing.F) {
	for _, s := range []string{"alice@example.com", "", "a@b", " a@b ", "a\x00@b", "a@b\r\nBcc: c@d", "ı@example.com", "\xff@\xfe", "@", "a@@b"} {
		f.Add(s)
	}
	e := newEnv(f, noLimits)
	e.addUser(f, "alice", "alice@example.com", goodPassword)
	r := req("192.0.2.1", nil)
	f.Fuzz(func(t *testing.T, email string) {
		err := e.flows.RequestReset(r, email)
		if err != nil && !errors.Is(err, account.ErrInvalidAddress) && !errors.Is(err, ratelimit.ErrLimited) {
			t.Fatalf("RequestReset(%q): %v", email, err)
		}
		if errs := e.events(account.ActionError); len(errs) > 0 {
			t.Fatalf("RequestReset(%q): a worker failed: %v", email, errs[0].Reason)
		}
	})
}

// FuzzBeginReset: any token from a link is refused with token.ErrInvalid.
func FuzzBeginReset(f *testing.F) {
	for _, s := range []string{"", "x", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", "\x00", "a/b?c"} {
		f.Add(s)
	}
	e := newEnv(f, nil)
	r := req("192.0.2.1", nil)
	f.Fuzz(func(t *testing.T, tok string) {
		if _, err := e.flows.BeginReset(r, tok); !errors.Is(err, token.ErrInvalid) {
			t.Fatalf("BeginReset(%q): %v", tok, err)
		}
		if err := e.flows.CompleteReset(r, tok, "a long new passphrase"); !errors.Is(err, token.ErrInvalid) {
			t.Fatalf("CompleteReset(%q): %v", tok, err)
		}
	})
}
