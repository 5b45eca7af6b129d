package chain

import (
	"bytes"
	"context"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/deployedworks/rampart/internal/testenv"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/deployedworks/rampart/audit"
	"github.com/deployedworks/rampart/identity"
)

var testKey = bytes.Repeat([]byte{0x42}, 32)

var sampleTime = time.Date(2026, 6, 25, 10, 15, 30, 123456789, time.UTC)

// newTestClock is a settable clock for file rotation and retention.
func newTestClock() *testenv.Clock {
	return testenv.NewClock(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
}

func testEvent(i int, cat audit.Category) audit.Event {
	return audit.Event{
		Time: time.Date(2026, 1, 1, 0, 0, 0, i, time.UTC), Category: cat,
		Action: "test.event", Outcome: audit.OutcomeSuccess, Actor: identity.Principal{UserID: "u" + strconv.Itoa(i)},
		Meta: map[string]string{"i": strconv.Itoa(i)},
	}
}

func verifyDir(t *testing.T, dir string, cfg VerifyConfig) (Report, []audit.Event, error) {
	t.Helper()
	var events []audit.Event
	cfg.OnEvent = func(seq uint64, e audit.Event) error {
		events = append(events, e)
		return nil
	}
	rep, err := Verify(context.Background(), os.DirFS(dir), testKey, cfg)
	return rep, events, err
}

// closeAndVerify closes s and verifies the sealed chain it wrote in dir.
func closeAndVerify(t *testing.T, s *Sink, dir string) (Report, []audit.Event) {
	t.Helper()
	require.NoError(t, s.Close(context.Background()))
	rep, events, err := verifyDir(t, dir, VerifyConfig{RequireSealed: true})
	require.NoError(t, err)
	return rep, events
}

func chainNames(t *testing.T, dir string) []string {
	t.Helper()
	files, err := chainFiles(os.DirFS(dir), "audit")
	require.NoError(t, err)
	var names []string
	for _, f := range files {
		names = append(names, f.name)
	}
	return names
}

func TestFileSinkWritesVerifiableRotatedChain(t *testing.T) {
	dir := t.TempDir()
	clk := newTestClock()
	s, err := New(dir, testKey, Config{MaxSize: 2048, Now: clk.Now})
	require.NoError(t, err)
	ctx := context.Background()
	var want []audit.Event
	for i := range 60 {
		e := testEvent(i, audit.CategoryAuthentication)
		want = append(want, e)
		if i%3 == 0 {
			require.NoError(t, s.Write(ctx, e))
			continue
		}
		n, err := s.WriteBatch(ctx, []audit.Event{e})
		require.NoError(t, err)
		require.Equal(t, 1, n)
	}
	cp := s.Checkpoint()
	require.NoError(t, s.Close(ctx))
	assert.ErrorIs(t, s.Write(ctx, testEvent(0, "c")), audit.ErrClosed)
	assert.NoError(t, s.Close(ctx), "Close twice is fine")

	assert.Greater(t, len(chainNames(t, dir)), 5, "small MaxSize must rotate")
	for _, name := range chainNames(t, dir) {
		st, err := os.Stat(filepath.Join(dir, name))
		require.NoError(t, err)
		assert.Equal(t, os.FileMode(0o600), st.Mode().Perm())
		assert.LessOrEqual(t, st.Size(), int64(2048))
	}
	rep, got, err := verifyDir(t, dir, VerifyConfig{RequireSealed: true, Checkpoints: []Checkpoint{cp}})
	require.NoError(t, err)
	assert.True(t, rep.Sealed)
	assert.Equal(t, uint64(60), rep.Events)
	assert.Equal(t, uint64(1), rep.FirstSeq)
	assert.Equal(t, want, got)
}

func TestFileSinkBatchAcrossRotation(t *testing.T) {
	dir := t.TempDir()
	s, err := New(dir, testKey, Config{MaxSize: 4096})
	require.NoError(t, err)
	batch := make([]audit.Event, 200)
	for i := range batch {
		batch[i] = testEvent(i, audit.CategoryAdmin)
	}
	n, err := s.WriteBatch(context.Background(), batch)
	require.NoError(t, err)
	assert.Equal(t, 200, n)
	rep, got := closeAndVerify(t, s, dir)
	assert.Equal(t, batch, got)
	assert.Greater(t, rep.Files, 10)
}

func TestFileSinkResumesChain(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	for round := range 3 {
		s, err := New(dir, testKey, Config{})
		require.NoError(t, err)
		for i := range 5 {
			require.NoError(t, s.Write(ctx, testEvent(round*10+i, audit.CategoryAdmin)))
		}
		require.NoError(t, s.Close(ctx))
	}
	rep, got, err := verifyDir(t, dir, VerifyConfig{RequireSealed: true})
	require.NoError(t, err)
	assert.Len(t, got, 15)
	assert.Equal(t, 3, rep.Files)
	for _, e := range got {
		assert.NotEqual(t, ActionLogRecovered, e.Action)
	}
}

// crash abandons a Sink as a killed process would: no seal.
func crash(s *Sink) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.f.Close()
	s.f, s.closed = nil, true
}

