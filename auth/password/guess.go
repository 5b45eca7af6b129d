package password

import (
	"cmp"
	"math"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"
)

// This file estimates how many guesses an attacker who knows the common
// password list, the user's context words and the usual tricks would need
// for a password, in the manner of zxcvbn (Wheeler, "zxcvbn: Low-Budget
// Password Strength Estimation", USENIX Security 2016), so that [Policy]
// refuses common passwords in disguise: "P@ssw0rd12345678",
// "letmeinletmein1", "Alice.Smith!2024". The password is covered by pieces,
// each with a number of guesses:
//
//   - a common password or a part of one: its rank in the list (1 for the
//     most common), times the variations of case, of look-alike
//     substitutions ("@" for "a", "0" for "o", "1" for "i" or "l"…) and of
//     reversal;
//   - a context word (user name, e-mail parts, site words): 1, times the
//     same variations;
//   - a sequence ("abcdef", "97531"), a keyboard walk ("qwertyuiop",
//     "1qaz2wsx", "zxcvbn"), a year (1900–2099) or a date ("17051990",
//     "1990-05-17"): the few guesses that enumerate such patterns;
//   - a repetition of a shorter piece ("letmeinletmein", "abcabc"): the
//     guesses of that piece, times the number of repeats;
//   - anything else: 10 guesses per character (brute force, zxcvbn's
//     convention).
//
// The estimate is the cheapest cover: the product of its pieces' guesses,
// times √10 for each piece after the first, because the attacker must also
// guess how the pieces are put together. zxcvbn multiplies by l! for l
// pieces instead (and adds 10^(4(l-1)), which makes any four pieces, however
// common, look strong); √10^(l-1) is as close to l! as a constant factor
// gets for the two to five pieces that matter (3, 10, 32, 100 against 2,
// 6, 24, 120) and keeps the search linear. A password of random characters is 10^n
// for n characters; a few unrelated words are the product of their ranks,
// which for four words is beyond reach; a common word with digits or
// symbols around it is its rank times the few guesses of the decoration.
//
// The work is bounded by the input: dictionary lookups of at most
// [passwordSet.maxLen] bytes at each position for a handful of spellings,
// linear scans for the patterns, and a linear dynamic programme over the
// pieces. It allocates a few slices proportional to the password.

// Kinds of piece, as a bit set, so that a refusal can say what the
// password was built on.
const (
	pieceCommon  uint8 = 1 << iota // the common-password list
	pieceContext                   // a context word
	piecePattern                   // sequence, keyboard walk, repeat, year, date
)

// Tuning of the estimate (log10 of guesses).
const (
	bruteForceLog  = 1.0 // per character not explained otherwise
	pieceJoinLog   = 0.5 // per piece after the first
	yearLog        = 2.3 // log10(200): 1900–2099
	dateLog        = 4.9 // log10(365 × 200): a day of a year
	dateSepLog     = 0.6 // log10(4): the separator of a written date
	maxWalk        = 64  // longer keyboard walks are split, bounding the sum below
	maxPeriod      = 64  // longest unit of a repetition considered
	maxRepeats     = 64  // repetitions considered per password
	minDictRunes   = 3   // shorter list entries explain nothing brute force does not
	dateMinYear    = 1900
	dateMaxYear    = 2099
	dateYearDigits = 4
)

// piece is one candidate piece of the cover: runes [i, j) of the password,
// log10 of its guesses, and its kind. A repetition's guesses are known
// only once its unit is estimated (rep ≥ 0 indexes guesser.reps).
type piece struct {
	i, j  int
	log   float64
	kinds uint8
	rep   int
}

// repetition is a unit of runes [i, i+unit) repeated count times.
type repetition struct {
	i, unit, count int
	at             int // index of its piece once the pieces are sorted
}

// guesser holds the analysis of one password.
type guesser struct {
	runes  []rune // lower case, one per rune of the password
	upper  []bool // the password's rune was upper case
	folded string // string(runes)
	off    []int  // byte offset of each rune in folded, and len(folded)
	pieces []piece
	reps   []repetition
	byEnd  []int // pieces[byEnd[j]:byEnd[j+1]] end at rune j
	// Dynamic programme: the cheapest cover of a prefix ending with a
	// piece (a) or within a brute-force run (b), and the kinds used.
	a, b   []float64
	ka, kb []uint8
}

