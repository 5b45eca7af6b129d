package chain

import (
	"bufio"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/deployedworks/rampart/audit"
)

// Config tunes a [Sink]. The zero value is ready to use.
type Config struct {
	// Prefix names the files: PREFIX-SEQ.jsonl, SEQ being the 20-digit
	// sequence number of the file's first record. Lower-case letters,
	// digits, '.', '_' and '-'. Default: "audit".
	Prefix string

	// MaxSize rotates to a new file before one would grow past it, its
	// seal included (a file always takes at least one event, however
	// large). Default: 64 MiB.
	MaxSize int64

	// MaxAge rotates to a new file on the first write after the current one
	// is this old, so that retention can delete old events on time.
	// Default: 24 hours.
	MaxAge time.Duration

	// Retention decides when a rotated file is deleted: once every category
	// it holds is past its period (see [audit.Retention]), oldest files first.
	// Default (nil): the package defaults. Deletion happens on rotation and
	// [Sink.Rotate].
	Retention audit.Retention

	// SyncWrites calls fsync after every Write and WriteBatch. Default:
	// false: every write is handed to the operating system before Write
	// returns (a crash of the process loses nothing), and files are fsynced
	// on rotation and Close (a crash of the machine may lose the last
	// writes). Wrap the sink in an [audit.AsyncSink] to keep throughput with it on.
	SyncWrites bool

	// Now returns the current time. Default: time.Now.
	// Tests in a testing/synctest bubble leave it nil (the bubble's fake
	// clock drives time.Now); set it only to drive one clock through a
	// whole application outside a bubble (against a real database).
	Now func() time.Time
}

// Sink writes events to a directory of tamper-evident, rotated JSON
// Lines files. Each record carries a sequence number and an HMAC-SHA256
// over the previous record's MAC and its own bytes, so that [Verify] (and
// the command audit/chain/cmd/auditverify) detects any record modified, deleted,
// reordered or truncated by someone without the key.
//
// The chain resists an attacker who can edit the files but not read the
// key: keep the key out of the log host's reach where you can (a secrets
// manager, loaded with the secrets package), and ship checkpoints
// ([Sink.Checkpoint]) elsewhere to detect removal of the newest
// records. It does not encrypt: events are readable by whoever reads the
// files, which are created with mode 0600 in a directory of mode 0700.
//
// A Sink is safe for concurrent use. It starts no goroutine; Close
// seals the chain and must be called on shutdown. Only one Sink may
// write to a directory and prefix at a time.
type Sink struct {
	mu        sync.Mutex
	dir       string
	prefix    string
	maxSize   int64
	maxAge    time.Duration
	retention audit.Retention
	sync      bool
	now       func() time.Time

	mac  hash.Hash
	sum  [sha256.Size]byte
	f    *os.File
	name string
	size int64
	born time.Time
	cats []audit.Category // categories written to the current file

	seq          uint64            // last record written
	last         [sha256.Size]byte // its MAC
	retainedFrom uint64

	buf, ev []byte // pending records; the event being encoded
	scratch []byte // header and seal bodies
	recs    []pendingRecord
	base    pendingRecord // chain state before buf

	hdrSize  int64 // size of the current file's header: it is not rotated before it holds more
	closed   bool
	broken   bool // the current file holds a partial record
	pruneErr error
}

type pendingRecord struct {
	end   int
	seq   uint64
	mac   [sha256.Size]byte
	event bool
}

var (
	_ audit.Sink      = (*Sink)(nil)
	_ audit.BatchSink = (*Sink)(nil)
)

