package password

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"math"
	"strings"
	"sync/atomic"
	"time"

	"golang.org/x/crypto/argon2"
)

// b64 is the PHC string format's base64: standard alphabet, no padding,
// canonical (unused trailing bits must be zero).
var b64 = base64.RawStdEncoding.Strict()

// Errors returned by [Hasher].
var (
	// ErrMismatch means the password does not match the hash. It is the
	// only error of [Hasher.Verify] that means "wrong password"; every
	// other error is a problem with the stored hash, the configuration or
	// the context.
	ErrMismatch = errors.New("password: does not match")

	// ErrPasswordTooLong means the password is longer than
	// HasherConfig.MaxPasswordBytes. Long inputs are refused, never
	// truncated (truncation would make every suffix a valid password).
	ErrPasswordTooLong = errors.New("password: too long")

	// ErrUnknownPepper means the hash was made with a pepper key ID the
	// [Hasher] was not given: a key was removed before every hash using it
	// was rehashed, or the wrong key set is configured.
	ErrUnknownPepper = errors.New("password: hash uses an unknown pepper key ID")
)

// DefaultMaxPasswordBytes is the default HasherConfig.MaxPasswordBytes:
// 1024 bytes, room for 256 four-byte characters, far above the 64
// characters NIST SP 800-63B-4 §3.1.1.2 asks verifiers to accept.
const DefaultMaxPasswordBytes = 1024

// Params are Argon2id cost parameters (RFC 9106 §3.1).
type Params struct {
	// Memory is the memory cost in KiB (m).
	Memory uint32
	// Time is the number of passes over the memory (t).
	Time uint32
	// Threads is the degree of parallelism, the number of lanes (p).
	Threads uint8
	// SaltLen is the length of the random salt in bytes. Default 16
	// (RFC 9106 §3.1 recommends 16).
	SaltLen uint32
	// KeyLen is the length of the hash (tag) in bytes. Default 32
	// (RFC 9106 §4 recommends 32; OWASP asks for at least 16).
	KeyLen uint32
}

// DefaultParams returns the parameters a zero [HasherConfig] uses:
// m=65536 KiB (64 MiB), t=3, p=4, 16-byte salt, 32-byte hash. This is the
// second recommended option of RFC 9106 §4 ("if much less memory is
// available") and costs about five times more memory × time than the OWASP
// Password Storage Cheat Sheet's minimum (m=19456 KiB, t=2, p=1). It takes
// roughly 75–250 ms per hash on a current server core; run [Calibrate] on
// your hosts to tune it.
func DefaultParams() Params {
	return Params{Memory: 64 * 1024, Time: 3, Threads: 4, SaltLen: 16, KeyLen: 32}
}

// owaspMinimum lists the equivalent Argon2id configurations the OWASP
// Password Storage Cheat Sheet gives as the minimum (all with p=1).
var owaspMinimum = [...]struct{ memory, time uint32 }{
	{47104, 1}, {19456, 2}, {12288, 3}, {9216, 4}, {7168, 5},
}

// MeetsOWASP reports whether p is at or above one of the minimum Argon2id
// configurations of the OWASP Password Storage Cheat Sheet (m=47104 KiB
// t=1, m=19456 t=2, m=12288 t=3, m=9216 t=4 or m=7168 t=5), with a salt of
// at least 16 bytes and a hash of at least 16 bytes. Threads does not
// change the attacker's cost and is not compared.
func (p Params) MeetsOWASP() bool {
	if p.SaltLen < 16 || p.KeyLen < 16 {
		return false
	}
	for _, m := range owaspMinimum {
		if p.Memory >= m.memory && p.Time >= m.time {
			return true
		}
	}
	return false
}

// String formats p as in a PHC string, with the salt and hash lengths.
func (p Params) String() string {
	return fmt.Sprintf("m=%d,t=%d,p=%d (salt %d B, hash %d B)", p.Memory, p.Time, p.Threads, p.SaltLen, p.KeyLen)
}

// withDefaults fills zero fields from DefaultParams.
func (p Params) withDefaults() Params {
	d := DefaultParams()
	if p.Memory == 0 {
		p.Memory = d.Memory
	}
	if p.Time == 0 {
		p.Time = d.Time
	}
	if p.Threads == 0 {
		p.Threads = d.Threads
	}
	if p.SaltLen == 0 {
		p.SaltLen = d.SaltLen
	}
	if p.KeyLen == 0 {
		p.KeyLen = d.KeyLen
	}
	return p
}

