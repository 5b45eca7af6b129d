package audit_test

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"time"

	"github.com/deployedworks/rampart/audit"
	"github.com/deployedworks/rampart/clientip"

	"github.com/deployedworks/rampart/identity"
)

var clock = func() time.Time { return time.Date(2026, 6, 25, 10, 0, 0, 0, time.UTC) }

// Log an event: sensitive Meta entries are redacted before any sink sees
// them, and the encoding is the stable JSON described in the package
// documentation.
func Example() {
	sink, err := audit.NewJSONLSink(os.Stdout)
	if err != nil {
		panic(err)
	}
	events, err := audit.New(sink, audit.Config{Now: clock})
	if err != nil {
		panic(err)
	}
	// Package session puts the signed-in user in the request context.
	ctx := identity.NewContext(context.Background(), identity.Principal{
		UserID: "u-42", Roles: []string{"admin"}, Methods: []identity.Method{identity.MethodPassword, identity.MethodOTP},
	})
	events.Log(ctx, audit.Event{
		Category: audit.CategoryAccess, Action: ActionRoleGranted, Outcome: audit.OutcomeSuccess,
		Target: audit.Target{Kind: "user", ID: "u-7"},
		Meta:   map[string]string{"role": "moderator", "otp_code": "123456"},
	})
	// Output:
	// {"time":"2026-06-25T10:00:00Z","category":"access","action":"role.granted","outcome":"success","actor":{"user_id":"u-42","roles":["admin"],"amr":["pwd","otp"]},"target":{"kind":"user","id":"u-7"},"meta":{"otp_code":"[REDACTED]","role":"moderator"}}
}

// An application's own actions are constants too, never literals at the
// call site.
const ActionRoleGranted audit.Action = "role.granted"

// The HTTP middleware assigns request IDs, recovers panics, and records
// every state-changing request to admin routes, with the signed-in user.
func ExampleLogger_Handler() {
	sink := &audit.MemorySink{}
	events := audit.MustNew(sink, audit.Config{Now: clock})
	ips := clientip.MustNew(nil, clientip.Config{Logger: slog.New(slog.DiscardHandler)})

	mux := http.NewServeMux()
	mux.Handle("POST /admin/users/{id}/disable", events.AdminActions(http.HandlerFunc(
		func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusNoContent) })))
	// Package session puts the signed-in user in the context; here, a stub.
	signedIn := func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			next.ServeHTTP(w, r.WithContext(identity.NewContext(r.Context(), identity.Principal{UserID: "admin-1"})))
		})
	}
	mux.HandleFunc("GET /boom", func(http.ResponseWriter, *http.Request) { panic("secret detail") })
	h := ips.Handler(events.Handler(signedIn(mux)))

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
	// error http.panic  GET /boom
}

// The async sink batches and retries in the background; Close flushes.
func ExampleAsyncSink() {
	mem := &audit.MemorySink{}
	async, err := audit.NewAsyncSink(mem, audit.AsyncConfig{})
	if err != nil {
		panic(err)
	}
	events := audit.MustNew(async, audit.Config{})
	for range 1000 {
		events.Log(context.Background(), audit.Event{Category: audit.CategoryAuthentication, Action: audit.ActionLoginFailed})
	}
	if err := async.Close(context.Background()); err != nil {
		panic(err)
	}
	fmt.Println(len(mem.Events()), async.Stats().Written)
	// Output: 1000 1000
}

// A flood of refusals costs the log a bounded number of records: the
// package that writes them sets a pace on the event, and the next record
// says how many were held back.
func ExampleEvent_pace() {
	sink := &audit.MemorySink{}
	now := time.Date(2026, 6, 25, 10, 0, 0, 0, time.UTC)
	events := audit.MustNew(sink, audit.Config{Now: func() time.Time { return now }})
	const actionRefused audit.Action = "example.refused"
	refused := audit.Event{Category: audit.CategorySuspicious, Action: actionRefused,
		Pace: audit.Pace{Every: time.Minute, Burst: 2}}
	for range 1000 {
		events.Log(context.Background(), refused)
	}
	now = now.Add(time.Minute)
	events.Log(context.Background(), refused)
	for _, e := range sink.Events() {
		fmt.Println(e.Action, e.Meta)
	}
	// Output:
	// example.refused map[]
	// example.refused map[]
	// example.refused map[suppressed:998]
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
