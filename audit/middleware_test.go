package audit

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"

	"github.com/deployedworks/rampart/clientip"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/deployedworks/rampart/identity"
)

func testResolver(t testing.TB) *clientip.Resolver {
	t.Helper()
	res, err := clientip.New([]netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")},
		clientip.Config{Logger: slog.New(slog.DiscardHandler)})
	require.NoError(t, err)
	return res
}

func TestHandlerRequestID(t *testing.T) {
	tests := []struct {
		name    string
		peer    string
		ids     []string
		xff     string
		wantID  string // "" means a fresh one must be generated
		wantIP  string
		trusted bool
	}{
		{name: "no header", peer: "203.0.113.1:1000", wantIP: "203.0.113.1"},
		{name: "trusted proxy", peer: "10.0.0.1:1000", ids: []string{"abc-123_x.y:z"}, xff: "198.51.100.7",
			wantID: "abc-123_x.y:z", wantIP: "198.51.100.7"},
		{name: "trusted proxy, uuid", peer: "10.0.0.1:1000", ids: []string{"3f2504e0-4f89-11d3-9a0c-0305e82c3301"},
			wantID: "3f2504e0-4f89-11d3-9a0c-0305e82c3301", wantIP: "10.0.0.1"},
		{name: "attack: client picks its ID", peer: "203.0.113.1:1000", ids: []string{"chosen"}, wantIP: "203.0.113.1"},
		{name: "attack: log injection from trusted peer", peer: "10.0.0.1:1000", ids: []string{"a\nb"}, wantIP: "10.0.0.1"},
		{name: "attack: html from trusted peer", peer: "10.0.0.1:1000", ids: []string{"<script>"}, wantIP: "10.0.0.1"},
		{name: "attack: too long", peer: "10.0.0.1:1000", ids: []string{strings.Repeat("a", 129)}, wantIP: "10.0.0.1"},
		{name: "attack: two headers", peer: "10.0.0.1:1000", ids: []string{"a", "b"}, wantIP: "10.0.0.1"},
		{name: "attack: empty", peer: "10.0.0.1:1000", ids: []string{""}, wantIP: "10.0.0.1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sink := &MemorySink{}
			mw := testMW{MustNew(sink, Config{}), testResolver(t)}
			var seen string
			h := mw.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				seen = RequestID(r.Context())
				MustNew(sink, Config{}).Log(r.Context(), Event{Category: "c", Action: "a"})
			}))
			r := httptest.NewRequest("GET", "/", nil)
			r.RemoteAddr = tt.peer
			r.Header.Set("User-Agent", "test-agent")
			for _, id := range tt.ids {
				r.Header.Add(RequestIDHeader, id)
			}
			if tt.xff != "" {
				r.Header.Set("X-Forwarded-For", tt.xff)
			}
			w := httptest.NewRecorder()
			h.ServeHTTP(w, r)

			if tt.wantID != "" {
				assert.Equal(t, tt.wantID, seen)
			} else {
				assert.Len(t, seen, 26, "fresh 128-bit ID from crypto/rand.Text")
				for _, id := range tt.ids {
					assert.NotEqual(t, id, seen)
				}
			}
			assert.Equal(t, seen, w.Header().Get(RequestIDHeader))
			e := sink.Events()[0]
			assert.Equal(t, seen, e.RequestID)
			assert.Equal(t, tt.wantIP, e.ClientIP.String())
			assert.Equal(t, "test-agent", e.UserAgent)
		})
	}
}

// testMW is the stack an application installs: clientip's Handler
// outermost, then the Logger's.
type testMW struct {
	l   *Logger
	res *clientip.Resolver
}

func (m testMW) Handler(next http.Handler) http.Handler { return m.res.Handler(m.l.Handler(next)) }

func (m testMW) AdminActions(next http.Handler) http.Handler { return m.l.AdminActions(next) }

func TestTrustedRequestID(t *testing.T) {
	var id string
	var ok bool
	h := testResolver(t).Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id, ok = TrustedRequestID(r)
	}))
	r := httptest.NewRequest("GET", "/", nil)
	r.RemoteAddr = "10.1.2.3:4"
	r.Header.Set(RequestIDHeader, "ok")
	h.ServeHTTP(httptest.NewRecorder(), r)
	assert.True(t, ok)
	assert.Equal(t, "ok", id)
	r.RemoteAddr = "192.0.2.1:4"
	h.ServeHTTP(httptest.NewRecorder(), r)
	assert.False(t, ok)

	r.RemoteAddr = "10.1.2.3:4"
	_, ok = TrustedRequestID(r)
	assert.False(t, ok, "no clientip Handler ran: no peer is trusted (fail closed)")
}

