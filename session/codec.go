package session

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"net/netip"
	"time"

	"github.com/deployedworks/rampart/identity"
)

// meta is what the package keeps in every session, under metaKey. It is
// replaced, never modified in place, so that a value read by one goroutine
// never changes under it.
type meta struct {
	// Stored is the store key of the record this session occupies, which
	// its next write replaces ("" when it has none: a new session, or one
	// signed in by this request). The Handler sets it when it loads the
	// record; a token renewal keeps it, so that the write moves the record.
	Stored    string
	Handle    string // stable, non-secret ID of the session
	UserID    string // "" while anonymous
	Roles     []string
	Methods   []identity.Method
	AuthTime  time.Time
	AuthAt    time.Time // when the login read the user record (Record.AuthAt); zero if anonymous
	MFATime   time.Time
	Created   time.Time // start of the absolute lifetime
	LastSeen  time.Time // start of the idle timeout
	IP        netip.Addr
	UserAgent string

	// rolesRoom and methodsRoom are room for one copy of Roles and
	// Methods, allocated with them by the codec, for the one principal the
	// Handler hands out per request ([principal]): decoding a session and
	// giving its principal copies of the slices then costs one allocation
	// per slice, not two. Nil in a meta built otherwise.
	rolesRoom   []string
	methodsRoom []identity.Method
}

// challenge is WebAuthn ceremony state kept by [Manager.PutChallenge].
// ID, random, names it to [Store.Claim]; challenges stored before IDs
// existed have none.
type challenge struct {
	Data []byte
	At   time.Time
	ID   string
}

// Keys in scs's value map. App keys may not begin with NUL, so these cannot
// clash with them. rememberKey is the key of scs's RememberMe.
const (
	metaKey         = "\x00m"
	challengePrefix = "\x00c:"
	rememberKey     = "__rememberMe"
)

// codec is an scs.Codec for the four kinds of value the Manager stores:
// strings, *meta, *challenge and scs's RememberMe flag (a bool). The meta
// comes first, so that the store adapter reads it without decoding the
// rest (see [commitMeta]). It replaces scs's gob codec, which spends
// most of a request describing types. Format, all integers little-endian or
// varint:
//
//	version(1) deadline(varint ns) count(uvarint) { key(str) tag(1) value }
//	str = uvarint length, bytes
//
// Decode rejects anything it does not fully understand with an error
// wrapping errCorrupt; it never panics, whatever the input.
type codec struct{}

// codecVersion is the format's version. Version 2 records methods as RFC
// 8176 values; data of version 1 (method names such as "password") is
// refused as corrupt, which ends those sessions.
const codecVersion = 2

// Value tags. tagChallenge (no ID) is only decoded, from data stored
// before tagChallengeID.
const (
	tagString      = 1
	tagMeta        = 2
	tagChallenge   = 3
	tagChallengeID = 4
	tagBool        = 5
)

// errCorrupt marks session data that cannot be decoded or decrypted.
var errCorrupt = errors.New("session: stored session is corrupt or was encrypted under another key")

// errUnsupportedValue reports a value of a type the codec cannot store:
// only reachable if something outside this package writes to the session.
var errUnsupportedValue = errors.New("session: encode: unsupported value type")

// Encode implements scs.Codec.
func (codec) Encode(deadline time.Time, values map[string]any) ([]byte, error) {
	n := 16
	for k, v := range values {
		n += len(k) + 4
		switch v := v.(type) {
		case string:
			n += len(v) + 2
		case *challenge:
			n += len(v.Data) + len(v.ID) + 14
		case *meta:
			n += 90 + len(v.Stored) + len(v.Handle) + len(v.UserID) + len(v.UserAgent)
			for _, s := range v.Roles {
				n += len(s) + 1
			}
			for _, s := range v.Methods {
				n += len(s) + 1
			}
		}
	}
	b := make([]byte, 0, n)
	b = append(b, codecVersion)
	b = appendTime(b, deadline)
	b = binary.AppendUvarint(b, uint64(len(values)))
	if md, ok := values[metaKey].(*meta); ok {
		b = appendString(b, metaKey)
		b = append(b, tagMeta)
		b = md.append(b)
	}
	for k, v := range values {
		if k == metaKey {
			if _, ok := v.(*meta); ok {
				continue // written first
			}
		}
		b = appendString(b, k)
		switch v := v.(type) {
		case bool:
			b = append(b, tagBool)
			if v {
				b = append(b, 1)
			} else {
				b = append(b, 0)
			}
		case string:
			b = append(b, tagString)
			b = appendString(b, v)
		case *meta:
			b = append(b, tagMeta)
			b = v.append(b)
		case *challenge:
			b = append(b, tagChallengeID)
			b = appendTime(b, v.At)
			b = appendString(b, v.ID)
			b = appendString(b, string(v.Data))
		default:
			return nil, fmt.Errorf("%w %T under key %q: use Manager.Put with a string", errUnsupportedValue, v, k)
		}
	}
	return b, nil
}