// estimateGuesses returns log10 of the guesses needed for password (NFKC
// normalised), with the common list and the context words (folded, at
// least minContextWord characters), and the kinds of piece the cheapest
// cover uses.
func estimateGuesses(password string, common *passwordSet, words []string) (float64, uint8) {
	g := newGuesser(password)
	n := len(g.runes)
	g.match(common, words)
	g.index()
	// Units first, shortest first: a unit's own repetitions are shorter.
	slices.SortFunc(g.reps, func(x, y repetition) int { return cmp.Compare(x.unit*x.count, y.unit*y.count) })
	for _, r := range g.reps {
		log, kinds := g.cheapest(r.i, r.i+r.unit)
		p := &g.pieces[r.at]
		p.log, p.kinds = log+math.Log10(float64(r.count)), kinds|piecePattern
	}
	return g.cheapest(0, n)
}

func newGuesser(password string) *guesser {
	n := utf8.RuneCountInString(password)
	g := &guesser{runes: make([]rune, 0, n), upper: make([]bool, 0, n), off: make([]int, 0, n+1)}
	var sb strings.Builder
	sb.Grow(len(password))
	for _, c := range password {
		l := unicode.ToLower(c)
		g.runes = append(g.runes, l)
		g.upper = append(g.upper, l != c)
		g.off = append(g.off, sb.Len())
		sb.WriteRune(l)
	}
	g.folded = sb.String()
	g.off = append(g.off, sb.Len())
	return g
}

// match adds the candidate pieces of every kind: dictionary words,
// sequences, keyboard walks, dates and repetitions (left unpriced).
func (g *guesser) match(common *passwordSet, words []string) {
	g.dictionary(common, words)
	g.sequences()
	g.walks(qwerty)
	g.walks(keypad)
	g.dates()
	g.repetitions()
}

func (g *guesser) add(i, j int, log float64, kinds uint8) {
	g.pieces = append(g.pieces, piece{i: i, j: j, log: log, kinds: kinds, rep: -1})
}

// unleet returns the letter a look-alike character stands for (zxcvbn's
// table), and whether it does. The ambiguous ones ("1" and "|" for i or l,
// "7" for t or l) take their second reading when alt is set.
func unleet(c rune, alt bool) (rune, bool) {
	switch c {
	case '4', '@':
		return 'a', true
	case '8':
		return 'b', true
	case '(', '{', '[', '<':
		return 'c', true
	case '3':
		return 'e', true
	case '6', '9':
		return 'g', true
	case '!':
		return 'i', true
	case '1', '|':
		if alt {
			return 'l', true
		}
		return 'i', true
	case '7':
		if alt {
			return 'l', true
		}
		return 't', true
	case '+':
		return 't', true
	case '0':
		return 'o', true
	case '$', '5':
		return 's', true
	case '%':
		return 'x', true
	case '2':
		return 'z', true
	}
	return c, false
}

// ambiguousLeet lists the look-alikes with two readings; a spelling of the
// password picks one reading for each, bit k of a spelling for
// ambiguousLeet[k].
const ambiguousLeet = "1|7"

// ambiguity returns the bit of c in a spelling, or 0.
func ambiguity(c rune) int {
	switch c {
	case '1':
		return 1
	case '|':
		return 2
	case '7':
		return 4
	}
	return 0
}

// dictionary adds the parts of the password that are common passwords or
// context words: as typed, with every look-alike read as its letter (each
// reading of the ambiguous ones present), and reversed.
func (g *guesser) dictionary(common *passwordSet, words []string) {
	n := len(g.runes)
	g.lookup(common, words, g.folded, g.off, 0, false)

	// Look-alike spellings. The replaced characters and their letters are
	// ASCII, so the byte offsets are those of folded.
	present := 0
	anyLeet := false
	for _, c := range g.runes {
		if _, ok := unleet(c, false); ok {
			anyLeet = true
			present |= ambiguity(c)
		}
	}
	if anyLeet {
		buf := make([]byte, len(g.folded))
		for alt := 0; alt < 1<<len(ambiguousLeet); alt++ {
			if alt&^present != 0 {
				continue // a reading of a character that is not there
			}
			copy(buf, g.folded)
			for k, c := range g.runes {
				if l, ok := unleet(c, alt&ambiguity(c) != 0); ok {
					buf[g.off[k]] = byte(l) // #nosec G115 -- unleet returns ASCII letters only
				}
			}
			g.lookup(common, words, string(buf), g.off, alt, false)
		}
	}

	// Reversed ("drowssap").
	rev := make([]rune, n)
	for k, c := range g.runes {
		rev[n-1-k] = c
	}
	rs := string(rev)
	roff := make([]int, 0, n+1)
	for k := range rs {
		roff = append(roff, k)
	}
	roff = append(roff, len(rs))
	g.lookup(common, words, rs, roff, 0, true)
}