// Without clientip's Handler, the Logger's still assigns IDs and records
// events, with no address: it records, it does not decide.
func TestHandlerWithoutClientIP(t *testing.T) {
	sink := &MemorySink{}
	l := MustNew(sink, Config{})
	h := l.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		l.Log(r.Context(), Event{Category: "c", Action: "a"})
	}))
	r := httptest.NewRequest("GET", "/", nil)
	r.RemoteAddr = "10.1.2.3:4"
	r.Header.Set(RequestIDHeader, "chosen")
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	e := sink.Events()[0]
	assert.False(t, e.ClientIP.IsValid())
	assert.NotEqual(t, "chosen", e.RequestID)
	assert.Equal(t, e.RequestID, w.Header().Get(RequestIDHeader))
}

func TestHandlerRecoversPanic(t *testing.T) {
	sink := &MemorySink{}
	mw := testMW{MustNew(sink, Config{}), testResolver(t)}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /orders/{id}", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Set-Cookie", "half=done")
		w.Header().Set("Content-Length", "999")
		panic("db password is hunter2") // must not reach the client
	})
	r := httptest.NewRequest("POST", "/orders/7?token=abc", nil)
	w := httptest.NewRecorder()
	mw.Handler(mux).ServeHTTP(w, r)

	assert.Equal(t, http.StatusInternalServerError, w.Code)
	id := w.Header().Get(RequestIDHeader)
	assert.Equal(t, "Internal Server Error\nRequest ID: "+id+"\n", w.Body.String())
	assert.NotContains(t, w.Body.String(), "hunter2")
	assert.Empty(t, w.Header().Get("Set-Cookie"))
	assert.Empty(t, w.Header().Get("Content-Length"))
	assert.Equal(t, "text/plain; charset=utf-8", w.Header().Get("Content-Type"))

	events := sink.Events()
	require.Len(t, events, 1)
	e := events[0]
	assert.Equal(t, CategoryError, e.Category)
	assert.Equal(t, ActionPanic, e.Action)
	assert.Equal(t, OutcomeFailure, e.Outcome)
	assert.Equal(t, id, e.RequestID)
	assert.Equal(t, "db password is hunter2", e.Meta["panic"])
	assert.Contains(t, e.Meta["stack"], "middleware_test.go")
	assert.Equal(t, "POST /orders/{id}", e.Meta["route"])
	assert.Equal(t, "/orders/7", e.Meta["path"], "no query string")
	assert.Equal(t, "POST", e.Meta["method"])
}

type panicStringer struct{}

func (panicStringer) String() string { panic("nested") }

func TestHandlerPanicValueWithPanickingString(t *testing.T) {
	sink := &MemorySink{}
	h := testMW{MustNew(sink, Config{}), testResolver(t)}.Handler(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {
		panic(panicStringer{})
	}))
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest("GET", "/", nil))
	assert.Equal(t, 500, w.Code)
	assert.Contains(t, sink.Events()[0].Meta["panic"], "PANIC=String method: nested")
}

func TestHandlerPanicAfterHeadersAborts(t *testing.T) {
	sink := &MemorySink{}
	h := testMW{MustNew(sink, Config{}), testResolver(t)}.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusOK)
		io.WriteString(w, "partial")
		panic("late")
	}))
	w := httptest.NewRecorder()
	v := catchPanic(func() { h.ServeHTTP(w, httptest.NewRequest("GET", "/", nil)) })
	assert.Equal(t, http.ErrAbortHandler, v, "the connection must be aborted, not completed")
	assert.Equal(t, "partial", w.Body.String(), "no 500 written after the response started")
	require.Len(t, sink.Events(), 1)
	assert.Equal(t, "late", sink.Events()[0].Meta["panic"])
}

