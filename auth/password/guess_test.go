package password

import (
	"math"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// piecesOf runs every matcher on pw and returns its pieces by text, with
// the cheapest log10 guesses of each text and kind.
func piecesOf(t *testing.T, pw string, words ...string) map[string]float64 {
	t.Helper()
	common, err := commonPasswords()
	require.NoError(t, err)
	g := newGuesser(pw)
	g.match(common, words)
	out := map[string]float64{}
	for _, p := range g.pieces {
		text := string([]rune(pw)[p.i:p.j])
		if old, ok := out[text]; !ok || p.log < old {
			out[text] = p.log
		}
	}
	return out
}

func TestGuessPieces(t *testing.T) {
	tests := []struct {
		name, pw string
		want     []string // texts found as pieces
		not      []string // texts not found
	}{
		{"list entry", "xxpasswordxx", []string{"password", "pass"}, nil},
		{"look-alikes", "xxP@ssw0rdxx", []string{"P@ssw0rd"}, nil},
		{"ambiguous look-alike 1 as i", "xx1loveyouxx", []string{"1loveyou"}, nil},
		{"ambiguous look-alike 1 as l", "xx1etmeinxx", []string{"1etmein"}, nil},
		{"one reading per look-alike", "xx1etme1nxx", nil, []string{"1etme1n"}},
		{"ambiguous look-alike 7 as t", "xx7rus7noxx", []string{"7rus7no"}, nil},
		{"reversed", "xxdrowssapxx", []string{"drowssap"}, nil},
		{"context word", "xxalicexx", []string{"alice"}, nil},
		{"context word, look-alikes", "xx@l1c3xx", []string{"@l1c3"}, nil},
		{"context word, reversed", "xxecilaxx", []string{"ecila"}, nil},
		{"sequence", "xxabcdefxx", []string{"abcdef"}, nil},
		{"descending digits", "xx97531xx", []string{"97531"}, nil},
		{"no sequence across classes", "xx789abcxx", []string{"789", "abc"}, []string{"789abc"}},
		{"row walk", "--qwerty--", []string{"qwerty"}, nil},
		{"column walks", "--1qaz2wsx--", []string{"1qaz", "2wsx"}, nil},
		{"zigzag walk", "--1q2w3e4r--", []string{"1q2w3e4r"}, nil},
		{"shifted walk", "--!QAZ--", []string{"!QAZ"}, nil},
		{"keypad walk", "--147258369--", []string{"147", "258", "369"}, nil},
		{"year", "xx1987xx", []string{"1987"}, nil},
		{"no year", "xx1887xx", nil, []string{"1887"}},
		{"date ddmmyyyy", "xx17051990xx", []string{"17051990"}, nil},
		{"date yyyymmdd", "xx19900517xx", []string{"19900517"}, nil},
		{"date with separators", "xx17/05/1990xx", []string{"17/05/1990"}, nil},
		{"date year first", "xx1990-5-17xx", []string{"1990-5-17"}, nil},
		{"no date: month 13", "xx17131990xx", nil, []string{"17131990"}},
		{"no date: mixed separators", "xx17/05-1990xx", nil, []string{"17/05-1990"}},
		{"repetition", "xxabcabcabcxx", []string{"abcabcabc"}, nil},
		{"repetition of a word", "letmeinletmein", []string{"letmeinletmein"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := piecesOf(t, tt.pw, "alice")
			for _, w := range tt.want {
				assert.Contains(t, got, w)
			}
			for _, w := range tt.not {
				assert.NotContains(t, got, w)
			}
		})
	}
}

// The variations an attacker tries make a disguised word cost more than
// the plain one, never less.
func TestGuessVariations(t *testing.T) {
	base := piecesOf(t, "password")["password"]
	assert.Equal(t, math.Log10(2), base, "rank 2")
	for _, pw := range []string{"Password", "PASSWORD", "p@ssword", "P@ssw0rd", "pAsSwOrD", "drowssap"} {
		got, ok := piecesOf(t, pw)[pw]
		require.True(t, ok, pw)
		assert.Greater(t, got, base, pw)
		assert.Less(t, got, base+3, pw)
	}
}

func TestEstimateGuesses(t *testing.T) {
	common, err := commonPasswords()
	require.NoError(t, err)
	tests := []struct {
		pw       string
		min, max float64 // log10 bounds
		kinds    uint8
	}{
		{"password", 0, 0.5, pieceCommon},
		{"P@ssw0rd12345678", 1, 4, pieceCommon},
		{"abcdefghijklmnop", 0, 3, piecePattern},
		{"alicealicealice", 0, 2, pieceContext | piecePattern},
		{"x7#Qz!m2Kp9&vB4w", 15, 16, 0}, // random: 10 guesses a character
		{"天鵝絨燈籠軌道霧雨晴雪山川河海", 15, 15, 0},
		{"correct horse battery staple", 18, 30, pieceCommon},
	}
	for _, tt := range tests {
		got, kinds := estimateGuesses(tt.pw, common, []string{"alice"})
		assert.GreaterOrEqual(t, got, tt.min, tt.pw)
		assert.LessOrEqual(t, got, tt.max, tt.pw)
		assert.Equal(t, tt.kinds, kinds, tt.pw)
	}
}

// FuzzEstimateGuesses: the estimate never panics, lies between 0 and
// brute force (10 guesses a character), and is deterministic.
func FuzzEstimateGuesses(f *testing.F) {
	common, err := commonPasswords()
	require.NoError(f, err)
	for _, s := range []string{"P@ssw0rd12345678", "letmeinletmein1", "1qaz2wsx!QAZ@WSX", "17/05/1990", "é1|7@", "aaaa", "", "x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, pw string) {
		if !utf8.ValidString(pw) || len(pw) > DefaultMaxPasswordBytes {
			return
		}
		pw = Normalize(pw)
		got, _ := estimateGuesses(pw, common, []string{"alice", "example"})
		n := float64(utf8.RuneCountInString(pw))
		if got < -1e-9 && n > 0 || got > n+1e-9 {
			t.Fatalf("%q: log10 guesses %v outside [0, %v]", pw, got, n)
		}
		if again, _ := estimateGuesses(pw, common, []string{"alice", "example"}); again != got {
			t.Fatalf("%q: %v then %v", pw, got, again)
		}
	})
}

// The filter in front of the list never hides an entry: every entry is
// marked as one, every prefix of at least minPrefix bytes as a prefix, and
// it wrongly says yes rarely.
func TestPasswordSetFilter(t *testing.T) {
	common, err := commonPasswords()
	require.NoError(t, err)
	roll := func(s string) uint64 {
		h := common.rollStart()
		for i := range len(s) {
			h = rollStep(h, s[i])
		}
		return h
	}
	for _, e := range commonListForTest(t) {
		entry, _ := common.mayHold(roll(e))
		require.True(t, entry, "%q", e)
		for l := minPrefix; l < len(e); l++ {
			_, prefix := common.mayHold(roll(e[:l]))
			require.True(t, prefix, "%q of %q", e[:l], e)
		}
	}
	falseYes := 0
	for i := range 10_000 {
		e, p := common.mayHold(roll("zq#" + strings.Repeat("x", i%7) + string(rune('a'+i%26)) + string(rune(i))))
		if e || p {
			falseYes++
		}
	}
	assert.Less(t, falseYes, 2_500, "the filter should say no to most random strings")
}
