package password

import (
	"context"

	"github.com/deployedworks/rampart/auth/internal/hashhook"
)

// init lets package auth's tests look inside a Hasher (see hashhook).
func init() {
	hashhook.Computations = func(h any) uint64 { return h.(*Hasher).computed.Load() }
	hashhook.HoldSlot = func(h any, ctx context.Context) (func(), error) { return h.(*Hasher).acquire(ctx) }
}
