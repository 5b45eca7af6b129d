package session

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"time"

	"github.com/alexedwards/scs/v2"

	"github.com/deployedworks/rampart/audit"
	"github.com/deployedworks/rampart/identity"
)

// Info describes one active session of a user, for a "where you're signed
// in" page. It holds nothing secret: Handle names the session but cannot
// be used to act as it.
type Info struct {
	// Handle identifies the session to [Manager.Revoke]. It is random,
	// stable for the session's life (token renewals keep it) and never the
	// token or its hash.
	Handle string
	// Created is when the session began: the login.
	Created time.Time
	// LastSeen is when the session was last used, to within a minute (see
	// Config.IdleTimeout).
	LastSeen time.Time
	// IP and UserAgent are those of the request that last updated
	// LastSeen: a session used from a new address shows it from its next
	// recorded activity, within a minute (see Config.IdleTimeout).
	IP        netip.Addr
	UserAgent string
	// Methods and MFATime are as in identity.Principal. Methods is a
	// copy.
	Methods []identity.Method
	MFATime time.Time
	// Current is true for the session of the request that asked.
	Current bool
}

// Sessions lists the active sessions of userID, most recently used first.
// It reads the per-user index, never the whole store. Sessions whose data
// cannot be decoded are left out. It works outside [Manager.Handler] too
// (Current is then always false).
func (m *Manager) Sessions(ctx context.Context, userID string) ([]Info, error) {
	recs, err := m.userSessions(ctx, userID)
	if err != nil {
		return nil, err
	}
	_, cur := m.meta(ctx)
	if cur != nil && cur.UserID == userID && !slices.ContainsFunc(recs, func(r userRecord) bool { return r.meta.Handle == cur.Handle }) {
		recs = append(recs, userRecord{meta: cur}) // signed in by this request, not saved yet
	}
	out := make([]Info, 0, len(recs))
	for _, r := range recs {
		md := r.meta
		current := cur != nil && cur.UserID == userID && cur.Handle == md.Handle
		if current { // fresher than the stored copy, which this request has yet to save
			md = cur
		}
		out = append(out, Info{
			Handle:    md.Handle,
			Created:   md.Created,
			LastSeen:  md.LastSeen,
			IP:        md.IP,
			UserAgent: md.UserAgent,
			Methods:   slices.Clone(md.Methods), // md may be the request's live meta
			MFATime:   md.MFATime,
			Current:   current,
		})
	}
	slices.SortFunc(out, func(a, b Info) int {
		return cmp.Or(b.LastSeen.Compare(a.LastSeen), cmp.Compare(a.Handle, b.Handle))
	})
	return out, nil
}

type userRecord struct {
	key  string
	meta *meta
}

