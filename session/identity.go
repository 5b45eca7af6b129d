package session

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/deployedworks/rampart/audit"
	"github.com/deployedworks/rampart/identity"
	"github.com/deployedworks/rampart/internal/reauth"
)

// Login signs p.UserID in on the request's session: it renews the token
// (against session fixation, OWASP Session Management Cheat Sheet,
// "Renew the Session ID After Any Privilege Level Change"), starts a new
// absolute lifetime, and records p's roles and authentication methods
// (p.MFATime and p.SessionRef are ignored: MFA is marked with
// [Manager.MarkMFA], and the session gets a new handle). Values the app
// stored before login are kept. The previous record is deleted at once;
// the new one is written, and indexed under the user for revocation, when
// the response is sent. The principal that the Handler puts in the
// context of the following requests is this one, with SessionRef set and
// AuthTime the time of the login.
//
// p.AuthTime is when the user record that the roles and the account's
// state come from was read, taken before reading it (auth's login result
// carries it). It is what makes a revocation win a race with a login: if
// [Manager.RevokeUser] or [Manager.RevokeOthers] ran for the user after
// p.AuthTime (the account was disabled, a role removed, the password
// changed while the password was being hashed), the session is not
// written when the response is sent, and the next request is anonymous
// (audit event [ActionEndedInFlight]). It must come from a clock that
// agrees with the Manager's across instances: a clock running ahead lets
// a racing login through by as much.
//
// Check the credentials (and that the account is enabled) before calling
// Login. It returns [ErrNoSession] outside [Manager.Handler]; an error for
// an empty p.UserID, a zero p.AuthTime or one older than
// Config.IdleTimeout (read the user again); and a wrapped [ErrStore] if
// the old record could not be deleted. In each case nothing changed, and
// the app should answer 500.
func (m *Manager) Login(ctx context.Context, p identity.Principal) error {
	st := m.state(ctx)
	if st == nil {
		return ErrNoSession
	}
	if p.UserID == "" {
		return errors.New("session: login: empty user ID")
	}
	readAt := p.AuthTime
	now := m.now()
	switch {
	case readAt.IsZero():
		return errors.New("session: login: zero Principal.AuthTime: pass the time the user record was read, taken before reading it (auth's login result carries it)")
	case now.Sub(readAt) > m.idle:
		return fmt.Errorf("session: login: the user record was read %v ago, more than IdleTimeout: read it again and pass the new time", now.Sub(readAt).Round(time.Second))
	case readAt.After(now):
		readAt = now // a readAt ahead of the Manager's clock would outrun revocations
	}
	var methods []identity.Method
	for _, meth := range p.Methods {
		if meth != "" && !slices.Contains(methods, meth) {
			methods = append(methods, meth)
		}
	}
	if old := st.md.Load(); old != nil && old.Stored != "" {
		if err := m.store.Delete(ctx, old.UserID, old.Stored); err != nil {
			return fmt.Errorf("session: login: %w: delete: %w", ErrStore, err)
		}
	}
	st.loggedIn = true // Config.MaxSessions is applied once the session is saved
	m.renew(st)
	m.scs.Remove(st.sctx, rememberKey) // a login starts with a session cookie
	md := &meta{
		Handle:    newHandle(),
		UserID:    p.UserID,
		Roles:     slices.Clone(p.Roles),
		Methods:   methods,
		AuthTime:  now,
		AuthAt:    readAt,
		Created:   now,
		LastSeen:  now,
		IP:        st.ip,
		UserAgent: st.ua,
	}
	m.setMeta(st, md)
	m.logAudit(ctx, st, audit.Event{
		Category: audit.CategoryAuthentication, Action: ActionLogin, Outcome: audit.OutcomeSuccess,
		Actor: identity.Principal{UserID: md.UserID, Roles: md.Roles}, SessionRef: md.Handle,
		Meta: map[string]string{"methods": joinMethods(methods)},
	})
	return nil
}