// New opens the chain in dir (created with mode 0700 if missing),
// keyed by key, and starts a new file. key must be at least [MinKeyLen]
// random bytes; load it with the secrets package (for example from an
// environment variable holding "openssl rand -hex 32") and keep it stable:
// the verifier needs the same key.
//
// When the newest existing file was not sealed (the process stopped
// without Close), New cuts off any partial last record, seals the
// file, and logs an [ActionLogRecovered] security alert into the new file.
// It returns an error, and writes nothing, when the newest record does not
// verify with key (a wrong key, or a modified file).
func New(dir string, key []byte, cfg Config) (*Sink, error) {
	if len(key) < MinKeyLen {
		return nil, fmt.Errorf("audit: file sink: key is %d bytes, want at least %d random bytes: generate one with `openssl rand -hex 32` and load it with the secrets package", len(key), MinKeyLen)
	}
	if cfg.Prefix == "" {
		cfg.Prefix = "audit"
	}
	if !validPrefix(cfg.Prefix) {
		return nil, fmt.Errorf("audit: file sink: invalid Prefix %q: use lower-case letters, digits, '.', '_' and '-'", cfg.Prefix)
	}
	s := &Sink{
		dir: dir, prefix: cfg.Prefix, maxSize: cfg.MaxSize, maxAge: cfg.MaxAge,
		retention: cfg.Retention, sync: cfg.SyncWrites, now: cfg.Now,
		mac: hmac.New(sha256.New, slices.Clone(key)), retainedFrom: 1,
	}
	if s.maxSize <= 0 {
		s.maxSize = 64 << 20
	}
	if s.maxAge <= 0 {
		s.maxAge = 24 * time.Hour
	}
	if s.now == nil {
		s.now = time.Now
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("audit: file sink: %w", err)
	}
	recovered, err := s.resume()
	if err != nil {
		return nil, err
	}
	if err := s.rotate(""); err != nil {
		return nil, err
	}
	if recovered != nil {
		s.appendEventRecord(recovered)
		if _, err := s.flush(); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// resume finds where the existing chain ends. When the newest file was not
// sealed it repairs and seals it and returns the event to log about it.
func (s *Sink) resume() (*audit.Event, error) {
	for {
		files, err := chainFiles(os.DirFS(s.dir), s.prefix)
		if err != nil {
			return nil, fmt.Errorf("audit: file sink: list %s: %w", s.dir, err)
		}
		if len(files) == 0 {
			return nil, nil
		}
		latest := files[len(files)-1]
		path := filepath.Join(s.dir, latest.name)
		tail, err := readTail(path)
		if err != nil {
			return nil, fmt.Errorf("audit: file sink: %w", err)
		}
		if tail.lines == 0 && tail.size == tail.partial {
			// Not even a complete header: the process stopped while creating
			// the file. It holds no record, so removing it loses nothing.
			if err := os.Remove(path); err != nil {
				return nil, fmt.Errorf("audit: file sink: remove empty %s: %w", latest.name, err)
			}
			continue
		}
		bad := fmt.Errorf("audit: file sink: the newest record of %s does not verify: the key differs from the one that wrote it, or the file was modified; check it with auditverify before starting", latest.name)
		last, err := parseRecord(tail.last)
		if err != nil {
			return nil, bad
		}
		hdr, err := readHeader(path)
		if err != nil {
			return nil, bad
		}
		h, hprev, err := decodeHeader(hdr)
		if err != nil || hdr.seq != latest.seq || hdr.mac != computeMAC(s.mac, &hprev, hdr.signed) {
			return nil, bad
		}
		prev := hprev
		if last.kind != kindHeader {
			p, err := parseRecord(tail.prev)
			if err != nil {
				return nil, bad
			}
			prev = p.mac
		}
		if last.mac != computeMAC(s.mac, &prev, last.signed) {
			return nil, bad
		}
		s.seq, s.last, s.retainedFrom = last.seq, last.mac, max(h.RetainedFrom, 1)
		if last.kind == kindSeal {
			return nil, nil
		}
		// Unsealed: cut any partial record and seal the file.
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0) // #nosec G304 -- paths are the operator's audit directory joined with names the sink generates
		if err != nil {
			return nil, fmt.Errorf("audit: file sink: reopen %s: %w", latest.name, err)
		}
		if tail.partial > 0 {
			if err := f.Truncate(tail.size - tail.partial); err != nil {
				_ = f.Close()
				return nil, fmt.Errorf("audit: file sink: cut partial record of %s: %w", latest.name, err)
			}
		}
		s.f, s.name, s.size, s.base = f, latest.name, tail.size-tail.partial, pendingRecord{seq: s.seq, mac: s.last}
		if s.cats, err = scanCategories(path); err != nil {
			_ = f.Close()
			s.f = nil
			return nil, fmt.Errorf("audit: file sink: read %s: %w", latest.name, err)
		}
		if err := s.sealAndClose(sealRecover); err != nil {
			return nil, err
		}
		return &audit.Event{
			Time: s.now().UTC(), Category: audit.CategorySecurityAlert, Action: ActionLogRecovered,
			Outcome: audit.OutcomeFailure, Target: audit.Target{Kind: "audit_log", ID: latest.name},
			Reason: "the previous audit log file was not sealed: the process stopped without Close, or its newest records were removed",
			Meta: map[string]string{
				"last_seq":      fmt.Sprint(last.seq),
				"partial_bytes": fmt.Sprint(tail.partial),
			},
		}, nil
	}
}

// scanCategories lists the categories of the events in a chain file, for
// the seal of a file sealed on recovery.
func scanCategories(path string) ([]audit.Category, error) {
	f, err := os.Open(path) // #nosec G304 -- paths are the operator's audit directory joined with names the sink generates
	if err != nil {
		return nil, err
	}
	defer f.Close()
	br := bufio.NewReaderSize(f, 64<<10)
	var cats []audit.Category
	var scratch []byte
	for {
		line, complete, err := readLine(br, scratch)
		if err == io.EOF || !complete {
			return cats, nil
		}
		if err != nil && !errors.Is(err, errTooLong) {
			return nil, err
		}
		scratch = line[:0]
		r, perr := parseRecord(line)
		if perr != nil || r.kind != kindEvent {
			continue
		}
		var e struct {
			Category audit.Category `json:"category"`
		}
		if json.Unmarshal(r.body, &e) == nil && !slices.Contains(cats, e.Category) {
			cats = append(cats, e.Category)
		}
	}
}

type tailInfo struct {
	size, partial int64
	lines         int    // complete lines seen in the tail window (0, 1 or 2+)
	last, prev    []byte // the last two complete lines
}

// maxTailWindow is the most readTail reads: enough for two records.
const maxTailWindow = 2*MaxRecordLen + 2

// readTail reads the end of a chain file: its last two complete lines and
// the length of any partial line after them. It reads a growing window from
// the end, up to maxTailWindow.
func readTail(path string) (tailInfo, error) {
	var t tailInfo
	f, err := os.Open(path) // #nosec G304 -- paths are the operator's audit directory joined with names the sink generates
	if err != nil {
		return t, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return t, err
	}
	t.size = st.Size()
	for window := min(t.size, 64<<10); ; window = min(t.size, window*4, maxTailWindow) {
		t = tailInfo{size: t.size}
		buf := make([]byte, window)
		if _, err := f.ReadAt(buf, t.size-window); err != nil && err != io.EOF {
			return t, err
		}
		whole := window == t.size // the window starts at the start of the file
		i := lastIndexByte(buf, '\n')
		t.partial = int64(len(buf) - (i + 1))
		end := i
		for i >= 0 && t.lines < 2 {
			j := lastIndexByte(buf[:end], '\n')
			if j < 0 && !whole {
				break // the line may start before the window
			}
			if t.lines == 0 {
				t.last = buf[j+1 : end]
			} else {
				t.prev = buf[j+1 : end]
			}
			t.lines++
			if j < 0 {
				break
			}
			end = j
		}
		if t.lines == 2 || whole || window >= maxTailWindow {
			return t, nil
		}
	}
}

func lastIndexByte(b []byte, c byte) int {
	for i := len(b) - 1; i >= 0; i-- {
		if b[i] == c {
			return i
		}
	}
	return -1
}

// readHeader returns the first record of a chain file.
func readHeader(path string) (record, error) {
	f, err := os.Open(path) // #nosec G304 -- paths are the operator's audit directory joined with names the sink generates
	if err != nil {
		return record{}, err
	}
	defer f.Close()
	line, complete, err := readLine(bufio.NewReader(f), nil)
	if err != nil || !complete {
		return record{}, errMalformed
	}
	r, err := parseRecord(line)
	if err != nil || r.kind != kindHeader {
		return record{}, errMalformed
	}
	return r, nil
}

// Write appends e to the chain.
func (s *Sink) Write(ctx context.Context, e audit.Event) error {
	_, err := s.WriteBatch(ctx, []audit.Event{e})
	return err
}

// WriteBatch appends events to the chain with one write (two around a
// rotation). It implements [audit.BatchSink]: on error, the events not counted
// were not written and the file holds no partial record.
func (s *Sink) WriteBatch(_ context.Context, events []audit.Event) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return 0, audit.ErrClosed
	}
	if s.broken || s.f == nil || s.now().Sub(s.born) >= s.maxAge {
		if err := s.rotate(sealRotate); err != nil {
			return 0, err
		}
	}
	written := 0
	for i := range events {
		e := &events[i]
		if y := e.Time.Year(); y < 0 || y > 9999 {
			e2 := *e
			e2.Time = time.Time{}
			e = &e2
		}
		e = s.encodeFitting(e)
		if len(s.recs) > 0 || s.size > s.hdrSize {
			if s.size+int64(len(s.buf)+len(s.ev)+recordOverhead+s.sealSize(e.Category)) > s.maxSize {
				n, err := s.flush()
				written += n
				if err != nil {
					return written, err
				}
				if err := s.rotate(sealRotate); err != nil {
					return written, err
				}
			}
		}
		s.appendEventBytes(e.Category)
	}
	n, err := s.flush()
	return written + n, err
}