func TestHandlerPassesErrAbortHandler(t *testing.T) {
	sink := &MemorySink{}
	h := testMW{MustNew(sink, Config{}), testResolver(t)}.Handler(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {
		panic(http.ErrAbortHandler)
	}))
	v := catchPanic(func() { h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/", nil)) })
	assert.Equal(t, http.ErrAbortHandler, v)
	assert.Empty(t, sink.Events(), "an abort is not an error")
}

func catchPanic(f func()) (v any) {
	defer func() { v = recover() }()
	f()
	return nil
}

// Over a real connection: the client gets a clean 500 for an early panic,
// and a broken response (never a complete-looking one) for a late panic.
func TestHandlerPanicOverHTTP(t *testing.T) {
	sink := &MemorySink{}
	mw := testMW{MustNew(sink, Config{ErrorLog: slog.New(slog.DiscardHandler)}), testResolver(t)}
	mux := http.NewServeMux()
	mux.HandleFunc("/early", func(http.ResponseWriter, *http.Request) { panic("early") })
	mux.HandleFunc("/late", func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "partial")
		w.(http.Flusher).Flush()
		panic("late")
	})
	srv := httptest.NewUnstartedServer(mw.Handler(mux))
	srv.Config.ErrorLog = nil
	srv.Start()
	defer srv.Close()

	resp, err := http.Get(srv.URL + "/early")
	require.NoError(t, err)
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	assert.Equal(t, 500, resp.StatusCode)
	assert.Contains(t, string(body), resp.Header.Get(RequestIDHeader))

	resp, err = http.Get(srv.URL + "/late")
	require.NoError(t, err)
	_, err = io.ReadAll(resp.Body)
	resp.Body.Close()
	assert.Error(t, err, "a response cut by a panic must not read as complete")
	assert.Len(t, sink.Events(), 2)
}

func TestAdminActions(t *testing.T) {
	admin := identity.Principal{UserID: "admin-1", Roles: []string{"admin"}}
	tests := []struct {
		name        string
		method      string
		path        string
		status      int
		panics      bool
		wantLogged  bool
		wantOutcome Outcome
		wantStatus  string
	}{
		{name: "GET is not logged", method: "GET", path: "/admin/users/7", status: 200},
		{name: "HEAD is not logged", method: "HEAD", path: "/admin/users/7", status: 200},
		{name: "POST success", method: "POST", path: "/admin/users/7/disable", status: 303,
			wantLogged: true, wantOutcome: OutcomeSuccess, wantStatus: "303"},
		{name: "implicit 200", method: "PUT", path: "/admin/users/7/roles", status: 0,
			wantLogged: true, wantOutcome: OutcomeSuccess, wantStatus: "200"},
		{name: "forbidden", method: "DELETE", path: "/admin/users/7", status: 403,
			wantLogged: true, wantOutcome: OutcomeDenied, wantStatus: "403"},
		{name: "server error", method: "PATCH", path: "/admin/users/7", status: 500,
			wantLogged: true, wantOutcome: OutcomeFailure, wantStatus: "500"},
		{name: "panic", method: "POST", path: "/admin/users/7/disable", panics: true,
			wantLogged: true, wantOutcome: OutcomeFailure, wantStatus: "500"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sink := &MemorySink{}
			mw := testMW{MustNew(sink, Config{}), testResolver(t)}
			mux := http.NewServeMux()
			handler := func(w http.ResponseWriter, r *http.Request) {
				if tt.panics {
					panic("boom")
				}
				if tt.status != 0 {
					w.WriteHeader(tt.status)
				} else {
					io.WriteString(w, "ok")
				}
			}
			for _, p := range []string{"/admin/users/{id}", "/admin/users/{id}/disable", "/admin/users/{id}/roles"} {
				mux.Handle(p, mw.AdminActions(http.HandlerFunc(handler)))
			}
			auth := func(next http.Handler) http.Handler {
				return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					next.ServeHTTP(w, r.WithContext(identity.NewContext(r.Context(), admin)))
				})
			}
			h := mw.Handler(auth(mux))
			w := httptest.NewRecorder()
			h.ServeHTTP(w, httptest.NewRequest(tt.method, tt.path, nil))

			events := sink.Events()
			var adminEvents []Event
			for _, e := range events {
				if e.Category == CategoryAdmin {
					adminEvents = append(adminEvents, e)
				}
			}
			if !tt.wantLogged {
				assert.Empty(t, adminEvents)
				return
			}
			require.Len(t, adminEvents, 1)
			e := adminEvents[0]
			assert.Equal(t, ActionAdminRequest, e.Action)
			assert.Equal(t, tt.wantOutcome, e.Outcome)
			assert.Equal(t, admin, e.Actor)
			assert.Equal(t, tt.method, e.Meta["method"])
			assert.Equal(t, tt.path, e.Meta["path"])
			assert.Equal(t, tt.wantStatus, e.Meta["status"])
			assert.True(t, strings.HasPrefix(e.Meta["route"], "/admin/users/{id}"), e.Meta["route"])
			assert.Equal(t, w.Header().Get(RequestIDHeader), e.RequestID)
			if tt.panics {
				assert.Equal(t, "true", e.Meta["panicked"])
				assert.Len(t, events, 2, "the panic is logged too, by Handler")
			}
		})
	}
}

