package mfatest_test

import (
	"testing"

	"github.com/deployedworks/rampart/mfa"
	"github.com/deployedworks/rampart/mfa/mfatest"
)

func TestMemoryStore(t *testing.T) {
	mfatest.TestStore(t, func(t *testing.T) any {
		s, err := mfa.NewMemoryStore(mfa.MemoryStoreConfig{})
		if err != nil {
			t.Fatal(err)
		}
		return s
	})
}
