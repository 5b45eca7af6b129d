package backup

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/deployedworks/rampart/secrets"
)

var updateGolden = flag.Bool("update-golden", false, "rewrite testdata/*.bak (only when the format version changes)")

// newKeyring returns a keyring with one random key named id.
func newKeyring(t testing.TB, id string) *secrets.Keyring {
	t.Helper()
	kr, err := secrets.NewKeyring(secrets.Key{ID: id, Secret: secrets.Random(32)})
	require.NoError(t, err)
	return kr
}

// goldenKeyring holds the fixed key the testdata backups are sealed under.
func goldenKeyring(t testing.TB) *secrets.Keyring {
	t.Helper()
	key := make([]byte, 32)
	for i := range key {
		key[i] = byte(i + 1)
	}
	kr, err := secrets.NewKeyring(secrets.Key{ID: "golden-2026", Secret: secrets.NewValue(key)})
	require.NoError(t, err)
	return kr
}

var goldenCreated = time.Date(2026, 6, 25, 12, 0, 0, 0, time.UTC)

// payload returns n deterministic bytes.
func payload(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*7 + i/251)
	}
	return b
}

// sealBytes returns a backup of data.
func sealBytes(t testing.TB, kr *secrets.Keyring, data []byte, chunkSize int) []byte {
	t.Helper()
	var buf bytes.Buffer
	_, err := seal(context.Background(), &buf, bytes.NewReader(data), int64(len(data)), kr, chunkSize, goldenCreated)
	require.NoError(t, err)
	return buf.Bytes()
}

// split returns a backup's preamble and its records, each with its length
// prefix.
func split(t testing.TB, b []byte) (pre []byte, recs [][]byte) {
	t.Helper()
	require.GreaterOrEqual(t, len(b), preambleSize)
	pre, b = b[:preambleSize], b[preambleSize:]
	for len(b) > 0 {
		require.GreaterOrEqual(t, len(b), frameLenSize)
		n := frameLenSize + int(binary.BigEndian.Uint32(b))
		require.GreaterOrEqual(t, len(b), n)
		recs = append(recs, b[:n])
		b = b[n:]
	}
	return pre, recs
}

func join(pre []byte, recs ...[]byte) []byte {
	out := bytes.Clone(pre)
	for _, r := range recs {
		out = append(out, r...)
	}
	return out
}

func flip(b []byte, off int) []byte {
	c := bytes.Clone(b)
	c[off] ^= 0x01
	return c
}

// sentinels are the errors every refusal of a backup wraps one of.
var sentinels = []error{ErrNotBackup, ErrUnsupportedVersion, ErrTruncated, ErrTampered, ErrWrongKey}

func TestSealOpenRoundTrip(t *testing.T) {
	const c = 64
	kr := newKeyring(t, "k1")
	for _, n := range []int{0, 1, c - 1, c, c + 1, 3 * c, 5*c + 7} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			data := payload(n)
			var buf bytes.Buffer
			made, err := seal(t.Context(), &buf, bytes.NewReader(data), int64(n), kr, c, goldenCreated.Add(1500*time.Microsecond))
			require.NoError(t, err)

			var out bytes.Buffer
			got, err := open(t.Context(), bytes.NewReader(buf.Bytes()), kr, &out)
			require.NoError(t, err)
			assert.True(t, bytes.Equal(data, out.Bytes()))
			assert.Equal(t, made, got)

			sum := sha256.Sum256(data)
			assert.Equal(t, hex.EncodeToString(sum[:]), got.SHA256)
			assert.Len(t, got.ID, 32)
			assert.Equal(t, goldenCreated.Add(time.Millisecond), got.Created, "millisecond precision, UTC")
			assert.Equal(t, "k1", got.KeyID)
			assert.Equal(t, int64(n), got.Size)
			assert.Equal(t, int64(max(1, (n+c-1)/c)), got.Chunks)
			assert.Equal(t, c, got.ChunkSize)
			assert.Equal(t, int64(buf.Len()), got.EncryptedSize)

			pre, recs := split(t, buf.Bytes())
			assert.Equal(t, "RAMPBKUP\x01\x00\x00\x00\x00\x00\x00\x40", string(pre[:16]))
			assert.Len(t, recs, 3+int(got.Chunks), "key check, header, chunks, trailer")
		})
	}
}