// encodeFitting encodes e into s.ev, cut so that its record stays far
// below MaxRecordLen, and returns the event encoded. An event over half of
// it is cut to the limits of [audit.Redact] (one written straight to the sink has
// had none); if JSON escaping, which can make a value six times its size,
// still leaves it over half, its Meta values are cut to an eighth of
// MaxMetaValue, which bounds the encoding whatever the bytes.
func (s *Sink) encodeFitting(e *audit.Event) *audit.Event {
	s.ev = appendEvent(s.ev[:0], e)
	if len(s.ev) <= MaxRecordLen/2 {
		return e
	}
	e2 := audit.Redact(*e)
	s.ev = appendEvent(s.ev[:0], &e2)
	if len(s.ev) > MaxRecordLen/2 {
		meta := make(map[string]string, len(e2.Meta))
		for k, v := range e2.Meta {
			meta[k] = truncate(v, audit.MaxMetaValue/8)
		}
		e2.Meta = meta
		s.ev = appendEvent(s.ev[:0], &e2)
	}
	return &e2
}

// appendEvent appends e's stable encoding to b; the caller has checked
// that its time is in range.
func appendEvent(b []byte, e *audit.Event) []byte {
	out, err := e.AppendJSON(b)
	if err != nil { // a time outside years 0-9999: record the event without it
		e2 := *e
		e2.Time = time.Time{}
		out, _ = e2.AppendJSON(b)
	}
	return out
}

