package main

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"syscall"
	"testing"
	"time"
)

// BenchmarkPage serves the same public page in-process (no network) to a
// visitor who is not signed in and to a signed-in user, for issue 16's
// "an authenticated page within 1.5× an anonymous one": the difference is
// what a session costs in the app (store read, decode, the guard).
func BenchmarkPage(b *testing.B) {
	ta := newTestApp(b)
	c, _ := ta.userClient("bench@example.com", "Bench")
	u, _ := url.Parse(ta.URL)
	cookies := c.hc.Jar.Cookies(u)
	h := ta.App.Handler()
	for _, path := range []string{"/listings", "/security"} {
		for _, signedIn := range []bool{false, true} {
			name := path[1:] + "/anonymous"
			if signedIn {
				name = path[1:] + "/signed-in"
			}
			b.Run(name, func(b *testing.B) {
				b.ReportAllocs()
				start := cpuTime(b)
				for b.Loop() {
					r := httptest.NewRequest(http.MethodGet, ta.URL+path, nil)
					r.Header.Set("Accept", "text/html")
					if signedIn {
						for _, ck := range cookies {
							r.AddCookie(ck)
						}
					}
					w := httptest.NewRecorder()
					h.ServeHTTP(w, r)
					if w.Code != http.StatusOK {
						b.Fatalf("%s: %d", path, w.Code)
					}
				}
				b.ReportMetric(float64(cpuTime(b)-start)/float64(b.N), "cpu-ns/op")
			})
		}
	}
}

// cpuTime is the process's user and system CPU time so far: on a shared
// machine, CPU per request says more than wall time.
func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
