package passkey_test

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	vwa "github.com/descope/virtualwebauthn"

	"github.com/deployedworks/rampart/internal/testenv"
	"github.com/deployedworks/rampart/mfa/passkey"
)

// FuzzFinishLogin feeds attacker-chosen bodies to the passwordless finish
// handler after a real begin: nothing may panic, and nothing may sign in.
func FuzzFinishLogin(f *testing.F) {
	fs := newFakeSessions(time.Now)
	wa, err := passkey.New(passkey.Config{
		RPID: "example.com", RPDisplayName: "X", RPOrigins: []string{"https://example.com"},
		Credentials: newStore(f), Sessions: fs, Challenges: fs,
		OnLogin: func(http.ResponseWriter, *http.Request, passkey.LoginResult) error { panic("signed in") },
	})
	if err != nil {
		f.Fatal(err)
	}
	rp := vwa.RelyingParty{ID: "example.com", Name: "X", Origin: "https://example.com"}
	auth := vwa.NewAuthenticatorWithOptions(vwa.AuthenticatorOptions{UserHandle: []byte("0123456789abcdef0123456789abcdef")})
	cred := testenv.PasskeyCredential()
	seed := vwa.CreateAssertionResponse(rp, auth, cred, vwa.AssertionOptions{Challenge: bytes.Repeat([]byte{1}, 32), RelyingPartyID: "example.com"})
	for _, s := range []string{seed, "", "{}", "null", "[]", `{"id":"AA","rawId":"AA","type":"public-key","response":{}}`,
		`{"id":"AA","rawId":"AA","type":"public-key","response":{"clientDataJSON":"e30","authenticatorData":"AA","signature":"AA","userHandle":"AA"}}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		ctx := fs.newSession(context.Background())
		rec := httptest.NewRecorder()
		wa.BeginLogin(rec, httptest.NewRequest(http.MethodPost, "/begin", nil).WithContext(ctx))
		if rec.Code != http.StatusOK {
			t.Fatalf("begin: %d", rec.Code)
		}
		rec = httptest.NewRecorder()
		wa.FinishLogin(rec, httptest.NewRequest(http.MethodPost, "/finish", bytes.NewReader(body)).WithContext(ctx))
		if rec.Code < 400 {
			t.Fatalf("accepted: %d %s", rec.Code, rec.Body)
		}
	})
}
