package headers_test

import (
	"context"
	"errors"
	"fmt"
	"html"
	"html/template"
	"net/http"
	"net/http/httptest"
	"strings"
	"time"

	"github.com/deployedworks/rampart/audit"
	"github.com/deployedworks/rampart/clientip"
	"github.com/deployedworks/rampart/headers"
)

// The defaults over HTTPS, and a template that puts the request's nonce on
// its inline script.
func Example() {
	res, err := clientip.New(nil, clientip.Config{})
	if err != nil {
		panic(err)
	}
	sec, err := headers.New(headers.Config{})
	if err != nil {
		panic(err)
	}
	page := template.Must(template.New("page").Parse(`<script nonce="{{.Nonce}}">start()</script>`))
	// clientip's handler goes outermost: it tells sec whether the request
	// came over HTTPS, directly or through a trusted proxy.
	app := res.Handler(sec.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_ = page.Execute(w, struct{ Nonce string }{headers.Nonce(r.Context())})
	})))

	rec := httptest.NewRecorder()
	app.ServeHTTP(rec, httptest.NewRequest("GET", "https://shop.example/", nil))

	body := html.UnescapeString(rec.Body.String())
	nonce := strings.TrimSuffix(strings.TrimPrefix(body, `<script nonce="`), `">start()</script>`)
	for _, k := range []string{"Strict-Transport-Security", "Content-Security-Policy", "X-Frame-Options", "Referrer-Policy"} {
		fmt.Printf("%s: %s\n", k, strings.ReplaceAll(rec.Header().Get(k), nonce, "NONCE"))
	}
	fmt.Println("nonce length:", len(nonce))
	// Output:
	// Strict-Transport-Security: max-age=63072000; includeSubDomains
	// Content-Security-Policy: default-src 'self'; script-src 'nonce-NONCE' 'strict-dynamic'; style-src 'self' 'nonce-NONCE'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'
	// X-Frame-Options: DENY
	// Referrer-Policy: same-origin
	// nonce length: 24
}

// A route that partners may frame, derived from the site-wide middleware.
func ExamplePolicy_With() {
	sec, err := headers.New(headers.Config{})
	if err != nil {
		panic(err)
	}
	widget, err := sec.With(func(c *headers.Config) {
		c.CSP.FrameAncestors = []headers.Source{headers.Self, "https://partner.example"}
	})
	if err != nil {
		panic(err)
	}
	rec := httptest.NewRecorder()
	widget.Handler(http.NotFoundHandler()).ServeHTTP(rec, httptest.NewRequest("GET", "https://shop.example/widget", nil))
	csp := rec.Header().Get("Content-Security-Policy")
	fmt.Println(csp[strings.Index(csp, "frame-ancestors"):])
	fmt.Printf("X-Frame-Options: %q\n", rec.Header().Get("X-Frame-Options"))
	// Output:
	// frame-ancestors 'self' https://partner.example; form-action 'self'
	// X-Frame-Options: ""
}

// Plain HTTP is redirected to HTTPS, but only for hosts on the list.
func ExampleRedirect() {
	res := clientip.MustNew(nil, clientip.Config{})
	rd, err := headers.NewRedirect([]string{"shop.example"}, headers.RedirectConfig{ExemptPaths: []string{"/healthz"}})
	if err != nil {
		panic(err)
	}
	h := res.Handler(rd.Handler(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {})))
	for _, u := range []string{"http://shop.example/cart?id=7", "http://evil.example/", "http://shop.example/healthz"} {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("GET", u, nil))
		fmt.Printf("%s -> %d %q\n", u, rec.Code, rec.Header().Get("Location"))
	}
	// Output:
	// http://shop.example/cart?id=7 -> 308 "https://shop.example/cart?id=7"
	// http://evil.example/ -> 400 ""
	// http://shop.example/healthz -> 200 ""
}

// Cross-origin POSTs are rejected; same-origin ones pass.
func ExampleCrossOrigin_Check() {
	co, err := headers.NewCrossOrigin(headers.CrossOriginConfig{PublicOrigin: "https://shop.example"})
	if err != nil {
		panic(err)
	}
	for _, site := range []string{"same-origin", "cross-site"} {
		r := httptest.NewRequest("POST", "https://shop.example/cart", nil)
		r.Header.Set("Sec-Fetch-Site", site)
		err := co.Check(r)
		fmt.Println(site, errors.Is(err, headers.ErrCrossOrigin))
	}
	// Browsers without Sec-Fetch-Site: Origin must be the site's own
	// origin, scheme included.
	for _, origin := range []string{"https://shop.example", "http://shop.example"} {
		r := httptest.NewRequest("POST", "https://shop.example/cart", nil)
		r.Header.Set("Origin", origin)
		err := co.Check(r)
		fmt.Println(origin, errors.Is(err, headers.ErrCrossOrigin))
	}
	// Output:
	// same-origin false
	// cross-site true
	// https://shop.example false
	// http://shop.example true
}

// security.txt with an Expires field computed at each request: 180 days
// ahead by default, so the file is never stale.
func ExampleSecurityTxt() {
	txt, err := headers.NewSecurityTxt(headers.SecurityTxtConfig{
		Contact:   []string{"mailto:security@deployed.works"},
		Policy:    "https://deployed.works/legal/security",
		Canonical: []string{"https://deployed.works/.well-known/security.txt"},
	})
	if err != nil {
		panic(err)
	}
	for line := range strings.Lines(txt.Body()) {
		if v, ok := strings.CutPrefix(line, "Expires: "); ok {
			exp, _ := time.Parse(time.RFC3339, strings.TrimSpace(v))
			fmt.Println("Expires: in", time.Until(exp).Round(24*time.Hour))
			continue
		}
		fmt.Print(line)
	}
	// Output:
	// Contact: mailto:security@deployed.works
	// Policy: https://deployed.works/legal/security
	// Canonical: https://deployed.works/.well-known/security.txt
	// Expires: in 4320h0m0s
	// Preferred-Languages: en
}

// Violation reports become audit events, identical ones counted in one
// event per window; malformed ones get 400.
func ExampleReports() {
	res := clientip.MustNew(nil, clientip.Config{})
	sink := &audit.MemorySink{}
	rp, err := headers.NewReports(headers.ReportsConfig{
		Audit: audit.MustNew(sink, audit.Config{}),
		// Signed-in users get budgets of their own. With package session:
		//	SessionKey: func(r *http.Request) (string, bool) {
		//		p, ok := identity.FromContext(r.Context())
		//		return p.UserID, ok
		//	},
		// and mount rp inside the session manager's handler.
	})
	if err != nil {
		panic(err)
	}
	report := `{"csp-report":{"document-uri":"https://shop.example/","effective-directive":"script-src-elem","blocked-uri":"inline"}}`
	for _, body := range []string{report, report, report, `{"csp-report":"garbage"}`} {
		r := httptest.NewRequest("POST", "https://shop.example/csp-report", strings.NewReader(body))
		r.Header.Set("Content-Type", headers.MediaTypeCSPReport)
		rec := httptest.NewRecorder()
		res.Handler(rp).ServeHTTP(rec, r)
		fmt.Println(rec.Code)
	}
	// On shutdown: record the counts of the windows still open.
	rp.Flush(context.Background())
	for _, e := range sink.Events() {
		fmt.Println(e.Category, e.Action, e.Meta["effective-directive"], "count", e.Meta["count"])
	}
	// Output:
	// 204
	// 204
	// 204
	// 400
	// browser_report csp.violation script-src-elem count 1
	// browser_report csp.violation script-src-elem count 2
}