// lookup adds the pieces of s (a spelling of the password, with rune
// offsets off) found in the list or among words. For a look-alike
// spelling, alt is its reading of the ambiguous look-alikes: a part of the
// password is looked up in the spelling that reads the ambiguous ones it
// holds, and no other (the others spell it the same). For the reversed
// spelling, positions are mapped back.
func (g *guesser) lookup(common *passwordSet, words []string, s string, off []int, alt int, reversed bool) {
	n := len(off) - 1
	spelled := s != g.folded && !reversed
	// mine reports whether this spelling is the one to look [i, j) up in.
	mine := func(i, j int, ambiguous int) bool {
		return !spelled || alt&^ambiguous == 0 && g.respelled(s, i, j)
	}
	at := func(i, j int) (int, int) {
		if reversed {
			return n - j, n - i
		}
		return i, j
	}
	for i := 0; i+minDictRunes <= n; i++ {
		// Extend s[i:j] one rune at a time while some entry may start
		// with it (see passwordSet).
		h, ambiguous := common.rollStart(), 0
		for j := i + 1; j <= n && off[j]-off[i] <= common.maxLen; j++ {
			for b := off[j-1]; b < off[j]; b++ {
				h = rollStep(h, s[b])
			}
			if spelled {
				ambiguous |= ambiguity(g.runes[j-1])
			}
			if off[j]-off[i] < minPrefix {
				continue
			}
			entry, prefix := common.mayHold(h)
			if pi, pj := at(i, j); entry && j-i >= minDictRunes && mine(pi, pj, ambiguous) {
				if r := common.rank(s[off[i]:off[j]]); r > 0 {
					g.add(pi, pj, math.Log10(float64(r))+g.variations(s, pi, pj, spelled, reversed), pieceCommon)
				}
			}
			if !prefix {
				break
			}
		}
	}
	for _, w := range words {
		for from := 0; from < len(s); {
			k := strings.Index(s[from:], w)
			if k < 0 {
				break
			}
			k += from
			i, _ := slices.BinarySearch(off, k)
			j, _ := slices.BinarySearch(off, k+len(w))
			from = k + 1
			pi, pj := at(i, j)
			ambiguous := 0
			for _, c := range g.runes[pi:pj] {
				ambiguous |= ambiguity(c)
			}
			if !mine(pi, pj, ambiguous) {
				continue
			}
			g.add(pi, pj, g.variations(s, pi, pj, spelled, reversed), pieceContext)
		}
	}
}

// respelled reports whether the spelling s differs from the password in
// runes [i, j).
func (g *guesser) respelled(s string, i, j int) bool {
	return s[g.off[i]:g.off[j]] != g.folded[g.off[i]:g.off[j]]
}

// variations returns log10 of the spellings an attacker tries for a word
// found at runes [i, j): its capitalisations (zxcvbn: 2 for a capital first
// or last letter or all capitals, else the sums of binomials), its
// look-alike substitutions if spelled, and 2 if reversed.
func (g *guesser) variations(s string, i, j int, spelled, reversed bool) float64 {
	up, low := 0, 0
	for k := i; k < j; k++ {
		switch {
		case g.upper[k]:
			up++
		case unicode.IsLetter(g.runes[k]):
			low++
		}
	}
	v := 1.0
	switch {
	case up == 0:
	case low == 0, up == 1 && (g.upper[i] || g.upper[j-1]):
		v = 2
	default:
		v = binomialSum(up+low, min(up, low))
	}
	if spelled {
		// For each look-alike character used: how many of the letter it
		// stands for are substituted (S) and how many are not (U).
		var done [2]uint64 // look-alikes (ASCII) counted already
		for k := i; k < j; k++ {
			c := g.runes[k]
			if c >= utf8.RuneSelf || done[c/64]&(1<<(c%64)) != 0 || s[g.off[k]] == g.folded[g.off[k]] {
				continue
			}
			done[c/64] |= 1 << (c % 64)
			letter := rune(s[g.off[k]])
			subs, plain := 0, 0
			for m := i; m < j; m++ {
				switch g.runes[m] {
				case c:
					subs++
				case letter:
					plain++
				}
			}
			if plain == 0 {
				v *= 2
			} else {
				v *= binomialSum(subs+plain, min(subs, plain))
			}
		}
	}
	if reversed {
		v *= 2
	}
	return math.Log10(v)
}

