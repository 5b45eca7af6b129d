// Package hashhook lets the tests of package auth look inside a
// *password.Hasher: count the hashes it computed and hold its slots, to
// prove that a code path hashed, or did not. Package password fills the
// functions in when it is initialised; nothing else may set them.
package hashhook

import "context"

var (
	// Computations returns how many hashes (Argon2 or bcrypt) the
	// *password.Hasher h has computed.
	Computations func(h any) uint64

	// HoldSlot takes one of h's hashing slots, admitted as a request of
	// the client recorded in ctx (if any), until release is called.
	HoldSlot func(h any, ctx context.Context) (release func(), err error)
)
