package session

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/alexedwards/scs/v2"

	"github.com/deployedworks/rampart/audit"
	"github.com/deployedworks/rampart/clientip"
	"github.com/deployedworks/rampart/identity"
	"github.com/deployedworks/rampart/internal/reqstate"
)

// maxUserAgent bounds the User-Agent kept with a session.
const maxUserAgent = 256

// reqState is the Manager's view of one request's session, in the
// request's context under the Manager's key. Apart from md, it is used by
// the request's goroutine only.
type reqState struct {
	ip    netip.Addr
	ua    string
	token string // token from the request's cookie, "" if none or malformed
	key   string // storeKey(token), hashed once per request; "" with no token

	// who is the principal the Handler publishes for identity.FromContext:
	// the signed-in user as loaded, or anonymous. Set once, before next.
	who identity.Principal

	// base is the request's context with this state (the request state
	// the Rampart layers share, which also takes the principal before
	// next runs), without the scs session; sctx is the scs session of the
	// request, derived from base.
	// The request's handlers get base: every scs call goes through the
	// Manager, with sctx, which a token renewal or the end of the session
	// replaces with a new scs session.
	base, sctx context.Context

	// anon holds the values opened from sealed anonymous state in the
	// request's cookie, to tell at save whether the app changed them;
	// sealedIn records that the cookie held some.
	anon     map[string]any
	sealedIn bool

	// md mirrors the meta in scs's values, so that reading it costs no
	// trip through scs. Every change goes through setMeta or end; an
	// atomic pointer, in case handlers read it from several goroutines.
	md atomic.Pointer[meta]

	// w is the writer the Handler gives next, allocated with the state.
	w responseWriter

	ended           bool // the session ended in this request: delete the cookie unless a new one is set
	clearCookie     bool // the request's cookie named no usable session
	rememberChanged bool // Remember changed the cookie's persistence
	loggedIn        bool // Login ran: apply Config.MaxSessions once saved
}

// errGone reports that a commit found its session revoked or expired in
// the store while the request ran; the session is not written back.
var errGone = errors.New("session: session ended while the request ran")

// Handler is middleware that loads the request's session before next and
// saves it when next first writes its response (or returns): a signed-in
// session to the store, the state of a visitor who is not signed in
// sealed into the cookie, never to the store (see [Manager.Put]). It
// enforces the idle timeout and absolute lifetime, renews nothing by
// itself, sets, refreshes or deletes the cookie as needed, and puts the
// signed-in user in the request's context (identity.FromContext).
//
// Handler fails closed: when the store fails, next is not called; the
// client gets Config.OnError's answer (500, no details) and an audit
// event ([ActionLoadFailed] or [ActionSaveFailed]) records the error. Data
// that cannot be decoded or decrypted, an expired session and a session
// revoked while the request ran all leave the request anonymous.
func (m *Manager) Handler(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if m.state(r.Context()) != nil { // already inside this Manager's Handler
			next.ServeHTTP(w, r)
			return
		}
		if m.insecure && !isLocalhost(r.Host) {
			m.fail(w, r, nil, ActionLoadFailed, ErrInsecureHost)
			return
		}
		w.Header().Add("Vary", "Cookie")
		// st goes into the request state the Rampart layers share (see
		// clientip's Handler), or into a new one, in the same allocation.
		ctx := r.Context()
		var st *reqState
		if p, ok := reqstate.Reserve(ctx, ctxKey{m}); ok {
			st = &reqState{base: ctx}
			st.fill(r)
			p.Set(st)
		} else {
			ctx, st = reqstate.New[reqState](ctx, ctxKey{m})
			st.base = ctx
			st.fill(r)
			defer reqstate.Seal(ctx)
		}
		v := cookieFromRequest(r, m.scs.Cookie.Name)
		if v == "" && rejectedCookie(r, m.scs.Cookie.Name) {
			// Ignored, as if absent; recorded at a bounded rate (OWASP ASVS
			// 5.0 §16.3.3), since anyone can send it.
			m.logAudit(st.base, st, audit.Event{
				Category: audit.CategorySuspicious, Action: ActionCookieRejected, Outcome: audit.OutcomeDenied,
				Reason: "malformed session cookie ignored", Pace: cookiePace,
			})
		}
		if err := m.load(st, v); err != nil {
			m.fail(w, r, st, ActionLoadFailed, err)
			return
		}
		// The session, not an outer layer, says who is signed in: st.who
		// (anonymous when no one is) shadows any principal outside.
		if md := st.md.Load(); md != nil && md.UserID != "" {
			st.who = principal(md)
		}
		if c := reqstate.With(ctx, reqstate.Principal, &st.who); c != ctx {
			ctx = c
			defer reqstate.Seal(ctx)
		}
		sw := &st.w // allocated with st
		*sw = responseWriter{ResponseWriter: w, m: m, r: r, st: st}
		if ctx != r.Context() {
			next.ServeHTTP(sw, r.WithContext(ctx))
		} else {
			next.ServeHTTP(sw, r)
		}
		if !sw.committed {
			sw.commit()
		}
	})
}

