package session_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"strings"
	"time"

	"github.com/deployedworks/rampart/identity"
	"github.com/deployedworks/rampart/session"
)

// Example signs a user in, shows the hardened cookie, and reads the
// principal back on the next request, from the context the Handler sets.
func Example() {
	m, err := session.New(session.Config{})
	if err != nil {
		panic(err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /login", func(w http.ResponseWriter, r *http.Request) {
		// ... check the password first (package auth), whose result
		// carries when the user record was read ...
		readAt := time.Now()
		if err := m.Login(r.Context(), identity.Principal{UserID: "user-42", Roles: []string{"seller"}, Methods: []identity.Method{identity.MethodPassword}, AuthTime: readAt}); err != nil {
			http.Error(w, "Internal Server Error", http.StatusInternalServerError)
			return
		}
		fmt.Fprintln(w, "welcome")
	})
	mux.HandleFunc("GET /me", func(w http.ResponseWriter, r *http.Request) {
		id, ok := identity.FromContext(r.Context()) // set by m.Handler
		if !ok {
			http.Error(w, "sign in first", http.StatusUnauthorized)
			return
		}
		fmt.Fprintf(w, "%s %v %v\n", id.UserID, id.Roles, id.Methods)
	})
	h := m.Handler(mux)

	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("POST", "https://shop.example/login", nil))
	cookie := rec.Result().Cookies()[0]
	attrs := rec.Header().Get("Set-Cookie")[len(cookie.Name)+1+len(cookie.Value):]
	fmt.Println(cookie.Name, attrs)

	req := httptest.NewRequest("GET", "https://shop.example/me", nil)
	req.AddCookie(cookie)
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	fmt.Print(rec.Body.String())
	// Output:
	// __Host-session ; Path=/; HttpOnly; Secure; SameSite=Lax
	// user-42 [seller] [pwd]
}

// ExampleManager_RevokeUser signs a user in from two browsers and ends
// both sessions, as after an account is disabled.
func ExampleManager_RevokeUser() {
	m, _ := session.New(session.Config{})
	h := m.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "/login") {
			_ = m.Login(r.Context(), identity.Principal{UserID: "user-7", Methods: []identity.Method{identity.MethodPassword}, AuthTime: time.Now()})
			return
		}
		_, ok := identity.FromContext(r.Context())
		fmt.Println("signed in:", ok)
	}))
	login := func() *http.Cookie {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("POST", "https://shop.example/login", nil))
		return rec.Result().Cookies()[0]
	}
	visit := func(c *http.Cookie) {
		req := httptest.NewRequest("GET", "https://shop.example/", nil)
		req.AddCookie(c)
		h.ServeHTTP(httptest.NewRecorder(), req)
	}
	laptop, phone := login(), login()
	list, _ := m.Sessions(context.Background(), "user-7")
	fmt.Println("sessions:", len(list))

	_ = m.RevokeUser(context.Background(), "user-7")
	visit(laptop)
	visit(phone)
	// Output:
	// sessions: 2
	// signed in: false
	// signed in: false
}

// ExampleManager_Pop shows a flash message that survives a redirect.
func ExampleManager_Pop() {
	m, _ := session.New(session.Config{})
	h := m.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost {
			_ = m.Put(r.Context(), "flash", "Listing published.")
			http.Redirect(w, r, "/listings", http.StatusSeeOther)
			return
		}
		if msg, ok := m.Pop(r.Context(), "flash"); ok {
			fmt.Println(msg)
		} else {
			fmt.Println("(no message)")
		}
	}))
	// A browser holding the cookie: the flash travels in it, sealed, until
	// Pop deletes it; the store holds nothing for this visitor.
	jar, _ := cookiejar.New(nil)
	u, _ := url.Parse("https://shop.example/listings")
	for _, method := range []string{"POST", "GET", "GET"} {
		req := httptest.NewRequest(method, u.String(), nil)
		for _, c := range jar.Cookies(u) {
			req.AddCookie(c)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		jar.SetCookies(u, rec.Result().Cookies())
	}
	// Output:
	// Listing published.
	// (no message)
}