// evict applies Config.MaxSessions after a login's session md was saved:
// it revokes the user's least recently used sessions beyond MaxSessions,
// never md's own, auditing each. The login stands whatever happens: a
// store failure here is audited, and the next login tries again.
func (m *Manager) evict(st *reqState, md *meta) {
	ctx := st.base
	recs, err := m.userSessions(ctx, md.UserID)
	if err == nil {
		recs = slices.DeleteFunc(recs, func(r userRecord) bool { return r.meta.Handle == md.Handle })
		if extra := len(recs) - (m.maxPerUser - 1); extra > 0 {
			slices.SortFunc(recs, func(a, b userRecord) int {
				return cmp.Or(a.meta.LastSeen.Compare(b.meta.LastSeen), a.meta.Created.Compare(b.meta.Created), cmp.Compare(a.meta.Handle, b.meta.Handle))
			})
			for _, r := range recs[:extra] {
				if err = m.store.Delete(ctx, md.UserID, r.key); err != nil {
					break
				}
				m.logAudit(ctx, st, audit.Event{
					Category: audit.CategoryAccess, Action: ActionEvicted, Outcome: audit.OutcomeSuccess,
					Actor: identity.Principal{UserID: md.UserID}, Target: audit.Target{Kind: "user", ID: md.UserID}, SessionRef: r.meta.Handle,
					Reason: fmt.Sprintf("more than %d sessions (Config.MaxSessions): the least recently used is signed out", m.maxPerUser),
					Meta:   map[string]string{"last_seen": r.meta.LastSeen.UTC().Format(time.RFC3339)},
				})
			}
		}
	}
	if err != nil {
		m.logAudit(ctx, st, audit.Event{
			Category: audit.CategoryError, Action: ActionEvicted, Outcome: audit.OutcomeFailure,
			Actor: identity.Principal{UserID: md.UserID}, Target: audit.Target{Kind: "user", ID: md.UserID}, SessionRef: md.Handle,
			Reason: fmt.Sprintf("%v: applying Config.MaxSessions: %v", ErrStore, err),
		})
	}
}

func joinMethods(ms []identity.Method) string {
	var b strings.Builder
	for i, meth := range ms {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(string(meth))
	}
	return b.String()
}

// MarkMFA records a successful second-factor verification with method
// (e.g. [identity.MethodOTP] for a TOTP or recovery code) in the signed-in
// session: it renews the token, sets MFATime to now, and adds method to
// Methods. The session keeps its
// handle and absolute lifetime. If the session is revoked before the
// response is sent, the step-up is lost with it.
//
// It returns [ErrNoSession] outside [Manager.Handler], [ErrNotLoggedIn]
// when no user is signed in, and a wrapped [ErrStore] on store failure.
func (m *Manager) MarkMFA(ctx context.Context, method identity.Method) error {
	return m.prove(ctx, method, "mark MFA", ActionMFA, func(n *meta, now time.Time) { n.MFATime = now })
}

// Reauthenticate records that the signed-in user proved a primary
// credential again (method, e.g. [identity.MethodPassword] after the app
// checked the password): it renews the token, sets the principal's
// AuthTime to now and adds method to its Methods, so that actions asking
// for a recent authentication ([Manager.RevokeOthers], adding a first
// factor with package mfa) pass for Config.ReauthAge. It does not mark
// MFA, and leaves the handle, the lifetime and the revocation stamp
// alone. Check the credential of the signed-in user (not of whoever typed
// a login name) before calling it; auth's Authenticator.Reauthenticate
// does both.
//
// It returns [ErrNoSession] outside [Manager.Handler] and
// [ErrNotLoggedIn] when no user is signed in.
func (m *Manager) Reauthenticate(ctx context.Context, method identity.Method) error {
	return m.prove(ctx, method, "reauthenticate", ActionReauth, func(n *meta, now time.Time) { n.AuthTime = now })
}

// prove records a proof by method in the signed-in session: it renews the
// token, lets stamp set the proof's time, adds method to the Methods and
// audits action; op names the caller in errors.
func (m *Manager) prove(ctx context.Context, method identity.Method, op string, action audit.Action, stamp func(n *meta, now time.Time)) error {
	st, md, err := m.signedIn(ctx)
	if err != nil {
		return err
	}
	if method == "" {
		return errors.New("session: " + op + ": empty method")
	}
	m.renew(st)
	n := *md
	stamp(&n, m.now())
	if !slices.Contains(n.Methods, method) {
		n.Methods = append(slices.Clip(n.Methods), method)
	}
	m.setMeta(st, &n)
	m.logAudit(ctx, st, audit.Event{
		Category: audit.CategoryAuthentication, Action: action, Outcome: audit.OutcomeSuccess,
		Actor: identity.Principal{UserID: n.UserID, Roles: n.Roles}, SessionRef: n.Handle,
		Meta: map[string]string{"method": string(method)},
	})
	return nil
}

