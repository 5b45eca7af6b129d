package clientip_test

import (
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"

	"github.com/deployedworks/rampart/clientip"
)

// The app runs behind a load balancer on 10.0.0.0/8. Requests from the load
// balancer have their X-Forwarded-For believed; anyone else's is ignored.
func Example() {
	res, err := clientip.New(
		[]netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")},
		clientip.Config{Logger: slog.New(slog.DiscardHandler)},
	)
	if err != nil {
		panic(err)
	}
	h := res.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		info, _ := clientip.FromContext(r.Context())
		fmt.Println(info.Addr, info.Scheme)
	}))

	// Through the load balancer: the client's forged entry is skipped.
	r := httptest.NewRequest("GET", "/", nil)
	r.RemoteAddr = "10.0.0.1:41234"
	r.Header.Set("X-Forwarded-For", "6.6.6.6, 198.51.100.9")
	r.Header.Set("X-Forwarded-Proto", "https")
	h.ServeHTTP(httptest.NewRecorder(), r)

	// Straight from the internet: the header is not believed.
	r = httptest.NewRequest("GET", "/", nil)
	r.RemoteAddr = "203.0.113.7:5555"
	r.Header.Set("X-Forwarded-For", "198.51.100.9")
	h.ServeHTTP(httptest.NewRecorder(), r)

	// Output:
	// 198.51.100.9 https
	// 203.0.113.7 http
}

// With no trusted proxies, the peer address is always the client.
func ExampleResolver_Resolve() {
	res := clientip.MustNew(nil, clientip.Config{Logger: slog.New(slog.DiscardHandler)})
	r := httptest.NewRequest("GET", "/", nil)
	r.RemoteAddr = "[2001:db8::1]:443"
	fmt.Println(res.Resolve(r).Addr)
	// Output: 2001:db8::1
}
