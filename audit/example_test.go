package audit_test

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"time"

	"github.com/deployedworks/rampart/audit"
	"github.com/deployedworks/rampart/clientip"
)

var clock = func() time.Time { return time.Date(2026, 6, 25, 10, 0, 0, 0, time.UTC) }

// Log an event: sensitive Meta entries are redacted before any sink sees
// them, and the encoding is the stable JSON described in the package
// documentation.
func Example() {
	events := audit.New(audit.NewJSONLSink(os.Stdout), audit.Config{Now: clock})
	ctx := audit.WithActor(context.Background(), audit.Actor{UserID: "u-42", Roles: []string{"admin"}})
	events.Log(ctx, audit.Event{
		Category: audit.CategoryAccess, Action: "role.granted", Outcome: audit.OutcomeSuccess,
		Target: audit.Target{Kind: "user", ID: "u-7"},
		Meta:   map[string]string{"role": "moderator", "otp_code": "123456"},
	})
	// Output:
	// {"time":"2026-06-25T10:00:00Z","category":"access","action":"role.granted","outcome":"success","actor":{"user_id":"u-42","roles":["admin"]},"target":{"kind":"user","id":"u-7"},"meta":{"otp_code":"[REDACTED]","role":"moderator"}}
}

// The HTTP middleware assigns request IDs, recovers panics, and records
// every state-changing request to admin routes.
func ExampleLogger_Middleware() {
	sink := &audit.MemorySink{}
	events := audit.New(sink, audit.Config{Now: clock})
	ips := clientip.MustNew(nil, clientip.Config{Logger: slog.New(slog.DiscardHandler)})
	mw := events.Middleware(ips)

	mux := http.NewServeMux()
	mux.Handle("POST /admin/users/{id}/disable", mw.AdminActions(http.HandlerFunc(
		func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusNoContent) })))
	mux.HandleFunc("GET /boom", func(http.ResponseWriter, *http.Request) { panic("secret detail") })
	// The application's authentication layer names the actor.
	auth := func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			next.ServeHTTP(w, r.WithContext(audit.WithActor(r.Context(), audit.Actor{UserID: "admin-1"})))
		})
	}
	h := mw.Handler(auth(mux))

	h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("POST", "/admin/users/7/disable", nil))
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest("GET", "/boom", nil))
	fmt.Println(w.Code, bytes.Contains(w.Body.Bytes(), []byte("secret")))

	for _, e := range sink.Events() {
		fmt.Println(e.Category, e.Action, e.Actor.UserID, e.Meta["method"], e.Meta["path"], e.Meta["status"])
	}
	// Output:
	// 500 false
	// admin admin.request admin-1 POST /admin/users/7/disable 204
	// error http.panic admin-1 GET /boom
}

// A tamper-evident log: write, close, verify, tamper, verify again.
func ExampleVerify() {
	dir, _ := os.MkdirTemp("", "audit")
	defer os.RemoveAll(dir)
	key := bytes.Repeat([]byte{1}, 32) // in production: from package secrets

	fs, err := audit.NewFileSink(dir, key, audit.FileConfig{Now: clock})
	if err != nil {
		panic(err)
	}
	events := audit.New(fs, audit.Config{Now: clock})
	for _, action := range []string{"login.succeeded", "user.disabled", "logout"} {
		events.Log(context.Background(), audit.Event{Category: audit.CategoryAdmin, Action: audit.Action(action)})
	}
	fs.Close(context.Background())

	rep, err := audit.Verify(context.Background(), os.DirFS(dir), key, audit.VerifyConfig{RequireSealed: true})
	fmt.Println(rep.Events, rep.Sealed, err)

	name := dir + "/audit-00000000000000000001.jsonl"
	b, _ := os.ReadFile(name)
	os.WriteFile(name, bytes.Replace(b, []byte("user.disabled"), []byte("user.enabled!"), 1), 0o600)
	_, err = audit.Verify(context.Background(), os.DirFS(dir), key, audit.VerifyConfig{})
	fmt.Println(err)
	// Output:
	// 3 true <nil>
	// audit: log chain: record modified at audit-00000000000000000001.jsonl:3 (seq 3): MAC does not verify (record changed, or wrong key)
}

// The async sink batches and retries in the background; Close flushes.
func ExampleAsyncSink() {
	mem := &audit.MemorySink{}
	async, err := audit.NewAsyncSink(mem, audit.AsyncConfig{})
	if err != nil {
		panic(err)
	}
	events := audit.New(async, audit.Config{})
	for range 1000 {
		events.Log(context.Background(), audit.Event{Category: audit.CategoryAuthentication, Action: "login.failed"})
	}
	if err := async.Close(context.Background()); err != nil {
		panic(err)
	}
	fmt.Println(len(mem.Events()), async.Stats().Written)
	// Output: 1000 1000
}

// The detector raises an alert when one address fails on many accounts.
func ExampleDetector() {
	mem := &audit.MemorySink{}
	det, err := audit.NewDetector(mem, audit.DetectorConfig{SprayingAccounts: 3})
	if err != nil {
		panic(err)
	}
	events := audit.New(det, audit.Config{Now: clock})
	attacker := audit.WithRequest(context.Background(), audit.Request{ClientIP: netip.MustParseAddr("203.0.113.9")})
	for _, account := range []string{"alice", "bob", "carol"} {
		events.Log(attacker, audit.Event{
			Category: audit.CategoryAuthentication, Action: "login.failed", Outcome: audit.OutcomeFailure,
			Target: audit.Target{Kind: "account", ID: account},
		})
	}
	for _, e := range mem.Events() {
		if e.Category == audit.CategorySuspicious {
			fmt.Println(e.Action, e.ClientIP, e.Reason)
		}
	}
	// Output: alert.password_spraying 203.0.113.9 one address failed to log in to 3 accounts within 15m0s
}

func ExampleSensitiveKey() {
	for _, k := range []string{"password", "X-Auth-Token", "recoveryCode", "status_code", "method"} {
		fmt.Println(k, audit.SensitiveKey(k))
	}
	// Output:
	// password true
	// X-Auth-Token true
	// recoveryCode true
	// status_code false
	// method false
}