// userSessions returns the decodable, unexpired sessions of userID,
// iterated with scs over the user's index (see userStore).
func (m *Manager) userSessions(ctx context.Context, userID string) ([]userRecord, error) {
	if userID == "" {
		return nil, nil
	}
	a := m.scs.Store.(scsStore)
	it := &scs.SessionManager{Store: userStore{scsStore: a, userID: userID}, Codec: codec{}}
	now := m.now()
	var out []userRecord
	err := it.Iterate(ctx, func(ctx context.Context) error {
		md, _ := it.Get(ctx, metaKey).(*meta)
		if md == nil || md.UserID != userID ||
			!now.Before(md.Created.Add(m.lifetime)) || !now.Before(md.LastSeen.Add(m.idle)) {
			return nil
		}
		out = append(out, userRecord{key: it.Token(ctx), meta: md})
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// Revoke ends the session of userID named by handle (from
// [Manager.Sessions]), on every instance sharing the store. Scope userID
// to the signed-in user (or check the caller is an administrator): the
// handle alone is not a credential. It returns [ErrUnknownSession] when
// the user has no such session.
//
// When the request's own user is userID (a user signing out one of their
// sessions), the request's session must have authenticated within
// Config.ReauthAge, or Revoke fails with [ErrReauthRequired] (OWASP ASVS
// 5.0 §7.5.2: a stolen session must not sign its owner out). Revoking
// another user's session (an administrator, behind the app's own checks)
// is not subject to it.
func (m *Manager) Revoke(ctx context.Context, userID, handle string) error {
	if handle == "" {
		return ErrUnknownSession
	}
	if _, md, err := m.signedIn(ctx); err == nil && md.UserID == userID && !m.recent(md) {
		return ErrReauthRequired
	}
	recs, err := m.userSessions(ctx, userID)
	if err != nil {
		return err
	}
	i := slices.IndexFunc(recs, func(r userRecord) bool { return r.meta.Handle == handle })
	if i < 0 {
		return ErrUnknownSession
	}
	actor := m.actor(ctx)
	if err := m.store.Delete(ctx, userID, recs[i].key); err != nil {
		return fmt.Errorf("%w: delete: %w", ErrStore, err)
	}
	m.endCurrent(ctx, func(md *meta) bool { return md.UserID == userID && md.Handle == handle })
	m.logAudit(ctx, m.state(ctx), audit.Event{
		Category: audit.CategoryAccess, Action: ActionRevoke, Outcome: audit.OutcomeSuccess,
		Actor: actor, Target: audit.Target{Kind: "user", ID: userID}, SessionRef: handle,
	})
	return nil
}

// RevokeUser ends every session of userID on every instance sharing the
// store, through the per-user index: call it when the user's password
// changes, a role is removed, the account is disabled, or the user asks to
// "log out everywhere". Make the change that motivates it first (disable
// the account, remove the role), then call RevokeUser: it also sets the
// user's revocation watermark to now (see [Store]), so that
//
//   - a request of the user already in flight finishes, but cannot write
//     its session back;
//   - a login that read the user record before now (the old state, or the
//     old password, while it hashed) gets no session: its [Manager.Login]
//     passed that earlier Principal.AuthTime, so the store refuses the session when the
//     response is sent, and refuses to load it should that write have
//     raced the revocation.
//
// If ctx is the user's own request, its session ends too (the cookie is
// deleted). It works outside [Manager.Handler] too, e.g. from an admin
// job.
//
// The watermark is on the Manager's clock (Config.Now), and a login's
// AuthTime on the clock of the instance that read the user: if that clock
// runs ahead of this one, a login racing the revocation gets through when
// it read the user less than the difference before the revocation. Keep
// the instances' clocks synchronised (NTP). Stores keep the watermark for
// Config.Lifetime + Config.IdleTimeout, after which no session it could
// refuse is alive.
func (m *Manager) RevokeUser(ctx context.Context, userID string) error {
	if userID == "" {
		return errors.New("session: revoke user: empty user ID")
	}
	actor := m.actor(ctx)
	if err := m.store.DeleteUser(ctx, userID, "", m.revocation(m.now())); err != nil {
		return fmt.Errorf("%w: delete user: %w", ErrStore, err)
	}
	m.endCurrent(ctx, func(md *meta) bool { return md.UserID == userID })
	m.logAudit(ctx, m.state(ctx), audit.Event{
		Category: audit.CategoryAccess, Action: ActionRevokeAll, Outcome: audit.OutcomeSuccess,
		Actor: actor, Target: audit.Target{Kind: "user", ID: userID},
	})
	return nil
}

// RevokeOthers ends every session of the signed-in user except the
// request's own, and renews the request's token: call it after a password
// change, so that anyone holding an old session or a copy of this one's
// token is signed out. Like [Manager.RevokeUser], it sets the user's
// revocation watermark to now, so that a login that read the user (and
// checked the old password) before now gets no session; the request's own
// session is re-stamped as established now and written under its new
// token when the response is sent (until then its old token finds no
// session). For a session signed in by this same request, the watermark
// is its login's AuthTime instead, so that the new session survives.
//
// The request's session must have authenticated within Config.ReauthAge
// (signed in, [Manager.Reauthenticate] or [Manager.MarkMFA]), or
// RevokeOthers fails with [ErrReauthRequired] and changes nothing (OWASP
// ASVS 5.0 §7.5.2: a stolen session must not sign its owner out
// everywhere else).
//
// It returns [ErrNoSession] outside [Manager.Handler] and
// [ErrNotLoggedIn]. Login packages call it after a password change, with
// the request's context (auth's ChangePassword does, after
// Reauthenticate), and package mfa after a factor is added or removed.
func (m *Manager) RevokeOthers(ctx context.Context) error {
	st, md, err := m.signedIn(ctx)
	if err != nil {
		return err
	}
	if !m.recent(md) {
		return ErrReauthRequired
	}
	kept := md.Stored
	at := m.now()
	if kept == "" && md.AuthAt.Before(at) {
		// Signed in by this request, not stored yet: Save checks this
		// session against the watermark, so it must not be above the
		// session's own readAt. It was not there to be re-stamped atomically
		// with the deletes, and re-stamping it now could lift it over a
		// revocation made since its login read the user.
		at = md.AuthAt
	}
	rev := m.revocation(at)
	if err := m.store.DeleteUser(ctx, md.UserID, kept, rev); err != nil {
		return fmt.Errorf("%w: delete user: %w", ErrStore, err)
	}
	if kept != "" && md.AuthAt.Before(rev.At) {
		// The kept record, spared by the same atomic step, now sits below
		// the watermark: it is saved again at commit, re-stamped, under the
		// new token (Save with replace accepts it if it still exists).
		n := *md
		n.AuthAt = rev.At
		m.setMeta(st, &n)
		md = &n
	}
	m.renew(st)
	m.logAudit(ctx, st, audit.Event{
		Category: audit.CategoryAccess, Action: ActionRevokeOthers, Outcome: audit.OutcomeSuccess,
		Actor: identity.Principal{UserID: md.UserID, Roles: md.Roles}, Target: audit.Target{Kind: "user", ID: md.UserID},
		SessionRef: md.Handle,
	})
	return nil
}

// revocation returns the watermark for a revocation made at: at truncated
// to the microsecond, which stores may keep (a login that read the user
// within the same microsecond is let through), kept for as long as a
// session established before it can live. Login refuses an AuthTime older
// than the idle timeout, so such a session began before At + IdleTimeout
// and ends by At + IdleTimeout + Lifetime.
func (m *Manager) revocation(at time.Time) Revocation {
	at = at.Truncate(time.Microsecond)
	return Revocation{At: at, Until: at.Add(m.idle + m.lifetime)}
}

// endCurrent ends the request's own session, already deleted from the
// store, when match says it was among those revoked.
func (m *Manager) endCurrent(ctx context.Context, match func(*meta) bool) {
	st, md := m.meta(ctx)
	if md == nil || !match(md) {
		return
	}
	_ = m.end(ctx, st, false) // no record left: touches no store
}

// actor is the signed-in user of ctx, if any, as an audit actor.
func (m *Manager) actor(ctx context.Context) identity.Principal {
	if _, md, err := m.signedIn(ctx); err == nil {
		return identity.Principal{UserID: md.UserID, Roles: slices.Clone(md.Roles)}
	}
	return identity.Principal{}
}