func TestFileSinkRecoversAfterCrash(t *testing.T) {
	tests := []struct {
		name    string
		partial string // bytes of a torn record left at the end
	}{
		{"clean stop without Close", ""},
		{"torn last record", `{"seq":99,"event":{"time":"2026-01-01T00:00:00Z","categ`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			ctx := context.Background()
			s, err := New(dir, testKey, Config{})
			require.NoError(t, err)
			for i := range 5 {
				require.NoError(t, s.Write(ctx, testEvent(i, audit.CategoryAuthentication)))
			}
			name := s.name
			crash(s)
			if tt.partial != "" {
				f, err := os.OpenFile(filepath.Join(dir, name), os.O_WRONLY|os.O_APPEND, 0)
				require.NoError(t, err)
				f.WriteString(tt.partial)
				f.Close()
			}

			s, err = New(dir, testKey, Config{})
			require.NoError(t, err)
			require.NoError(t, s.Write(ctx, testEvent(5, audit.CategoryAuthentication)))
			_, got := closeAndVerify(t, s, dir)
			require.Len(t, got, 7)
			rec := got[5]
			assert.Equal(t, ActionLogRecovered, rec.Action)
			assert.Equal(t, audit.CategorySecurityAlert, rec.Category)
			assert.Equal(t, strconv.Itoa(len(tt.partial)), rec.Meta["partial_bytes"])
			assert.Equal(t, name, rec.Target.ID)

			// The recovered file's seal lists its categories, so retention
			// keeps it as long as its events need.
			seal, ok := s.readSeal(filepath.Join(dir, name))
			require.True(t, ok)
			assert.Equal(t, sealRecover, seal.Reason)
			assert.Equal(t, []audit.Category{audit.CategoryAuthentication}, seal.Categories)
		})
	}
}

// A crash while the header of a new file was being written leaves a file
// with no complete record; it is removed on restart.
func TestFileSinkRemovesHeaderlessFile(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	s, err := New(dir, testKey, Config{})
	require.NoError(t, err)
	require.NoError(t, s.Write(ctx, testEvent(1, audit.CategoryAdmin)))
	require.NoError(t, s.Close(ctx))
	require.NoError(t, os.WriteFile(filepath.Join(dir, chainFileName("audit", 4)), []byte(`{"seq":4,"fi`), 0o600))
	s, err = New(dir, testKey, Config{})
	require.NoError(t, err)
	_, got := closeAndVerify(t, s, dir)
	assert.Len(t, got, 1)
}

func TestFileSinkRefusesWrongKeyOrModifiedTail(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	s, err := New(dir, testKey, Config{})
	require.NoError(t, err)
	require.NoError(t, s.Write(ctx, testEvent(1, audit.CategoryAdmin)))
	require.NoError(t, s.Close(ctx))

	_, err = New(dir, bytes.Repeat([]byte{1}, 32), Config{})
	assert.ErrorContains(t, err, "does not verify")

	path := filepath.Join(dir, chainNames(t, dir)[0])
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(path, bytes.Replace(b, []byte(`"close"`), []byte(`"rotate"`), 1), 0o600))
	_, err = New(dir, testKey, Config{})
	assert.ErrorContains(t, err, "does not verify")
}

