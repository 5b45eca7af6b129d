package passkey_test

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"strings"
	"time"

	vwa "github.com/descope/virtualwebauthn"

	"github.com/deployedworks/rampart/identity"
	"github.com/deployedworks/rampart/internal/testenv"
	"github.com/deployedworks/rampart/mfa/memstore"
	"github.com/deployedworks/rampart/mfa/passkey"
	"github.com/deployedworks/rampart/session"
)

// A signed-in user registers a passkey; later, in a new browser, the
// passkey alone signs them in. A software authenticator plays the browser's
// part: in a page, the options go to
// PublicKeyCredential.parseCreationOptionsFromJSON (or
// parseRequestOptionsFromJSON) and navigator.credentials, and
// credential.toJSON() is posted back.
func ExampleRelyingParty() {
	sessions, _ := session.New(session.Config{AllowInsecureCookie: true})
	store, _ := memstore.New(memstore.Config{})
	mux := http.NewServeMux()
	srv := httptest.NewUnstartedServer(sessions.Handler(mux))
	origin := fmt.Sprintf("http://localhost:%d", srv.Listener.Addr().(*net.TCPAddr).Port)

	passkeys, err := passkey.New(passkey.Config{
		RPID: "localhost", RPDisplayName: "Marketplace", RPOrigins: []string{origin},
		Credentials: store, Sessions: sessions, Challenges: sessions,
		OnLogin: func(_ http.ResponseWriter, r *http.Request, res passkey.LoginResult) error {
			fmt.Println("passkey login:", res.UserID)
			return sessions.Login(r.Context(), identity.Principal{UserID: res.UserID, Methods: res.Methods, AuthTime: res.ReadAt})
		},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	mux.HandleFunc("POST /login", func(w http.ResponseWriter, r *http.Request) { // a password login
		_ = sessions.Login(r.Context(), identity.Principal{UserID: "user-42", Methods: []identity.Method{identity.MethodPassword}, AuthTime: time.Now()})
	})
	mux.HandleFunc("POST /passkeys/begin", passkeys.BeginRegistration)
	mux.HandleFunc("POST /passkeys/finish", passkeys.FinishRegistration)
	mux.HandleFunc("POST /passkey-login/begin", passkeys.BeginLogin)
	mux.HandleFunc("POST /passkey-login/finish", passkeys.FinishLogin)
	srv.Start()
	defer srv.Close()

	post := func(c *http.Client, path, body string) string {
		resp, err := c.Post(origin+path, "application/json", strings.NewReader(body))
		if err != nil {
			return err.Error()
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return string(b)
	}
	newBrowser := func() *http.Client {
		jar, _ := cookiejar.New(nil)
		return &http.Client{Jar: jar}
	}
	rp := vwa.RelyingParty{ID: "localhost", Name: "Marketplace", Origin: origin}
	authenticator := vwa.NewAuthenticator()
	cred := testenv.PasskeyCredential()

	// Registration, in the user's signed-in session.
	browser := newBrowser()
	post(browser, "/login", "")
	creation, _ := vwa.ParseAttestationOptions(post(browser, "/passkeys/begin", ""))
	authenticator.Options.UserHandle = []byte(creation.UserID)
	fmt.Println(post(browser, "/passkeys/finish?name=Laptop", vwa.CreateAttestationResponse(rp, authenticator, cred, *creation))[:len(`{"id":`)])

	// Passwordless login, in a new browser.
	other := newBrowser()
	request, _ := vwa.ParseAssertionOptions(post(other, "/passkey-login/begin", ""))
	cred.Counter++
	fmt.Print(post(other, "/passkey-login/finish", vwa.CreateAssertionResponse(rp, authenticator, cred, *request)))
	// Output:
	// {"id":
	// passkey login: user-42
	// {"ok":true}
}