func TestSealTwiceDiffers(t *testing.T) {
	kr := newKeyring(t, "k1")
	a := sealBytes(t, kr, payload(100), 64)
	b := sealBytes(t, kr, payload(100), 64)
	assert.NotEqual(t, a[16:32], b[16:32], "random backup IDs")
	assert.NotEqual(t, a, b)
}

// TestOpenRejects tampers with a backup in every structural way we know.
func TestOpenRejects(t *testing.T) {
	const c = 64
	kr := newKeyring(t, "k1")
	good := sealBytes(t, kr, payload(5*c+10), c) // chunks 0..5
	pre, recs := split(t, good)
	require.Len(t, recs, 2+6+1)
	keyCheck, header, trailer := recs[0], recs[1], recs[len(recs)-1]
	chunk := func(i int) []byte { return recs[2+i] }
	chunks := func(idx ...int) [][]byte {
		var out [][]byte
		for _, i := range idx {
			out = append(out, chunk(i))
		}
		return out
	}
	other := sealBytes(t, kr, payload(5*c+10), c) // same data, key and size: a different backup
	otherPre, otherRecs := split(t, other)
	withPre := func(p []byte) []byte { return join(p, recs...) }
	setChunkSize := func(n uint32) []byte {
		p := bytes.Clone(pre)
		binary.BigEndian.PutUint32(p[12:16], n)
		return withPre(p)
	}
	setFrameLen := func(rec []byte, n uint32) []byte {
		r := bytes.Clone(rec)
		binary.BigEndian.PutUint32(r, n)
		return r
	}
	seq := func(parts ...[][]byte) []byte {
		var all [][]byte
		for _, p := range parts {
			all = append(all, p...)
		}
		return join(pre, all...)
	}
	one := func(r []byte) [][]byte { return [][]byte{r} }
	head := [][]byte{keyCheck, header}

	tests := []struct {
		name  string
		input []byte
		want  error
	}{
		{"empty", nil, ErrTruncated},
		{"magic prefix only", []byte("RAMP"), ErrTruncated},
		{"preamble only", bytes.Clone(pre), ErrTruncated},
		{"garbage", bytes.Repeat([]byte{0xA5}, 4096), ErrNotBackup},
		{"short garbage", []byte("hi"), ErrNotBackup},
		{"raw sqlite database", append([]byte("SQLite format 3\x00"), make([]byte, 4080)...), ErrNotBackup},
		{"secrets ciphertext", mustEncrypt(t, kr), ErrNotBackup},
		{"magic bit flipped", flip(good, 3), ErrNotBackup},
		{"version 2", func() []byte { b := bytes.Clone(good); b[8] = 2; return b }(), ErrUnsupportedVersion},
		{"reserved byte set", flip(good, 10), ErrTampered},
		{"chunk size zero", setChunkSize(0), ErrTampered},
		{"chunk size huge", setChunkSize(1 << 31), ErrTampered},
		{"chunk size changed in range", setChunkSize(128), ErrTampered},
		{"backup ID bit flipped", flip(good, 20), ErrTampered},
		{"preamble of another backup", withPre(otherPre), ErrTampered},
		{"key check tag bit flipped", join(pre, append([][]byte{flip(keyCheck, len(keyCheck)-1)}, recs[1:]...)...), ErrWrongKey},
		{"key check frame length too long", join(pre, append([][]byte{setFrameLen(keyCheck, 200)}, recs[1:]...)...), ErrTampered},
		{"header bit flipped", seq(one(keyCheck), one(flip(header, 40)), recs[2:]), ErrTampered},
		{"header frame length changed", seq(one(keyCheck), one(setFrameLen(header, 100)), recs[2:]), ErrTampered},
		{"header of another backup", seq(one(keyCheck), one(otherRecs[1]), recs[2:]), ErrTampered},
		{"first chunk bit flipped", seq(head, one(flip(chunk(0), 50)), recs[3:]), ErrTampered},
		{"middle chunk bit flipped", seq(head, chunks(0, 1), one(flip(chunk(2), 60)), recs[5:]), ErrTampered},
		{"final chunk bit flipped", seq(head, chunks(0, 1, 2, 3, 4), one(flip(chunk(5), 50)), one(trailer)), ErrTampered},
		{"chunk frame length changed", seq(head, chunks(0), one(setFrameLen(chunk(1), 1000)), recs[4:]), ErrTampered},
		{"chunks swapped", seq(head, chunks(0, 2, 1, 3, 4, 5), one(trailer)), ErrTampered},
		{"chunk duplicated", seq(head, chunks(0, 1, 1, 2, 3, 4, 5), one(trailer)), ErrTampered},
		{"chunk removed", seq(head, chunks(0, 2, 3, 4, 5), one(trailer)), ErrTampered},
		{"final chunk removed", seq(head, chunks(0, 1, 2, 3, 4), one(trailer)), ErrTampered},
		{"final chunk moved early", seq(head, chunks(0, 1, 2, 3, 5), one(trailer)), ErrTampered},
		{"chunk of another backup", seq(head, chunks(0, 1), one(otherRecs[4]), chunks(3, 4, 5), one(trailer)), ErrTampered},
		{"trailer bit flipped", seq(head, chunks(0, 1, 2, 3, 4, 5), one(flip(trailer, 30))), ErrTampered},
		{"trailer of another backup", seq(head, chunks(0, 1, 2, 3, 4, 5), one(otherRecs[len(otherRecs)-1])), ErrTampered},
		{"trailer removed", seq(head, chunks(0, 1, 2, 3, 4, 5)), ErrTruncated},
		{"trailer duplicated", seq(head, chunks(0, 1, 2, 3, 4, 5), one(trailer), one(trailer)), ErrTampered},
		{"one byte appended", append(bytes.Clone(good), 0), ErrTampered},
		{"backup appended", append(bytes.Clone(good), other...), ErrTampered},
		{"last byte removed", good[:len(good)-1], ErrTruncated},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out bytes.Buffer
			_, err := open(t.Context(), bytes.NewReader(tt.input), kr, &out)
			require.ErrorIs(t, err, tt.want)
			for _, s := range sentinels {
				if s != tt.want {
					assert.NotErrorIs(t, err, s, "exactly one reason")
				}
			}
		})
	}

	t.Run("control: unmodified", func(t *testing.T) {
		_, err := open(t.Context(), bytes.NewReader(seq(head, chunks(0, 1, 2, 3, 4, 5), one(trailer))), kr, io.Discard)
		require.NoError(t, err)
	})
}