// Pepper is a secret key mixed into every new hash with HMAC-SHA-256, so
// that a stolen database alone is not enough to test guesses: the attacker
// also needs the key, which lives outside the database. Load it from the
// secrets package (secrets.Load with MinLen 32) and pass Reveal()'s bytes.
type Pepper struct {
	// ID names the key inside every hash made with it (the PHC "keyid"
	// parameter), so that keys can rotate. 1 to 32 characters from
	// A-Z a-z 0-9 . - ; a date such as "2026-06" works well. Not secret.
	ID string
	// Key is the secret, at least 32 bytes. It is copied by [NewHasher].
	Key []byte
}

// HasherConfig tunes a [Hasher]. The zero value is ready to use and secure.
type HasherConfig struct {
	// Params are the cost parameters of new hashes. Zero fields take their
	// value from [DefaultParams]. [NewHasher] refuses parameters below the
	// OWASP minimum (see [Params.MeetsOWASP]) unless AllowWeakParams is set.
	Params Params

	// AllowWeakParams lets Params go below the OWASP minimum. It exists for
	// tests, which would otherwise spend seconds hashing; never set it in
	// production.
	AllowWeakParams bool

	// MaxPasswordBytes is the longest password, in bytes, that Hash and
	// Verify accept; longer ones get [ErrPasswordTooLong]. Default
	// [DefaultMaxPasswordBytes]. It bounds the work an attacker can make
	// a login do before hashing starts.
	MaxPasswordBytes int

	// MaxConcurrent bounds how many hashes run at once (the slots).
	// Further requests queue for a slot, within MaxQueue, MaxWait and
	// MaxPerClient. Each Argon2id hash holds Params.Memory KiB while it
	// runs, so live hashing memory is at most MaxConcurrent × Params.Memory
	// whatever the burst of logins (the heap peaks at about three times
	// that, with garbage the collector has yet to reclaim; see
	// BenchmarkLoginBurst). Default runtime.GOMAXPROCS(0): hashing is
	// CPU-bound, so more slots only add memory, not throughput.
	MaxConcurrent int

	// MaxQueue bounds how many requests may be admitted beyond the
	// slots: queued for a slot or, after [Hasher.Admit], between their
	// admission and their hash. Once MaxConcurrent + MaxQueue requests are
	// admitted, the next is refused at once with a [*BusyError], so a
	// burst is answered instead of left to wait. Default 8 × MaxConcurrent:
	// at 75–250 ms a hash, the last in the queue waits about 0.6–2 s.
	MaxQueue int

	// MaxWait bounds how long a hash waits for a slot; it is then refused
	// with a [*BusyError] and never starts. A context that ends sooner ends
	// the wait too: a *BusyError that also wraps the context's error when
	// its deadline passed, the context's error when it was canceled.
	// Default 5 s: below any server write timeout, so that every request
	// is answered. The bound is per hash: a request that hashes twice (a
	// login that rehashes, a password change) may wait twice, so give
	// requests a context deadline below the write timeout too. A request
	// is also refused at once, at admission, when the requests admitted
	// ahead of it would keep it from a slot for longer than MaxWait by the
	// recent hashes' durations: on a machine slowed down, the queue
	// shortens to what MaxWait allows, so that a storm's excess is refused
	// at once instead of after MaxWait.
	MaxWait time.Duration

	// MaxPerClient bounds how many requests from one client may be
	// admitted at once; more are refused at once with a [*BusyError], so
	// that one client cannot fill the queue. A client is the address that
	// the clientip middleware put in the request's context, grouped as the
	// ratelimit package does (IPv4 address, IPv6 /64, unknown addresses
	// together); calls whose context carries no address are bound by
	// MaxQueue only. Default MaxConcurrent, and at least 2.
	MaxPerClient int

	// OnHash, if set, is called after every hash the Hasher computes
	// (Argon2 or bcrypt, for Hash, Verify and VerifyDummy), with the time
	// the computation took, for metrics: hashing that slows down means the
	// server is short of CPU or memory, or the parameters need calibrating
	// again ([Calibrate]). Calls that compute nothing (a refusal, a
	// password over the limit, a stored hash that cannot be used) do not
	// call it. It runs on the hashing goroutine while the hash still holds
	// its slot (see MaxConcurrent), so it must return quickly, and it must
	// be safe for concurrent use. Default: none.
	OnHash func(took time.Duration)

	// Peppers are optional pepper keys. Peppers[0] peppers every new hash;
	// the others are kept only to verify older hashes, which then report
	// that they need a rehash. To rotate, put the new key first and keep
	// the old one until no hash uses it. With no peppers, hashes are plain
	// Argon2id that any PHC implementation can verify.
	Peppers []Pepper
}

