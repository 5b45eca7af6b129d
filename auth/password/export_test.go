package password

import (
	"context"
	"time"
)

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

// ObserveHash folds a hash's duration into the estimate that admission
// refuses by (see HasherConfig.MaxWait), as a hash that took d would:
// hashes in a testing/synctest bubble take no time.
func (h *Hasher) ObserveHash(d time.Duration) { h.adm.observe(d) }