func mustEncrypt(t *testing.T, kr *secrets.Keyring) []byte {
	ct, err := kr.Encrypt(payload(100), nil)
	require.NoError(t, err)
	return ct
}

// TestOpenTruncatedEveryLength cuts a backup at every length: each prefix
// is refused as truncated, never as something else and never accepted.
func TestOpenTruncatedEveryLength(t *testing.T) {
	kr := newKeyring(t, "k1")
	for _, n := range []int{0, 100, 3 * 64} {
		good := sealBytes(t, kr, payload(n), 64)
		for cut := range len(good) {
			_, err := open(t.Context(), bytes.NewReader(good[:cut]), kr, io.Discard)
			require.ErrorIs(t, err, ErrTruncated, "payload %d cut at %d of %d", n, cut, len(good))
		}
	}
}

// TestOpenEveryByteFlipped flips bits in every byte of a backup: each
// change is refused, with the reason expected for where it is.
func TestOpenEveryByteFlipped(t *testing.T) {
	kr := newKeyring(t, "k1")
	good := sealBytes(t, kr, payload(150), 64)
	pre, recs := split(t, good)
	keyCheckEnd := len(pre) + len(recs[0])
	for off := range good {
		for _, bit := range []byte{0x01, 0x80} {
			bad := bytes.Clone(good)
			bad[off] ^= bit
			_, err := open(t.Context(), bytes.NewReader(bad), kr, io.Discard)
			switch {
			case off < len(magic):
				require.ErrorIs(t, err, ErrNotBackup, "offset %d", off)
			case off == 8:
				require.ErrorIs(t, err, ErrUnsupportedVersion, "offset %d", off)
			case off >= len(pre)+frameLenSize+2 && off < keyCheckEnd:
				// The key ID, nonce or tag of the key check.
				require.ErrorIs(t, err, ErrWrongKey, "offset %d", off)
			default:
				require.ErrorIs(t, err, ErrTampered, "offset %d bit %#x", off, bit)
			}
		}
	}
}