// Hasher hashes and verifies passwords: Argon2id for new hashes, stored as
// PHC strings, and Argon2id, Argon2i and bcrypt (legacy) for verification.
// Build one with [NewHasher] and share it; it is safe for concurrent use.
type Hasher struct {
	params  Params
	maxLen  int
	adm     admission
	current *pepperKey // nil: no pepper
	peppers map[string]*pepperKey
	limits  struct{ memory, time uint32 }
	dummy   string // a PHC string at the current parameters no password matches
	onHash  func(time.Duration)

	computed atomic.Uint64 // hashes computed (argon2 or bcrypt); read by tests
}

type pepperKey struct {
	id  string
	key []byte
}

// NewHasher returns a Hasher configured by cfg. It returns an error for
// parameters below the OWASP minimum (unless AllowWeakParams), Threads of
// zero after defaults, a salt or hash length out of range, a negative
// limit, or a malformed, short or repeated pepper.
func NewHasher(cfg HasherConfig) (*Hasher, error) {
	p := cfg.Params.withDefaults()
	switch {
	case p.SaltLen < minSaltLen || p.SaltLen > maxSaltLen:
		return nil, fmt.Errorf("password: HasherConfig.Params.SaltLen %d out of range: use %d to %d (16 recommended)", p.SaltLen, minSaltLen, maxSaltLen)
	case p.KeyLen < minKeyLen || p.KeyLen > maxKeyLen:
		return nil, fmt.Errorf("password: HasherConfig.Params.KeyLen %d out of range: use %d to %d (32 recommended)", p.KeyLen, minKeyLen, maxKeyLen)
	case uint64(p.Memory) < 8*uint64(p.Threads):
		return nil, fmt.Errorf("password: HasherConfig.Params.Memory %d KiB is below 8 × Threads (RFC 9106 §3.1)", p.Memory)
	case !cfg.AllowWeakParams && !p.MeetsOWASP():
		return nil, fmt.Errorf("password: HasherConfig.Params %v are below the OWASP minimum (m=19456 KiB, t=2, or an equivalent): raise them, or use DefaultParams", p)
	case cfg.MaxPasswordBytes < 0:
		return nil, errors.New("password: HasherConfig.MaxPasswordBytes is negative: leave it 0 for the default")
	case cfg.MaxConcurrent < 0:
		return nil, errors.New("password: HasherConfig.MaxConcurrent is negative: leave it 0 for the default")
	case cfg.MaxQueue < 0:
		return nil, errors.New("password: HasherConfig.MaxQueue is negative: leave it 0 for the default")
	case cfg.MaxWait < 0:
		return nil, errors.New("password: HasherConfig.MaxWait is negative: leave it 0 for the default")
	case cfg.MaxPerClient < 0:
		return nil, errors.New("password: HasherConfig.MaxPerClient is negative: leave it 0 for the default")
	}
	h := &Hasher{params: p, maxLen: cfg.MaxPasswordBytes, peppers: map[string]*pepperKey{}, onHash: cfg.OnHash}
	if h.maxLen == 0 {
		h.maxLen = DefaultMaxPasswordBytes
	}
	h.adm.init(cfg)
	for i, pp := range cfg.Peppers {
		switch {
		case !validKeyID(pp.ID):
			return nil, fmt.Errorf("password: HasherConfig.Peppers[%d].ID %q: use 1 to 32 characters from A-Z a-z 0-9 . -", i, truncate(pp.ID, 40))
		case len(pp.Key) < 32:
			return nil, fmt.Errorf("password: HasherConfig.Peppers[%d] (ID %q): key is %d bytes, want at least 32 (load it with secrets.Load and MinLen 32)", i, pp.ID, len(pp.Key))
		case h.peppers[pp.ID] != nil:
			return nil, fmt.Errorf("password: HasherConfig.Peppers: ID %q appears twice", pp.ID)
		}
		k := &pepperKey{id: pp.ID, key: append([]byte(nil), pp.Key...)}
		h.peppers[pp.ID] = k
		if i == 0 {
			h.current = k
		}
	}
	// Stored hashes above these limits are refused rather than computed,
	// so that one corrupted or planted row cannot exhaust memory or CPU.
	h.limits.memory = uint32(min(max(4*uint64(p.Memory), 256*1024), math.MaxUint32))
	h.limits.time = uint32(min(max(4*uint64(p.Time), 16), math.MaxUint32))

	d := phcHash{alg: algArgon2id, memory: p.Memory, time: p.Time, threads: p.Threads,
		salt: make([]byte, p.SaltLen), hash: make([]byte, p.KeyLen)}
	if h.current != nil {
		d.keyID = h.current.id
	}
	rand.Read(d.salt)
	rand.Read(d.hash)
	h.dummy = d.String()
	return h, nil
}

