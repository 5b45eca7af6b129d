package headers

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"sync"

	"github.com/deployedworks/rampart/internal/reqstate"
)

const (
	nonceBytes = 16                       // 128 bits, the minimum CSP3 asks for
	nonceLen   = (nonceBytes + 2) / 3 * 4 // padded base64 length: 24
	nonceBatch = 64 * nonceBytes          // bytes read from crypto/rand at once
)

// nonceBuf holds crypto/rand output not yet handed out. A buffer is used
// by one goroutine at a time (sync.Pool hands it to one caller), every
// byte is handed out once and then zeroed, so nonces stay unpredictable
// and unique while the cost of reading the OS generator is shared by
// nonceBatch/nonceBytes requests.
type nonceBuf struct {
	b   [nonceBatch]byte
	off int
}

// nonceSource hands out 128-bit nonces from crypto/rand.
type nonceSource struct {
	pool sync.Pool
}

func newNonceSource() *nonceSource {
	s := &nonceSource{}
	s.pool.New = func() any { return &nonceBuf{off: nonceBatch} }
	return s
}

// encode writes a fresh nonce into dst in standard padded base64, the
// base64-value of CSP3 §2.3.1 (CSP Evaluator flags base64url).
func (s *nonceSource) encode(dst *[nonceLen]byte) {
	nb := s.pool.Get().(*nonceBuf)
	if nb.off == nonceBatch {
		// crypto/rand.Read never returns an error since Go 1.24: it
		// crashes the program if the OS generator fails.
		_, _ = rand.Read(nb.b[:])
		nb.off = 0
	}
	raw := nb.b[nb.off : nb.off+nonceBytes]
	base64.StdEncoding.Encode(dst[:], raw)
	clear(raw)
	nb.off += nonceBytes
	s.pool.Put(nb)
}

// nonceKey is the context key of the request's nonce: a *reqState from
// the middleware, a *string from WithNonce. It is the request state's key
// for the nonce, so that the state the Rampart layers share finds it
// without a search.
var nonceKey = reqstate.Nonce

// Nonce returns the CSP nonce of the request whose context is ctx, or ""
// when the [Policy] middleware did not run or its policy has no
// [NonceSource]. Pass it to html/template and write it on every inline
// script and style:
//
//	<script nonce="{{.Nonce}}">…</script>
//
// The value is 24 characters of base64; html/template may write '+' and
// '=' as character references inside the attribute, which browsers decode
// back. Never cache a page that contains a nonce: a nonce must be
// unpredictable and used by one response only.
func Nonce(ctx context.Context) string {
	switch p := ctx.Value(nonceKey).(type) {
	case *reqState: // the middleware's
		return p.nonce
	case *string: // WithNonce's
		return *p
	}
	return ""
}

// WithNonce returns a copy of ctx in which [Nonce] returns nonce. It is
// meant for tests of handlers and templates; the middleware ignores it and
// always writes a fresh nonce.
func WithNonce(ctx context.Context, nonce string) context.Context {
	return context.WithValue(ctx, nonceKey, &nonce)
}