func TestNewFileSinkValidates(t *testing.T) {
	tests := []struct {
		name string
		key  []byte
		cfg  Config
		want string
	}{
		{"short key", make([]byte, 31), Config{}, "at least 32"},
		{"nil key", nil, Config{}, "at least 32"},
		{"attack: path in prefix", testKey, Config{Prefix: "../x"}, "invalid Prefix"},
		{"upper-case prefix", testKey, Config{Prefix: "Audit"}, "invalid Prefix"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := New(t.TempDir(), tt.key, tt.cfg)
			assert.ErrorContains(t, err, tt.want)
		})
	}
}

func TestFileSinkKeyIsCopied(t *testing.T) {
	dir := t.TempDir()
	key := bytes.Clone(testKey)
	s, err := New(dir, key, Config{})
	require.NoError(t, err)
	clear(key)
	require.NoError(t, s.Write(context.Background(), testEvent(1, "c")))
	require.NoError(t, s.Close(context.Background()))
	_, _, err = verifyDir(t, dir, VerifyConfig{})
	assert.NoError(t, err)
}

func TestFileSinkRotatesByAge(t *testing.T) {
	dir := t.TempDir()
	clk := newTestClock()
	ctx := context.Background()
	s, err := New(dir, testKey, Config{MaxAge: time.Hour, Now: clk.Now})
	require.NoError(t, err)
	require.NoError(t, s.Write(ctx, testEvent(1, "c")))
	clk.Add(59 * time.Minute)
	require.NoError(t, s.Write(ctx, testEvent(2, "c")))
	assert.Len(t, chainNames(t, dir), 1)
	clk.Add(time.Minute)
	require.NoError(t, s.Write(ctx, testEvent(3, "c")))
	assert.Len(t, chainNames(t, dir), 2)
	closeAndVerify(t, s, dir)
}

func TestFileSinkRetention(t *testing.T) {
	dir := t.TempDir()
	clk := newTestClock()
	ctx := context.Background()
	s, err := New(dir, testKey, Config{Now: clk.Now, MaxAge: 1000 * audit.Day, Retention: audit.Retention{audit.CategoryAdmin: 30 * audit.Day}})
	require.NoError(t, err)
	write := func(c audit.Category) {
		require.NoError(t, s.Write(ctx, testEvent(0, c)))
		require.NoError(t, s.Rotate(ctx))
	}
	write(audit.CategoryError) // file 1: errors only (90 days)
	write(audit.CategoryError) // file 2
	clk.Add(10 * audit.Day)
	write(audit.CategoryAdmin) // file 3: admin (30 days, set above)
	write(audit.CategoryError) // file 4
	names := chainNames(t, dir)
	require.Len(t, names, 5) // four sealed files and the current one

	clk.Add(85 * audit.Day) // files 1, 2 are 95 days old: past 90; file 3 is 85 days: past 30
	require.NoError(t, s.Rotate(ctx))
	assert.Equal(t, names[3:], chainNames(t, dir)[:2], "files 1-3 deleted, 4 kept (85 days < 90)")

	rep, _, err := verifyDir(t, dir, VerifyConfig{})
	require.NoError(t, err, "a chain pruned by its own retention verifies")
	assert.Greater(t, rep.FirstSeq, uint64(1))
	assert.Equal(t, rep.FirstSeq, rep.RetainedFrom)

	// Someone deletes one more old file: not covered by any retention claim.
	require.NoError(t, os.Remove(filepath.Join(dir, chainNames(t, dir)[0])))
	_, _, err = verifyDir(t, dir, VerifyConfig{})
	var te *TamperError
	require.ErrorAs(t, err, &te)
	assert.Equal(t, ProblemDeleted, te.Problem)

	require.NoError(t, s.Close(ctx))
}