// fill records the request's client address and User-Agent.
func (st *reqState) fill(r *http.Request) {
	st.ua = truncateUTF8(r.UserAgent(), maxUserAgent)
	if c, ok := clientip.FromContext(r.Context()); ok {
		st.ip = c.Addr
	}
}

// load loads the session named by the cookie value v into st: a signed-in
// session from the store through scs, sealed anonymous state from the
// cookie, or a new session.
func (m *Manager) load(st *reqState, v string) error {
	switch {
	case validToken(v):
		st.token, st.key = v, storeKey(v)
	case v != "": // sealed anonymous state, opened beside scs (see anon.go)
		if st.anon = m.openAnon(v); st.anon != nil {
			st.sealedIn = true
		} else {
			st.clearCookie = true
		}
	}
	sctx, err := m.scs.Load(st.base, st.token)
	switch {
	case errors.Is(err, errCorrupt):
		m.logAudit(st.base, st, audit.Event{
			Category: audit.CategoryError, Action: ActionCorrupt, Outcome: audit.OutcomeFailure,
			Reason: err.Error(),
		})
		if err := m.discard(st, st.key); err != nil {
			return err
		}
	case err != nil:
		return err
	default:
		st.sctx = sctx
	}
	switch {
	case st.token != "" && m.scs.Token(st.sctx) != "": // found in the store
		if err := m.check(st); err != nil {
			return err
		}
	case st.anon != nil:
		for k, v := range st.anon {
			m.scs.Put(st.sctx, k, v)
		}
	}
	if st.token != "" && st.stored() == "" {
		st.clearCookie = true
	}
	return nil
}

// stored is the store key of the session's record, "" if it has none.
func (st *reqState) stored() string {
	if md := st.md.Load(); md != nil {
		return md.Stored
	}
	return ""
}

// storeKey is the key under which the store keeps the session of token:
// its SHA-256 hash, base64url-encoded (what scs's HashTokenInStore would
// compute; the store adapter hashes instead, see [scsStore]). A token of
// scs's shape is hashed without allocating; the key costs one string.
func storeKey(token string) string {
	var buf [64]byte
	h := sha256.Sum256(append(buf[:0], token...))
	var out [43]byte // base64.RawURLEncoding.EncodedLen(sha256.Size)
	base64.RawURLEncoding.Encode(out[:], h[:])
	return string(out[:])
}

// discard deletes the unusable record key and starts a new session.
func (m *Manager) discard(st *reqState, key string) error {
	if err := m.store.Delete(st.base, "", key); err != nil {
		return fmt.Errorf("%w: delete: %w", ErrStore, err)
	}
	st.md.Store(nil)
	st.sctx = m.fresh(st)
	return nil
}

// fresh returns a new, empty scs session for the request.
func (m *Manager) fresh(st *reqState) context.Context {
	sctx, _ := m.scs.Load(st.base, "") // loads nothing: cannot fail
	return sctx
}

// check applies the timeouts to a session loaded from the store and
// records activity.
func (m *Manager) check(st *reqState) error {
	key := st.key
	md, _ := m.scs.Get(st.sctx, metaKey).(*meta)
	if md == nil {
		m.logAudit(st.base, st, audit.Event{
			Category: audit.CategoryError, Action: ActionCorrupt, Outcome: audit.OutcomeFailure,
			Reason: "session data without metadata",
		})
		return m.discard(st, key)
	}
	md.Stored = key // fresh from the codec, seen by this request only
	st.md.Store(md)
	now := m.now()
	var reason string
	switch {
	case !now.Before(md.Created.Add(m.lifetime)):
		reason = "absolute lifetime"
	case !now.Before(md.LastSeen.Add(m.idle)):
		reason = "idle timeout"
	}
	if reason != "" {
		if md.UserID != "" {
			m.logAudit(st.base, st, audit.Event{
				Category: audit.CategoryAuthentication, Action: ActionExpired, Outcome: audit.OutcomeSuccess,
				Actor: identity.Principal{UserID: md.UserID, Roles: md.Roles}, SessionRef: md.Handle, Reason: reason,
			})
		}
		return m.end(st.base, st, true)
	}
	if now.Sub(md.LastSeen) >= m.touchEvery {
		m.touch(st, md, now)
	}
	return nil
}

