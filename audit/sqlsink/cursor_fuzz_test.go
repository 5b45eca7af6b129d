package sqlsink

import (
	"errors"
	"testing"
)

// FuzzDecodeCursor feeds untrusted Query cursors (they come back from a
// client, e.g. a "next page" link) to decodeCursor: it never panics, it
// rejects with ErrBadCursor, and what it accepts is what encodeCursor
// would issue for the same position (so a cursor names one position).
func FuzzDecodeCursor(f *testing.F) {
	f.Add(encodeCursor(1700000000000000000, 42))
	f.Add(encodeCursor(-1, 1))
	f.Add("")
	f.Add("djE6MTox")         // v1:1:1
	f.Add("djE6MTowCg")       // v1:1:0 and a newline
	f.Add("djI6MTox")         // v2:1:1
	f.Add("djE6LTk5OTk5OTk5") // v1:-99999999
	f.Fuzz(func(t *testing.T, c string) {
		ts, id, err := decodeCursor(c)
		if err != nil {
			if !errors.Is(err, ErrBadCursor) {
				t.Fatalf("decodeCursor(%q): %v, want ErrBadCursor", c, err)
			}
			return
		}
		if id <= 0 {
			t.Fatalf("decodeCursor(%q): id %d accepted", c, id)
		}
		ts2, id2, err := decodeCursor(encodeCursor(ts, id))
		if err != nil || ts2 != ts || id2 != id {
			t.Fatalf("re-encoded cursor of (%d, %d) decodes to (%d, %d, %v)", ts, id, ts2, id2, err)
		}
	})
}
