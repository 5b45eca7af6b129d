package auth

import "context"

// Computations returns how many hashes (Argon2 or bcrypt) h has computed.
// Tests use it to prove that a code path really hashed.
func (h *Hasher) Computations() uint64 { return h.computed.Load() }

// HoldSlot takes one of h's hashing slots until the returned func is called.
func (h *Hasher) HoldSlot(ctx context.Context) (release func(), err error) {
	if err := h.acquire(ctx); err != nil {
		return nil, err
	}
	return h.release, nil
}

// Dummy returns the hash that hides unknown users.
func (h *Hasher) Dummy() string { return h.dummy }
