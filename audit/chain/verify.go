package chain

import (
	"bufio"
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/deployedworks/rampart/audit"
)

// The chain format. Every line of a chain file is one record:
//
//	{"seq":N,"KIND":BODY,"mac":"HEX"}
//
// where KIND is "file" (the header, first line of every file), "event" (an
// [audit.Event] in the stable encoding) or "seal" (the last line of a file closed
// cleanly), and mac is HMAC-SHA256(key, previous record's MAC || the line's
// bytes up to, not including, `,"mac":"`). The first header of a chain
// chains to 32 zero bytes; every header carries the MAC it chains to in
// "prev", so a file can be checked when older files have been deleted by
// retention.
const (
	macField     = `,"mac":"`
	macSuffixLen = len(macField) + 2*sha256.Size + len(`"}`)
	// MaxRecordLen bounds one record (line) of a chain file; the verifier
	// reports a longer line as modified. A Sink cuts an event whose
	// record would come near it (see [audit.Redact]), so it never
	// writes one.
	MaxRecordLen = 2 << 20
	// MinKeyLen is the minimum length of the chain's HMAC key, in bytes.
	MinKeyLen = 32
)

type recordKind uint8

const (
	kindEvent recordKind = iota + 1
	kindHeader
	kindSeal
)

// Seal reasons.
const (
	sealRotate  = "rotate"  // another file follows
	sealClose   = "close"   // the writer was closed cleanly
	sealRecover = "recover" // written on restart after an unclean stop; another file follows
)

type record struct {
	seq    uint64
	kind   recordKind
	signed []byte // the bytes the MAC covers
	body   []byte // the JSON value after "KIND":
	mac    [sha256.Size]byte
}

type fileHeader struct {
	Prev         string    `json:"prev"`
	Created      time.Time `json:"created"`
	RetainedFrom uint64    `json:"retained_from"`
}

type fileSeal struct {
	Reason     string           `json:"reason"`
	Time       time.Time        `json:"time"`
	Categories []audit.Category `json:"categories"`
}

var errMalformed = errors.New("malformed record")

// parseRecord splits one line (without its newline) into its parts. It
// checks the framing only; the body is decoded by the caller.
func parseRecord(line []byte) (record, error) {
	var r record
	if len(line) < len(`{"seq":1,"file":{}`)+macSuffixLen || !bytes.HasSuffix(line, []byte(`"}`)) {
		return r, errMalformed
	}
	mac := line[len(line)-macSuffixLen:]
	if !bytes.HasPrefix(mac, []byte(macField)) {
		return r, errMalformed
	}
	hexMAC := mac[len(macField) : len(macField)+2*sha256.Size]
	if !isLowerHex(hexMAC) {
		return r, errMalformed
	}
	_, _ = hex.Decode(r.mac[:], hexMAC)
	r.signed = line[:len(line)-macSuffixLen]
	seq, rest, ok := parseSeqPrefix(r.signed)
	if !ok {
		return r, errMalformed
	}
	r.seq = seq
	switch {
	case bytes.HasPrefix(rest, []byte(`,"event":`)):
		r.kind, r.body = kindEvent, rest[len(`,"event":`):]
	case bytes.HasPrefix(rest, []byte(`,"file":`)):
		r.kind, r.body = kindHeader, rest[len(`,"file":`):]
	case bytes.HasPrefix(rest, []byte(`,"seal":`)):
		r.kind, r.body = kindSeal, rest[len(`,"seal":`):]
	default:
		return r, errMalformed
	}
	if len(r.body) < 2 || r.body[0] != '{' || r.body[len(r.body)-1] != '}' {
		return r, errMalformed
	}
	return r, nil
}

// parseSeqPrefix reads `{"seq":N` with N a canonical decimal ≥ 1.
func parseSeqPrefix(b []byte) (uint64, []byte, bool) {
	const p = `{"seq":`
	if !bytes.HasPrefix(b, []byte(p)) {
		return 0, nil, false
	}
	b = b[len(p):]
	i := 0
	for i < len(b) && i < 20 && b[i] >= '0' && b[i] <= '9' {
		i++
	}
	if i == 0 || b[0] == '0' {
		return 0, nil, false
	}
	n, err := strconv.ParseUint(string(b[:i]), 10, 64)
	if err != nil {
		return 0, nil, false
	}
	return n, b[i:], true
}

