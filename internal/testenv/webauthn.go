package testenv

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"

	vwa "github.com/descope/virtualwebauthn"
)

// PasskeyCredential returns a P-256 credential for a virtualwebauthn
// authenticator whose public key coordinates both have a non-zero first
// byte. virtualwebauthn v1.0.3 encodes X and Y with big.Int.Bytes,
// dropping leading zero bytes, so about one key in 128 would otherwise be
// (rightly) rejected by go-webauthn as malformed.
func PasskeyCredential() vwa.Credential {
	for {
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			panic(err)
		}
		pub, err := k.PublicKey.Bytes() // 0x04 || X || Y
		if err != nil {
			panic(err)
		}
		if pub[1] == 0 || pub[33] == 0 {
			continue
		}
		der, err := x509.MarshalPKCS8PrivateKey(k)
		if err != nil {
			panic(err)
		}
		return vwa.NewCredentialWithImportedKey(vwa.KeyTypeEC2, der)
	}
}
