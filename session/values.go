package session

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"
)

// ChallengeTTL bounds how long [Manager.TakeChallenge] accepts a challenge
// after [Manager.PutChallenge], whatever the ceremony's own timeout:
// twice the 5 minutes WebAuthn suggests (W3C WebAuthn Level 3 §5.4.1).
const ChallengeTTL = 10 * time.Minute

// maxKey bounds value and challenge keys.
const maxKey = 128

func validKey(key string) bool { return key != "" && len(key) <= maxKey && key[0] != 0 }

// Put stores value under key in the request's session, for the app's own
// small state: flash messages, a half-filled form (encode structured data
// as JSON). Values live server-side with the session, survive login and
// token renewal, and end with it. Putting a value into a request without a
// session starts an anonymous one.
//
// Put is the way to store app data: the underlying scs manager is not
// exposed, because writes that bypass the Manager could resurrect revoked
// sessions or store types the codec cannot encode. It returns
// [ErrNoSession] outside [Manager.Handler] and [ErrInvalidKey].
func (m *Manager) Put(ctx context.Context, key, value string) error {
	if m.state(ctx) == nil {
		return ErrNoSession
	}
	if !validKey(key) {
		return ErrInvalidKey
	}
	m.scs.Put(ctx, key, value)
	return nil
}

// Get returns the value stored under key; ok is false when there is none
// (or ctx did not pass through [Manager.Handler]).
func (m *Manager) Get(ctx context.Context, key string) (value string, ok bool) {
	if m.state(ctx) == nil || !validKey(key) {
		return "", false
	}
	value, ok = m.scs.Get(ctx, key).(string)
	return value, ok
}

// Pop returns the value stored under key and removes it, for one-time
// values such as flash messages.
func (m *Manager) Pop(ctx context.Context, key string) (value string, ok bool) {
	if m.state(ctx) == nil || !validKey(key) || !m.scs.Exists(ctx, key) {
		return "", false
	}
	value, ok = m.scs.Pop(ctx, key).(string)
	return value, ok
}

// Remove deletes the value stored under key, if any.
func (m *Manager) Remove(ctx context.Context, key string) {
	if m.state(ctx) != nil && validKey(key) {
		m.scs.Remove(ctx, key)
	}
}

// PutChallenge keeps WebAuthn (or other) ceremony state in the session
// under key until [Manager.TakeChallenge] takes it, at most
// [ChallengeTTL]. It works before login, so that a passkey sign-in can
// start on an anonymous session. data is copied.
func (m *Manager) PutChallenge(ctx context.Context, key string, data []byte) error {
	if m.state(ctx) == nil {
		return ErrNoSession
	}
	if !validKey(key) {
		return ErrInvalidKey
	}
	m.scs.Put(ctx, challengePrefix+key, &challenge{Data: slices.Clone(data), At: m.now()})
	return nil
}

// TakeChallenge returns the data stored by [Manager.PutChallenge] under
// key and removes it, so that each challenge is answered at most once,
// even by requests that carry the same session at the same time, on one
// instance or on several sharing the [Store]. It returns [ErrNoChallenge]
// when there is none or it is older than [ChallengeTTL], and
// [ErrNoSession] outside [Manager.Handler]. Call it before writing the
// response and before [Manager.Login].
//
// Concurrent requests of one session each load their own copy of it,
// challenge included, so removing the challenge from the copy is not
// enough: TakeChallenge also saves the session at once under a new token,
// on condition that the record the request loaded is still in the store,
// as a token renewal does (the cookie is updated with the response). Of
// the requests that loaded one record, only the first to save can move
// it; the others find it gone, fail with [ErrNoChallenge], and leave the
// session to the winner: their response deletes their cookie. The cost
// is one store write per call.
func (m *Manager) TakeChallenge(ctx context.Context, key string) ([]byte, error) {
	st := m.state(ctx)
	if st == nil {
		return nil, ErrNoSession
	}
	if !validKey(key) {
		return nil, ErrInvalidKey
	}
	k := challengePrefix + key
	if !m.scs.Exists(ctx, k) {
		return nil, ErrNoChallenge
	}
	c, ok := m.scs.Pop(ctx, k).(*challenge)
	if !ok || m.now().Sub(c.At) > ChallengeTTL {
		return nil, ErrNoChallenge
	}
	if err := m.claim(ctx, st); err != nil {
		return nil, err
	}
	return slices.Clone(c.Data), nil
}

// claim makes the request the only one holding its session's record, by
// moving the record to a new token if it is still there. It returns
// ErrNoChallenge, having ended the request's copy of the session, when
// another request (or a revocation) got there first, and a wrapped
// ErrStore when the store failed.
func (m *Manager) claim(ctx context.Context, st *reqState) error {
	if st.storedKey() == "" {
		if st.found { // deleted in this request (a login): other requests may hold the same copy
			return fmt.Errorf("%w: the session was renewed by Login in this request", ErrNoChallenge)
		}
		return nil // begun in this request: nobody else holds it
	}
	if err := m.rotate(ctx, st); err != nil {
		return fmt.Errorf("session: take challenge: %w", err)
	}
	md := m.prepareCommit(ctx, st)
	_, _, err := m.scs.Commit(ctx)
	switch {
	case errors.Is(err, errGone):
		m.endedInFlight(ctx, st, md)
		_ = m.destroy(ctx, st) // no record left: touches no store
		return fmt.Errorf("%w: taken by a concurrent request", ErrNoChallenge)
	case err != nil:
		return fmt.Errorf("session: take challenge: %w", err)
	}
	return nil
}
