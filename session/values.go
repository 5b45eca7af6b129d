package session

import (
	"context"
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
// key and removes it, so that each challenge is answered at most once. It
// returns [ErrNoChallenge] when there is none or it is older than
// [ChallengeTTL], and [ErrNoSession] outside [Manager.Handler].
func (m *Manager) TakeChallenge(ctx context.Context, key string) ([]byte, error) {
	if m.state(ctx) == nil {
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
	return slices.Clone(c.Data), nil
}
