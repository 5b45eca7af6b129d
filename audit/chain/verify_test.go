package chain

import (
	"bytes"
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"testing/fstest"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/deployedworks/rampart/audit"
)

// testChain is a chain held as lines per file, to be damaged by tests.
type testChain struct {
	names []string
	lines map[string][][]byte
}

// newTestChain writes n events through a Sink with small files and
// returns the pristine chain.
func newTestChain(t testing.TB, n int, maxSize int64) (testChain, []audit.Event) {
	t.Helper()
	dir := t.TempDir()
	clk := newTestClock()
	s, err := New(dir, testKey, Config{MaxSize: maxSize, Now: clk.Now})
	require.NoError(t, err)
	var events []audit.Event
	for i := range n {
		e := testEvent(i, audit.CategoryAuthentication)
		e.Action = "login.failed"
		events = append(events, e)
		require.NoError(t, s.Write(context.Background(), e))
	}
	require.NoError(t, s.Close(context.Background()))
	c := testChain{lines: map[string][][]byte{}}
	ents, err := os.ReadDir(dir)
	require.NoError(t, err)
	for _, e := range ents {
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		require.NoError(t, err)
		c.names = append(c.names, e.Name())
		c.lines[e.Name()] = bytes.SplitAfter(b, []byte("\n"))
		if l := c.lines[e.Name()]; len(l[len(l)-1]) == 0 {
			c.lines[e.Name()] = l[:len(l)-1]
		}
	}
	slices.Sort(c.names)
	return c, events
}

func (c testChain) clone() testChain {
	out := testChain{names: slices.Clone(c.names), lines: map[string][][]byte{}}
	for k, v := range c.lines {
		ls := make([][]byte, len(v))
		for i := range v {
			ls[i] = bytes.Clone(v[i])
		}
		out.lines[k] = ls
	}
	return out
}

func (c testChain) fs() fstest.MapFS {
	m := fstest.MapFS{}
	for name, ls := range c.lines {
		m[name] = &fstest.MapFile{Data: bytes.Join(ls, nil), Mode: 0o600}
	}
	return m
}

// file returns the lines of the i-th file (negative counts from the end).
func (c testChain) file(i int) *[][]byte {
	if i < 0 {
		i += len(c.names)
	}
	ls := c.lines[c.names[i]]
	return &ls
}

func (c testChain) set(i int, ls [][]byte) {
	if i < 0 {
		i += len(c.names)
	}
	c.lines[c.names[i]] = ls
}