// recent reports whether the signed-in session of md authenticated within
// Config.ReauthAge (sign-in, re-authentication or second factor).
func (m *Manager) recent(md *meta) bool {
	return reauth.Recent(view(md), m.now(), m.reauthAge, false)
}

// renew gives the request's session a new token: a new scs session with
// the same values, which gets its token when it is committed. The meta's
// Stored still names the old record, so that the commit moves it, and
// only if it still exists then (a session revoked meanwhile stays
// revoked); Login, which must not keep the old record, deletes it first.
//
// scs's RenewToken is not used because it deletes the old record at once,
// which would let a session revoked before the commit come back under
// the new token.
func (m *Manager) renew(st *reqState) {
	old := st.sctx
	st.sctx = m.fresh(st)
	for _, k := range m.scs.Keys(old) {
		m.scs.Put(st.sctx, k, m.scs.Get(old, k))
	}
}

// Logout ends the request's session: its record is deleted from the store
// and the cookie deleted. Values stored later in the same request start a
// new anonymous session. It returns [ErrNoSession] outside
// [Manager.Handler] and a wrapped [ErrStore] if the record could not be
// deleted (the session then still exists: answer 500).
func (m *Manager) Logout(ctx context.Context) error {
	st, md := m.meta(ctx)
	if st == nil {
		return ErrNoSession
	}
	if err := m.end(ctx, st, true); err != nil {
		return fmt.Errorf("session: logout: %w", err)
	}
	if md != nil && md.UserID != "" {
		m.logAudit(ctx, st, audit.Event{
			Category: audit.CategoryAuthentication, Action: ActionLogout, Outcome: audit.OutcomeSuccess,
			Actor: identity.Principal{UserID: md.UserID, Roles: md.Roles}, SessionRef: md.Handle,
		})
	}
	return nil
}

// principal returns the signed-in user of md as the Handler puts it in
// the request's context. The slices are copies, so that a handler
// changing them changes nothing in the session: made in the room the
// codec allocated with md's slices when there is some. Only the Handler
// calls it, once per request, so that no two principals share that room
// (metas copied from md share it).
func principal(md *meta) identity.Principal {
	p := view(md)
	p.Roles = copyInto(md.rolesRoom, md.Roles)
	p.Methods = copyInto(md.methodsRoom, md.Methods)
	return p
}

// view returns the principal of md sharing md's slices, for reading
// within the package.
func view(md *meta) identity.Principal {
	return identity.Principal{
		UserID:     md.UserID,
		Roles:      md.Roles,
		Methods:    md.Methods,
		AuthTime:   md.AuthTime,
		MFATime:    md.MFATime,
		SessionRef: md.Handle,
	}
}

// copyInto returns a copy of s, in room when it has exactly the room
// (capped, so that appending to the copy never writes past it).
func copyInto[S ~[]E, E any](room, s S) S {
	if s == nil || len(room) != len(s) {
		return slices.Clone(s)
	}
	return append(room[:0:len(s)], s...)
}

// Remember makes the session cookie persistent ("remember me"), lasting
// until the end of the session's absolute lifetime, or, with on false, a
// session cookie again, which the browser drops when it closes (the
// default). The idle timeout still applies either way. Call it after
// [Manager.Login]; Login starts with a session cookie.
//
// It is scs's RememberMe (the cookie is not persistent by default:
// Cookie.Persist is false).
func (m *Manager) Remember(ctx context.Context, on bool) error {
	st, _, err := m.signedIn(ctx)
	if err != nil || m.scs.GetBool(st.sctx, rememberKey) == on {
		return err
	}
	m.scs.RememberMe(st.sctx, on)
	st.rememberChanged = true
	return nil
}

// newHandle returns a random, non-secret session handle.
func newHandle() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // never fails (Go 1.24+)
	return base64.RawURLEncoding.EncodeToString(b[:])
}
