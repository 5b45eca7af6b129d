package password

import (
	"bufio"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"runtime"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestEmbeddedListIsVerbatim: the embedded file is the shared list, byte for
// byte, as data/NOTICE.md states (the CC BY-SA attribution depends on it).
func TestEmbeddedListIsVerbatim(t *testing.T) {
	zr, err := gzip.NewReader(strings.NewReader(commonPasswordsGz))
	require.NoError(t, err)
	h := sha256.New()
	n, err := io.Copy(h, zr)
	require.NoError(t, err)
	assert.Equal(t, "84f9f01da3323b41cdc030f89f7fab65bf76a7e0d5265acabb715c2b3795f148", hex.EncodeToString(h.Sum(nil)))
	assert.Less(t, len(commonPasswordsGz), int(n)/2, "stored compressed")

	zr, _ = gzip.NewReader(strings.NewReader(commonPasswordsGz))
	lines := 0
	for sc := bufio.NewScanner(zr); sc.Scan(); {
		lines++
	}
	assert.Equal(t, 100_000, lines)
}

func TestCommonPasswords(t *testing.T) {
	set, err := commonPasswords()
	require.NoError(t, err)
	// 100,000 lines, 96,518 distinct once lower-cased.
	assert.Greater(t, set.len(), 96_000)
	for _, pw := range []string{"123456", "password", "qwerty", "iloveyou", "1qaz2wsx3edc4rfv", "momsanaladventure"} {
		assert.True(t, set.contains(foldPassword(pw)), pw)
	}
	assert.True(t, set.contains(foldPassword("PASSWORD")), "compared lower-cased")
	for _, pw := range []string{"correct horse battery staple", "velvet lantern orbit", ""} {
		assert.False(t, set.contains(foldPassword(pw)), pw)
	}
	again, _ := commonPasswords()
	assert.Same(t, set, again, "built once")
}

func TestLoadPasswordSetRejectsCorruptData(t *testing.T) {
	_, err := loadPasswordSet("not gzip")
	assert.ErrorContains(t, err, "password: common password list")
	_, err = loadPasswordSet(commonPasswordsGz[:1000])
	assert.ErrorContains(t, err, "password: common password list")
}

func BenchmarkCommonPasswordLookup(b *testing.B) {
	set, err := commonPasswords()
	require.NoError(b, err)
	b.ReportAllocs()
	for b.Loop() {
		set.contains("velvet lantern orbit")
	}
}

// BenchmarkCommonPasswordLoad reports the heap the set holds (set-B).
func BenchmarkCommonPasswordLoad(b *testing.B) {
	b.ReportAllocs()
	var ms0, ms1 runtime.MemStats
	var s *passwordSet
	for b.Loop() {
		runtime.GC()
		runtime.ReadMemStats(&ms0)
		s, _ = loadPasswordSet(commonPasswordsGz)
		runtime.GC()
		runtime.ReadMemStats(&ms1)
	}
	b.ReportMetric(float64(ms1.HeapAlloc)-float64(ms0.HeapAlloc), "set-B")
	runtime.KeepAlive(s)
}

// commonListForTest returns the embedded list, folded.
func commonListForTest(t *testing.T) []string {
	t.Helper()
	zr, err := gzip.NewReader(strings.NewReader(commonPasswordsGz))
	require.NoError(t, err)
	var out []string
	for sc := bufio.NewScanner(zr); sc.Scan(); {
		if line := strings.TrimSuffix(sc.Text(), "\r"); line != "" {
			out = append(out, foldPassword(line))
		}
	}
	return out
}

func TestCommonPasswordRanks(t *testing.T) {
	set, err := commonPasswords()
	require.NoError(t, err)
	list := commonListForTest(t)
	assert.Equal(t, 1, set.rank(list[0]))
	assert.Equal(t, 2, set.rank("password"))
	assert.Equal(t, 50, set.rank("iloveyou"))
	// Entries that differ only in case keep the better rank.
	first := map[string]int{}
	for i, e := range list {
		if _, ok := first[e]; !ok {
			first[e] = i + 1
		}
	}
	for e, r := range first {
		require.Equal(t, r, set.rank(e), "%q", e)
	}
	assert.Zero(t, set.rank("velvet lantern orbit"))
	assert.Zero(t, set.rank(strings.Repeat("a", set.maxLen+1)), "longer than any entry")
}
