package backup

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"time"

	"github.com/deployedworks/rampart/secrets"
)

// Format constants; the layout is described in the package documentation.
const (
	magic         = "RAMPBKUP"
	formatVersion = 1
	preambleSize  = 32
	idSize        = 16
	frameLenSize  = 4

	// minFormatChunk and maxFormatChunk bound the chunk size a reader
	// accepts, so that a forged preamble cannot make it allocate more than
	// one chunk. Config.ChunkSize has a narrower range.
	minFormatChunk = 16
	maxFormatChunk = 16 << 20

	headerBodySize  = 8 + 8                         // created (Unix ms), database length
	trailerBodySize = 8 + sha256.Size + sha256.Size // length, SHA-256 of database, SHA-256 of file so far

	// Keyring ciphertext overhead beyond the key ID: version byte, ID
	// length byte, 24-byte nonce, 16-byte tag. See package secrets.
	ctFixedOverhead = 2 + 24 + 16
	maxKeyIDLen     = 32
)

// Associated-data labels, one per record type. Each AD is its label
// followed by fixed-size fields, so no two records' ADs can collide.
var (
	adKeyCheck = []byte("rampart-backup/v1 key-check")
	adHeader   = []byte("rampart-backup/v1 header\x00")
	adChunk    = []byte("rampart-backup/v1 chunk\x00")
	adTrailer  = []byte("rampart-backup/v1 trailer\x00")
)

// preamble is the plaintext start of a backup.
type preamble struct {
	chunkSize int
	id        [idSize]byte
}

func (p preamble) bytes() []byte {
	b := make([]byte, preambleSize)
	copy(b, magic)
	b[8] = formatVersion
	binary.BigEndian.PutUint32(b[12:16], uint32(p.chunkSize)) // #nosec G115 -- chunkSize is checked to be at most maxFormatChunk (16 MiB)
	copy(b[16:], p.id[:])
	return b
}

func chunkAD(pre []byte, i uint64, final bool) []byte {
	ad := make([]byte, 0, len(adChunk)+len(pre)+9)
	ad = append(ad, adChunk...)
	ad = append(ad, pre...)
	ad = binary.BigEndian.AppendUint64(ad, i)
	if final {
		return append(ad, 1)
	}
	return append(ad, 0)
}

func recordAD(label, pre []byte) []byte {
	return append(append(make([]byte, 0, len(label)+len(pre)), label...), pre...)
}

// chunkCount returns the number of chunks of a database of size bytes: at
// least one, the last one possibly short (or empty, for size 0).
func chunkCount(size uint64, chunkSize int) uint64 {
	if size == 0 {
		return 1
	}
	return (size-1)/uint64(chunkSize) + 1 // #nosec G115 -- chunkSize is positive: checked against minFormatChunk
}

// chunkLen returns the plaintext length of chunk i of n.
func chunkLen(size uint64, chunkSize int, i, n uint64) int {
	if i < n-1 {
		return chunkSize
	}
	return int(size - (n-1)*uint64(chunkSize)) // #nosec G115 -- chunkSize is positive, and the last chunk is at most chunkSize bytes
}