// binomialSum returns C(n, 1) + … + C(n, k).
func binomialSum(n, k int) float64 {
	sum, c := 0.0, 1.0
	for i := 1; i <= k; i++ {
		c = c * float64(n-i+1) / float64(i)
		sum += c
	}
	return max(sum, 1)
}

// sequences adds runs of at least three ASCII letters or digits with a
// constant step of at most 5 ("abcdef", "13579", "zyx"): zxcvbn's guesses,
// 4 for an obvious start (a, z, 0, 1, 9), else 10 for digits and 26 for
// letters, times 2 if descending, 2 if capitalised, and the length.
func (g *guesser) sequences() {
	n := len(g.runes)
	class := func(c rune) int {
		switch {
		case '0' <= c && c <= '9':
			return 1
		case 'a' <= c && c <= 'z':
			return 2
		}
		return 0
	}
	for i := 0; i+2 < n; {
		d := g.runes[i+1] - g.runes[i]
		cl := class(g.runes[i])
		j := i + 1
		for j < n && class(g.runes[j]) == cl && g.runes[j]-g.runes[j-1] == d {
			j++
		}
		if cl != 0 && d != 0 && d >= -5 && d <= 5 && j-i >= 3 {
			base := 26.0
			switch {
			case strings.ContainsRune("az019", g.runes[i]):
				base = 4
			case cl == 1:
				base = 10
			}
			if d < 0 {
				base *= 2
			}
			if slices.Contains(g.upper[i:j], true) {
				base *= 2
			}
			g.add(i, j, math.Log10(base*float64(j-i)), piecePattern)
		}
		i = max(j-1, i+1) // runs may share their end ("abcba")
	}
}

// key is a position on a keyboard; ok is false for characters not on it.
type key struct {
	x, y    int8
	shifted bool
	ok      bool
}

// keyboard places the ASCII characters on a keyboard.
type keyboard struct {
	keys    [utf8.RuneSelf]key
	slanted bool    // rows offset as on a typewriter; else a grid
	starts  float64 // zxcvbn's starting positions and average degree
	degree  float64
}

// newKeyboard lays out rows of unshifted and shifted characters; row y
// starts at column offset[y].
func newKeyboard(rows [][2]string, offset []int8, slanted bool, starts, degree float64) *keyboard {
	kb := &keyboard{slanted: slanted, starts: starts, degree: degree}
	for y, r := range rows {
		for shifted, chars := range r {
			for x, c := range []byte(chars) {
				if c != ' ' {
					kb.keys[c] = key{x: offset[y] + int8(x), y: int8(y), shifted: shifted == 1, ok: true}
				}
			}
		}
	}
	return kb
}

// The keyboards walks are looked for on, built once, never modified: US
// QWERTY, its rows slanted as zxcvbn does so that "1", "q", "a", "z" form a
// column, and a numeric keypad.
var (
	qwerty = newKeyboard([][2]string{
		{"`1234567890-=", "~!@#$%^&*()_+"},
		{"qwertyuiop[]\\", "QWERTYUIOP{}|"},
		{"asdfghjkl;'", "ASDFGHJKL:\""},
		{"zxcvbnm,./", "ZXCVBNM<>?"},
	}, []int8{0, 1, 1, 1}, true, 94, 4.596)
	keypad = newKeyboard([][2]string{{" /*-", ""}, {"789+", ""}, {"456", ""}, {"123", ""}, {" 0.", ""}},
		[]int8{0, 0, 0, 0, 0}, false, 15, 5.066)
)

// place returns the key of c (lower case; upper reports a capital, typed
// with shift).
func (kb *keyboard) place(c rune, upper bool) key {
	if c >= utf8.RuneSelf {
		return key{}
	}
	k := kb.keys[c]
	k.shifted = k.shifted || upper
	return k
}

