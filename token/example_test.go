package token_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"log"

	"github.com/deployedworks/rampart/token"
)

// passwordDigest binds a reset token to the password it replaces: a keyed
// digest of the user's current password hash (the PHC string).
func passwordDigest(key []byte, phc string) string {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(phc))
	return hex.EncodeToString(m.Sum(nil))
}

func Example() {
	ctx := context.Background()
	store, err := token.NewMemoryStore(token.MemoryStoreConfig{})
	if err != nil {
		log.Fatal(err)
	}
	issuer, err := token.New(store, token.Config{})
	if err != nil {
		log.Fatal(err)
	}
	key := []byte("a secret from the application's keyring")
	phc := "$argon2id$v=19$m=65536,t=3,p=4$c2FsdA$aGFzaA" // alice's current password hash

	// "Forgot password": issue a token and mail a link carrying it.
	tok, err := issuer.Issue(ctx, "alice", token.PasswordReset, passwordDigest(key, phc))
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("token length:", len(tok))

	// The link is opened: show the form if the token is good.
	if _, err := issuer.Check(ctx, tok, token.PasswordReset); err != nil {
		log.Fatal(err)
	}

	// The form is submitted: redeem, then check the password is the one
	// the token was issued against.
	rec, err := issuer.Redeem(ctx, tok, token.PasswordReset)
	if err != nil {
		log.Fatal(err)
	}
	same := subtle.ConstantTimeCompare([]byte(rec.Data), []byte(passwordDigest(key, phc))) == 1
	fmt.Println("reset password of", rec.UserID, "- password unchanged since issue:", same)

	// The link is used again, or by someone else.
	_, err = issuer.Redeem(ctx, tok, token.PasswordReset)
	fmt.Println("second use:", errors.Is(err, token.ErrInvalid))

	// A verification token does not reset a password.
	verify, _ := issuer.Issue(ctx, "alice", token.EmailVerify, "")
	_, err = issuer.Redeem(ctx, verify, token.PasswordReset)
	fmt.Println("wrong purpose:", err)
	// Output:
	// token length: 43
	// reset password of alice - password unchanged since issue: true
	// second use: true
	// wrong purpose: token: invalid or expired token
}
