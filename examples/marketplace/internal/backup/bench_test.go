package backup

import (
	"bytes"
	"crypto/rand"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

// BenchmarkBackup measures throughput on a database of about 10 MB (160
// rows of 64 KiB random blobs), with the default chunk size.
func BenchmarkBackup(b *testing.B) {
	m := newManager(b, newKeyring(b, "bench"), Config{ChunkSize: DefaultChunkSize})
	db := openDB(b, filepath.Join(b.TempDir(), "bench.db"))
	_, err := db.Exec(`CREATE TABLE blobs (id INTEGER PRIMARY KEY, data BLOB)`)
	require.NoError(b, err)
	blob := make([]byte, 64<<10)
	for range 160 {
		_, _ = rand.Read(blob)
		_, err := db.Exec(`INSERT INTO blobs(data) VALUES (?)`, blob)
		require.NoError(b, err)
	}
	var buf bytes.Buffer
	man, err := m.Create(b.Context(), db, &buf)
	require.NoError(b, err)
	b.Logf("database %d bytes, backup %d bytes, %d chunks", man.Size, man.EncryptedSize, man.Chunks)
	backup := bytes.Clone(buf.Bytes())

	b.Run("Create", func(b *testing.B) {
		b.SetBytes(man.Size)
		b.ReportAllocs()
		for b.Loop() {
			buf.Reset()
			if _, err := m.Create(b.Context(), db, &buf); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("SealOnly", func(b *testing.B) { // Create without the VACUUM INTO snapshot
		var raw bytes.Buffer
		_, err := open(b.Context(), bytes.NewReader(backup), m.kr, &raw)
		require.NoError(b, err)
		b.SetBytes(man.Size)
		b.ReportAllocs()
		for b.Loop() {
			buf.Reset()
			if _, err := seal(b.Context(), &buf, bytes.NewReader(raw.Bytes()), int64(raw.Len()), m.kr, DefaultChunkSize, goldenCreated); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("Verify", func(b *testing.B) {
		b.SetBytes(man.Size)
		b.ReportAllocs()
		for b.Loop() {
			if _, err := m.Verify(b.Context(), bytes.NewReader(backup)); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("CreateVerify", func(b *testing.B) {
		b.SetBytes(man.Size)
		b.ReportAllocs()
		for b.Loop() {
			buf.Reset()
			if _, err := m.Create(b.Context(), db, &buf); err != nil {
				b.Fatal(err)
			}
			if _, err := m.Verify(b.Context(), bytes.NewReader(buf.Bytes())); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("Restore", func(b *testing.B) {
		b.SetBytes(man.Size)
		b.ReportAllocs()
		target := filepath.Join(b.TempDir(), "restored.db")
		for b.Loop() {
			if _, err := m.Restore(b.Context(), bytes.NewReader(backup), target); err != nil {
				b.Fatal(err)
			}
		}
	})
}
