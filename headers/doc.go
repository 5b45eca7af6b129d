// Package headers makes the browser side of a site strict by default:
// security response headers with a nonce-based Content-Security-Policy,
// a violation-report endpoint, an HTTPS redirect, cross-origin (CSRF)
// protection and security.txt.
//
// # Threats covered
//
//   - Cross-site scripting: a strict CSP ([CSP]) with a fresh 128-bit nonce
//     per response and 'strict-dynamic', so only scripts the server
//     marked run, plus object-src and base-uri 'none'.
//   - Clickjacking: frame-ancestors 'none' and X-Frame-Options DENY.
//   - Downgrade and cookie theft over HTTP: Strict-Transport-Security (two
//     years, includeSubDomains) on HTTPS responses and a 308 redirect
//     ([Redirect]) for plain-HTTP requests, with a host allow-list so it is
//     no open redirect.
//   - MIME sniffing, referrer leaks, cross-window and cross-origin read
//     leaks: X-Content-Type-Options, Referrer-Policy, Cross-Origin-Opener-
//     Policy, Cross-Origin-Resource-Policy, Permissions-Policy.
//   - Cross-site request forgery: [CrossOrigin], built on
//     [http.CrossOriginProtection].
//   - Caching of personal pages by shared caches: [NoStore].
//
// # Use first
//
// Build the header [Policy] with [New]; mount [Policy.Handler] around every
// route, inside the handler of a clientip.Resolver (which tells it whether
// the request came over HTTPS, directly or through a trusted proxy), and
// read [Nonce] in handlers that render html/template pages:
//
//	ips, _ := clientip.New(nil, clientip.Config{})
//	sec, err := headers.New(headers.Config{})
//	…
//	http.ListenAndServeTLS(addr, cert, key, ips.Handler(sec.Handler(mux)))
//
// The zero [Config] sends, over HTTPS:
//
//	Strict-Transport-Security: max-age=63072000; includeSubDomains
//	Content-Security-Policy: default-src 'self'; script-src 'nonce-…' 'strict-dynamic'; style-src 'self' 'nonce-…'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'
//	X-Content-Type-Options: nosniff
//	Referrer-Policy: same-origin
//	Cross-Origin-Opener-Policy: same-origin
//	Cross-Origin-Resource-Policy: same-origin
//	Permissions-Policy: accelerometer=(), camera=(), …, usb=()
//	X-Frame-Options: DENY
//
// Override it for some routes with [Policy.With]. The middleware does its
// validation in New; per request it writes precomputed values and mints
// one nonce from crypto/rand.
//
// # Cross-origin protection instead of CSRF tokens
//
// Every browser released since 2023 sends Sec-Fetch-Site on every request,
// and no page script can set or change it. A cross-site form POST, fetch
// or image load therefore arrives marked "cross-site", and [CrossOrigin]
// rejects it before the handler runs, whatever cookies it carries. Older
// browsers send Origin on cross-origin POSTs, which is compared with the
// site's origin, scheme, host and port all included
// ([CrossOriginConfig].PublicOrigin, or the scheme clientip resolves and
// the Host header), so an http:// page cannot post to the https:// site.
// That covers what a synchronizer token covers, with no token to embed in
// every form, no server state, nothing to leak through a Referer or a
// cached page, and no breakage when a session is renewed. Safe methods
// (GET, HEAD, OPTIONS) always pass, so they must never change state.
//
// Non-browser clients (scripts, mobile apps, server-to-server calls) send
// neither header and pass. That is safe because forgery needs a victim's
// browser to attach ambient credentials: such clients should authenticate
// with an Authorization header, not cookies. If one does send Origin, it
// must match the origin it calls or be listed in
// [CrossOriginConfig].TrustedOrigins. Endpoints that other sites must be
// able to POST to (signed webhooks, [Reports]) go in
// InsecureBypassPatterns. Keep session cookies SameSite=Lax as a second
// layer for browsers that send neither header.
//
// # Also here
//
// [Reports] receives CSP violation reports (both report-uri and report-to
// bodies) and writes them to audit, in audit.CategoryBrowserReport (kept 30
// days by default). Any web page can make its visitors send reports, so
// their cost is bounded: requests are limited in size and rate (per client
// and in total), identical reports are recorded once per window with a
// count, the records are capped per day (4 MiB by default), and signed-in
// clients ([ReportsConfig].SessionKey) have budgets of their own that an
// anonymous flood cannot spend.
// [SecurityTxt] serves /.well-known/security.txt (RFC 9116) with an
// Expires that is never stale.
//
// # Out of scope
//
// The package does not sanitize HTML (html/template's contextual escaping
// does), does not set cookies (see package session), does not set CORS
// headers (a site that needs CORS must add them itself, narrowly), and
// does not sign security.txt. A CSP protects browsers that enforce it; it
// is a second layer behind output escaping, not a replacement.
package headers
