package mfa_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"time"

	"github.com/pquerna/otp/totp"

	"github.com/deployedworks/rampart/identity"
	"github.com/deployedworks/rampart/mfa"
	"github.com/deployedworks/rampart/mfa/memstore"
	"github.com/deployedworks/rampart/secrets"
)

// exampleSessions stands in for *session.Manager, which signs the user's
// other sessions out when a factor changes.
type exampleSessions struct{}

func (exampleSessions) RevokeOthers(context.Context) error {
	fmt.Println("other sessions signed out")
	return nil
}

func (exampleSessions) RevokeUser(context.Context, string) error { return nil }

// A user enrols an authenticator app, confirms it with a first code, and
// later signs in with codes; a replayed code is refused. Enrolment needs
// the user's own session, signed in (or re-authenticated) recently; the
// session layer puts its principal in the request context, here the
// example does.
func ExampleTOTP() {
	now := time.Date(2026, 6, 25, 12, 0, 0, 0, time.UTC)
	ctx := identity.NewContext(context.Background(), identity.Principal{
		UserID: "user-42", Methods: []identity.Method{identity.MethodPassword}, AuthTime: now})
	keys, _ := secrets.NewKeyring(secrets.Key{ID: "2026-06", Secret: secrets.Random(32)})
	store, _ := memstore.New(memstore.Config{})
	tp, err := mfa.NewTOTP(mfa.TOTPConfig{
		Issuer: "Marketplace", Keyring: keys, Store: store, Sessions: exampleSessions{},
		Now: func() time.Time { return now },
	})
	if err != nil {
		fmt.Println(err)
		return
	}

	// Show e.PNG(256) as a QR code, or e.Secret() for manual entry.
	e, _ := tp.Enrol(ctx, "user-42", "alice@example.com")
	u, _ := url.Parse(e.URI())
	fmt.Println(u.Scheme, u.Host, u.Path)

	// The authenticator app computes codes from the secret.
	appCode := func() string {
		c, _ := totp.GenerateCode(u.Query().Get("secret"), now)
		return c
	}
	fmt.Println("confirm:", tp.Confirm(ctx, "user-42", appCode()))

	now = now.Add(30 * time.Second)
	code := appCode()
	fmt.Println("verify:", tp.Verify(ctx, "user-42", code))
	fmt.Println("replay:", errors.Is(tp.Verify(ctx, "user-42", code), mfa.ErrCodeReused))
	fmt.Println("wrong:", tp.Verify(ctx, "user-42", "000 000"))
	// Output:
	// otpauth totp /Marketplace:alice@example.com
	// other sessions signed out
	// confirm: <nil>
	// verify: <nil>
	// replay: true
	// wrong: mfa: invalid code
}

// Recovery codes are shown once, used once, and replaced as a set.
func ExampleRecovery() {
	ctx := context.Background()
	store, _ := memstore.New(memstore.Config{})
	rc, err := mfa.NewRecovery(mfa.RecoveryConfig{Key: secrets.Random(32), Store: store})
	if err != nil {
		fmt.Println(err)
		return
	}
	codes, _ := rc.Generate(ctx, "user-42")
	fmt.Println(len(codes), "codes like", regexp.MustCompile(`[0-9A-Z]`).ReplaceAllString(codes[0], "X"))

	left, err := rc.Use(ctx, "user-42", codes[0])
	fmt.Println("used:", left, "left", err)
	_, err = rc.Use(ctx, "user-42", codes[0])
	fmt.Println("again:", err)

	_, _ = rc.Generate(ctx, "user-42") // the old set is void
	_, err = rc.Use(ctx, "user-42", codes[1])
	fmt.Println("old set:", err)
	// Output:
	// 10 codes like XXXX-XXXX-XXXX-XXXX-XXXX-XXXX
	// used: 9 left <nil>
	// again: mfa: invalid code
	// old set: mfa: invalid code
}

// Administrators without a factor may reach only the routes registered
// with AllowEnrolment; with a factor they must verify it; sensitive
// actions need a recent verification. The session layer puts the
// signed-in principal in the request context; here the test does.
func ExamplePolicy() {
	hasTOTP := false
	factor := factorFunc(func(context.Context, string) (bool, error) { return hasTOTP, nil })
	now := time.Date(2026, 6, 25, 12, 0, 0, 0, time.UTC)
	policy, err := mfa.NewPolicy(mfa.PolicyConfig{
		Factors:   []mfa.EnrolmentChecker{factor},
		EnrolPath: "/account/mfa", ChallengePath: "/mfa", ReauthPath: "/account/reauth",
		Now: func() time.Time { return now },
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	ok := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {})
	mux := http.NewServeMux()
	mux.Handle("GET /admin", policy.Require(ok))
	mux.Handle("GET /admin/keys", policy.Require(policy.StepUp(10*time.Minute)(ok)))
	mux.Handle("GET /account/mfa/totp", policy.AllowEnrolment(ok))
	mux.Handle("GET /account/mfa/export", policy.Require(ok)) // not reachable before MFA
	mux.Handle("GET /mfa", policy.AllowChallenge(ok))

	root := identity.Principal{UserID: "root", Roles: []string{"admin"}}
	get := func(path string) string {
		req := httptest.NewRequest(http.MethodGet, path, nil)
		req = req.WithContext(identity.NewContext(req.Context(), root))
		req.Header.Set("Accept", "text/html")
		rec := httptest.NewRecorder()
		mux.ServeHTTP(rec, req)
		return strings.TrimSpace(fmt.Sprint(rec.Code, " ", rec.Header().Get("Location")))
	}

	fmt.Println("not enrolled:", get("/admin"))
	fmt.Println("enrolment page:", get("/account/mfa/totp"))
	fmt.Println("other page:", get("/account/mfa/export"))
	hasTOTP = true
	fmt.Println("enrolled:", get("/admin"))
	fmt.Println("challenge:", get("/mfa"))
	root.MFATime = now.Add(-time.Hour) // verified an hour ago
	fmt.Println("verified:", get("/admin"))
	fmt.Println("sensitive:", get("/admin/keys"))
	// Output:
	// not enrolled: 303 /account/mfa?next=%2Fadmin
	// enrolment page: 200
	// other page: 303 /account/mfa?next=%2Faccount%2Fmfa%2Fexport
	// enrolled: 303 /mfa?next=%2Fadmin
	// challenge: 200
	// verified: 200
	// sensitive: 303 /mfa?next=%2Fadmin%2Fkeys
}