func TestVerifyDetectsTampering(t *testing.T) {
	pristine, _ := newTestChain(t, 40, 1500)
	require.GreaterOrEqual(t, len(pristine.names), 5, "the table needs several files")
	require.GreaterOrEqual(t, len(*pristine.file(1)), 5, "and several records per file")
	otherKey := bytes.Repeat([]byte{7}, 32)

	tests := []struct {
		name     string
		damage   func(c testChain)
		cfg      VerifyConfig
		key      []byte
		want     Problem // "" means the chain must verify
		wantFile int     // index of the file named in the error, negative from the end
		wantLine int     // 0 for any
	}{
		{name: "untouched rotated set", damage: func(testChain) {}, cfg: VerifyConfig{RequireSealed: true}},
		{name: "edit an event", wantFile: 1, wantLine: 3, want: ProblemModified, damage: func(c testChain) {
			ls := *c.file(1)
			ls[2] = bytes.Replace(ls[2], []byte("login.failed"), []byte("login.succeed"), 1)
			c.set(1, ls)
		}},
		{name: "flip one bit of a MAC", wantFile: 2, wantLine: 2, want: ProblemModified, damage: func(c testChain) {
			ls := *c.file(2)
			l := ls[1]
			i := len(l) - 5
			l[i] ^= 0x01 // hex digit to another character
			if !isLowerHex(l[i : i+1]) {
				l[i] = '0'
			}
			c.set(2, ls)
		}},
		{name: "edit a header's retention claim", wantFile: 2, wantLine: 1, want: ProblemModified, damage: func(c testChain) {
			ls := *c.file(2)
			ls[0] = bytes.Replace(ls[0], []byte(`"retained_from":1`), []byte(`"retained_from":9`), 1)
			c.set(2, ls)
		}},
		{name: "edit a seal", wantFile: 0, want: ProblemModified, damage: func(c testChain) {
			ls := *c.file(0)
			ls[len(ls)-1] = bytes.Replace(ls[len(ls)-1], []byte(`"rotate"`), []byte(`"rotata"`), 1)
			c.set(0, ls)
		}},
		{name: "replace an event with one from another chain position", wantFile: 1, wantLine: 3, want: ProblemModified, damage: func(c testChain) {
			a, b := *c.file(1), *c.file(2)
			// Same sequence number, other record's body and MAC.
			seqA, _, _ := parseSeqPrefix(a[2])
			seqB, _, _ := parseSeqPrefix(b[2])
			a[2] = bytes.Replace(b[2], []byte(`{"seq":`+itoa(seqB)), []byte(`{"seq":`+itoa(seqA)), 1)
			c.set(1, a)
		}},
		{name: "forge a record without the key", wantFile: 1, wantLine: 3, want: ProblemModified, damage: func(c testChain) {
			ls := *c.file(1)
			seq, _, _ := parseSeqPrefix(ls[2])
			forged := []byte(`{"seq":` + itoa(seq) + `,"event":{"time":"2026-01-01T00:00:00Z","category":"admin","action":"x"},"mac":"` +
				string(bytes.Repeat([]byte("ab"), 32)) + "\"}\n")
			ls = slices.Insert(ls, 2, forged)
			c.set(1, ls)
		}},
		{name: "delete an event", wantFile: 1, wantLine: 3, want: ProblemDeleted, damage: func(c testChain) {
			ls := *c.file(1)
			c.set(1, slices.Delete(ls, 2, 3))
		}},
		{name: "delete the first event of a file", wantFile: 2, wantLine: 2, want: ProblemDeleted, damage: func(c testChain) {
			ls := *c.file(2)
			c.set(2, slices.Delete(ls, 1, 2))
		}},
		{name: "delete a file's header", wantFile: 2, wantLine: 1, want: ProblemDeleted, damage: func(c testChain) {
			ls := *c.file(2)
			c.set(2, ls[1:])
		}},
		{name: "swap two events", wantFile: 1, wantLine: 3, want: ProblemReordered, damage: func(c testChain) {
			ls := *c.file(1)
			ls[2], ls[3] = ls[3], ls[2]
			c.set(1, ls)
		}},
		{name: "move an event later", wantFile: 1, wantLine: 2, want: ProblemReordered, damage: func(c testChain) {
			ls := *c.file(1)
			moved := ls[1]
			ls = slices.Delete(ls, 1, 2)
			ls = slices.Insert(ls, 3, moved)
			c.set(1, ls)
		}},
		{name: "move an event to another file", wantFile: 1, want: ProblemReordered, damage: func(c testChain) {
			a, b := *c.file(1), *c.file(2)
			moved := a[2]
			c.set(1, slices.Delete(a, 2, 3))
			c.set(2, slices.Insert(b, 2, moved))
		}},
		{name: "duplicate an event", wantFile: 1, wantLine: 4, want: ProblemReordered, damage: func(c testChain) {
			ls := *c.file(1)
			c.set(1, slices.Insert(ls, 3, bytes.Clone(ls[2])))
		}},
		{name: "cut the last record short", wantFile: -1, want: ProblemTruncated, damage: func(c testChain) {
			ls := *c.file(-1)
			l := ls[len(ls)-1]
			ls[len(ls)-1] = l[:len(l)/2]
			c.set(-1, ls)
		}},
		{name: "cut a record short, newline kept", wantFile: -1, want: ProblemTruncated, damage: func(c testChain) {
			ls := *c.file(-1)
			l := ls[len(ls)-1]
			ls[len(ls)-1] = append(l[:len(l)/2:len(l)/2], '\n')
			c.set(-1, ls)
		}},
		{name: "cut a record in the middle of a file", wantFile: 1, wantLine: 3, want: ProblemModified, damage: func(c testChain) {
			ls := *c.file(1)
			ls[2] = append(ls[2][:30:30], '\n')
			c.set(1, ls)
		}},
		{name: "remove the end of a rotated file", wantFile: 1, want: ProblemTruncated, damage: func(c testChain) {
			ls := *c.file(1)
			c.set(1, ls[:len(ls)-2])
		}},
		{name: "remove a middle file", wantFile: 2, wantLine: 1, want: ProblemDeleted, damage: func(c testChain) {
			delete(c.lines, c.names[1])
		}},
		{name: "remove the first file", wantFile: 1, wantLine: 1, want: ProblemDeleted, damage: func(c testChain) {
			delete(c.lines, c.names[0])
		}},
		{name: "remove the last file", wantFile: -2, want: ProblemTruncated, damage: func(c testChain) {
			delete(c.lines, c.names[len(c.names)-1])
		}},
		{name: "remove newest records, writer running", damage: func(c testChain) {
			ls := *c.file(-1)
			c.set(-1, ls[:len(ls)-3])
		}},
		{name: "remove newest records, sealed chain required", cfg: VerifyConfig{RequireSealed: true},
			wantFile: -1, want: ProblemTruncated, damage: func(c testChain) {
				ls := *c.file(-1)
				c.set(-1, ls[:len(ls)-3])
			}},
		{name: "remove newest records, checkpoint kept elsewhere", wantFile: -1, want: ProblemTruncated,
			cfg: VerifyConfig{Checkpoints: []Checkpoint{{Seq: 1 << 20, MAC: "x"}}}, damage: func(c testChain) {}},
		{name: "checkpoint MAC differs", wantFile: 0, wantLine: 1, want: ProblemModified,
			cfg: VerifyConfig{Checkpoints: []Checkpoint{{Seq: 1, MAC: "00"}}}, damage: func(c testChain) {}},
		{name: "swap two files' names", wantFile: 1, wantLine: 1, want: ProblemReordered, damage: func(c testChain) {
			c.lines[c.names[1]], c.lines[c.names[2]] = c.lines[c.names[2]], c.lines[c.names[1]]
		}},
		{name: "empty a file", wantFile: 1, want: ProblemTruncated, damage: func(c testChain) {
			c.set(1, nil)
		}},
		{name: "append a line after the final seal", wantFile: -1, want: ProblemModified, damage: func(c testChain) {
			ls := *c.file(-1)
			c.set(-1, append(ls, bytes.Clone(ls[1])))
		}},
		{name: "garbage line", wantFile: 1, wantLine: 2, want: ProblemModified, damage: func(c testChain) {
			ls := *c.file(1)
			c.set(1, slices.Insert(ls, 1, []byte("hello\n")))
		}},
		{name: "wrong key", key: otherKey, wantFile: 0, wantLine: 1, want: ProblemModified, damage: func(testChain) {}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := pristine.clone()
			tt.damage(c)
			key := tt.key
			if key == nil {
				key = testKey
			}
			rep, err := Verify(context.Background(), c.fs(), key, tt.cfg)
			if tt.want == "" {
				require.NoError(t, err)
				assert.Positive(t, rep.Events)
				return
			}
			var te *TamperError
			require.ErrorAs(t, err, &te, "got %v", err)
			assert.ErrorIs(t, err, ErrTampered)
			assert.Equal(t, tt.want, te.Problem, te.Error())
			i := tt.wantFile
			if i < 0 {
				i += len(pristine.names)
			}
			assert.Equal(t, pristine.names[i], te.File, te.Error())
			if tt.wantLine != 0 {
				assert.Equal(t, tt.wantLine, te.Line, te.Error())
			}
		})
	}
}