func (md *meta) append(b []byte) []byte {
	b = appendString(b, md.Stored)
	b = appendString(b, md.Handle)
	b = appendString(b, md.UserID)
	b = appendStrings(b, md.Roles)
	b = binary.AppendUvarint(b, uint64(len(md.Methods)))
	for _, m := range md.Methods {
		b = appendString(b, string(m))
	}
	b = appendTime(b, md.AuthTime)
	b = appendTime(b, md.MFATime)
	b = appendTime(b, md.Created)
	b = appendTime(b, md.LastSeen)
	switch ip := md.IP; {
	case !ip.IsValid():
		b = append(b, 0)
	case ip.Is4():
		a := ip.As4()
		b = append(append(b, 4), a[:]...)
	default: // zones are dropped: clientip never reports one
		a := ip.As16()
		b = append(append(b, 16), a[:]...)
	}
	b = appendString(b, md.UserAgent)
	var flags byte
	if !md.AuthAt.IsZero() {
		flags |= flagAuthAt
	}
	b = append(b, flags)
	if !md.AuthAt.IsZero() {
		b = appendTime(b, md.AuthAt)
	}
	return b
}

// Flags of the meta encoding. flagAuthAt says AuthAt follows the flags: it
// was added later, and sessions saved before have none.
const (
	_ = 1 << iota // was: a persistent cookie, now scs's RememberMe value
	flagAuthAt
)

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

func appendStrings(b []byte, ss []string) []byte {
	b = binary.AppendUvarint(b, uint64(len(ss)))
	for _, s := range ss {
		b = appendString(b, s)
	}
	return b
}

// appendTime writes t as Unix nanoseconds, 0 for the zero time.
func appendTime(b []byte, t time.Time) []byte {
	if t.IsZero() {
		return binary.AppendVarint(b, 0)
	}
	return binary.AppendVarint(b, t.UnixNano())
}

// Decode implements scs.Codec. Strings in the result share one copy of b.
func (codec) Decode(b []byte) (time.Time, map[string]any, error) {
	d := decoder{s: string(b)}
	if d.byte() != codecVersion {
		return time.Time{}, nil, fmt.Errorf("%w: unknown format", errCorrupt)
	}
	deadline := d.time()
	n := d.uvarint()
	// Each entry takes at least three bytes (key length, tag, value length),
	// so a corrupt count cannot size the map beyond what the data holds.
	if n > uint64(len(d.s))/3 {
		return time.Time{}, nil, fmt.Errorf("%w: bad entry count", errCorrupt)
	}
	values := make(map[string]any, n)
	for range n {
		k := d.string()
		switch d.byte() {
		case tagString:
			values[k] = d.string()
		case tagBool:
			switch d.byte() {
			case 0:
				values[k] = false
			case 1:
				values[k] = true
			default:
				d.fail()
			}
		case tagMeta:
			values[k] = d.meta()
		case tagChallenge:
			c := &challenge{At: d.time()}
			c.Data = []byte(d.string())
			values[k] = c
		case tagChallengeID:
			c := &challenge{At: d.time(), ID: d.string()}
			c.Data = []byte(d.string())
			values[k] = c
		default:
			d.fail()
		}
		if d.err {
			break
		}
	}
	if d.err || len(d.s) != 0 {
		return time.Time{}, nil, fmt.Errorf("%w: malformed data", errCorrupt)
	}
	return deadline, values, nil
}

