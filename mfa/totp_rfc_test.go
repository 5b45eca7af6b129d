package mfa_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/deployedworks/rampart/mfa"
	"github.com/deployedworks/rampart/mfa/memstore"
)

// RFC 6238 Appendix B, run through the whole Verify path: seal, store,
// open, match, record the step.
func TestTOTP_RFC6238Vectors(t *testing.T) {
	seeds := map[mfa.Algorithm]string{
		mfa.SHA1:   "12345678901234567890",
		mfa.SHA256: "12345678901234567890123456789012",
		mfa.SHA512: "1234567890123456789012345678901234567890123456789012345678901234",
	}
	rows := []struct {
		unix int64
		alg  mfa.Algorithm
		code string
	}{
		{59, mfa.SHA1, "94287082"}, {59, mfa.SHA256, "46119246"}, {59, mfa.SHA512, "90693936"},
		{1111111109, mfa.SHA1, "07081804"}, {1111111109, mfa.SHA256, "68084774"}, {1111111109, mfa.SHA512, "25091201"},
		{1111111111, mfa.SHA1, "14050471"}, {1111111111, mfa.SHA256, "67062674"}, {1111111111, mfa.SHA512, "99943326"},
		{1234567890, mfa.SHA1, "89005924"}, {1234567890, mfa.SHA256, "91819424"}, {1234567890, mfa.SHA512, "93441116"},
		{2000000000, mfa.SHA1, "69279037"}, {2000000000, mfa.SHA256, "90698825"}, {2000000000, mfa.SHA512, "38618901"},
		{20000000000, mfa.SHA1, "65353130"}, {20000000000, mfa.SHA256, "77737706"}, {20000000000, mfa.SHA512, "47863826"},
	}
	ctx := context.Background()
	for _, r := range rows {
		t.Run(r.alg.String()+"/"+time.Unix(r.unix, 0).UTC().Format(time.RFC3339), func(t *testing.T) {
			store, err := memstore.New(memstore.Config{})
			require.NoError(t, err)
			now := time.Unix(r.unix, 0)
			tp, err := mfa.NewTOTP(mfa.TOTPConfig{
				Issuer: "RFC", Keyring: newKeyring(t), Store: store, Sessions: &fakeSessions{},
				Algorithm: r.alg, Digits: 8, Now: func() time.Time { return now },
			})
			require.NoError(t, err)
			sealed, err := tp.Seal("u", []byte(seeds[r.alg]))
			require.NoError(t, err)
			require.NoError(t, store.SaveTOTP(ctx, "u", mfa.TOTPRecord{Secret: sealed}))

			require.NoError(t, tp.Verify(ctx, "u", r.code))
			require.ErrorIs(t, tp.Verify(ctx, "u", r.code), mfa.ErrCodeReused)
		})
	}
}
