package session_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/deployedworks/rampart/audit"
	"github.com/deployedworks/rampart/clientip"
	"github.com/deployedworks/rampart/headers"
	"github.com/deployedworks/rampart/identity"
	"github.com/deployedworks/rampart/session"
	st "github.com/deployedworks/rampart/session/internal/storetest"
)

// The tests in this file run the README's chain (client address, audit,
// headers, session) and check what its layers share: one request state
// in the context, filled by each layer in turn instead of a request copy
// per layer, with the semantics of separate context values.

// view is what a handler finds in its request's context.
type view struct {
	req       *http.Request
	client    clientip.Info
	hasClient bool
	requestID string
	facts     audit.Request
	logger    *audit.Logger
	nonce     string
	user      string
	foreign   []any
}

func look(r *http.Request) view {
	ctx := r.Context()
	v := view{req: r, requestID: audit.RequestID(ctx), logger: audit.FromContext(ctx), nonce: headers.Nonce(ctx)}
	v.client, v.hasClient = clientip.FromContext(ctx)
	v.facts, _ = audit.RequestFromContext(ctx)
	if p, ok := identity.FromContext(ctx); ok {
		v.user = p.UserID
	}
	for i := range 5 {
		if x := ctx.Value(foreignKey{i}); x != nil {
			v.foreign = append(v.foreign, x)
		}
	}
	return v
}

type foreignKey struct{ i int }

// chain is the README's layers around a session Manager, with the audit
// sink.
type chain struct {
	e      *st.Env
	ips    *clientip.Resolver
	events *audit.Logger
	sink   *audit.MemorySink
	sec    *headers.Policy
}

func newChain(t *testing.T) *chain {
	sec, err := headers.New(headers.Config{})
	require.NoError(t, err)
	sink := &audit.MemorySink{}
	return &chain{
		e:      newEnv(t, nil),
		ips:    clientip.MustNew(nil, clientip.Config{}),
		events: audit.MustNew(sink, audit.Config{}),
		sink:   sink,
		sec:    sec,
	}
}

// layers returns the four layers by name.
func (c *chain) layers() map[string]func(http.Handler) http.Handler {
	return map[string]func(http.Handler) http.Handler{
		"clientip": c.ips.Handler, "audit": c.events.Handler, "headers": c.sec.Handler, "session": c.e.M.Handler,
	}
}

// serve sends GET / with token through h and returns the response.
func serve(h http.Handler, token string, mod func(*http.Request)) *httptest.ResponseRecorder {
	req := httptest.NewRequest(http.MethodGet, "https://app.example/", nil)
	if token != "" {
		req.AddCookie(&http.Cookie{Name: session.DefaultCookieName, Value: token}) // #nosec G124 -- a request cookie sent by a test client
	}
	if mod != nil {
		mod(req)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

// cspNonce is the nonce in a response's CSP header.
func cspNonce(t *testing.T, rec *httptest.ResponseRecorder) string {
	t.Helper()
	csp := rec.Header().Get("Content-Security-Policy")
	_, rest, ok := strings.Cut(csp, "'nonce-")
	require.True(t, ok, "a nonce in %q", csp)
	n, _, _ := strings.Cut(rest, "'")
	return n
}

// checkView asserts that v holds what the chain found for the request
// answered by rec.
func checkView(t *testing.T, c *chain, rec *httptest.ResponseRecorder, v view, user string) {
	t.Helper()
	assert.True(t, v.hasClient, "clientip.FromContext")
	assert.Equal(t, netip.MustParseAddr("192.0.2.1"), v.client.Addr)
	assert.NotEmpty(t, v.requestID)
	assert.Equal(t, rec.Header().Get(audit.RequestIDHeader), v.requestID, "audit.RequestID is the response's")
	assert.Same(t, c.events, v.logger, "audit.FromContext")
	assert.Equal(t, cspNonce(t, rec), v.nonce, "headers.Nonce is the CSP's")
	assert.Equal(t, user, v.user, "identity.FromContext")
}

// TestChainOneRequestCopy: in the README's order, only the first layer
// derives a request; the others store into the state it made, and the
// handler gets the request the first layer passed on.
func TestChainOneRequestCopy(t *testing.T) {
	c := newChain(t)
	tok := c.e.Login(t, "ann", "")
	var afterFirst *http.Request
	var got view
	probe := func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			afterFirst = r
			next.ServeHTTP(w, r)
		})
	}
	h := c.ips.Handler(probe(c.events.Handler(c.sec.Handler(c.e.M.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = look(r)
	}))))))
	rec := serve(h, tok, nil)
	require.Equal(t, http.StatusOK, rec.Code)
	checkView(t, c, rec, got, "ann")
	assert.Same(t, afterFirst, got.req, "no request copy after the first layer")
	assert.Equal(t, got.client.Addr, got.facts.ClientIP, "audit's request facts")

	rec = serve(h, "", nil)
	checkView(t, c, rec, look(got.req), "")
}

