package bench

// Secure-headers middleware beside its peers, all configured to send the
// same headers with a fresh nonce in the CSP:
//
//   - Rampart: headers.New with the defaults plus a report URI;
//   - Floor: a hand-written handler that Sets the same headers and nonce,
//     the straightforward way (the name is historical: it is not a floor);
//   - Preassigned: a hand-written handler that assigns canonical keys and
//     preallocated value slices instead of calling Set, as Rampart does;
//   - Unrolled: github.com/unrolled/secure with equal options and $NONCE.
//
// Targets (issue 4): Rampart ≤ 1.1× Floor and ≤ 0.25× Unrolled. None is
// the harness alone. On a shared machine, compare per-round ratios over
// several rounds, each running every contender, and take the median:
//
//	cd bench && go test -run XXX -bench Headers -benchmem

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"github.com/unrolled/secure"

	"github.com/deployedworks/rampart/headers"
)

const (
	hdrHSTS  = "max-age=63072000; includeSubDomains"
	hdrPerms = "accelerometer=(), camera=(), display-capture=(), geolocation=(), gyroscope=(), magnetometer=(), microphone=(), midi=(), payment=(), usb=()"
	// hdrCSP is Rampart's default policy with a report URI; %[1]s is the
	// nonce.
	hdrCSPTemplate = "default-src 'self'; script-src 'nonce-%[1]s' 'strict-dynamic'; style-src 'self' 'nonce-%[1]s'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'; report-uri /csp-report; report-to csp-endpoint"
)

// rampartHeaders is the middleware under test.
func rampartHeaders(tb testing.TB) func(http.Handler) http.Handler {
	h, err := headers.New(headers.Config{CSP: headers.CSP{ReportURI: "/csp-report"}})
	require.NoError(tb, err)
	return h.Handler
}

type headersFloorKey struct{}

// floorHeaders is the hand-written floor: one crypto/rand read, one
// base64 encoding, one concatenation, eleven Header().Set calls and the
// nonce in the context.
func floorHeaders(next http.Handler) http.Handler {
	before, after, _ := strings.Cut(strings.Replace(hdrCSPTemplate, "%[1]s", "\x00", 1), "\x00")
	mid, after, _ := strings.Cut(strings.Replace(after, "%[1]s", "\x00", 1), "\x00")
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var b [16]byte
		_, _ = rand.Read(b[:])
		nonce := base64.StdEncoding.EncodeToString(b[:])
		h := w.Header()
		if r.TLS != nil {
			h.Set("Strict-Transport-Security", hdrHSTS)
		}
		h.Set("Content-Security-Policy", before+nonce+mid+nonce+after)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "same-origin")
		h.Set("Cross-Origin-Opener-Policy", "same-origin")
		h.Set("Cross-Origin-Resource-Policy", "same-origin")
		h.Set("Permissions-Policy", hdrPerms)
		h.Set("X-Frame-Options", "DENY")
		h.Set("Reporting-Endpoints", `csp-endpoint="/csp-report"`)
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), headersFloorKey{}, nonce)))
	})
}

// preassignedHeaders is the hand-written handler done with care: the same
// nonce and concatenation as floorHeaders, but the canonical keys are
// assigned directly, each value a one-element slice of one preallocated
// array, instead of going through Header.Set.
func preassignedHeaders(next http.Handler) http.Handler {
	before, after, _ := strings.Cut(strings.Replace(hdrCSPTemplate, "%[1]s", "\x00", 1), "\x00")
	mid, after, _ := strings.Cut(strings.Replace(after, "%[1]s", "\x00", 1), "\x00")
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var b [16]byte
		_, _ = rand.Read(b[:])
		nonce := base64.StdEncoding.EncodeToString(b[:])
		v := &[9]string{
			hdrHSTS, before + nonce + mid + nonce + after, "nosniff", "same-origin", "same-origin",
			"same-origin", hdrPerms, "DENY", `csp-endpoint="/csp-report"`,
		}
		h := w.Header()
		if r.TLS != nil {
			h["Strict-Transport-Security"] = v[0:1:1]
		}
		h["Content-Security-Policy"] = v[1:2:2]
		h["X-Content-Type-Options"] = v[2:3:3]
		h["Referrer-Policy"] = v[3:4:4]
		h["Cross-Origin-Opener-Policy"] = v[4:5:5]
		h["Cross-Origin-Resource-Policy"] = v[5:6:6]
		h["Permissions-Policy"] = v[6:7:7]
		h["X-Frame-Options"] = v[7:8:8]
		h["Reporting-Endpoints"] = v[8:9:9]
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), headersFloorKey{}, nonce)))
	})
}