func isLowerHex(b []byte) bool {
	for _, c := range b {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}

// computeMAC returns HMAC(key, prev || signed) using h, an HMAC-SHA256.
func computeMAC(h hash.Hash, prev *[sha256.Size]byte, signed []byte) (out [sha256.Size]byte) {
	h.Reset()
	h.Write(prev[:])
	h.Write(signed)
	h.Sum(out[:0])
	return out
}

func decodeHeader(r record) (fileHeader, [sha256.Size]byte, error) {
	var h fileHeader
	var prev [sha256.Size]byte
	if err := json.Unmarshal(r.body, &h); err != nil {
		return h, prev, errMalformed
	}
	if len(h.Prev) != 2*sha256.Size || !isLowerHex([]byte(h.Prev)) {
		return h, prev, errMalformed
	}
	_, _ = hex.Decode(prev[:], []byte(h.Prev))
	return h, prev, nil
}

// chainFile is one file of a chain, named PREFIX-SEQ.jsonl with SEQ the
// 20-digit sequence number of its header.
type chainFile struct {
	name string
	seq  uint64
}

func chainFileName(prefix string, seq uint64) string {
	return fmt.Sprintf("%s-%020d.jsonl", prefix, seq)
}

// chainFiles lists the chain files of prefix in fsys's root, oldest first.
func chainFiles(fsys fs.FS, prefix string) ([]chainFile, error) {
	ents, err := fs.ReadDir(fsys, ".")
	if err != nil {
		return nil, err
	}
	var out []chainFile
	for _, e := range ents {
		name := e.Name()
		rest, ok := strings.CutPrefix(name, prefix+"-")
		if !ok || !e.Type().IsRegular() {
			continue
		}
		digits, ok := strings.CutSuffix(rest, ".jsonl")
		if !ok || len(digits) != 20 {
			continue
		}
		seq, err := strconv.ParseUint(digits, 10, 64)
		if err != nil || seq == 0 {
			continue
		}
		out = append(out, chainFile{name: name, seq: seq})
	}
	slices.SortFunc(out, func(a, b chainFile) int { return cmpUint(a.seq, b.seq) })
	return out, nil
}

func cmpUint(a, b uint64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func validPrefix(p string) bool {
	if len(p) == 0 || len(p) > 64 {
		return false
	}
	for i := 0; i < len(p); i++ {
		c := p[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_' || c == '-' || c == '.') {
			return false
		}
	}
	return p[0] != '.'
}

// readLine reads one line of at most MaxRecordLen bytes. It returns the line
// without its newline, whether the newline was there, and io.EOF when
// nothing is left. A longer line is returned cut, with complete == true and
// errTooLong.
func readLine(br *bufio.Reader, scratch []byte) (line []byte, complete bool, err error) {
	line = scratch[:0]
	for {
		chunk, err := br.ReadSlice('\n')
		if len(line)+len(chunk) > MaxRecordLen {
			// Skip the rest of the line.
			for errors.Is(err, bufio.ErrBufferFull) {
				_, err = br.ReadSlice('\n')
			}
			if err != nil && err != io.EOF {
				return nil, false, err
			}
			return line, true, errTooLong
		}
		line = append(line, chunk...)
		switch {
		case err == nil:
			return line[:len(line)-1], true, nil
		case errors.Is(err, bufio.ErrBufferFull):
			continue
		case err == io.EOF:
			if len(line) == 0 {
				return nil, false, io.EOF
			}
			return line, false, nil
		default:
			return nil, false, err
		}
	}
}

var errTooLong = errors.New("record too long")

// ErrTampered is wrapped by every [TamperError].
var ErrTampered = errors.New("audit: log chain tampered")

// Problem names the kind of damage [Verify] found.
type Problem string

// Problems reported by [Verify].
const (
	// ProblemModified: a record's bytes changed (its MAC does not verify),
	// or it cannot be parsed. A wrong key also shows as this, at the first
	// record.
	ProblemModified Problem = "modified"
	// ProblemDeleted: records are missing: a gap in the sequence, a missing
	// file, or missing oldest records that no retention claim accounts for.
	ProblemDeleted Problem = "deleted"
	// ProblemReordered: records or files are out of order, duplicated or
	// renamed.
	ProblemReordered Problem = "reordered"
	// ProblemTruncated: a record is cut short, a rotated file lost its end,
	// or the chain ends before a checkpoint or without its final seal.
	ProblemTruncated Problem = "truncated"
)

// TamperError describes the first problem [Verify] found in a chain. It
// wraps [ErrTampered].
type TamperError struct {
	Problem Problem
	File    string // file name within the directory
	Line    int    // 1-based line number, 0 when the problem is a whole file
	Seq     uint64 // sequence number expected or found there
	Detail  string
}

// Error describes the problem and where it is.
func (e *TamperError) Error() string {
	loc := e.File
	if e.Line > 0 {
		loc += ":" + strconv.Itoa(e.Line)
	}
	return fmt.Sprintf("audit: log chain: record %s at %s (seq %d): %s", e.Problem, loc, e.Seq, e.Detail)
}

// Unwrap returns [ErrTampered].
func (e *TamperError) Unwrap() error { return ErrTampered }

// Checkpoint identifies one record of a chain: its sequence number and MAC
// in hex. Record [Sink.Checkpoint] somewhere the attacker cannot reach
// (another sink, a remote log, a ticket) and pass it to [Verify]: that is
// the only way to detect removal of the newest records of a live chain.
type Checkpoint struct {
	Seq uint64 `json:"seq"`
	MAC string `json:"mac"`
}

// VerifyConfig tunes [Verify]. The zero value checks a chain written with
// the default prefix that may still be open.
type VerifyConfig struct {
	// Prefix of the file names, as in Config.Prefix. Default: "audit".
	Prefix string
	// RequireSealed demands that the chain end with the seal written by
	// [Sink.Close]; use it on a chain whose writer has stopped. Without
	// it, an unsealed end is accepted (the writer may be running) and
	// reported in Report.Sealed.
	RequireSealed bool
	// Checkpoints must all be found in the chain with the same MAC, unless
	// retention has deleted them (sequence below the oldest record).
	Checkpoints []Checkpoint
	// OnEvent, if set, is called with each event in order once its record
	// has verified. An error it returns stops Verify and is returned.
	OnEvent func(seq uint64, e audit.Event) error
}

// Report summarizes a chain checked by [Verify].
type Report struct {
	Files        int
	Records      uint64 // headers, events and seals verified
	Events       uint64
	FirstSeq     uint64 // sequence number of the oldest record present
	RetainedFrom uint64 // the writer's claim: records below it were deleted by retention
	Last         Checkpoint
	Sealed       bool // the chain ends with the seal written by Close
}

// Verify checks the chain of files written by a [Sink] in the root of
// fsys (os.DirFS(dir)) with key, and returns what it verified and the first
// problem as a *[TamperError]: a modified, deleted, reordered or truncated
// record, or a missing or renamed file. Deleting the oldest files is
// accepted only as far as the writer's own retention claims go (each file
// header records the oldest sequence number the writer still kept).
//
// What it cannot see: the removal of the newest records of a chain whose
// writer has not been closed (use RequireSealed, or Checkpoints kept
// elsewhere). Files in fsys with other names are ignored.
func Verify(ctx context.Context, fsys fs.FS, key []byte, cfg VerifyConfig) (Report, error) {
	if len(key) < MinKeyLen {
		return Report{}, fmt.Errorf("audit: verify: key is %d bytes, want at least %d: pass the key the Sink was given", len(key), MinKeyLen)
	}
	if cfg.Prefix == "" {
		cfg.Prefix = "audit"
	}
	if !validPrefix(cfg.Prefix) {
		return Report{}, fmt.Errorf("audit: verify: invalid prefix %q", cfg.Prefix)
	}
	files, err := chainFiles(fsys, cfg.Prefix)
	if err != nil {
		return Report{}, fmt.Errorf("audit: verify: list files: %w", err)
	}
	if len(files) == 0 {
		return Report{}, &TamperError{Problem: ProblemDeleted, File: cfg.Prefix + "-*.jsonl", Seq: 1, Detail: "no log files found"}
	}
	v := &verifier{ctx: ctx, fsys: fsys, files: files, cfg: cfg, h: hmac.New(sha256.New, key)}
	if len(cfg.Checkpoints) > 0 {
		// By sequence number, so that checking each record against
		// thousands of checkpoints costs one lookup.
		v.checkpoints = make(map[uint64][]string, len(cfg.Checkpoints))
		for _, cp := range cfg.Checkpoints {
			v.checkpoints[cp.Seq] = append(v.checkpoints[cp.Seq], cp.MAC)
		}
	}
	for i := range files {
		if err := v.file(i); err != nil {
			return v.rep, err
		}
	}
	return v.rep, v.finish()
}

type verifier struct {
	ctx     context.Context
	fsys    fs.FS
	files   []chainFile
	cfg     VerifyConfig
	h       hash.Hash
	rep     Report
	started bool
	expect  uint64
	last    [sha256.Size]byte
	seal    string // reason of the last file's seal, "" if unsealed
	scratch []byte
	// checkpoints are cfg.Checkpoints' MACs by sequence number.
	checkpoints map[uint64][]string
}

func (v *verifier) fail(p Problem, file string, line int, seq uint64, format string, args ...any) error {
	return &TamperError{Problem: p, File: file, Line: line, Seq: seq, Detail: fmt.Sprintf(format, args...)}
}

func (v *verifier) file(i int) error {
	cf := v.files[i]
	f, err := v.fsys.Open(cf.name)
	if err != nil {
		return fmt.Errorf("audit: verify: %w", err)
	}
	defer f.Close()
	br := bufio.NewReaderSize(f, 64<<10)
	v.rep.Files++
	v.seal = ""
	var offset int64
	for lineNo := 1; ; lineNo++ {
		if err := v.ctx.Err(); err != nil {
			return err
		}
		line, complete, err := readLine(br, v.scratch)
		if err == io.EOF {
			if lineNo == 1 {
				return v.fail(ProblemTruncated, cf.name, 0, cf.seq, "file is empty")
			}
			break
		}
		v.scratch = line[:0]
		if err != nil && !errors.Is(err, errTooLong) {
			return fmt.Errorf("audit: verify: read %s: %w", cf.name, err)
		}
		offset += int64(len(line)) + 1
		expect := v.expect
		if !v.started {
			expect = cf.seq
		}
		if !complete {
			return v.fail(ProblemTruncated, cf.name, lineNo, expect, "last line is cut short (no newline)")
		}
		if err != nil {
			return v.fail(ProblemModified, cf.name, lineNo, expect, "line longer than %d bytes", MaxRecordLen)
		}
		if v.seal != "" {
			return v.fail(ProblemModified, cf.name, lineNo, expect, "record after the file's seal")
		}
		rec, perr := parseRecord(line)
		if perr != nil {
			if _, err := br.Peek(1); err == io.EOF {
				return v.fail(ProblemTruncated, cf.name, lineNo, expect, "last record is incomplete")
			}
			return v.fail(ProblemModified, cf.name, lineNo, expect, "record cannot be parsed")
		}
		if lineNo == 1 {
			if err := v.header(cf, i, offset, rec); err != nil {
				return err
			}
			continue
		}
		if rec.kind == kindHeader {
			return v.fail(ProblemReordered, cf.name, lineNo, rec.seq, "file header in the middle of a file")
		}
		if err := v.checkSeq(cf.name, lineNo, rec.seq, i, offset); err != nil {
			return err
		}
		if rec.mac != computeMAC(v.h, &v.last, rec.signed) {
			return v.fail(ProblemModified, cf.name, lineNo, rec.seq, "MAC does not verify (record changed, or wrong key)")
		}
		switch rec.kind {
		case kindSeal:
			var s fileSeal
			if err := json.Unmarshal(rec.body, &s); err != nil || s.Reason == "" {
				return v.fail(ProblemModified, cf.name, lineNo, rec.seq, "seal cannot be decoded")
			}
			v.seal = s.Reason
		case kindEvent:
			var e audit.Event
			if err := json.Unmarshal(rec.body, &e); err != nil {
				return v.fail(ProblemModified, cf.name, lineNo, rec.seq, "event cannot be decoded")
			}
			v.rep.Events++
			if v.cfg.OnEvent != nil {
				if err := v.cfg.OnEvent(rec.seq, e); err != nil {
					return err
				}
			}
		}
		if err := v.accept(cf.name, lineNo, rec); err != nil {
			return err
		}
	}
	if i < len(v.files)-1 && v.seal == "" {
		return v.fail(ProblemTruncated, cf.name, 0, v.expect, "file ends without a seal: records were removed from its end")
	}
	return nil
}

func (v *verifier) header(cf chainFile, i int, offset int64, rec record) error {
	if rec.kind != kindHeader {
		if v.started {
			return v.fail(ProblemDeleted, cf.name, 1, v.expect, "file does not start with its header: its first records were removed")
		}
		return v.fail(ProblemDeleted, cf.name, 1, cf.seq, "file does not start with its header: its first records were removed")
	}
	if rec.seq != cf.seq {
		return v.fail(ProblemReordered, cf.name, 1, rec.seq, "file name says sequence %d but its header says %d: files were renamed", cf.seq, rec.seq)
	}
	if v.started {
		if err := v.checkSeq(cf.name, 1, rec.seq, i, offset); err != nil {
			return err
		}
	}
	h, prev, err := decodeHeader(rec)
	if err != nil {
		return v.fail(ProblemModified, cf.name, 1, rec.seq, "file header cannot be decoded")
	}
	if rec.mac != computeMAC(v.h, &prev, rec.signed) {
		return v.fail(ProblemModified, cf.name, 1, rec.seq, "MAC does not verify (record changed, or wrong key)")
	}
	if v.started && prev != v.last {
		return v.fail(ProblemModified, cf.name, 1, rec.seq, "file header does not chain to the end of the previous file")
	}
	if !v.started {
		v.started = true
		v.rep.FirstSeq = rec.seq
		if rec.seq == 1 && prev != ([sha256.Size]byte{}) {
			return v.fail(ProblemModified, cf.name, 1, rec.seq, "first header of the chain does not start from zero")
		}
	}
	v.last = prev
	v.rep.RetainedFrom = max(v.rep.RetainedFrom, h.RetainedFrom)
	return v.accept(cf.name, 1, rec)
}

// checkSeq compares a record's sequence number with the one expected, and
// tells deletion from reordering by looking for the expected one later.
func (v *verifier) checkSeq(name string, line int, seq uint64, fileIdx int, offset int64) error {
	switch {
	case seq == v.expect:
		return nil
	case seq < v.expect:
		return v.fail(ProblemReordered, name, line, seq, "sequence %d after %d: records were moved or duplicated", seq, v.expect-1)
	case v.seqLater(v.expect, fileIdx, offset):
		return v.fail(ProblemReordered, name, line, v.expect, "found sequence %d where %d belongs: records were moved", seq, v.expect)
	}
	return v.fail(ProblemDeleted, name, line, v.expect, "sequence jumps from %d to %d: records %d-%d are missing", v.expect-1, seq, v.expect, seq-1)
}

// seqLater reports whether a record numbered want appears after offset in
// file fileIdx or in a later file.
func (v *verifier) seqLater(want uint64, fileIdx int, offset int64) bool {
	for i := fileIdx; i < len(v.files); i++ {
		f, err := v.fsys.Open(v.files[i].name)
		if err != nil {
			return false
		}
		br := bufio.NewReaderSize(f, 64<<10)
		if i == fileIdx {
			if _, err := io.CopyN(io.Discard, br, offset); err != nil {
				_ = f.Close()
				return false
			}
		}
		var scratch []byte
		for {
			line, _, err := readLine(br, scratch)
			if err == io.EOF || (err != nil && !errors.Is(err, errTooLong)) {
				break
			}
			scratch = line[:0]
			if seq, _, ok := parseSeqPrefix(line); ok && seq == want {
				_ = f.Close()
				return true
			}
		}
		_ = f.Close()
	}
	return false
}

// accept records a verified record.
func (v *verifier) accept(name string, line int, rec record) error {
	v.last = rec.mac
	v.expect = rec.seq + 1
	v.rep.Records++
	v.rep.Last = Checkpoint{Seq: rec.seq, MAC: hex.EncodeToString(rec.mac[:])}
	for _, mac := range v.checkpoints[rec.seq] {
		if !hmac.Equal([]byte(mac), []byte(v.rep.Last.MAC)) {
			return v.fail(ProblemModified, name, line, rec.seq, "record differs from checkpoint %s", mac)
		}
	}
	return nil
}

func (v *verifier) finish() error {
	last := v.files[len(v.files)-1].name
	if f := v.rep.FirstSeq; f > 1 && f > v.rep.RetainedFrom {
		return v.fail(ProblemDeleted, v.files[0].name, 1, f-1,
			"records before %d are missing and the log's retention records account only for those before %d", f, max(v.rep.RetainedFrom, 1))
	}
	switch v.seal {
	case sealClose:
		v.rep.Sealed = true
	case "":
		if v.cfg.RequireSealed {
			return v.fail(ProblemTruncated, last, 0, v.expect, "chain does not end with the seal written by Close: newest records may have been removed")
		}
	default:
		return v.fail(ProblemTruncated, last, 0, v.expect, "last file ends with a %q seal but the file that follows it is missing", v.seal)
	}
	for _, cp := range v.cfg.Checkpoints {
		if cp.Seq > v.rep.Last.Seq {
			return v.fail(ProblemTruncated, last, 0, cp.Seq, "chain ends at %d, before checkpoint %d: newest records were removed", v.rep.Last.Seq, cp.Seq)
		}
	}
	return nil
}
