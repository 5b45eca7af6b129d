package audit

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestJSONLSinkWritesOneLinePerEvent(t *testing.T) {
	var buf bytes.Buffer
	s := must(NewJSONLSink(&buf))
	ctx := context.Background()
	e1 := testEvent(1, CategoryAdmin)
	e1.Reason = "line\nbreak {\"forged\":true}"
	require.NoError(t, s.Write(ctx, e1))
	n, err := s.WriteBatch(ctx, []Event{testEvent(2, CategoryError), testEvent(3, CategoryError)})
	require.NoError(t, err)
	assert.Equal(t, 2, n)

	sc := bufio.NewScanner(&buf)
	var got []Event
	for sc.Scan() {
		var e Event
		require.NoError(t, json.Unmarshal(sc.Bytes(), &e))
		got = append(got, e)
	}
	assert.Equal(t, []Event{e1, testEvent(2, CategoryError), testEvent(3, CategoryError)}, got)
}

// shortWriter accepts at most n bytes, then fails.
type shortWriter struct {
	bytes.Buffer
	n int
}

func (w *shortWriter) Write(p []byte) (int, error) {
	if len(p) <= w.n {
		w.n -= len(p)
		return w.Buffer.Write(p)
	}
	k := w.n
	w.n = 0
	w.Buffer.Write(p[:k])
	return k, errors.New("disk full")
}

func TestJSONLSinkShortWrite(t *testing.T) {
	line, _ := json.Marshal(testEvent(1, "c"))
	w := &shortWriter{n: len(line) + 1 + 10} // one line and a bit
	s := must(NewJSONLSink(w))
	n, err := s.WriteBatch(context.Background(), []Event{testEvent(1, "c"), testEvent(2, "c"), testEvent(3, "c")})
	assert.ErrorContains(t, err, "disk full")
	assert.Equal(t, 1, n, "only whole lines count")
	assert.ErrorContains(t, s.Write(context.Background(), testEvent(4, "c")), "disk full")
}

func TestJSONLSinkConcurrent(t *testing.T) {
	var buf bytes.Buffer
	s := must(NewJSONLSink(&buf))
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for i := range 50 {
				assert.NoError(t, s.Write(context.Background(), testEvent(i, "c")))
			}
		})
	}
	wg.Wait()
	lines := bytes.Split(bytes.TrimSuffix(buf.Bytes(), []byte("\n")), []byte("\n"))
	assert.Len(t, lines, 200)
	for _, l := range lines {
		assert.True(t, json.Valid(l))
	}
}

func TestNewJSONLSinkRejectsNil(t *testing.T) {
	_, err := NewJSONLSink(nil)
	assert.ErrorContains(t, err, "nil io.Writer")
}
