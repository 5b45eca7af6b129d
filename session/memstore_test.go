package session_test

import (
	"testing"

	"github.com/deployedworks/rampart/session"
	"github.com/deployedworks/rampart/session/internal/storetest"
)

func TestMemoryStore(t *testing.T) {
	storetest.Run(t, storetest.Harness{
		New:    func(*testing.T) session.Store { return session.NewMemoryStore() },
		Dump:   func(_ *testing.T, s session.Store) string { return session.DumpMemoryStore(s.(*session.MemoryStore)) },
		Broken: func(*testing.T) session.Store { return storetest.Failing{} },
	})
}