// seal writes a backup of the size bytes read from src to w. It is the
// whole writer side of the format; Create feeds it a database snapshot.
func seal(ctx context.Context, w io.Writer, src io.Reader, size int64, kr *secrets.Keyring, chunkSize int, created time.Time) (Manifest, error) {
	if size < 0 {
		return Manifest{}, errors.New("backup: negative size")
	}
	var p preamble
	p.chunkSize = chunkSize
	_, _ = rand.Read(p.id[:]) // never fails (Go 1.24+)
	created = created.UTC().Truncate(time.Millisecond)

	bw := bufio.NewWriterSize(w, 64<<10)
	fileHash := sha256.New()
	var written int64
	put := func(b []byte) error {
		fileHash.Write(b)
		written += int64(len(b))
		_, err := bw.Write(b)
		return err
	}
	putRecord := func(pt, ad []byte) error {
		ct, err := kr.Encrypt(pt, ad)
		if err != nil {
			return err
		}
		var l [frameLenSize]byte
		binary.BigEndian.PutUint32(l[:], uint32(len(ct))) // #nosec G115 -- a sealed chunk is at most maxFormatChunk plus the AEAD overhead, far below 2^32
		if err := put(l[:]); err != nil {
			return err
		}
		return put(ct)
	}

	pre := p.bytes()
	if err := put(pre); err != nil {
		return Manifest{}, fmt.Errorf("backup: write: %w", err)
	}
	if err := putRecord(nil, adKeyCheck); err != nil {
		return Manifest{}, fmt.Errorf("backup: write key check: %w", err)
	}
	hdr := make([]byte, headerBodySize)
	binary.BigEndian.PutUint64(hdr[0:8], uint64(created.UnixMilli()))
	binary.BigEndian.PutUint64(hdr[8:16], uint64(size))
	if err := putRecord(hdr, recordAD(adHeader, pre)); err != nil {
		return Manifest{}, fmt.Errorf("backup: write header: %w", err)
	}

	dbHash := sha256.New()
	n := chunkCount(uint64(size), chunkSize)
	buf := make([]byte, chunkSize)
	for i := uint64(0); i < n; i++ {
		if err := ctx.Err(); err != nil {
			return Manifest{}, fmt.Errorf("backup: %w", err)
		}
		c := buf[:chunkLen(uint64(size), chunkSize, i, n)]
		if _, err := io.ReadFull(src, c); err != nil {
			return Manifest{}, fmt.Errorf("backup: read snapshot: %w", err)
		}
		dbHash.Write(c)
		if err := putRecord(c, chunkAD(pre, i, i == n-1)); err != nil {
			return Manifest{}, fmt.Errorf("backup: write chunk %d: %w", i, err)
		}
	}
	var extra [1]byte
	if k, _ := src.Read(extra[:]); k != 0 {
		return Manifest{}, errors.New("backup: snapshot grew while being read")
	}

	dbSum := dbHash.Sum(nil)
	tr := make([]byte, 0, trailerBodySize)
	tr = binary.BigEndian.AppendUint64(tr, uint64(size))
	tr = append(tr, dbSum...)
	tr = fileHash.Sum(tr)
	if err := putRecord(tr, recordAD(adTrailer, pre)); err != nil {
		return Manifest{}, fmt.Errorf("backup: write trailer: %w", err)
	}
	if err := bw.Flush(); err != nil {
		return Manifest{}, fmt.Errorf("backup: write: %w", err)
	}
	return Manifest{
		ID:            hex.EncodeToString(p.id[:]),
		Created:       created,
		KeyID:         kr.PrimaryID(),
		Size:          size,
		Chunks:        int64(n), // #nosec G115 -- n chunks of at least minFormatChunk bytes each: far below 2^63
		ChunkSize:     chunkSize,
		SHA256:        hex.EncodeToString(dbSum),
		EncryptedSize: written,
	}, nil
}

// reader consumes a backup stream, hashing what it reads.
type reader struct {
	br       *bufio.Reader
	fileHash hash.Hash
	n        int64
	buf      []byte
}

// full reads exactly len(p) bytes; running out of input is ErrTruncated.
func (r *reader) full(p []byte, what string) error {
	k, err := io.ReadFull(r.br, p)
	r.fileHash.Write(p[:k])
	r.n += int64(k)
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return fmt.Errorf("%w: input ends at byte %d, inside %s", ErrTruncated, r.n, what)
	}
	if err != nil {
		return fmt.Errorf("backup: read: %w", err)
	}
	return nil
}

// frame reads one record whose ciphertext must be exactly want bytes long
// (or, when want is 0, between lo and hi bytes). The returned slice is
// valid until the next call.
func (r *reader) frame(want, lo, hi int, what string) ([]byte, error) {
	var l [frameLenSize]byte
	if err := r.full(l[:], what); err != nil {
		return nil, err
	}
	n := int(binary.BigEndian.Uint32(l[:]))
	if want != 0 {
		lo, hi = want, want
	}
	if n < lo || n > hi {
		return nil, fmt.Errorf("%w: %s is %d bytes, want %d to %d", ErrTampered, what, n, lo, hi)
	}
	if cap(r.buf) < n {
		r.buf = make([]byte, n)
	}
	b := r.buf[:n]
	if err := r.full(b, what); err != nil {
		return nil, err
	}
	return b, nil
}

// open reads and authenticates a whole backup from src, writing the
// database bytes to dst as each chunk authenticates. Only a nil error means
// the backup is complete and genuine; on any error, whatever reached dst
// must be discarded.
func open(ctx context.Context, src io.Reader, kr *secrets.Keyring, dst io.Writer) (Manifest, error) {
	var man Manifest
	err := openInto(ctx, src, kr, dst, &man)
	return man, err
}

