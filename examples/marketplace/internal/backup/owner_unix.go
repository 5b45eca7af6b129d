//go:build unix

package backup

import (
	"io/fs"
	"os"
	"syscall"
)

// copyOwner gives f the owner and group of old, if allowed. It is best
// effort: an unprivileged user restoring its own files needs no change,
// and cannot make one.
func copyOwner(f *os.File, old fs.FileInfo) {
	if st, ok := old.Sys().(*syscall.Stat_t); ok {
		_ = f.Chown(int(st.Uid), int(st.Gid))
	}
}