// direction returns which of the neighbours of a b is, or -1. On the
// slanted layout the six neighbours are left, right, the two keys above (x,
// x+1) and the two below (x-1, x); on a grid there are eight.
func (kb *keyboard) direction(a, b key) int {
	dx, dy := b.x-a.x, b.y-a.y
	switch {
	case dx < -1 || dx > 1 || dy < -1 || dy > 1 || dx == 0 && dy == 0:
		return -1
	case kb.slanted && dx == dy:
		return -1 // (-1,-1) and (1,1) are not adjacent when slanted
	}
	return int(3*(dy+1) + dx + 1)
}

// walks adds keyboard walks of at least three keys, each adjacent to the
// one before ("qwerty", "1qaz2wsx", "zxcvbn", "7895123"), with zxcvbn's
// guesses: the walks of that length with that many turns from any starting
// key, times the variations of shifted keys.
func (g *guesser) walks(kb *keyboard) {
	n := len(g.runes)
	for i := 0; i+2 < n; {
		k0 := kb.place(g.runes[i], g.upper[i])
		if !k0.ok {
			i++
			continue
		}
		j, turns, last, shifted := i+1, 0, -1, 0
		if k0.shifted {
			shifted++
		}
		for prev := k0; j < n && j-i < maxWalk; j++ {
			k := kb.place(g.runes[j], g.upper[j])
			d := -1
			if k.ok {
				d = kb.direction(prev, k)
			}
			if d < 0 {
				break
			}
			if d != last {
				turns, last = turns+1, d
			}
			if k.shifted {
				shifted++
			}
			prev = k
		}
		if l := j - i; l >= 3 {
			guesses := 0.0
			for m := 2; m <= l; m++ {
				c := 1.0 // C(m-1, t-1)
				for t := 1; t <= min(turns, m-1); t++ {
					guesses += c * kb.starts * math.Pow(kb.degree, float64(t))
					c = c * float64(m-t) / float64(t) // C(m-1, t)
				}
			}
			if shifted > 0 {
				if shifted == l {
					guesses *= 2
				} else {
					guesses *= binomialSum(l, min(shifted, l-shifted))
				}
			}
			g.add(i, j, math.Log10(guesses), piecePattern)
		}
		i = j
	}
}

// dates adds years (1900–2099) and dates written with digits only
// (ddmmyyyy, mmddyyyy, yyyymmdd and the same with two-digit years) or with
// one separator ("17/5/1990", "1990-05-17", "5.17.90").
func (g *guesser) dates() {
	n := len(g.runes)
	digits := func(i, j int) (int, bool) {
		if i < 0 || j > n || i >= j {
			return 0, false
		}
		v := 0
		for _, c := range g.runes[i:j] {
			if c < '0' || c > '9' {
				return 0, false
			}
			v = v*10 + int(c-'0')
		}
		return v, true
	}
	year := func(i, j int) bool {
		y, ok := digits(i, j)
		return ok && (j-i == 2 || j-i == dateYearDigits && dateMinYear <= y && y <= dateMaxYear)
	}
	dayMonth := func(a, b int) bool { return 1 <= b && b <= 12 && 1 <= a && a <= 31 }
	for i := 0; i < n; i++ {
		if g.runes[i] < '0' || g.runes[i] > '9' {
			continue
		}
		if year(i, i+4) {
			g.add(i, i+4, yearLog, piecePattern)
		}
		// Without separators: day, month and year in the usual orders.
		for _, l := range []int{6, 8} {
			yl := l - 4
			if _, ok := digits(i, i+l); !ok {
				continue
			}
			p, _ := digits(i, i+2)
			q, _ := digits(i+2, i+4)
			r, _ := digits(i+yl, i+yl+2)
			s, _ := digits(i+yl+2, i+l)
			if year(i+4, i+l) && (dayMonth(p, q) || dayMonth(q, p)) || year(i, i+yl) && dayMonth(s, r) {
				g.add(i, i+l, dateLog, piecePattern)
			}
		}
		// With a separator: 1–2, 1–2, 2 or 4 digits, or 4, 1–2, 1–2.
		for _, shape := range [][3]int{{1, 1, 2}, {1, 2, 2}, {2, 1, 2}, {2, 2, 2}, {1, 1, 4}, {1, 2, 4}, {2, 1, 4}, {2, 2, 4}, {4, 1, 1}, {4, 1, 2}, {4, 2, 1}, {4, 2, 2}} {
			a, b, c := shape[0], shape[1], shape[2]
			j := i + a + b + c + 2
			if j > n || !strings.ContainsRune(" -./\\_,", g.runes[i+a]) || g.runes[i+a+b+1] != g.runes[i+a] {
				continue
			}
			x, ok1 := digits(i, i+a)
			y, ok2 := digits(i+a+1, i+a+1+b)
			z, ok3 := digits(i+a+b+2, j)
			if !ok1 || !ok2 || !ok3 {
				continue
			}
			if a == 4 && year(i, i+4) && dayMonth(z, y) || a < 4 && year(i+a+b+2, j) && (dayMonth(x, y) || dayMonth(y, x)) {
				g.add(i, j, dateLog+dateSepLog, piecePattern)
			}
		}
	}
}

