package session

import (
	"context"
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
// as JSON). Values survive login and token renewal, and end with the
// session. A signed-in user's values live server-side with the session.
// Those of a visitor who is not signed in travel in the session cookie,
// sealed with the Manager's keyring and accepted for 10 minutes after they
// were last written, so that anonymous requests never write to the store:
// they are limited to 2 KiB encoded ([ErrTooLarge]), and the client can
// resend an older cookie, so keep nothing there whose single use matters
// (use [Manager.PutChallenge]).
//
// Put is the way to store app data: the underlying scs manager is not
// exposed, because writes that bypass the Manager could resurrect revoked
// sessions or store types the codec cannot encode. It returns
// [ErrNoSession] outside [Manager.Handler], [ErrInvalidKey] and
// [ErrTooLarge].
func (m *Manager) Put(ctx context.Context, key, value string) error {
	st := m.state(ctx)
	if st == nil {
		return ErrNoSession
	}
	if !validKey(key) {
		return ErrInvalidKey
	}
	if err := m.checkAnon(st, key, value); err != nil {
		return err
	}
	m.scs.Put(st.sctx, key, value)
	return nil
}

// Get returns the value stored under key; ok is false when there is none
// (or ctx did not pass through [Manager.Handler]).
func (m *Manager) Get(ctx context.Context, key string) (value string, ok bool) {
	st := m.state(ctx)
	if st == nil || !validKey(key) {
		return "", false
	}
	value, ok = m.scs.Get(st.sctx, key).(string)
	return value, ok
}

// Pop returns the value stored under key and removes it, for one-time
// values such as flash messages.
func (m *Manager) Pop(ctx context.Context, key string) (value string, ok bool) {
	st := m.state(ctx)
	if st == nil || !validKey(key) || !m.scs.Exists(st.sctx, key) {
		return "", false
	}
	value, ok = m.scs.Pop(st.sctx, key).(string)
	return value, ok
}

// Remove deletes the value stored under key, if any.
func (m *Manager) Remove(ctx context.Context, key string) {
	if st := m.state(ctx); st != nil && validKey(key) {
		m.scs.Remove(st.sctx, key)
	}
}

// PutChallenge keeps WebAuthn (or other) ceremony state in the session
// under key until [Manager.TakeChallenge] takes it, at most
// [ChallengeTTL]. It works before login, so that a passkey sign-in can
// start for a visitor who is not signed in: the state then travels sealed
// in the cookie like the values of [Manager.Put] (2 KiB in all,
// [ErrTooLarge]), and starting a ceremony writes nothing to the store.
// data is copied.
func (m *Manager) PutChallenge(ctx context.Context, key string, data []byte) error {
	st := m.state(ctx)
	if st == nil {
		return ErrNoSession
	}
	if !validKey(key) {
		return ErrInvalidKey
	}
	c := &challenge{Data: slices.Clone(data), At: m.now(), ID: newHandle()}
	if err := m.checkAnon(st, challengePrefix+key, c); err != nil {
		return err
	}
	m.scs.Put(st.sctx, challengePrefix+key, c)
	return nil
}

// claimMargin keeps a challenge's claim in the store a little longer than
// the challenge is accepted, against clock skew between instances and the
// store.
const claimMargin = time.Minute

// TakeChallenge returns the data stored by [Manager.PutChallenge] under
// key and removes it, so that each challenge is answered at most once:
// before returning it, it claims the challenge in the store
// ([Store.Claim], one small record kept until the challenge expires), so
// that of several requests presenting the same challenge at once, or a
// cookie replayed later, only one gets it. It returns [ErrNoChallenge]
// when there is none, it is older than [ChallengeTTL] or was claimed
// already; [ErrNoSession] outside [Manager.Handler]; and a wrapped
// [ErrStore] when the claim fails (treat it as no challenge: fail closed).
func (m *Manager) TakeChallenge(ctx context.Context, key string) ([]byte, error) {
	st := m.state(ctx)
	if st == nil {
		return nil, ErrNoSession
	}
	if !validKey(key) {
		return nil, ErrInvalidKey
	}
	k := challengePrefix + key
	if !m.scs.Exists(st.sctx, k) {
		return nil, ErrNoChallenge
	}
	c, ok := m.scs.Pop(st.sctx, k).(*challenge)
	if !ok || m.now().Sub(c.At) > ChallengeTTL {
		return nil, ErrNoChallenge
	}
	claimed, err := m.store.Claim(ctx, c.claimKey(), c.At.Add(ChallengeTTL+claimMargin))
	switch {
	case err != nil:
		return nil, fmt.Errorf("%w: claim challenge: %w", ErrStore, err)
	case !claimed:
		return nil, ErrNoChallenge
	}
	return slices.Clone(c.Data), nil
}
