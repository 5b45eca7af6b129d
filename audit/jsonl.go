package audit

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"

	"github.com/deployedworks/rampart/internal/nilarg"
)

// ErrClosed is returned by a sink's Write after its Close.
var ErrClosed = errors.New("audit: sink closed")

// JSONLSink writes each event as one line of JSON (JSON Lines) to an
// io.Writer, in the stable encoding described in the package documentation.
// Values are JSON-escaped, so an attacker-supplied newline cannot forge a
// line. It is safe for concurrent use: each Write is one call to the
// writer. It does not buffer; wrap it in an [AsyncSink] for throughput.
type JSONLSink struct {
	mu   sync.Mutex
	w    io.Writer
	buf  []byte
	ends []int
}

var (
	_ Sink      = (*JSONLSink)(nil)
	_ BatchSink = (*JSONLSink)(nil)
)

// NewJSONLSink returns a sink writing JSON Lines to w. It returns an error
// if w is nil.
func NewJSONLSink(w io.Writer) (*JSONLSink, error) {
	if nilarg.Is(w) {
		return nil, errors.New("audit: NewJSONLSink with a nil io.Writer: pass the writer, such as os.Stderr")
	}
	return &JSONLSink{w: w}, nil
}

// Write writes e as one line.
func (s *JSONLSink) Write(_ context.Context, e Event) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.buf = append(appendEvent(s.buf[:0], &e), '\n')
	if _, err := s.w.Write(s.buf); err != nil {
		return fmt.Errorf("audit: jsonl write: %w", err)
	}
	return nil
}

// WriteBatch writes events with one call to the writer. On a short write
// it reports how many whole lines were written. It implements [BatchSink].
func (s *JSONLSink) WriteBatch(_ context.Context, events []Event) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.buf, s.ends = s.buf[:0], s.ends[:0]
	for i := range events {
		s.buf = append(appendEvent(s.buf, &events[i]), '\n')
		s.ends = append(s.ends, len(s.buf))
	}
	n, err := s.w.Write(s.buf)
	if err == nil {
		return len(events), nil
	}
	done := 0
	for done < len(s.ends) && s.ends[done] <= n {
		done++
	}
	return done, fmt.Errorf("audit: jsonl write: %w", err)
}