// unrolledHeaders is unrolled/secure configured to send the same headers.
func unrolledHeaders() func(http.Handler) http.Handler {
	s := secure.New(secure.Options{
		STSSeconds:                63072000,
		STSIncludeSubdomains:      true,
		ContentSecurityPolicy:     strings.ReplaceAll(hdrCSPTemplate, "'nonce-%[1]s'", "$NONCE"),
		ContentTypeNosniff:        true,
		ReferrerPolicy:            "same-origin",
		CrossOriginOpenerPolicy:   "same-origin",
		CrossOriginResourcePolicy: "same-origin",
		PermissionsPolicy:         hdrPerms,
		FrameDeny:                 true,
	})
	return func(next http.Handler) http.Handler {
		inner := s.Handler(next)
		// unrolled/secure has no Reporting-Endpoints option.
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Reporting-Endpoints", `csp-endpoint="/csp-report"`)
			inner.ServeHTTP(w, r)
		})
	}
}

var nonceInCSP = regexp.MustCompile(`script-src 'nonce-([A-Za-z0-9+/_=-]{22,24})' 'strict-dynamic'; style-src 'self' 'nonce-([A-Za-z0-9+/_=-]{22,24})'`)

// TestHeadersEquivalent checks that the three contenders send the same
// header set, so the benchmark compares equal work.
func TestHeadersEquivalent(t *testing.T) {
	for name, mw := range map[string]func(http.Handler) http.Handler{
		"rampart": rampartHeaders(t), "floor": floorHeaders, "preassigned": preassignedHeaders, "unrolled": unrolledHeaders(),
	} {
		rec := httptest.NewRecorder()
		mw(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {})).ServeHTTP(rec, httptest.NewRequest("GET", "https://example.com/", nil))
		h := rec.Header()
		require.Len(t, h, 9, "%s: %v", name, h)
		m := nonceInCSP.FindStringSubmatch(h.Get("Content-Security-Policy"))
		require.Len(t, m, 3, "%s: %s", name, h.Get("Content-Security-Policy"))
		require.Equal(t, m[1], m[2], name)
		require.Equal(t, strings.ReplaceAll(hdrCSPTemplate, "%[1]s", m[1]), h.Get("Content-Security-Policy"), name)
		for k, v := range map[string]string{
			"Strict-Transport-Security": hdrHSTS, "X-Content-Type-Options": "nosniff", "Referrer-Policy": "same-origin",
			"Cross-Origin-Opener-Policy": "same-origin", "Cross-Origin-Resource-Policy": "same-origin",
			"Permissions-Policy": hdrPerms, "X-Frame-Options": "DENY", "Reporting-Endpoints": `csp-endpoint="/csp-report"`,
		} {
			require.Equal(t, v, h.Get(k), "%s: %s", name, k)
		}
	}
}

func benchHeaders(b *testing.B, mw func(http.Handler) http.Handler) {
	h := mw(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	r := httptest.NewRequest("GET", "https://example.com/", nil)
	w := newDiscardWriter()
	b.ReportAllocs()
	for b.Loop() {
		clear(w.h)
		h.ServeHTTP(w, r)
	}
}

// noHeaders is the harness alone (clearing the header map and calling a
// handler), to subtract from the others.
func noHeaders(next http.Handler) http.Handler { return next }

func BenchmarkHeaders(b *testing.B) {
	b.Run("None", func(b *testing.B) { benchHeaders(b, noHeaders) })
	b.Run("Rampart", func(b *testing.B) { benchHeaders(b, rampartHeaders(b)) })
	b.Run("Floor", func(b *testing.B) { benchHeaders(b, floorHeaders) })
	b.Run("Preassigned", func(b *testing.B) { benchHeaders(b, preassignedHeaders) })
	b.Run("Unrolled", func(b *testing.B) { benchHeaders(b, unrolledHeaders()) })
}

func BenchmarkHeadersParallel(b *testing.B) {
	for _, c := range []struct {
		name string
		mw   func(http.Handler) http.Handler
	}{{"Rampart", rampartHeaders(b)}, {"Floor", floorHeaders}, {"Preassigned", preassignedHeaders}, {"Unrolled", unrolledHeaders()}} {
		b.Run(c.name, func(b *testing.B) {
			h := c.mw(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				r := httptest.NewRequest("GET", "https://example.com/", nil)
				w := newDiscardWriter()
				for pb.Next() {
					clear(w.h)
					h.ServeHTTP(w, r)
				}
			})
		})
	}
}
