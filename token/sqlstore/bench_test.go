package sqlstore_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/deployedworks/rampart/token"
)

// BenchmarkIssueRedeem times one token's life on each backend: Put (a
// locked transaction) and Take (one DELETE … RETURNING).
func BenchmarkIssueRedeem(b *testing.B) {
	for _, be := range backends {
		if be.name == "sqlite" {
			continue // sqlite-1conn is the recommended set-up
		}
		b.Run(be.name, func(b *testing.B) {
			s, _, _ := be.store(b)
			is, err := token.New(s, token.Config{})
			require.NoError(b, err)
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
		})
	}
}