// appendString appends s as a JSON string, escaped as encoding/json does.
func appendString(b []byte, s string) []byte {
	q, _ := json.Marshal(s) // a string always encodes
	return append(b, q...)
}

func appendUint(b []byte, n uint64) []byte { return strconv.AppendUint(b, n, 10) }

// truncate cuts s to at most max bytes at a UTF-8 boundary, marking the
// cut with "…", as package audit does.
func truncate(s string, max int) string {
	if len(s) <= max {
		return s
	}
	const ell = "…"
	cut := max - len(ell)
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + ell
}

// recordOverhead bounds the bytes an event record adds to its event's JSON.
const recordOverhead = len(`{"seq":18446744073709551615,"event":`) + macSuffixLen + 1

// sealSize bounds the size of the current file's seal if an event of
// category c is added.
func (s *Sink) sealSize(c audit.Category) int {
	n := 256
	for _, have := range s.cats {
		n += len(have) + 3
	}
	if !slices.Contains(s.cats, c) {
		n += 6*len(c) + 3 // worst-case JSON escaping
	}
	return n
}

// appendEventRecord encodes e into the pending buffer.
func (s *Sink) appendEventRecord(e *audit.Event) {
	s.ev = appendEvent(s.ev[:0], e)
	s.appendEventBytes(e.Category)
}

func (s *Sink) appendEventBytes(c audit.Category) {
	if !slices.Contains(s.cats, c) {
		s.cats = append(s.cats, c)
	}
	s.appendRecord(`,"event":`, s.ev, true)
}