func itoa(n uint64) string { return string(appendUint(nil, n)) }

func TestVerifyNoFiles(t *testing.T) {
	_, err := Verify(context.Background(), fstest.MapFS{"other.txt": {Data: []byte("x")}}, testKey, VerifyConfig{})
	var te *TamperError
	require.ErrorAs(t, err, &te)
	assert.Equal(t, ProblemDeleted, te.Problem)
}

func TestVerifyArguments(t *testing.T) {
	_, err := Verify(context.Background(), fstest.MapFS{}, []byte("short"), VerifyConfig{})
	assert.ErrorContains(t, err, "at least 32")
	_, err = Verify(context.Background(), fstest.MapFS{}, testKey, VerifyConfig{Prefix: "../"})
	assert.ErrorContains(t, err, "invalid prefix")
}

func TestVerifyOnEventError(t *testing.T) {
	c, _ := newTestChain(t, 5, 1<<20)
	stop := errors.New("stop")
	_, err := Verify(context.Background(), c.fs(), testKey, VerifyConfig{OnEvent: func(uint64, audit.Event) error { return stop }})
	assert.ErrorIs(t, err, stop)
}

func TestVerifyHonoursContext(t *testing.T) {
	c, _ := newTestChain(t, 5, 1<<20)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := Verify(ctx, c.fs(), testKey, VerifyConfig{})
	assert.ErrorIs(t, err, context.Canceled)
}