// openInto is open, filling man as the backup is read so that a failure
// still reports what was known (unauthenticated before the header).
func openInto(ctx context.Context, src io.Reader, kr *secrets.Keyring, dst io.Writer, man *Manifest) error {
	if kr == nil || kr.PrimaryID() == "" {
		return errNoKeyring
	}
	r := &reader{br: bufio.NewReaderSize(src, 64<<10), fileHash: sha256.New()}

	// Preamble.
	pre := make([]byte, preambleSize)
	k, err := io.ReadFull(r.br, pre)
	r.fileHash.Write(pre[:k])
	r.n += int64(k)
	if m := min(k, len(magic)); !bytes.Equal(pre[:m], []byte(magic)[:m]) {
		return fmt.Errorf("%w: it does not start with %q", ErrNotBackup, magic)
	}
	if k == 0 && errors.Is(err, io.EOF) {
		return fmt.Errorf("%w: the input is empty", ErrTruncated)
	}
	if errors.Is(err, io.ErrUnexpectedEOF) {
		return fmt.Errorf("%w: input ends at byte %d, inside the preamble", ErrTruncated, k)
	}
	if err != nil {
		return fmt.Errorf("backup: read: %w", err)
	}
	if pre[8] != formatVersion {
		return fmt.Errorf("%w: version %d, this program reads version %d", ErrUnsupportedVersion, pre[8], formatVersion)
	}
	if pre[9]|pre[10]|pre[11] != 0 {
		return fmt.Errorf("%w: reserved preamble bytes are not zero", ErrTampered)
	}
	chunkSize := int(binary.BigEndian.Uint32(pre[12:16]))
	man.ID = hex.EncodeToString(pre[16:32])
	if chunkSize < minFormatChunk || chunkSize > maxFormatChunk {
		return fmt.Errorf("%w: chunk size %d out of range", ErrTampered, chunkSize)
	}

	// Key check: tells a wrong key from a modified file.
	ct, err := r.frame(0, ctFixedOverhead+1, ctFixedOverhead+maxKeyIDLen, "the key check")
	if err != nil {
		return err
	}
	if ct[0] != 1 || int(ct[1]) != len(ct)-ctFixedOverhead {
		return fmt.Errorf("%w: malformed key check", ErrTampered)
	}
	keyPrefix := bytes.Clone(ct[:2+int(ct[1])])
	keyID := string(keyPrefix[2:])
	man.KeyID = keyID
	if _, err := kr.Decrypt(ct, adKeyCheck); err != nil {
		if errors.Is(err, secrets.ErrUnknownKey) {
			return fmt.Errorf("%w: it was sealed under key ID %q, which the keyring does not hold (primary %q); restore with the keyring in use when it was made", ErrWrongKey, keyID, kr.PrimaryID())
		}
		return fmt.Errorf("%w: the keyring's key %q does not open it; it was sealed under another key with the same ID (another environment?)", ErrWrongKey, keyID)
	}
	overhead := len(keyPrefix) + ctFixedOverhead - 2
	openRecord := func(want int, ad []byte, what string) ([]byte, error) {
		ct, err := r.frame(want+overhead, 0, 0, what)
		if err != nil {
			return nil, err
		}
		if !bytes.Equal(ct[:len(keyPrefix)], keyPrefix) {
			return nil, fmt.Errorf("%w: %s is not sealed under the key of the key check", ErrTampered, what)
		}
		pt, err := kr.Decrypt(ct, ad)
		if err != nil {
			return nil, fmt.Errorf("%w: %s does not authenticate", ErrTampered, what)
		}
		return pt, nil
	}

	// Header.
	hdr, err := openRecord(headerBodySize, recordAD(adHeader, pre), "the header")
	if err != nil {
		return err
	}
	created := time.UnixMilli(int64(binary.BigEndian.Uint64(hdr[0:8]))).UTC() // #nosec G115 -- the header is authenticated; a time outside int64 is the writer's own clock bits, read back unchanged
	size := binary.BigEndian.Uint64(hdr[8:16])
	if size > 1<<62 {
		return fmt.Errorf("%w: database length %d out of range", ErrTampered, size)
	}

	// Chunks.
	dbHash := sha256.New()
	n := chunkCount(size, chunkSize)
	man.Created, man.Size, man.Chunks, man.ChunkSize = created, int64(size), int64(n), chunkSize // #nosec G115 -- size and n come from the authenticated header; a value >= 2^63 is rejected as truncated when the chunks run out
	for i := uint64(0); i < n; i++ {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("backup: %w", err)
		}
		what := fmt.Sprintf("chunk %d (of %d)", i, n)
		pt, err := openRecord(chunkLen(size, chunkSize, i, n), chunkAD(pre, i, i == n-1), what)
		if err != nil {
			return err
		}
		dbHash.Write(pt)
		if _, err := dst.Write(pt); err != nil {
			return fmt.Errorf("backup: write %s: %w", what, err)
		}
	}

	// Trailer, then the end of the input.
	dbSum := dbHash.Sum(nil)
	fileSum := r.fileHash.Sum(nil)
	tr, err := openRecord(trailerBodySize, recordAD(adTrailer, pre), "the trailer")
	if err != nil {
		return err
	}
	if binary.BigEndian.Uint64(tr[0:8]) != size ||
		!bytes.Equal(tr[8:8+sha256.Size], dbSum) ||
		!bytes.Equal(tr[8+sha256.Size:], fileSum) {
		return fmt.Errorf("%w: contents do not match the trailer's checksums", ErrTampered)
	}
	if _, err := r.br.ReadByte(); err == nil {
		return fmt.Errorf("%w: data after the trailer at byte %d", ErrTampered, r.n)
	} else if !errors.Is(err, io.EOF) {
		return fmt.Errorf("backup: read: %w", err)
	}
	man.SHA256 = hex.EncodeToString(dbSum)
	man.EncryptedSize = r.n
	return nil
}