// appendRecord adds one record with body to the pending buffer and advances
// the chain.
func (s *Sink) appendRecord(kind string, body []byte, event bool) {
	start := len(s.buf)
	s.buf = append(s.buf, `{"seq":`...)
	s.buf = appendUint(s.buf, s.seq+1)
	s.buf = append(s.buf, kind...)
	s.buf = append(s.buf, body...)
	s.mac.Reset()
	s.mac.Write(s.last[:])
	s.mac.Write(s.buf[start:])
	sum := s.mac.Sum(s.sum[:0])
	s.buf = append(s.buf, macField...)
	s.buf = hex.AppendEncode(s.buf, sum)
	s.buf = append(s.buf, "\"}\n"...)
	s.seq++
	copy(s.last[:], sum)
	s.recs = append(s.recs, pendingRecord{end: len(s.buf), seq: s.seq, mac: s.last, event: event})
}

// flush writes the pending buffer. On failure it removes any partial record
// from the file and rewinds the chain to the last record written, so the
// caller may retry; it returns the number of events written.
func (s *Sink) flush() (int, error) {
	if len(s.buf) == 0 {
		return 0, nil
	}
	n, err := s.f.Write(s.buf)
	if err == nil && s.sync {
		if err = s.f.Sync(); err != nil {
			n = 0 // not known to be durable: undo it all
		}
	}
	if err == nil {
		s.size += int64(n)
		events := 0
		for _, r := range s.recs {
			if r.event {
				events++
			}
		}
		s.commit(len(s.recs))
		return events, nil
	}
	k := 0
	for k < len(s.recs) && s.recs[k].end <= n {
		k++
	}
	keep := 0
	if k > 0 {
		keep = s.recs[k-1].end
	}
	if terr := s.f.Truncate(s.size + int64(keep)); terr != nil {
		s.broken = true // the next write starts a new file
	}
	s.size += int64(keep)
	events := 0
	for _, r := range s.recs[:k] {
		if r.event {
			events++
		}
	}
	s.commit(k)
	return events, fmt.Errorf("audit: file sink: write %s: %w", s.name, err)
}

// commit makes the first k pending records the chain's state and drops the
// pending buffer.
func (s *Sink) commit(k int) {
	if k > 0 {
		s.base = s.recs[k-1]
	}
	s.seq, s.last = s.base.seq, s.base.mac
	s.buf, s.recs = s.buf[:0], s.recs[:0]
}

// sealAndClose writes the seal record and closes the current file.
func (s *Sink) sealAndClose(reason string) error {
	if s.f == nil {
		return nil
	}
	if s.broken {
		// A failed write left a partial record that could not be cut. Try
		// again through a fresh descriptor, so the file can still be sealed.
		_ = s.f.Close()
		s.f = nil
		f, err := os.OpenFile(filepath.Join(s.dir, s.name), os.O_WRONLY|os.O_APPEND, 0)
		if err != nil {
			s.cats, s.broken = s.cats[:0], false
			return nil // left unsealed: Verify will report the damage
		}
		if err := f.Truncate(s.size); err != nil {
			_ = f.Close()
			s.cats, s.broken = s.cats[:0], false
			return nil
		}
		s.f, s.broken = f, false
	}
	f := s.f
	slices.Sort(s.cats)
	body := append(s.scratch[:0], `{"reason":`...)
	body = appendString(body, reason)
	body = append(body, `,"time":"`...)
	body = s.now().UTC().AppendFormat(body, time.RFC3339Nano)
	body = append(body, `","categories":[`...)
	for i, c := range s.cats {
		if i > 0 {
			body = append(body, ',')
		}
		body = appendString(body, string(c))
	}
	body = append(body, "]}"...)
	s.scratch = body
	s.appendRecord(`,"seal":`, body, false)
	_, err := s.flush()
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("audit: file sink: close %s: %w", s.name, cerr)
	}
	s.f, s.cats, s.broken = nil, s.cats[:0], false
	return err
}

