package mfa_test

import (
	"context"
	"testing"

	"github.com/deployedworks/rampart/mfa"
	"github.com/deployedworks/rampart/mfa/memstore"
	"github.com/deployedworks/rampart/secrets"
)

// acceptAll is a TOTP store that accepts every time step, so that a
// benchmark can verify the same valid code repeatedly.
type acceptAll struct{ *memstore.Store }

func (acceptAll) AcceptTOTPStep(context.Context, string, int64) (bool, error) { return true, nil }

// BenchmarkTOTPVerify measures one verification: load, decrypt the secret
// (XChaCha20-Poly1305), three HMAC-SHA1 candidates compared in constant
// time, and the replay check.
func BenchmarkTOTPVerify(b *testing.B) {
	ctx := context.Background()
	c := newClock()
	store := acceptAll{newStore(b)}
	tp, err := mfa.NewTOTP(mfa.TOTPConfig{Issuer: "B", Keyring: newKeyring(b), Store: store, Sessions: &fakeSessions{}, Limiter: unlimited, UserLimiter: unlimited, Now: c.Now})
	if err != nil {
		b.Fatal(err)
	}
	e, err := tp.Enrol(signedIn("u", c.Now()), "u", "u@example.com")
	if err != nil {
		b.Fatal(err)
	}
	code := codeAt(b, e, c.Now())
	if err := tp.Confirm(signedIn("u", c.Now()), "u", code); err != nil {
		b.Fatal(err)
	}
	b.Run("valid", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if err := tp.Verify(ctx, "u", code); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("invalid", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if err := tp.Verify(ctx, "u", "000000"); err == nil && code != "000000" {
				b.Fatal("accepted")
			}
		}
	})
}

// BenchmarkRecoveryCheck measures checking a recovery code against a set
// of ten: normalise, HMAC-SHA256, constant-time scan of the stored hashes.
func BenchmarkRecoveryCheck(b *testing.B) {
	ctx := context.Background()
	rc, err := mfa.NewRecovery(mfa.RecoveryConfig{Key: secrets.Random(32), Store: newStore(b), Limiter: unlimited, UserLimiter: unlimited})
	if err != nil {
		b.Fatal(err)
	}
	if _, err := rc.Generate(ctx, "u"); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := rc.Use(ctx, "u", "ABCDE-FGHJK-MNPQ"); err == nil {
			b.Fatal("accepted")
		}
	}
}

// BenchmarkRecoveryUse measures a successful use, generating a fresh set
// whenever one runs out (generation time is excluded).
func BenchmarkRecoveryUse(b *testing.B) {
	ctx := context.Background()
	rc, err := mfa.NewRecovery(mfa.RecoveryConfig{Key: secrets.Random(32), Store: newStore(b), Limiter: unlimited, UserLimiter: unlimited})
	if err != nil {
		b.Fatal(err)
	}
	var codes []string
	b.ReportAllocs()
	for b.Loop() {
		if len(codes) == 0 {
			b.StopTimer()
			codes, _ = rc.Generate(ctx, "u")
			b.StartTimer()
		}
		if _, err := rc.Use(ctx, "u", codes[0]); err != nil {
			b.Fatal(err)
		}
		codes = codes[1:]
	}
}