func TestOpenKeys(t *testing.T) {
	oldKey := secrets.Key{ID: "2025-12", Secret: secrets.Random(32)}
	newKey := secrets.Key{ID: "2026-06", Secret: secrets.Random(32)}
	old, err := secrets.NewKeyring(oldKey)
	require.NoError(t, err)
	rotated, err := secrets.NewKeyring(newKey, oldKey)
	require.NoError(t, err)
	sameIDOtherKey, err := secrets.NewKeyring(secrets.Key{ID: "2025-12", Secret: secrets.Random(32)})
	require.NoError(t, err)
	onlyNew, err := secrets.NewKeyring(newKey)
	require.NoError(t, err)

	data := payload(300)
	b := sealBytes(t, old, data, 64)

	tests := []struct {
		name string
		kr   *secrets.Keyring
		want error
	}{
		{"same keyring", old, nil},
		{"rotated: old key no longer primary", rotated, nil},
		{"old key retired", onlyNew, ErrWrongKey},
		{"other key with the same ID", sameIDOtherKey, ErrWrongKey},
		{"unrelated keyring", newKeyring(t, "other"), ErrWrongKey},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out bytes.Buffer
			man, err := open(t.Context(), bytes.NewReader(b), tt.kr, &out)
			if tt.want != nil {
				require.ErrorIs(t, err, tt.want)
				assert.Equal(t, "2025-12", man.KeyID, "the error names the key needed")
				assert.Contains(t, err.Error(), `"2025-12"`)
				return
			}
			require.NoError(t, err)
			assert.True(t, bytes.Equal(data, out.Bytes()))
			assert.Equal(t, "2025-12", man.KeyID)
		})
	}

	t.Run("nil keyring", func(t *testing.T) {
		_, err := open(t.Context(), bytes.NewReader(b), nil, io.Discard)
		require.Error(t, err)
		_, err = open(t.Context(), bytes.NewReader(b), &secrets.Keyring{}, io.Discard)
		require.Error(t, err)
	})
}

// errReader fails after its data runs out, as a broken disk or network would.
type errReader struct {
	data []byte
	err  error
}

func (r *errReader) Read(p []byte) (int, error) {
	if len(r.data) == 0 {
		return 0, r.err
	}
	n := copy(p, r.data)
	r.data = r.data[n:]
	return n, nil
}

type errWriter struct{ err error }

func (w errWriter) Write([]byte) (int, error) { return 0, w.err }