// repetitions adds each maximal repetition of a unit of at most maxPeriod
// runes that is not itself a repetition ("abcabcabc" as "abc" three times,
// not "abcabc" and more), at most maxRepeats of them; estimateGuesses
// prices them once the unit's pieces are known.
func (g *guesser) repetitions() {
	n := len(g.runes)
	for p := 1; p <= min(maxPeriod, n/2); p++ {
		for s := 0; s+p < n; {
			t := s
			for t+p < n && g.runes[t] == g.runes[t+p] {
				t++
			}
			// runes[s : t+p] has period p.
			if count := (t - s + p) / p; count >= 2 && primitive(g.runes[s:s+p]) {
				if len(g.reps) == maxRepeats {
					return
				}
				g.reps = append(g.reps, repetition{i: s, unit: p, count: count})
				g.pieces = append(g.pieces, piece{i: s, j: s + p*count, log: math.Inf(1), kinds: piecePattern, rep: len(g.reps) - 1})
			}
			s = t + 1
		}
	}
}

// primitive reports whether u is not a repetition of a shorter unit.
func primitive(u []rune) bool {
	for q := 1; q <= len(u)/2; q++ {
		if len(u)%q == 0 && slices.Equal(u[q:], u[:len(u)-q]) {
			return false
		}
	}
	return true
}

// index sorts the pieces by end and builds byEnd and the programme's
// arrays.
func (g *guesser) index() {
	n := len(g.runes)
	slices.SortFunc(g.pieces, func(x, y piece) int { return cmp.Compare(x.j, y.j) })
	g.byEnd = make([]int, n+2)
	for k, p := range g.pieces {
		g.byEnd[p.j+1] = k + 1
		if p.rep >= 0 {
			g.reps[p.rep].at = k
		}
	}
	for j := 1; j < len(g.byEnd); j++ {
		g.byEnd[j] = max(g.byEnd[j], g.byEnd[j-1])
	}
	g.a, g.b = make([]float64, n+1), make([]float64, n+1)
	g.ka, g.kb = make([]uint8, n+1), make([]uint8, n+1)
}

// cheapest returns log10 of the guesses of the cheapest cover of runes
// [lo, hi) by pieces inside it and brute force, and the kinds it uses.
func (g *guesser) cheapest(lo, hi int) (float64, uint8) {
	inf := math.Inf(1)
	g.a[lo], g.b[lo], g.ka[lo], g.kb[lo] = 0, inf, 0, 0
	for k := lo + 1; k <= hi; k++ {
		// Brute force: extend the run, or start one after a piece.
		g.b[k], g.kb[k] = g.b[k-1]+bruteForceLog, g.kb[k-1]
		if c := g.a[k-1] + pieceJoinLog + bruteForceLog; c < g.b[k] {
			g.b[k], g.kb[k] = c, g.ka[k-1]
		}
		g.a[k] = inf
		for _, p := range g.pieces[g.byEnd[k]:g.byEnd[k+1]] {
			if p.i < lo {
				continue
			}
			prev, kinds := g.a[p.i], g.ka[p.i]
			if g.b[p.i] < prev {
				prev, kinds = g.b[p.i], g.kb[p.i]
			}
			if c := prev + p.log + pieceJoinLog; c < g.a[k] {
				g.a[k], g.ka[k] = c, kinds|p.kinds
			}
		}
	}
	if g.b[hi] < g.a[hi] {
		return g.b[hi] - pieceJoinLog, g.kb[hi]
	}
	return g.a[hi] - pieceJoinLog, g.ka[hi]
}
