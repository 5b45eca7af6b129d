package secrets

import (
	"crypto/rand"
	"fmt"
	"log/slog"
)

// redacted is what every printing, encoding and logging path of a [Value]
// produces.
const redacted = "[REDACTED]"

// Value holds secret bytes and keeps them out of logs, error messages and
// serialized output: String, GoString, every fmt verb (%v %+v %#v %s %q %x
// %X %d and the rest, with any flags), MarshalJSON, MarshalText (so
// encoding/xml and most config encoders) and slog's LogValuer all produce
// "[REDACTED]". fmt handles %T and %p itself and shows the type or an
// address; encoding/gob refuses to encode a Value. Use [Value.Reveal] at the
// one place the bytes are needed.
//
// Redaction covers a Value printed on its own, through a pointer, in a slice
// or map, or as an exported struct field. As an unexported struct field fmt
// cannot call its methods and prints a pointer address instead, so the bytes
// still do not appear. Reflection-based dumpers that follow pointers (spew,
// and so testify's failure messages) can reach them; do not hand a Value to
// such a tool outside tests.
//
// A Value is immutable, and copies of it share the same bytes, so it is safe
// for concurrent use. The zero Value holds no bytes. Values are not
// comparable with ==; compare revealed bytes with crypto/subtle if you must.
type Value struct {
	_ [0]func() // not comparable: == would compare pointers, not secrets
	// p is a pointer so that fmt, when it cannot call Format (an unexported
	// struct field), prints an address rather than the bytes.
	p *[]byte
}

// NewValue returns a Value holding a copy of b; later changes to b do not
// affect it.
func NewValue(b []byte) Value {
	c := make([]byte, len(b))
	copy(c, b)
	return Value{p: &c}
}

// Random returns a Value holding n bytes from crypto/rand, for development
// set-ups that have no configured secret. Anything protected by a random
// secret (sessions, encrypted fields) is unreadable after a restart, so never
// use it in production. Panics if n < 1.
func Random(n int) Value {
	if n < 1 {
		panic("secrets: Random: n must be at least 1")
	}
	b := make([]byte, n)
	_, _ = rand.Read(b) // never fails (Go 1.24+): a broken system RNG aborts the program
	return Value{p: &b}
}

// Reveal returns a copy of the secret bytes, or nil for the zero Value. The
// caller may modify the copy; it does not affect v. Call it where the bytes
// are consumed (a MAC key, a database password), not earlier, so that the
// secret travels through the program redacted.
func (v Value) Reveal() []byte {
	if v.p == nil {
		return nil
	}
	c := make([]byte, len(*v.p))
	copy(c, *v.p)
	return c
}

// Len returns the number of secret bytes; it is 0 for the zero Value.
func (v Value) Len() int {
	if v.p == nil {
		return 0
	}
	return len(*v.p)
}

// bytes returns the secret without copying, for use inside the package only.
func (v Value) bytes() []byte {
	if v.p == nil {
		return nil
	}
	return *v.p
}

// String returns "[REDACTED]".
func (Value) String() string { return redacted }

// GoString returns "[REDACTED]", so %#v does not reveal the bytes.
func (Value) GoString() string { return redacted }

// Format implements fmt.Formatter: every verb, flag and width prints
// "[REDACTED]".
func (Value) Format(f fmt.State, _ rune) { _, _ = f.Write([]byte(redacted)) }

// MarshalJSON returns the JSON string "[REDACTED]".
func (Value) MarshalJSON() ([]byte, error) { return []byte(`"` + redacted + `"`), nil }

// MarshalText returns "[REDACTED]".
func (Value) MarshalText() ([]byte, error) { return []byte(redacted), nil }

// LogValue implements slog.LogValuer: the value is logged as "[REDACTED]" by
// every handler.
func (Value) LogValue() slog.Value { return slog.StringValue(redacted) }

// Compile-time checks of the interfaces that keep a Value redacted.
var (
	_ fmt.Stringer   = Value{}
	_ fmt.GoStringer = Value{}
	_ fmt.Formatter  = Value{}
	_ slog.LogValuer = Value{}
)