// TestChainAnyOrder: the layers work in any order, and with non-Rampart
// middleware deriving contexts of its own between them; the handler finds
// every layer's value and every foreign one.
func TestChainAnyOrder(t *testing.T) {
	c := newChain(t)
	tok := c.e.Login(t, "bob", "")
	names := []string{"clientip", "audit", "headers", "session"}
	layers := c.layers()
	foreign := func(i int) func(http.Handler) http.Handler {
		return func(next http.Handler) http.Handler {
			return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), foreignKey{i}, i)))
			})
		}
	}
	for _, order := range permutations(names) {
		for _, between := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/foreign=%v", strings.Join(order, ","), between), func(t *testing.T) {
				var got view
				var h http.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { got = look(r) })
				want := []any{}
				for i := len(order) - 1; i >= 0; i-- {
					if between {
						h = foreign(i)(h)
						want = append([]any{i}, want...)
					}
					h = layers[order[i]](h)
				}
				rec := serve(h, tok, nil)
				require.Equal(t, http.StatusOK, rec.Code)
				checkView(t, c, rec, got, "bob")
				assert.ElementsMatch(t, want, got.foreign)
			})
		}
	}
}

func permutations(s []string) [][]string {
	if len(s) <= 1 {
		return [][]string{append([]string(nil), s...)}
	}
	var out [][]string
	for i := range s {
		rest := append(append([]string(nil), s[:i]...), s[i+1:]...)
		for _, p := range permutations(rest) {
			out = append(out, append([]string{s[i]}, p...))
		}
	}
	return out
}

// TestChainExplicitValuesWin: a value set below the shared state, by a
// handler or a test, wins over it, as a context value would.
func TestChainExplicitValuesWin(t *testing.T) {
	c := newChain(t)
	tok := c.e.Login(t, "cat", "")
	other := clientip.Info{Addr: netip.MustParseAddr("198.51.100.7"), Scheme: "https"}
	explicit := func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			ctx := identity.NewContext(r.Context(), identity.Principal{UserID: "explicit"})
			ctx = clientip.WithInfo(ctx, other)
			ctx = headers.WithNonce(ctx, "test-nonce")
			ctx = audit.WithRequest(ctx, audit.Request{ID: "test-id"})
			next.ServeHTTP(w, r.WithContext(ctx))
		})
	}
	var got view
	h := c.ips.Handler(c.events.Handler(c.sec.Handler(c.e.M.Handler(explicit(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = look(r)
	}))))))
	serve(h, tok, nil)
	assert.Equal(t, "explicit", got.user)
	assert.Equal(t, other, got.client)
	assert.Equal(t, "test-nonce", got.nonce)
	assert.Equal(t, "test-id", got.requestID)
	assert.Same(t, c.events, got.logger, "the Logger is still the one serving the request")

	// Set outside a layer (here between the first and the others), the
	// same values are replaced by the layer's own, as before.
	h = c.ips.Handler(explicit(c.events.Handler(c.sec.Handler(c.e.M.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = look(r)
	}))))))
	rec := serve(h, tok, nil)
	assert.Equal(t, "cat", got.user, "the session's user")
	assert.Equal(t, cspNonce(t, rec), got.nonce, "the headers layer's nonce")
	assert.Equal(t, rec.Header().Get(audit.RequestIDHeader), got.requestID, "the audit layer's request ID")
	assert.Equal(t, other, got.client, "no layer after it sets the client")
}

// TestChainSessionSaysWhoIsSignedIn: a principal put in the context by an
// outer layer, outside the shared state or inside it, does not survive
// the session layer: the session's user, or no one.
func TestChainSessionSaysWhoIsSignedIn(t *testing.T) {
	c := newChain(t)
	tok := c.e.Login(t, "dan", "")
	forge := func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			next.ServeHTTP(w, r.WithContext(identity.NewContext(r.Context(), identity.Principal{UserID: "forged"})))
		})
	}
	var got view
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { got = look(r) })
	outside := func(r *http.Request) {
		*r = *r.WithContext(identity.NewContext(r.Context(), identity.Principal{UserID: "forged"}))
	}
	for _, tc := range []struct {
		name  string
		h     http.Handler
		mod   func(*http.Request)
		token string
		want  string
	}{
		{"before the chain, anonymous", c.ips.Handler(c.events.Handler(c.e.M.Handler(handler))), outside, "", ""},
		{"before the chain, signed in", c.ips.Handler(c.events.Handler(c.e.M.Handler(handler))), outside, tok, "dan"},
		{"between layers, anonymous", c.ips.Handler(forge(c.events.Handler(c.e.M.Handler(handler)))), nil, "", ""},
		{"between layers, signed in", c.ips.Handler(forge(c.events.Handler(c.e.M.Handler(handler)))), nil, tok, "dan"},
		{"just outside the session", c.ips.Handler(c.events.Handler(forge(c.e.M.Handler(handler)))), nil, "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got = view{}
			rec := serve(tc.h, tc.token, tc.mod)
			require.Equal(t, http.StatusOK, rec.Code)
			assert.Equal(t, tc.want, got.user)
		})
	}
}

