package token_test

import (
	"testing"

	"github.com/deployedworks/rampart/token"
)

func BenchmarkIssue(b *testing.B) {
	is, _ := newIssuer(b, token.Config{})
	ctx := b.Context()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := is.Issue(ctx, "alice", token.PasswordReset, "digest"); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkIssueRedeem times Issue and Redeem of one token: a token is
// redeemed once, so each iteration needs a fresh one.
func BenchmarkIssueRedeem(b *testing.B) {
	is, _ := newIssuer(b, token.Config{})
	ctx := b.Context()
	b.ReportAllocs()
	for b.Loop() {
		tok, err := is.Issue(ctx, "alice", token.PasswordReset, "digest")
		if err != nil {
			b.Fatal(err)
		}
		if _, err := is.Redeem(ctx, tok, token.PasswordReset); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkRedeemInvalid times the answer to a well-formed token that is
// not in the store: what a guessing attacker costs.
func BenchmarkRedeemInvalid(b *testing.B) {
	is, _ := newIssuer(b, token.Config{})
	ctx := b.Context()
	tok, err := is.Issue(ctx, "alice", token.PasswordReset, "digest")
	if err != nil {
		b.Fatal(err)
	}
	if _, err := is.Redeem(ctx, tok, token.PasswordReset); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := is.Redeem(ctx, tok, token.PasswordReset); err != token.ErrInvalid {
			b.Fatal(err)
		}
	}
}
