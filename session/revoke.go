package session

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"time"

	"github.com/deployedworks/rampart/audit"
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
	// LastSeen.
	IP        netip.Addr
	UserAgent string
	// Methods and MFATime are as in [Identity]. Methods is a copy.
	Methods []string
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

// userSessions returns the decodable, unexpired sessions of userID.
func (m *Manager) userSessions(ctx context.Context, userID string) ([]userRecord, error) {
	if userID == "" {
		return nil, nil
	}
	recs, err := m.store.List(ctx, userID)
	if err != nil {
		return nil, fmt.Errorf("%w: list: %w", ErrStore, err)
	}
	now := m.now()
	a := scsStore{m}
	out := make([]userRecord, 0, len(recs))
	for _, r := range recs {
		b, err := a.open(r.Key, r.Data)
		if err != nil {
			continue
		}
		_, values, err := codec{}.Decode(b)
		if err != nil {
			continue
		}
		md, _ := values[metaKey].(*meta)
		if md == nil || md.UserID != userID ||
			!now.Before(md.Created.Add(m.lifetime)) || !now.Before(md.LastSeen.Add(m.idle)) {
			continue
		}
		out = append(out, userRecord{key: r.Key, meta: md})
	}
	return out, nil
}

// Revoke ends the session of userID named by handle (from
// [Manager.Sessions]), on every instance sharing the store. Scope userID
// to the signed-in user (or check the caller is an administrator): the
// handle alone is not a credential. It returns [ErrUnknownSession] when
// the user has no such session.
func (m *Manager) Revoke(ctx context.Context, userID, handle string) error {
	if handle == "" {
		return ErrUnknownSession
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
		Category: audit.CategoryAccess, Action: "session.revoke", Outcome: audit.OutcomeSuccess,
		Actor: actor, Target: audit.Target{Kind: "user", ID: userID}, SessionRef: handle,
	})
	return nil
}

// RevokeUser ends every session of userID on every instance sharing the
// store, through the per-user index: call it when the user's password
// changes, a role is removed, the account is disabled, or the user asks to
// "log out everywhere". Make the change that motivates it first (disable
// the account, remove the role), so that a login racing with it cannot
// use the old state. A request of the user already in flight finishes,
// but cannot write its session back. If ctx is the user's own request,
// its session ends too (the cookie is deleted).
//
// It works outside [Manager.Handler] too, e.g. from an admin job.
func (m *Manager) RevokeUser(ctx context.Context, userID string) error {
	if userID == "" {
		return errors.New("session: revoke user: empty user ID")
	}
	actor := m.actor(ctx)
	if err := m.store.DeleteUser(ctx, userID, ""); err != nil {
		return fmt.Errorf("%w: delete user: %w", ErrStore, err)
	}
	m.endCurrent(ctx, func(md *meta) bool { return md.UserID == userID })
	m.logAudit(ctx, m.state(ctx), audit.Event{
		Category: audit.CategoryAccess, Action: "session.revoke_all", Outcome: audit.OutcomeSuccess,
		Actor: actor, Target: audit.Target{Kind: "user", ID: userID},
	})
	return nil
}

// RevokeOthers ends every session of the signed-in user except the
// request's own, and renews the request's token: call it after a password
// change, so that anyone holding an old session or a copy of this one's
// token is signed out. It returns [ErrNoSession] outside [Manager.Handler]
// and [ErrNotLoggedIn]. It implements auth.SessionRevoker, which
// auth.Authenticator.ChangePassword calls with the request's context.
func (m *Manager) RevokeOthers(ctx context.Context) error {
	st, md, err := m.signedIn(ctx)
	if err != nil {
		return err
	}
	if err := m.store.DeleteUser(ctx, md.UserID, st.storedKey()); err != nil {
		return fmt.Errorf("%w: delete user: %w", ErrStore, err)
	}
	if err := m.rotate(ctx, st); err != nil {
		return fmt.Errorf("session: revoke others: %w", err)
	}
	m.logAudit(ctx, st, audit.Event{
		Category: audit.CategoryAccess, Action: "session.revoke_others", Outcome: audit.OutcomeSuccess,
		Actor: audit.Actor{UserID: md.UserID, Roles: md.Roles}, Target: audit.Target{Kind: "user", ID: md.UserID},
		SessionRef: md.Handle,
	})
	return nil
}

// endCurrent ends the request's own session, already deleted from the
// store, when match says it was among those revoked.
func (m *Manager) endCurrent(ctx context.Context, match func(*meta) bool) {
	st, md := m.meta(ctx)
	if md == nil || !match(md) {
		return
	}
	st.forget()
	_ = m.destroy(ctx, st) // no record left: touches no store
}

// actor is the signed-in user of ctx, if any, as an audit actor.
func (m *Manager) actor(ctx context.Context) audit.Actor {
	if id, ok := m.Identity(ctx); ok {
		return audit.Actor{UserID: id.UserID, Roles: id.Roles}
	}
	return audit.Actor{}
}