// touch records the request's activity in the session's meta: LastSeen,
// and the client address and User-Agent with it. Activity alone writes the
// session at most once per touch interval (see Config.IdleTimeout): a
// request from another address or browser within it writes nothing, so
// that a client whose address alternates (a phone between networks, a NAT
// pool) does not turn every read into a write. The new address is
// recorded by the next write: the next touch, or any request that writes
// the session anyway (see [Manager.save]). Nothing decides anything on the
// recorded address: it is shown by [Manager.Sessions], and audit events
// carry each request's own.
func (m *Manager) touch(st *reqState, md *meta, now time.Time) {
	n := *md
	n.LastSeen, n.IP, n.UserAgent = now, st.ip, st.ua
	m.setMeta(st, &n)
}

// fail answers a request whose session failed, after an audit event.
func (m *Manager) fail(w http.ResponseWriter, r *http.Request, st *reqState, action audit.Action, err error) {
	if !errors.Is(err, ErrStore) && !errors.Is(err, ErrInsecureHost) {
		err = fmt.Errorf("%w: %w", ErrStore, err)
	}
	m.logAudit(r.Context(), st, audit.Event{
		Category: audit.CategoryError, Action: action, Outcome: audit.OutcomeFailure, Reason: err.Error(),
	})
	h := w.Header()
	for _, k := range []string{"Location", "Refresh", "Set-Cookie", "Content-Disposition", "Content-Encoding", "Etag", "Last-Modified"} {
		h.Del(k)
	}
	h.Set("Cache-Control", "no-store")
	m.onError(w, r, err)
}

// responseWriter saves the session before the first byte of the response,
// while headers can still carry the cookie.
type responseWriter struct {
	http.ResponseWriter
	m         *Manager
	r         *http.Request
	st        *reqState
	committed bool
	failed    bool
}

// errSaveFailed is returned to a handler writing after the session could
// not be saved and an error response replaced its own.
var errSaveFailed = errors.New("session: response replaced: the session could not be saved")

func (sw *responseWriter) WriteHeader(code int) {
	if !sw.committed && !sw.commit() {
		return
	}
	if !sw.failed {
		sw.ResponseWriter.WriteHeader(code)
	}
}

func (sw *responseWriter) Write(b []byte) (int, error) {
	if !sw.committed && !sw.commit() {
		return 0, errSaveFailed
	}
	if sw.failed {
		return 0, errSaveFailed
	}
	return sw.ResponseWriter.Write(b)
}

// Flush saves the session, then flushes.
func (sw *responseWriter) Flush() {
	if !sw.committed && !sw.commit() || sw.failed {
		return
	}
	_ = http.NewResponseController(sw.ResponseWriter).Flush()
}