// Wrapping a whole sub-router still records the matched pattern.
func TestAdminActionsAroundMux(t *testing.T) {
	sink := &MemorySink{}
	mw := testMW{MustNew(sink, Config{}), testResolver(t)}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /admin/listings/{id}/hide", func(w http.ResponseWriter, r *http.Request) {})
	mw.AdminActions(mux).ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("POST", "/admin/listings/9/hide", nil))
	assert.Equal(t, "POST /admin/listings/{id}/hide", sink.Events()[0].Meta["route"])
}

func TestResponseWriterKeepsOptionalInterfaces(t *testing.T) {
	mw := testMW{MustNew(&MemorySink{}, Config{}), testResolver(t)}
	var flushed, hijacked bool
	h := mw.Handler(mw.AdminActions(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/hijack" {
			c, brw, err := w.(http.Hijacker).Hijack()
			if assert.NoError(t, err) {
				hijacked = true
				brw.WriteString("HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n")
				brw.Flush()
				c.Close()
			}
			return
		}
		f, ok := w.(http.Flusher)
		require.True(t, ok)
		io.WriteString(w, "chunk")
		f.Flush()
		flushed = true
		assert.NoError(t, http.NewResponseController(w).Flush())
		rf, ok := w.(io.ReaderFrom)
		require.True(t, ok)
		_, err := rf.ReadFrom(strings.NewReader(" more"))
		assert.NoError(t, err)
	})))
	srv := httptest.NewServer(h)
	defer srv.Close()

	resp, err := http.Post(srv.URL+"/flush", "text/plain", nil)
	require.NoError(t, err)
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	assert.Equal(t, "chunk more", string(body))
	assert.True(t, flushed)

	req, _ := http.NewRequest("POST", srv.URL+"/hijack", nil)
	resp, err = http.DefaultClient.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, 204, resp.StatusCode)
	assert.True(t, hijacked)
}

func TestResponseWriterStatus(t *testing.T) {
	tests := []struct {
		name  string
		write func(w http.ResponseWriter)
		want  int
		sent  bool
	}{
		{"nothing", func(http.ResponseWriter) {}, 0, false},
		{"write", func(w http.ResponseWriter) { w.Write([]byte("x")) }, 200, true},
		{"header", func(w http.ResponseWriter) { w.WriteHeader(404) }, 404, true},
		{"early hints then final", func(w http.ResponseWriter) { w.WriteHeader(103); w.WriteHeader(201) }, 201, true},
		{"second WriteHeader ignored", func(w http.ResponseWriter) { w.WriteHeader(202); w.WriteHeader(500) }, 202, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rw := &responseWriter{ResponseWriter: httptest.NewRecorder()}
			tt.write(rw)
			assert.Equal(t, tt.want, rw.status)
			assert.Equal(t, tt.sent, rw.wroteHeader)
		})
	}
}

func BenchmarkHandler(b *testing.B) {
	mw := testMW{MustNew(discardSink{}, Config{}), testResolver(b)}
	h := mw.Handler(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	r := httptest.NewRequest("GET", "/", nil)
	w := &discardWriter{h: http.Header{}}
	b.ReportAllocs()
	for b.Loop() {
		h.ServeHTTP(w, r)
	}
}

type discardWriter struct{ h http.Header }

func (d *discardWriter) Header() http.Header         { return d.h }
func (d *discardWriter) Write(p []byte) (int, error) { return len(p), nil }
func (d *discardWriter) WriteHeader(int)             {}
