package session

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"net/http"
	"time"
)

// Anonymous state.
//
// A visitor who is not signed in has no record in the store: whatever the
// app keeps for them ([Manager.Put] before login: a flash message;
// [Manager.PutChallenge]: a passwordless sign-in's challenge) travels in
// the session cookie instead, encoded with the session codec, sealed with
// the Manager's keyring (XChaCha20-Poly1305, bound to the cookie name) and
// base64url-encoded. A cookie value is therefore either a 43-character
// token (a signed-in session, in the store) or longer sealed state. So no
// request that does not sign in can make the store grow: an anonymous
// logout, a refused POST answered with a flash, a passkey sign-in begun
// and abandoned all cost the server nothing to keep.
//
// Sealed state expires anonTTL after it was last written, whatever the
// client does with the cookie. A client can resend an older cookie,
// though: that is why [Manager.TakeChallenge] claims each challenge in
// the store ([Store.Claim]), and why anonymous values must hold nothing
// whose single use matters.

const (
	// anonTTL is how long sealed anonymous state is accepted after it was
	// last written: as long as a challenge.
	anonTTL = ChallengeTTL
	// maxAnon bounds the encoded anonymous state, so that the sealed
	// cookie stays well under the 4096 bytes browsers keep.
	maxAnon = 2048
	// maxSealed bounds the sealed cookie value: maxAnon plus the keyring's
	// overhead (at most 74 bytes), base64url-encoded, with a margin.
	maxSealed = 2900
	// anonADPrefix starts the associated data of sealed state; the
	// cookie name follows. Stored records use adPrefix instead, so neither
	// can pass for the other.
	anonADPrefix = "rampart/session/anon/v1:"
)

// ErrTooLarge reports that [Manager.Put] or [Manager.PutChallenge] would
// make the state of a visitor who is not signed in exceed 2 KiB encoded.
// That state travels in the cookie; keep less, or sign the user in first.
var ErrTooLarge = errors.New("session: anonymous session state over 2 KiB (it travels in the cookie): keep less before login")

// anonymous reports whether the request's session has no signed-in user,
// so that its values are kept in the cookie.
func (st *reqState) anonymous() bool {
	md := st.md.Load()
	return md == nil || md.UserID == ""
}

// anonValues returns the values of the request's session other than the
// meta.
func (m *Manager) anonValues(st *reqState) map[string]any {
	keys := m.scs.Keys(st.sctx)
	values := make(map[string]any, len(keys))
	for _, k := range keys {
		if k != metaKey && k != rememberKey {
			values[k] = m.scs.Get(st.sctx, k)
		}
	}
	return values
}

// sameValues reports whether a and b hold the same values: strings equal,
// challenges the same pointer (they are never modified in place).
func sameValues(a, b map[string]any) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || v != w {
			return false
		}
	}
	return true
}

// checkAnon returns [ErrTooLarge] if setting key to v would make the
// state of an anonymous session too large for its cookie.
func (m *Manager) checkAnon(st *reqState, key string, v any) error {
	if !st.anonymous() {
		return nil
	}
	values := m.anonValues(st)
	values[key] = v
	b, err := codec{}.Encode(m.now().Add(anonTTL), values) // as sealAnon will
	if err != nil {
		return err
	}
	if len(b) > maxAnon {
		return ErrTooLarge
	}
	return nil
}

// sealAnon returns the cookie value carrying values until anonTTL from
// now.
func (m *Manager) sealAnon(values map[string]any) (string, error) {
	b, err := codec{}.Encode(m.now().Add(anonTTL), values)
	if err != nil {
		return "", err
	}
	if len(b) > maxAnon {
		return "", ErrTooLarge
	}
	c, err := m.sealer.Encrypt(b, m.anonAD)
	if err != nil {
		return "", fmt.Errorf("%w: seal anonymous state: %w", ErrStore, err)
	}
	return base64.RawURLEncoding.EncodeToString(c), nil
}

// openAnon returns the values sealed in the cookie value v, or nil if v is
// not state this Manager (or one sharing its keyring) sealed, has
// expired, or holds a signed-in identity, which sealed state never does.
// Failures are not audited: anyone can send any cookie, and an audit
// event per forged cookie would be a write amplification of its own.
func (m *Manager) openAnon(v string) map[string]any {
	c, err := base64.RawURLEncoding.DecodeString(v)
	if err != nil {
		return nil
	}
	b, err := m.sealer.Decrypt(c, m.anonAD)
	if err != nil {
		return nil
	}
	deadline, values, err := codec{}.Decode(b)
	if err != nil || !m.now().Before(deadline) || len(values) == 0 {
		return nil
	}
	if _, ok := values[metaKey]; ok {
		return nil
	}
	return values
}

// saveAnon keeps the state of a modified anonymous session in the cookie:
// sealed, or the cookie deleted when nothing is left; when the values are
// those the cookie brought, it leaves the cookie alone. It writes nothing
// to the store, except to delete a record that an anonymous session
// loaded from it (kept there by an earlier version of this package).
//
// This is beside scs rather than through it: scs keeps a session's data
// in its store under a random token, and a store write per visitor is
// what anonymous state avoids.
func (m *Manager) saveAnon(w http.ResponseWriter, st *reqState) error {
	if md := st.md.Load(); md != nil {
		if md.Stored != "" {
			if err := m.store.Delete(st.base, md.UserID, md.Stored); err != nil {
				return fmt.Errorf("%w: delete: %w", ErrStore, err)
			}
		}
		m.scs.Remove(st.sctx, metaKey)
		st.md.Store(nil)
	}
	values := m.anonValues(st)
	switch {
	case len(values) == 0:
		if st.token != "" || st.sealedIn {
			m.writeCookie(w, "", time.Time{})
		}
		return nil
	case st.sealedIn && !st.ended && sameValues(values, st.anon):
		return nil // unchanged: the cookie still holds them
	}
	v, err := m.sealAnon(values)
	if err != nil {
		return err
	}
	m.writeCookie(w, v, m.now().Add(anonTTL))
	return nil
}

// claimKey names c to [Store.Claim]: a hash of its random ID, or, for a
// challenge stored before IDs existed, of its time and data.
func (c *challenge) claimKey() string {
	h := sha256.New()
	h.Write([]byte("rampart/session/challenge/v1\x00"))
	if c.ID != "" {
		h.Write([]byte{0})
		h.Write([]byte(c.ID))
	} else {
		h.Write([]byte{1})
		h.Write(binary.BigEndian.AppendUint64(nil, uint64(c.At.UnixNano())))
		h.Write(c.Data)
	}
	return base64.RawURLEncoding.EncodeToString(h.Sum(nil))
}

// validSealed reports whether s has the shape of sealed anonymous state:
// base64url, longer than a token, at most maxSealed characters.
func validSealed(s string) bool {
	return len(s) > 43 && len(s) <= maxSealed && base64url(s)
}