func TestOpenSealIOErrors(t *testing.T) {
	kr := newKeyring(t, "k1")
	good := sealBytes(t, kr, payload(1000), 64)
	boom := errors.New("disk on fire")

	for _, cut := range []int{0, 10, preambleSize, 200, len(good) - 1, len(good)} {
		_, err := open(t.Context(), &errReader{good[:cut], boom}, kr, io.Discard)
		require.ErrorIs(t, err, boom, "cut at %d", cut)
		assert.False(t, rejected(err), "an I/O error is not a refusal of the backup")
	}

	_, err := open(t.Context(), bytes.NewReader(good), kr, errWriter{boom})
	require.ErrorIs(t, err, boom)

	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	_, err = open(ctx, bytes.NewReader(good), kr, io.Discard)
	require.ErrorIs(t, err, context.Canceled)
	_, err = seal(ctx, io.Discard, bytes.NewReader(payload(10)), 10, kr, 64, goldenCreated)
	require.ErrorIs(t, err, context.Canceled)

	_, err = seal(t.Context(), errWriter{boom}, bytes.NewReader(payload(10)), 10, kr, 64, goldenCreated)
	require.ErrorIs(t, err, boom)
	_, err = seal(t.Context(), io.Discard, bytes.NewReader(payload(10)), 11, kr, 64, goldenCreated)
	require.ErrorIs(t, err, io.ErrUnexpectedEOF, "source shorter than announced")
	_, err = seal(t.Context(), io.Discard, bytes.NewReader(payload(10)), 9, kr, 64, goldenCreated)
	require.Error(t, err, "source longer than announced")
}

// goldenFiles are backups made once and kept, so that every later version
// of this package must still read format version 1.
var goldenFiles = []struct {
	name string
	size int
}{
	{"v1-multi-chunk.bak", 200}, // chunk size 16: 13 chunks, the last one short
	{"v1-empty.bak", 0},
}

func TestGoldenV1(t *testing.T) {
	kr := goldenKeyring(t)
	for _, g := range goldenFiles {
		t.Run(g.name, func(t *testing.T) {
			path := filepath.Join("testdata", g.name)
			if *updateGolden {
				var buf bytes.Buffer
				_, err := seal(t.Context(), &buf, bytes.NewReader(payload(g.size)), int64(g.size), kr, 16, goldenCreated)
				require.NoError(t, err)
				require.NoError(t, os.WriteFile(path, buf.Bytes(), 0o644))
			}
			b, err := os.ReadFile(path)
			require.NoError(t, err)
			var out bytes.Buffer
			man, err := open(t.Context(), bytes.NewReader(b), kr, &out)
			require.NoError(t, err)
			assert.True(t, bytes.Equal(payload(g.size), out.Bytes()))
			assert.Equal(t, goldenCreated, man.Created)
			assert.Equal(t, "golden-2026", man.KeyID)
			assert.Equal(t, 16, man.ChunkSize)
			assert.Equal(t, int64(len(b)), man.EncryptedSize)
		})
	}
}

// FuzzVerify feeds arbitrary input to the reader: it must never panic, must
// classify every refusal, and must accept nothing but the genuine golden
// backups, byte for byte.
func FuzzVerify(f *testing.F) {
	kr := goldenKeyring(f)
	var genuine [][]byte
	for _, g := range goldenFiles {
		b, err := os.ReadFile(filepath.Join("testdata", g.name))
		require.NoError(f, err)
		genuine = append(genuine, b)
		f.Add(b)
		f.Add(b[:len(b)/2])
		f.Add(flip(b, len(b)/2))
	}
	f.Add([]byte{})
	f.Add([]byte("RAMPBKUP"))
	f.Add([]byte("SQLite format 3\x00"))
	f.Fuzz(func(t *testing.T, data []byte) {
		var out bytes.Buffer
		_, err := open(context.Background(), bytes.NewReader(data), kr, &out)
		if err == nil {
			for _, g := range genuine {
				if bytes.Equal(data, g) {
					return
				}
			}
			t.Fatalf("accepted a modified backup (%d bytes)", len(data))
		}
		if !rejected(err) {
			t.Fatalf("refusal without a reason: %v", err)
		}
	})
}