// Params returns the parameters of new hashes.
func (h *Hasher) Params() Params { return h.params }

// MaxPasswordBytes returns the longest password, in bytes, that Hash and
// Verify accept (HasherConfig.MaxPasswordBytes or its default). A login
// flow refuses longer input before any other work.
func (h *Hasher) MaxPasswordBytes() int { return h.maxLen }

// Hash returns a PHC string for password under the current parameters and
// pepper, with a fresh random salt:
//
//	$argon2id$v=19$m=65536,t=3,p=4$<salt>$<hash>
//	$argon2id$v=19$m=65536,t=3,p=4,keyid=2026-06$<salt>$<hash>   (peppered)
//
// Unpeppered strings are read and written by every Argon2 PHC
// implementation (the reference C code, libsodium, argon2-cffi,
// alexedwards/argon2id). Hash waits for a slot (see
// HasherConfig.MaxConcurrent): it returns a [*BusyError] when too many
// requests are waiting or none came free in time, and the context's error
// if ctx ends first; it never starts hashing for an ended context. It
// returns [ErrPasswordTooLong] for a password over the limit.
//
// Hash does not apply a password policy or normalise the password: use
// [Policy.Check] and [Normalize] first (the auth package's Authenticator
// does both).
func (h *Hasher) Hash(ctx context.Context, password string) (string, error) {
	if len(password) > h.maxLen {
		return "", h.tooLong(len(password))
	}
	ph := phcHash{alg: algArgon2id, memory: h.params.Memory, time: h.params.Time,
		threads: h.params.Threads, salt: make([]byte, h.params.SaltLen)}
	rand.Read(ph.salt)
	in := []byte(password)
	if h.current != nil {
		ph.keyID = h.current.id
		in = h.current.mac(in)
	}
	var err error
	ph.hash, err = h.argon2(ctx, ph, in, h.params.KeyLen)
	if err != nil {
		return "", err
	}
	return ph.String(), nil
}

// Verify checks password against encoded, a hash from [Hasher.Hash], any
// Argon2id or Argon2i PHC string (version 19), or a bcrypt hash
// ($2a$, $2b$, $2y$). It returns nil when the password matches, and
// [ErrMismatch] when it does not. A password over 72 bytes never matches a
// bcrypt hash: bcrypt read only the first 72 bytes, and Verify never
// truncates (users whose legacy password was longer must reset it). Any
// other error concerns the stored hash
// ([ErrMalformedHash], [ErrUnsupportedHash], [ErrUnknownPepper]), the
// password's length ([ErrPasswordTooLong]) or ctx.
//
// needsRehash is true, with a nil error, when the password matched but the
// hash should be replaced by [Hasher.Hash]: it is bcrypt or Argon2i, its
// parameters, salt or hash length differ from the current ones (in
// particular are below them), or its pepper is not the current one. Apps
// rehash then, on login, when they hold the plain password (the auth
// package's Authenticator does it for them). Rehashing when parameters
// are higher too keeps every account at the cost of the dummy hash that
// hides unknown users.
//
// The hash comparison is constant-time. Verify waits for a hashing slot
// like [Hasher.Hash], with the same errors.
func (h *Hasher) Verify(ctx context.Context, password, encoded string) (needsRehash bool, err error) {
	if len(password) > h.maxLen {
		return false, h.tooLong(len(password))
	}
	if isBcrypt(encoded) {
		return h.verifyBcrypt(ctx, password, encoded)
	}
	if !strings.HasPrefix(encoded, "$argon2") {
		return false, unsupported("not an Argon2 PHC string or a bcrypt hash")
	}
	ph, err := parsePHC(encoded)
	if err != nil {
		return false, err
	}
	if ph.memory > h.limits.memory || ph.time > h.limits.time {
		return false, unsupported(fmt.Sprintf("parameters m=%d,t=%d exceed this Hasher's limits (m≤%d, t≤%d)", ph.memory, ph.time, h.limits.memory, h.limits.time))
	}
	in := []byte(password)
	if ph.keyID != "" {
		k := h.peppers[ph.keyID]
		if k == nil {
			return false, fmt.Errorf("%w %q: add it to HasherConfig.Peppers", ErrUnknownPepper, ph.keyID)
		}
		in = k.mac(in)
	}
	got, err := h.argon2(ctx, ph, in, uint32(len(ph.hash))) // #nosec G115 -- ph.hash comes from parsePHC, which bounds its length far below 2^32
	if err != nil {
		return false, err
	}
	if subtle.ConstantTimeCompare(got, ph.hash) != 1 {
		return false, ErrMismatch
	}
	return h.needsRehash(ph), nil
}