func TestFileSinkKeepForever(t *testing.T) {
	dir := t.TempDir()
	clk := newTestClock()
	ctx := context.Background()
	s, err := New(dir, testKey, Config{Now: clk.Now, Retention: audit.Retention{audit.CategoryAdmin: audit.KeepForever}})
	require.NoError(t, err)
	require.NoError(t, s.Write(ctx, testEvent(0, audit.CategoryAdmin)))
	require.NoError(t, s.Rotate(ctx))
	clk.Add(100 * 365 * audit.Day)
	require.NoError(t, s.Rotate(ctx))
	assert.Len(t, chainNames(t, dir), 3)
	require.NoError(t, s.Close(ctx))
}

// A write that fails leaves no partial record: the chain stays valid and
// the events can be written again.
func TestFileSinkWriteFailureKeepsChainValid(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	s, err := New(dir, testKey, Config{})
	require.NoError(t, err)
	require.NoError(t, s.Write(ctx, testEvent(1, audit.CategoryAdmin)))
	s.mu.Lock()
	s.f.Close() // the descriptor fails under the sink
	s.mu.Unlock()
	n, err := s.WriteBatch(ctx, []audit.Event{testEvent(2, audit.CategoryAdmin), testEvent(3, audit.CategoryAdmin)})
	assert.Error(t, err)
	assert.Equal(t, 0, n)
	n, err = s.WriteBatch(ctx, []audit.Event{testEvent(2, audit.CategoryAdmin), testEvent(3, audit.CategoryAdmin)})
	require.NoError(t, err)
	assert.Equal(t, 2, n)
	_, got := closeAndVerify(t, s, dir)
	assert.Len(t, got, 3)
}

func TestFileSinkConcurrentWriters(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	s, err := New(dir, testKey, Config{MaxSize: 16 << 10})
	require.NoError(t, err)
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Go(func() {
			for i := range 100 {
				assert.NoError(t, s.Write(ctx, testEvent(w*1000+i, audit.CategoryAuthentication)))
			}
		})
	}
	wg.Wait()
	_, got := closeAndVerify(t, s, dir)
	var ids []string
	for _, e := range got {
		ids = append(ids, e.Meta["i"])
	}
	sort.Strings(ids)
	assert.Len(t, ids, 400)
	assert.Len(t, dedupe(ids), 400)
}

func dedupe(s []string) map[string]bool {
	m := map[string]bool{}
	for _, v := range s {
		m[v] = true
	}
	return m
}

func TestFileSinkOversizedEventIsCut(t *testing.T) {
	dir := t.TempDir()
	s, err := New(dir, testKey, Config{})
	require.NoError(t, err)
	meta := map[string]string{}
	for i := range 300 {
		meta[fmt.Sprint("k", i)] = string(bytes.Repeat([]byte("x"), 10000))
	}
	require.NoError(t, s.Write(context.Background(), audit.Event{Time: sampleTime, Category: "c", Action: "a", Meta: meta}))
	require.NoError(t, s.Close(context.Background()))
	_, got, err := verifyDir(t, dir, VerifyConfig{})
	require.NoError(t, err)
	assert.Len(t, got[0].Meta, audit.MaxMeta)
}

// JSON escaping can make a value six times its size (a control byte becomes
// \u0001), so an event within audit.Logger.Log's limits could still exceed
// MaxRecordLen: Verify then reported the record as modified and the next
// New could not resume the chain. The sink cuts such an event to fit.
func TestFileSinkEscapedEventFitsRecord(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	s, err := New(dir, testKey, Config{})
	require.NoError(t, err)
	e := audit.Event{Category: audit.Category(strings.Repeat("<", 300)), Action: "a", Reason: strings.Repeat("\x01", 2000), Meta: map[string]string{}}
	for i := range audit.MaxMeta - 1 {
		e.Meta[fmt.Sprint("k", i)] = strings.Repeat("\x01", audit.MaxMetaValue)
	}
	e.Meta["last"] = "kept"
	audit.MustNew(s, audit.Config{}).Log(ctx, e)
	require.NoError(t, s.Write(ctx, e), "straight to the sink, past the audit.Logger's limits")
	_, got := closeAndVerify(t, s, dir)
	require.Len(t, got, 2)
	for _, g := range got {
		assert.Len(t, g.Meta, audit.MaxMeta)
		assert.Equal(t, "kept", g.Meta["last"])
		assert.LessOrEqual(t, len(g.Category), audit.MaxField)
	}
	s, err = New(dir, testKey, Config{})
	require.NoError(t, err, "the chain resumes after it")
	require.NoError(t, s.Close(ctx))
}