// Hijack saves the session, then hands over the connection.
func (sw *responseWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	if !sw.committed && !sw.commit() || sw.failed {
		return nil, nil, errSaveFailed
	}
	return http.NewResponseController(sw.ResponseWriter).Hijack()
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (sw *responseWriter) Unwrap() http.ResponseWriter { return sw.ResponseWriter }

// commit saves the session and sets the cookie. It reports false, after
// writing an error response, when the store failed.
func (sw *responseWriter) commit() bool {
	sw.committed = true
	if err := sw.m.save(sw.ResponseWriter, sw.st); err != nil {
		sw.failed = true
		sw.m.fail(sw.ResponseWriter, sw.r, sw.st, ActionSaveFailed, err)
		return false
	}
	return true
}

// save writes the session to the store if it changed and sets the cookie.
func (m *Manager) save(w http.ResponseWriter, st *reqState) error {
	s := m.scs
	if s.Status(st.sctx) != scs.Modified {
		if st.clearCookie || st.ended && (st.token != "" || st.sealedIn) {
			m.writeCookie(w, "", time.Time{})
		}
		return nil
	}
	if st.anonymous() {
		return m.saveAnon(w, st)
	}
	md := st.md.Load()
	if now := m.now(); md.LastSeen != now || md.IP != st.ip || md.UserAgent != st.ua {
		m.touch(st, md, now) // written anyway: record the activity with it
		md = st.md.Load()
	}
	token, _, err := s.Commit(st.sctx)
	switch {
	case errors.Is(err, errGone):
		m.logAudit(st.base, st, audit.Event{
			Category: audit.CategoryAccess, Action: ActionEndedInFlight, Outcome: audit.OutcomeDenied,
			Actor: identity.Principal{UserID: md.UserID}, SessionRef: md.Handle,
			Reason: "the session was revoked or expired while the request ran; not saved",
		})
		m.writeCookie(w, "", time.Time{})
		return nil
	case err != nil:
		return err
	}
	if st.loggedIn {
		m.evict(st, md)
	}
	if token != st.token || st.rememberChanged {
		var expires time.Time
		if s.Cookie.Persist || s.GetBool(st.sctx, rememberKey) {
			expires = md.Created.Add(m.lifetime)
		}
		m.writeCookie(w, token, expires)
	}
	return nil
}

// writeCookie sets the session cookie with scs's cookie settings
// (Config decides them: see New); token "" deletes it. A zero expires
// makes a session cookie, which the browser drops when it closes. It is
// scs's WriteSessionCookie, except that MaxAge follows the Manager's
// clock, and that Cache-Control is left alone when the response already
// says no-store or private.
func (m *Manager) writeCookie(w http.ResponseWriter, token string, expires time.Time) {
	sc := m.scs.Cookie
	c := http.Cookie{ // #nosec G124 -- attributes copied from Config, secure by default (Secure, HttpOnly, SameSite=Lax); weaker only by named options
		Name:        sc.Name,
		Value:       token,
		Path:        sc.Path,
		Domain:      sc.Domain,
		HttpOnly:    sc.HttpOnly,
		Secure:      sc.Secure,
		SameSite:    sc.SameSite,
		Partitioned: sc.Partitioned,
	}
	switch {
	case token == "":
		c.Expires = time.Unix(1, 0)
		c.MaxAge = -1
	case !expires.IsZero():
		c.Expires = expires.Add(time.Second - 1).Truncate(time.Second)
		c.MaxAge = max(int(expires.Sub(m.now())/time.Second), 1)
	}
	h := w.Header()
	h.Add("Set-Cookie", c.String())
	// Keep shared caches from storing the cookie, without weakening what
	// the app or other middleware already said (no-store, private).
	cc := strings.Join(h.Values("Cache-Control"), ",")
	if !strings.Contains(cc, "no-store") && !strings.Contains(cc, "private") {
		h.Add("Cache-Control", `no-cache="Set-Cookie"`)
	}
}

// cookieFromRequest returns the first well-formed session cookie value in
// the request's cookies, or "". It never allocates beyond the returned
// string, which shares the header's memory.
func cookieFromRequest(r *http.Request, name string) string {
	for _, line := range r.Header["Cookie"] {
		if t := cookieFromHeader(line, name); t != "" {
			return t
		}
	}
	return ""
}

// cookieFromHeader finds name=value in one Cookie header line and returns
// value if it has the shape of an scs token (43 base64url characters: 32
// random bytes) or of sealed anonymous state (longer base64url, at most
// maxSealed characters). Anything else is ignored, so malformed or
// oversized input never reaches the store or the keyring.
func cookieFromHeader(line, name string) string {
	for line != "" {
		var part string
		part, line, _ = strings.Cut(line, ";")
		part = strings.TrimSpace(part)
		v, ok := strings.CutPrefix(part, name)
		if !ok || v == "" || v[0] != '=' {
			continue
		}
		v = v[1:]
		if len(v) >= 2 && v[0] == '"' && v[len(v)-1] == '"' {
			v = v[1 : len(v)-1]
		}
		if validToken(v) || validSealed(v) {
			return v
		}
	}
	return ""
}

// cookiePace is the audit budget of rejected session cookies.
var cookiePace = audit.Pace{Every: 500 * time.Millisecond, Burst: 20}

// rejectedCookie reports whether the request carries a non-empty cookie
// called name, for a request where [cookieFromRequest] found none
// well-formed: a malformed or oversized value.
func rejectedCookie(r *http.Request, name string) bool {
	for _, line := range r.Header["Cookie"] {
		for line != "" {
			var part string
			part, line, _ = strings.Cut(line, ";")
			if v, ok := strings.CutPrefix(strings.TrimSpace(part), name+"="); ok && v != "" && v != `""` {
				return true
			}
		}
	}
	return false
}

// validToken reports whether s looks like a token scs issues.
func validToken(s string) bool { return len(s) == 43 && base64url(s) }

// base64url reports whether s holds only unpadded base64url characters.
func base64url(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

// isLocalhost reports whether host (a Host header, maybe with a port)
// names the local machine.
func isLocalhost(host string) bool {
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	host = strings.TrimSuffix(strings.ToLower(host), ".")
	if host == "localhost" || strings.HasSuffix(host, ".localhost") {
		return true
	}
	a, err := netip.ParseAddr(strings.Trim(host, "[]"))
	return err == nil && a.IsLoopback()
}

// truncateUTF8 cuts s to at most n bytes without splitting a character.
func truncateUTF8(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}