// NeedsRehash reports whether encoded should be replaced by a new
// [Hasher.Hash] (see [Hasher.Verify]). It does no hashing, and reports true
// for anything it cannot parse.
func (h *Hasher) NeedsRehash(encoded string) bool {
	if isBcrypt(encoded) {
		return true
	}
	ph, err := parsePHC(encoded)
	return err != nil || h.needsRehash(ph)
}

func (h *Hasher) needsRehash(ph phcHash) bool {
	cur := ""
	if h.current != nil {
		cur = h.current.id
	}
	return ph.alg != algArgon2id ||
		ph.memory != h.params.Memory || ph.time != h.params.Time || ph.threads != h.params.Threads ||
		uint32(len(ph.salt)) != h.params.SaltLen || uint32(len(ph.hash)) != h.params.KeyLen || // #nosec G115 -- lengths come from parsePHC, which bounds them far below 2^32
		ph.keyID != cur
}

// VerifyDummy spends the work of [Hasher.Verify] against a hash at the
// current parameters and pepper that no password matches, and returns nil
// when that work was done. A login calls it for an account it cannot
// check (unknown, or with no usable stored hash), so that the answer takes
// as long as for a real account and does not reveal which accounts exist.
// It returns the errors of Verify other than [ErrMismatch]: a
// [*BusyError], [ErrPasswordTooLong], or ctx's error.
func (h *Hasher) VerifyDummy(ctx context.Context, password string) error {
	_, err := h.Verify(ctx, password, h.dummy)
	if errors.Is(err, ErrMismatch) {
		return nil
	}
	return err
}

func (h *Hasher) tooLong(n int) error {
	return fmt.Errorf("%w: %d bytes, the maximum is %d", ErrPasswordTooLong, n, h.maxLen)
}

// hashed counts one hash computed, which took took, and tells
// HasherConfig.OnHash. The caller still holds the hash's slot.
func (h *Hasher) hashed(took time.Duration) {
	h.computed.Add(1)
	if h.onHash != nil {
		h.onHash(took)
	}
}

// argon2 computes the Argon2 tag of in under ph's parameters and salt,
// holding a slot while it runs.
func (h *Hasher) argon2(ctx context.Context, ph phcHash, in []byte, keyLen uint32) ([]byte, error) {
	release, err := h.acquire(ctx)
	if err != nil {
		return nil, err
	}
	defer release()
	start := time.Now()
	defer func() {
		took := time.Since(start)
		h.adm.observe(took)
		h.hashed(took)
	}()
	if ph.alg == algArgon2i {
		return argon2.Key(in, ph.salt, ph.time, ph.memory, ph.threads, keyLen), nil
	}
	return argon2.IDKey(in, ph.salt, ph.time, ph.memory, ph.threads, keyLen), nil
}

// mac returns HMAC-SHA-256(key, password), the input Argon2id hashes when
// a pepper is configured.
func (k *pepperKey) mac(password []byte) []byte {
	m := hmac.New(sha256.New, k.key)
	m.Write(password)
	return m.Sum(nil)
}