// rotate seals the current file (if any, with reason), deletes the oldest
// files past retention and starts a new file whose header records what was
// kept. The header is made durable before anything is deleted, so a crash
// between the two never looks like tampering.
func (s *Sink) rotate(reason string) error {
	if err := s.sealAndClose(reason); err != nil {
		return err
	}
	del, keepFrom := s.expired()
	if keepFrom > s.retainedFrom {
		s.retainedFrom = keepFrom
	}
	if err := s.open(); err != nil {
		return err
	}
	var errs []error
	for _, name := range del {
		if err := os.Remove(filepath.Join(s.dir, name)); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	s.pruneErr = errors.Join(errs...)
	return nil
}

// expired lists the oldest files that retention allows deleting, and the
// first sequence number kept after deleting them.
func (s *Sink) expired() (del []string, keepFrom uint64) {
	files, err := chainFiles(os.DirFS(s.dir), s.prefix)
	if err != nil {
		s.pruneErr = err
		return nil, 0
	}
	now := s.now()
	for _, cf := range files {
		seal, ok := s.readSeal(filepath.Join(s.dir, cf.name))
		if !ok {
			return del, cf.seq
		}
		keep := s.retention.Longest(seal.Categories...)
		if keep == audit.KeepForever || now.Sub(seal.Time) <= keep {
			return del, cf.seq
		}
		del = append(del, cf.name)
	}
	return del, s.seq + 1
}

// readSeal returns the verified seal of a file, if it has one.
func (s *Sink) readSeal(path string) (fileSeal, bool) {
	var seal fileSeal
	t, err := readTail(path)
	if err != nil || t.partial != 0 || t.lines < 2 {
		return seal, false
	}
	last, err := parseRecord(t.last)
	if err != nil || last.kind != kindSeal {
		return seal, false
	}
	prev, err := parseRecord(t.prev)
	if err != nil || last.mac != computeMAC(s.mac, &prev.mac, last.signed) {
		return seal, false
	}
	if err := json.Unmarshal(last.body, &seal); err != nil {
		return seal, false
	}
	return seal, true
}

// open starts a new file with its header.
func (s *Sink) open() error {
	name := chainFileName(s.prefix, s.seq+1)
	path := filepath.Join(s.dir, name)
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL|os.O_APPEND, 0o600) // #nosec G304 -- paths are the operator's audit directory joined with names the sink generates
	if err != nil {
		return fmt.Errorf("audit: file sink: create %s: %w", name, err)
	}
	now := s.now().UTC()
	s.f, s.name, s.size, s.born, s.cats = f, name, 0, now, s.cats[:0]
	s.base = pendingRecord{seq: s.seq, mac: s.last}
	body := append(s.scratch[:0], `{"prev":"`...)
	body = hex.AppendEncode(body, s.last[:])
	body = append(body, `","created":"`...)
	body = now.AppendFormat(body, time.RFC3339Nano)
	body = append(body, `","retained_from":`...)
	body = appendUint(body, s.retainedFrom)
	body = append(body, '}')
	s.scratch = body
	s.appendRecord(`,"file":`, body, false)
	if _, err := s.flush(); err != nil {
		_ = f.Close()
		_ = os.Remove(path)
		s.f = nil
		return err
	}
	s.hdrSize = s.size
	if err := f.Sync(); err != nil {
		return fmt.Errorf("audit: file sink: sync %s: %w", name, err)
	}
	return syncDir(s.dir)
}

func syncDir(dir string) error {
	d, err := os.Open(dir) // #nosec G304 -- paths are the operator's audit directory joined with names the sink generates
	if err != nil {
		return fmt.Errorf("audit: file sink: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil && !errors.Is(err, os.ErrInvalid) {
		return fmt.Errorf("audit: file sink: sync directory: %w", err)
	}
	return nil
}

// Rotate seals the current file, deletes the files past retention and
// starts a new file. Call it periodically (say hourly) if the application
// may stay idle longer than MaxAge, so that old files are deleted on time.
// It returns an error if deleting a file failed; the next rotation retries.
func (s *Sink) Rotate(context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return audit.ErrClosed
	}
	if err := s.rotate(sealRotate); err != nil {
		return err
	}
	if s.pruneErr != nil {
		return fmt.Errorf("audit: file sink: retention: %w", s.pruneErr)
	}
	return nil
}

// Checkpoint returns the newest record written. Store it out of the log
// host's reach and pass it to [Verify] later: the chain must still contain
// it.
func (s *Sink) Checkpoint() Checkpoint {
	s.mu.Lock()
	defer s.mu.Unlock()
	return Checkpoint{Seq: s.seq, MAC: hex.EncodeToString(s.last[:])}
}

// Close seals the chain (so that [Verify] with RequireSealed accepts it),
// syncs and closes the file. Later writes return [audit.ErrClosed].
func (s *Sink) Close(context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	return s.sealAndClose(sealClose)
}
