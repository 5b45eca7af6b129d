// Package clientip finds the address and scheme of the client behind an HTTP
// request, believing forwarding headers only from proxies you trust.
//
// # Threat
//
// Anyone can send X-Forwarded-For or Forwarded. Code that reads them blindly
// lets a client pick the address it is rate-limited, logged and audited
// under, and pick the scheme a server thinks it was reached over. A
// [Resolver] believes those headers only when the immediate peer
// (Request.RemoteAddr) lies in one of the trusted proxy prefixes given to
// [New]. It then walks the header from right to left, skipping addresses
// that are themselves trusted proxies, and takes the first address that is
// not: the left part of the header, which the client wrote, is never
// consulted. With no trusted prefixes (the zero-config path) the headers are
// ignored and the peer's address is the client.
//
// # Use
//
// Build one Resolver at start-up and install its [Resolver.Handler]
// outermost, around every other middleware: it resolves the client of each
// request once and puts it in the request context, where the other Rampart
// packages (rate limits, the login throttle, audit, session, headers) and
// your handlers read it with [FromContext], so every decision about a
// request agrees on who sent it. None of them takes the Resolver itself. A
// component that decides on the address and finds none in the context
// fails closed with an error wrapping [ErrNoClient].
//
//	ips, err := clientip.New(trustedProxies, clientip.Config{})
//	…
//	http.ListenAndServe(addr, ips.Handler(mux))
//
// # Misconfiguration
//
// Two mistakes are reported once each through log/slog, never once per
// request: forwarding headers arriving from a peer that is not trusted (the
// app is behind a proxy it does not know about, so every client shares the
// proxy's address), and a trusted prefix so wide that it covers a large part
// of the public internet (anyone could forge their address).
//
// # Out of scope
//
// The package does not authenticate proxies: a trusted prefix must contain
// only machines you control, reachable only through your network. It does
// not geolocate or classify addresses.
package clientip