// decoder reads the codec's format from one string, so that the strings it
// returns are substrings rather than copies. After the first error every
// read returns a zero value and err stays set.
type decoder struct {
	s   string
	err bool
}

func (d *decoder) fail() { d.err, d.s = true, "" }

func (d *decoder) byte() byte {
	if len(d.s) == 0 {
		d.fail()
		return 0
	}
	c := d.s[0]
	d.s = d.s[1:]
	return c
}

// uvarint reads what binary.AppendUvarint wrote, rejecting the same
// malformed and overflowing encodings as binary.Uvarint.
func (d *decoder) uvarint() uint64 {
	var x uint64
	var shift uint
	for i := 0; i < len(d.s) && i < binary.MaxVarintLen64; i++ {
		c := d.s[i]
		if c < 0x80 {
			if i == binary.MaxVarintLen64-1 && c > 1 {
				break
			}
			d.s = d.s[i+1:]
			return x | uint64(c)<<shift
		}
		x |= uint64(c&0x7f) << shift
		shift += 7
	}
	d.fail()
	return 0
}

// time reads what appendTime wrote (a zig-zag varint).
func (d *decoder) time() time.Time {
	ux := d.uvarint()
	v := int64(ux >> 1)
	if ux&1 != 0 {
		v = ^v
	}
	if v == 0 {
		return time.Time{}
	}
	return time.Unix(0, v).UTC()
}

func (d *decoder) string() string {
	n := d.uvarint()
	if n > uint64(len(d.s)) {
		d.fail()
		return ""
	}
	s := d.s[:n]
	d.s = d.s[n:]
	return s
}

// decodeStrings reads what appendStrings wrote, into a slice of twice the
// length: the first half is the result, the second room for a copy (see
// meta's rolesRoom). A nil result has no room.
func decodeStrings[E ~string](d *decoder) (ss, room []E) {
	n := d.uvarint()
	if n > uint64(len(d.s)) || n > math.MaxInt32/2 {
		d.fail()
		return nil, nil
	}
	if n == 0 {
		return nil, nil
	}
	all := make([]E, 2*n)
	ss, room = all[:n:n], all[n:]
	for i := range ss {
		ss[i] = E(d.string())
	}
	return ss, room
}

func (d *decoder) meta() *meta {
	md := &meta{
		Stored: d.string(),
		Handle: d.string(),
		UserID: d.string(),
	}
	md.Roles, md.rolesRoom = decodeStrings[string](d)
	md.Methods, md.methodsRoom = decodeStrings[identity.Method](d)
	md.AuthTime = d.time()
	md.MFATime = d.time()
	md.Created = d.time()
	md.LastSeen = d.time()
	switch ip := d.string(); len(ip) {
	case 0:
	case 4:
		md.IP = netip.AddrFrom4([4]byte([]byte(ip)))
	case 16:
		md.IP = netip.AddrFrom16([16]byte([]byte(ip)))
	default:
		d.fail()
	}
	md.UserAgent = d.string()
	flags := d.byte()
	if flags&flagAuthAt != 0 {
		md.AuthAt = d.time()
	}
	return md
}

// commitMeta returns the meta at the head of b, as [codec.Encode] writes
// it, without decoding the rest: what the store adapter needs to write b.
// Data without a meta (an anonymous session, which the Manager keeps in
// the cookie) is refused.
func commitMeta(b []byte) (*meta, error) {
	d := decoder{s: string(b)}
	if d.byte() != codecVersion {
		return nil, fmt.Errorf("%w: unknown format", errCorrupt)
	}
	d.time()
	if d.uvarint() == 0 || d.string() != metaKey || d.byte() != tagMeta {
		return nil, errNoMeta
	}
	md := d.meta()
	if d.err {
		return nil, fmt.Errorf("%w: malformed data", errCorrupt)
	}
	return md, nil
}

// errNoMeta reports session data without a signed-in user's meta offered
// to the store, which holds signed-in sessions only.
var errNoMeta = errors.New("session: session data without metadata reaches no store")
