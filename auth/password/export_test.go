package password

import "context"

// Computations returns how many hashes (Argon2 or bcrypt) h has computed.
// Tests use it to prove that a code path really hashed.
func (h *Hasher) Computations() uint64 { return h.computed.Load() }

// HoldSlot takes one of h's hashing slots, admitted as a request of the
// client recorded in ctx (if any), until the returned func is called.
func (h *Hasher) HoldSlot(ctx context.Context) (release func(), err error) {
	return h.acquire(ctx)
}

// Dummy returns the hash that hides unknown users.
func (h *Hasher) Dummy() string { return h.dummy }
