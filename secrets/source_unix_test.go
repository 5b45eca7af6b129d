//go:build unix

package secrets_test

import (
	"path/filepath"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/deployedworks/rampart/secrets"
)

// TestEnvFIFODoesNotBlock is the regression test for a NAME_FILE pointing at
// a FIFO: opening it for reading would block start-up until a writer
// appeared. The lookup must fail at once instead.
func TestEnvFIFODoesNotBlock(t *testing.T) {
	t.Parallel()
	fifo := filepath.Join(t.TempDir(), "fifo")
	require.NoError(t, syscall.Mkfifo(fifo, 0o600))
	_, ok, err := envOf(map[string]string{"S_FILE": fifo}).Lookup(t.Context(), "S")
	assert.ErrorIs(t, err, secrets.ErrInvalid)
	assert.ErrorContains(t, err, "not a regular file")
	assert.False(t, ok)
}