// BenchmarkFileSink measures the chained file sink alone, in batches as the
// AsyncSink hands them over.
func BenchmarkFileSink(b *testing.B) {
	for _, size := range []int{1, 512} {
		b.Run(fmt.Sprint("batch=", size), func(b *testing.B) {
			s, err := New(b.TempDir(), testKey, Config{})
			require.NoError(b, err)
			batch := make([]audit.Event, size)
			for i := range batch {
				batch[i] = testEvent(i, audit.CategoryAuthentication)
			}
			b.ReportAllocs()
			b.ResetTimer()
			written := 0
			for written < b.N {
				n, err := s.WriteBatch(context.Background(), batch[:min(size, b.N-written)])
				if err != nil {
					b.Fatal(err)
				}
				written += n
			}
			b.StopTimer()
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
			require.NoError(b, s.Close(context.Background()))
		})
	}
}

// BenchmarkAsyncFileSink measures the whole chain an application uses:
// Logger.Log -> AsyncSink -> chain.Sink (HMAC chain, rotation at 64 MiB),
// from parallel goroutines, Close (the final flush) included.
func BenchmarkAsyncFileSink(b *testing.B) {
	fs, err := New(b.TempDir(), testKey, Config{})
	require.NoError(b, err)
	a, err := audit.NewAsyncSink(fs, audit.AsyncConfig{})
	require.NoError(b, err)
	l := audit.MustNew(a, audit.Config{})
	ctx := identity.NewContext(audit.WithRequest(context.Background(), audit.Request{
		ID: "01J0ABCDEFGHJKMNPQRSTVWXYZ", ClientIP: netip.MustParseAddr("192.0.2.1"), UserAgent: "Mozilla/5.0 (X11; Linux x86_64)",
	}), identity.Principal{UserID: "user-1234"})
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			l.Log(ctx, audit.Event{Category: audit.CategoryAuthentication, Action: audit.ActionLoginFailed, Outcome: audit.OutcomeFailure})
		}
	})
	require.NoError(b, a.Close(context.Background()))
	b.StopTimer()
	require.NoError(b, fs.Close(context.Background()))
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
	require.Equal(b, uint64(b.N), a.Stats().Written)
}

// TestVerifiesChainWrittenBeforeV1 checks a chain written by the first
// release of the format (testdata/v0: rotated files, a seal, an actor
// without "amr", redacted and escaped values): a later encoder must not
// make existing logs fail to verify or decode.
func TestVerifiesChainWrittenBeforeV1(t *testing.T) {
	key := []byte(strings.Repeat("golden-key-", 3))
	var events []audit.Event
	rep, err := Verify(context.Background(), os.DirFS("testdata/v0"), key, VerifyConfig{
		RequireSealed: true,
		OnEvent:       func(_ uint64, e audit.Event) error { events = append(events, e); return nil },
	})
	require.NoError(t, err)
	assert.Equal(t, 4, rep.Files)
	assert.Equal(t, uint64(13), rep.Records)
	assert.True(t, rep.Sealed)
	require.Len(t, events, 5)
	assert.Equal(t, audit.ActionLoginSucceeded, events[0].Action)
	assert.Equal(t, "u1", events[0].Actor.UserID)
	assert.Equal(t, []string{"admin", "seller"}, events[0].Actor.Roles)
	assert.Equal(t, "u2", events[1].Actor.UserID)
	assert.Equal(t, audit.Redacted, events[1].Meta["password"])
	assert.Equal(t, []string{"x"}, events[3].Actor.Roles)

	// Re-encoding a decoded event gives back the bytes that were signed.
	raw, err := os.ReadFile("testdata/v0/audit-00000000000000000001.jsonl")
	require.NoError(t, err)
	enc, err := events[0].MarshalJSON()
	require.NoError(t, err)
	assert.Contains(t, string(raw), `"event":`+string(enc)+`,"mac"`)
}
