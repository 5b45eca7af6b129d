package ratelimit

import (
	"net/http"
	"net/netip"
	"strconv"

	"github.com/deployedworks/rampart/clientip"
)

// KeyFunc returns the key a request is limited under. A non-nil error
// refuses the request (the limit fails closed); the error goes to the
// middleware's OnError hook, never to the client.
type KeyFunc func(r *http.Request) (string, error)

// KeyByIP keys requests by client address: IPv4 addresses one by one,
// IPv6 addresses by /64, the block one subscriber usually gets (RFC 6177),
// so that a client cannot pick a fresh address from its block for each
// request. The key is [AddrKey] of the address.
//
// The address comes from the request context, where
// [clientip.Resolver.Handler] put it (install it outermost); the resolver
// believes forwarding headers only from the proxies it trusts, so a client
// cannot change its key by sending X-Forwarded-For. A request whose
// context has no client fails closed: the KeyFunc returns an error
// wrapping [clientip.ErrNoClient] and the request is refused. Requests
// whose address is unknown (a Unix socket peer) share one key.
func KeyByIP() KeyFunc { return keyByIP }

func keyByIP(r *http.Request) (string, error) {
	info, ok := clientip.FromContext(r.Context())
	if !ok {
		return "", clientip.ErrNoClient
	}
	return AddrKey(info.Addr), nil
}

// AddrKey returns the key [KeyByIP] gives a request from a: an IPv4
// address alone, an IPv6 address by its /64, and the invalid (unknown)
// address as one shared key. It is a short binary string, not for
// display. It is the one grouping of client addresses in Rampart: every
// component that bounds work per client (the login throttle, the auth
// package's hashing admission, the CSP report endpoint) keys on it, so
// that clients are grouped alike everywhere.
func AddrKey(a netip.Addr) string { return addrKey(a, 32, 64) }

// KeyByIPPrefix is [KeyByIP] with the prefix lengths given: requests from
// the same IPv4 /ipv4Bits or IPv6 /ipv6Bits share a key. Like KeyByIP it
// fails closed when the context has no client. Panics if a length is out
// of range (1–32, 1–128): the lengths are written in the program.
func KeyByIPPrefix(ipv4Bits, ipv6Bits int) KeyFunc {
	if ipv4Bits < 1 || ipv4Bits > 32 || ipv6Bits < 1 || ipv6Bits > 128 {
		panic("ratelimit: KeyByIPPrefix: prefix lengths must be 1–32 for IPv4 and 1–128 for IPv6, got " +
			strconv.Itoa(ipv4Bits) + " and " + strconv.Itoa(ipv6Bits))
	}
	return func(r *http.Request) (string, error) {
		info, ok := clientip.FromContext(r.Context())
		if !ok {
			return "", clientip.ErrNoClient
		}
		return addrKey(info.Addr, ipv4Bits, ipv6Bits), nil
	}
}

// addrKey encodes the /bits prefix holding a as a short binary string: a
// family byte (4 or 6) and the prefix's whole bytes, masked. The invalid
// address (unknown client) is "\x00".
func addrKey(a netip.Addr, ipv4Bits, ipv6Bits int) string {
	var buf [17]byte
	var bits int
	a = a.Unmap()
	switch {
	case a.Is4():
		b := a.As4()
		buf[0], bits = 4, ipv4Bits
		copy(buf[1:], b[:])
	case a.Is6():
		b := a.As16()
		buf[0], bits = 6, ipv6Bits
		copy(buf[1:], b[:])
	default:
		return "\x00"
	}
	whole := (bits + 7) / 8
	if rem := bits % 8; rem != 0 {
		buf[whole] &= 0xff << (8 - rem)
	}
	return string(buf[:1+whole])
}

// KeyByUser keys authenticated requests by the user ID that user reports
// (ok true), so that a user's limit follows them across addresses, and
// the others with anonymous, usually [KeyByIP]. Keys of the two kinds never
// collide. Panics if user or anonymous is nil: anonymous requests must be
// limited too.
func KeyByUser(user func(r *http.Request) (id string, ok bool), anonymous KeyFunc) KeyFunc {
	if user == nil || anonymous == nil {
		panic("ratelimit: KeyByUser needs both a user ID function and a KeyFunc for anonymous requests (for example KeyByIP)")
	}
	return func(r *http.Request) (string, error) {
		if id, ok := user(r); ok {
			return "u" + id, nil
		}
		k, err := anonymous(r)
		return "a" + k, err
	}
}

// KeyByRoute keys requests by the pattern of the [http.ServeMux] route that
// matched them (Request.Pattern) and by inner, so that each route has its
// own budget per client under one limit. For different limits on
// different routes, wrap each route's handler in its own [Middleware].
//
// Only the pattern is used, never the path, which the client chooses: one
// route cannot be split into many buckets with /login, //login, /login/.
// Requests with no pattern (another router, or the middleware installed
// around the mux rather than inside a route) share one route key. Panics
// if inner is nil.
func KeyByRoute(inner KeyFunc) KeyFunc {
	if inner == nil {
		panic("ratelimit: KeyByRoute needs a KeyFunc for the client (for example KeyByIP)")
	}
	return func(r *http.Request) (string, error) {
		k, err := inner(r)
		return strconv.Itoa(len(r.Pattern)) + ":" + r.Pattern + k, err
	}
}