func TestVerifyLongLine(t *testing.T) {
	c, _ := newTestChain(t, 3, 1<<20)
	ls := *c.file(0)
	c.set(0, slices.Insert(ls, 1, append(bytes.Repeat([]byte("x"), MaxRecordLen+10), '\n')))
	_, err := Verify(context.Background(), c.fs(), testKey, VerifyConfig{})
	var te *TamperError
	require.ErrorAs(t, err, &te)
	assert.Equal(t, ProblemModified, te.Problem)
}

// FuzzVerify feeds arbitrary bytes to the chain reader as one file. It must
// never panic, and whatever it accepts must be a prefix of the genuine
// chain it was seeded with: without the key, no edit may pass.
func FuzzVerify(f *testing.F) {
	c, events := newTestChain(f, 6, 1<<20)
	require.Len(f, c.names, 1)
	genuine := bytes.Join(c.lines[c.names[0]], nil)
	f.Add(genuine)
	f.Add(genuine[:len(genuine)/2])
	f.Add(bytes.Replace(genuine, []byte("login.failed"), []byte("login.faile2"), 1))
	f.Add([]byte(`{"seq":1,"file":{"prev":"","created":"","retained_from":1},"mac":"00"}` + "\n"))
	f.Add([]byte("\n\n\n"))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		var got []audit.Event
		cfg := VerifyConfig{OnEvent: func(_ uint64, e audit.Event) error { got = append(got, e); return nil }}
		fsys := fstest.MapFS{c.names[0]: {Data: data}}
		_, err := Verify(context.Background(), fsys, testKey, cfg)
		if err != nil {
			var te *TamperError
			if !errors.As(err, &te) && !errors.Is(err, fs.ErrNotExist) {
				t.Fatalf("unexpected error type %T: %v", err, err)
			}
			return
		}
		require.LessOrEqual(t, len(got), len(events))
		for i := range got {
			assert.Equal(t, events[i], got[i])
		}
		assert.True(t, bytes.HasPrefix(genuine, data), "accepted bytes must be a prefix of the genuine chain")
	})
}

// BenchmarkVerifyCheckpoints verifies a chain of 2,000 events against
// 10,000 checkpoints (about a year of hourly ones): each record costs one
// lookup, not a pass over the checkpoints.
func BenchmarkVerifyCheckpoints(b *testing.B) {
	c, _ := newTestChain(b, 2000, 64<<10)
	fsys := c.fs()
	rep, err := Verify(context.Background(), fsys, testKey, VerifyConfig{})
	require.NoError(b, err)
	cps := make([]Checkpoint, 10_000) // seq 0 names no record
	cps[len(cps)-1] = rep.Last        // the one that applies
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Verify(context.Background(), fsys, testKey, VerifyConfig{Checkpoints: cps}); err != nil {
			b.Fatal(err)
		}
	}
}