// TestChainSameLayerTwice: an inner layer of the kind of an outer one
// shadows it for the handler, and the outer one's view is unchanged.
func TestChainSameLayerTwice(t *testing.T) {
	c := newChain(t)
	inner, err := c.sec.With(func(cfg *headers.Config) {})
	require.NoError(t, err)
	sink2 := &audit.MemorySink{}
	events2 := audit.MustNew(sink2, audit.Config{})
	var outer, got view
	h := c.ips.Handler(c.events.Handler(c.sec.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		outer = look(r)
		events2.Handler(inner.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			got = look(r)
		}))).ServeHTTP(w, r)
		assert.Equal(t, outer, look(r), "the outer layers' values did not change")
	}))))
	rec := serve(h, "", nil)
	assert.Same(t, events2, got.logger)
	assert.Equal(t, rec.Header().Get(audit.RequestIDHeader), got.requestID, "the inner request ID, which the response carries last")
	assert.NotEqual(t, outer.requestID, got.requestID)
	assert.Equal(t, cspNonce(t, rec), got.nonce, "the inner nonce, which the response's CSP carries")
	assert.NotEqual(t, outer.nonce, got.nonce)
}

// TestChainContextOutlivesRequest: a goroutine started between two layers
// with the request's context reads it while the later layers fill it and
// after the request: each read is nothing or the request's final value,
// never another (the race detector checks the publication), and after the
// request nothing is added to it.
func TestChainContextOutlivesRequest(t *testing.T) {
	c := newChain(t)
	tok := c.e.Login(t, "eve", "")
	other := newEnv(t, nil) // a second Manager
	var (
		wg      sync.WaitGroup
		kept    context.Context
		stop    = make(chan struct{})
		seen    []view
		handler view
	)
	spawn := func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			kept = r.Context()
			started := make(chan struct{})
			wg.Go(func() {
				close(started)
				for {
					seen = append(seen, look(r))
					select {
					case <-stop:
						return
					default:
					}
				}
			})
			<-started
			next.ServeHTTP(w, r)
		})
	}
	h := c.ips.Handler(spawn(c.events.Handler(c.sec.Handler(c.e.M.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		handler = look(r)
	}))))))
	rec := serve(h, tok, nil)
	close(stop)
	wg.Wait()
	checkView(t, c, rec, handler, "eve")
	require.NotEmpty(t, seen)
	for _, v := range seen {
		assert.True(t, v.requestID == "" || v.requestID == handler.requestID, v.requestID)
		assert.True(t, v.nonce == "" || v.nonce == handler.nonce, v.nonce)
		assert.True(t, v.user == "" || v.user == "eve", v.user)
		assert.Equal(t, handler.client, v.client)
	}

	// After the request the kept context is frozen. It shows what the
	// inner layers found for the same request (the one difference from a
	// request copy per layer); a Manager that had not served it cannot
	// make it its own.
	after := look(seen[0].req)
	assert.Equal(t, "eve", after.user)
	served := false
	other.M.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		served = true
		assert.NoError(t, other.M.Put(r.Context(), "k", "v"))
	})).ServeHTTP(httptest.NewRecorder(), httptest.NewRequestWithContext(kept, http.MethodGet, "https://app.example/", nil))
	require.True(t, served)
	assert.ErrorIs(t, other.M.Put(kept, "k", "v"), session.ErrNoSession, "the second Manager's state is not in the kept context")
	assert.Equal(t, after, look(seen[0].req))
}

// TestChainConcurrentRequests: concurrent requests share nothing: each
// handler sees its own user, request ID and nonce.
func TestChainConcurrentRequests(t *testing.T) {
	c := newChain(t)
	users := []string{"u0", "u1", "u2", "u3", ""}
	toks := make([]string, len(users))
	for i, u := range users {
		if u != "" {
			toks[i] = c.e.Login(t, u, "")
		}
	}
	const n = 40
	views := make([]view, n)
	recs := make([]*httptest.ResponseRecorder, n)
	h := c.ips.Handler(c.events.Handler(c.sec.Handler(c.e.M.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		i := 0
		_, _ = fmt.Sscan(r.Header.Get("X-I"), &i)
		views[i] = look(r)
	})))))
	st.Race(n, func(i int) {
		recs[i] = serve(h, toks[i%len(users)], func(r *http.Request) { r.Header.Set("X-I", fmt.Sprint(i)) })
	})
	ids, nonces := map[string]bool{}, map[string]bool{}
	for i := range n {
		checkView(t, c, recs[i], views[i], users[i%len(users)])
		ids[views[i].requestID], nonces[views[i].nonce] = true, true
	}
	assert.Len(t, ids, n)
	assert.Len(t, nonces, n)
}
