package password

import (
	"testing"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

// TestNFKCShrinksAtMostFourfold backs maxPolicyInput: no code point, and
// no composed character built from the longest code points that decompose
// to its parts, is more than four times longer in UTF-8 than its NFKC form.
// It runs over every code point, so that a Unicode upgrade in x/text that
// broke the premise fails here.
func TestNFKCShrinksAtMostFourfold(t *testing.T) {
	const ratio = maxPolicyInput / DefaultMaxPasswordBytes
	longest := map[rune]int{} // code point p: longest code point whose NFKD is p alone
	var composed []rune
	var buf [utf8.UTFMax]byte
	for r := rune(0); r <= utf8.MaxRune; r++ {
		if !utf8.ValidRune(r) {
			continue
		}
		in := buf[:utf8.EncodeRune(buf[:], r)]
		if norm.NFKD.IsNormal(in) {
			continue // its own decomposition: NFKC leaves it alone too
		}
		if out := norm.NFKC.Bytes(in); len(in) > ratio*len(out) {
			t.Errorf("%U: %d bytes, %d after NFKC", r, len(in), len(out))
		}
		d := norm.NFKD.Bytes(in)
		if p, n := utf8.DecodeRune(d); n == len(d) {
			longest[p] = max(longest[p], len(in))
		} else if utf8.RuneCount(norm.NFKC.Bytes(in)) == 1 {
			composed = append(composed, r)
		}
	}
	for _, r := range composed {
		in := 0
		for _, p := range norm.NFKD.String(string(r)) {
			in += max(longest[p], utf8.RuneLen(p))
		}
		if out := len(norm.NFKC.String(string(r))); in > ratio*out {
			t.Errorf("%U: %d bytes of parts, %d composed", r, in, out)
		}
	}
}
