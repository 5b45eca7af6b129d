package password_test

import (
	"context"
	"regexp"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/alexedwards/argon2id"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/crypto/bcrypt"

	"github.com/deployedworks/rampart/auth/password"
)

// cheap are parameters that keep tests fast (and -race tolerable). They are
// far below the OWASP minimum, hence AllowWeakParams.
var cheap = password.Params{Memory: 256, Time: 1, Threads: 1}

func newHasher(t testing.TB, cfg password.HasherConfig) *password.Hasher {
	t.Helper()
	if cfg.Params == (password.Params{}) {
		cfg.Params = cheap
	}
	cfg.AllowWeakParams = true
	h, err := password.NewHasher(cfg)
	require.NoError(t, err)
	return h
}

var pepper1 = password.Pepper{ID: "2026-01", Key: []byte("0123456789abcdef0123456789abcdef")}
var pepper2 = password.Pepper{ID: "2026-06", Key: []byte("fedcba9876543210fedcba9876543210")}

func TestHashVerifyRoundTrip(t *testing.T) {
	ctx := context.Background()
	h := newHasher(t, password.HasherConfig{})
	for _, pw := range []string{"correct horse battery staple", "", " ", "пароль-密码-🔑", strings.Repeat("x", password.DefaultMaxPasswordBytes)} {
		enc, err := h.Hash(ctx, pw)
		require.NoError(t, err)
		assert.Regexp(t, `^\$argon2id\$v=19\$m=256,t=1,p=1\$[A-Za-z0-9+/]{22}\$[A-Za-z0-9+/]{43}$`, enc)

		rehash, err := h.Verify(ctx, pw, enc)
		require.NoError(t, err)
		assert.False(t, rehash)

		wrong := pw + "x"
		if len(wrong) > password.DefaultMaxPasswordBytes {
			wrong = "y" + pw[1:]
		}
		_, err = h.Verify(ctx, wrong, enc)
		assert.ErrorIs(t, err, password.ErrMismatch)
	}
	a, _ := h.Hash(ctx, "same")
	b, _ := h.Hash(ctx, "same")
	assert.NotEqual(t, a, b, "each hash has its own random salt")
}

// TestDefaultParams hashes once at the real defaults: the encoding names
// them and they meet OWASP's minimum.
func TestDefaultParams(t *testing.T) {
	d := password.DefaultParams()
	assert.True(t, d.MeetsOWASP())
	assert.Equal(t, password.Params{Memory: 65536, Time: 3, Threads: 4, SaltLen: 16, KeyLen: 32}, d)

	h, err := password.NewHasher(password.HasherConfig{})
	require.NoError(t, err)
	assert.Equal(t, d, h.Params())
	ctx := context.Background()
	enc, err := h.Hash(ctx, "correct horse battery staple")
	require.NoError(t, err)
	assert.True(t, strings.HasPrefix(enc, "$argon2id$v=19$m=65536,t=3,p=4$"), enc)
	rehash, err := h.Verify(ctx, "correct horse battery staple", enc)
	require.NoError(t, err)
	assert.False(t, rehash)
}

func TestMeetsOWASP(t *testing.T) {
	tests := []struct {
		name string
		p    password.Params
		want bool
	}{
		{"owasp m=19456 t=2", password.Params{Memory: 19456, Time: 2, Threads: 1, SaltLen: 16, KeyLen: 32}, true},
		{"owasp m=47104 t=1", password.Params{Memory: 47104, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 16}, true},
		{"owasp m=7168 t=5", password.Params{Memory: 7168, Time: 5, Threads: 1, SaltLen: 16, KeyLen: 32}, true},
		{"rfc 9106 second option", password.Params{Memory: 65536, Time: 3, Threads: 4, SaltLen: 16, KeyLen: 32}, true},
		{"just below: m=19455 t=2", password.Params{Memory: 19455, Time: 2, Threads: 1, SaltLen: 16, KeyLen: 32}, false},
		{"m=47103 t=1", password.Params{Memory: 47103, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}, false},
		{"much memory, short salt", password.Params{Memory: 65536, Time: 3, Threads: 1, SaltLen: 8, KeyLen: 32}, false},
		{"short hash", password.Params{Memory: 65536, Time: 3, Threads: 1, SaltLen: 16, KeyLen: 12}, false},
		{"t=1 with little memory", password.Params{Memory: 8192, Time: 1, Threads: 8, SaltLen: 16, KeyLen: 32}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, tt.p.MeetsOWASP())
		})
	}
}

// Known answers from the Argon2 reference implementation (phc-winner-argon2
// src/test.c): independent of golang.org/x/crypto.
func TestVerifyReferenceVectors(t *testing.T) {
	ctx := context.Background()
	h := newHasher(t, password.HasherConfig{})
	tests := []struct {
		name, password, encoded string
	}{
		{"argon2id m=65536 t=2 p=1", "password", "$argon2id$v=19$m=65536,t=2,p=1$c29tZXNhbHQ$CTFhFdXPJO1aFaMaO6Mm5c8y7cJHAph8ArZWb2GRPPc"},
		{"argon2i m=256 t=2 p=1", "password", "$argon2i$v=19$m=256,t=2,p=1$c29tZXNhbHQ$iekCn0Y3spW+sCcFanM2xBT63UP2sghkUoHLIUpWRS8"},
		{"argon2i m=256 t=2 p=2", "password", "$argon2i$v=19$m=256,t=2,p=2$c29tZXNhbHQ$T/XOJ2mh1/TIpJHfCdQan76Q5esCFVoT5MAeIM1Oq2E"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rehash, err := h.Verify(ctx, tt.password, tt.encoded)
			require.NoError(t, err)
			assert.True(t, rehash, "other parameters (and argon2i) need a rehash")
			if !strings.Contains(tt.encoded, "m=65536") { // keep the 64 MiB vector to one hash
				_, err = h.Verify(ctx, "passwore", tt.encoded)
				assert.ErrorIs(t, err, password.ErrMismatch)
			}
		})
	}
}

// TestCrossImplementation proves the PHC strings interoperate with an
// independent Go implementation, in both directions.
func TestCrossImplementation(t *testing.T) {
	ctx := context.Background()
	h := newHasher(t, password.HasherConfig{})
	theirs := &argon2id.Params{Memory: 256, Iterations: 1, Parallelism: 1, SaltLength: 16, KeyLength: 32}

	t.Run("theirs verified by ours", func(t *testing.T) {
		enc, err := argon2id.CreateHash("tr0ub4dor&3 correct horse", theirs)
		require.NoError(t, err)
		rehash, err := h.Verify(ctx, "tr0ub4dor&3 correct horse", enc)
		require.NoError(t, err)
		assert.False(t, rehash, "same parameters: no rehash")
		_, err = h.Verify(ctx, "tr0ub4dor&3 correct horsE", enc)
		assert.ErrorIs(t, err, password.ErrMismatch)
	})
	t.Run("ours verified by theirs", func(t *testing.T) {
		enc, err := h.Hash(ctx, "tr0ub4dor&3 correct horse")
		require.NoError(t, err)
		ok, err := argon2id.ComparePasswordAndHash("tr0ub4dor&3 correct horse", enc)
		require.NoError(t, err)
		assert.True(t, ok)
		ok, err = argon2id.ComparePasswordAndHash("wrong", enc)
		require.NoError(t, err)
		assert.False(t, ok)
		p, _, _, err := argon2id.DecodeHash(enc)
		require.NoError(t, err)
		assert.Equal(t, *theirs, *p)
	})
	t.Run("different parameters need a rehash", func(t *testing.T) {
		enc, err := argon2id.CreateHash("pw", &argon2id.Params{Memory: 512, Iterations: 2, Parallelism: 2, SaltLength: 16, KeyLength: 32})
		require.NoError(t, err)
		rehash, err := h.Verify(ctx, "pw", enc)
		require.NoError(t, err)
		assert.True(t, rehash)
	})
}

func TestNeedsRehash(t *testing.T) {
	ctx := context.Background()
	base := newHasher(t, password.HasherConfig{})
	enc, err := base.Hash(ctx, "pw")
	require.NoError(t, err)
	tests := []struct {
		name string
		cfg  password.HasherConfig
		want bool
	}{
		{"same parameters", password.HasherConfig{Params: cheap}, false},
		{"more memory", password.HasherConfig{Params: password.Params{Memory: 512, Time: 1, Threads: 1}}, true},
		{"more passes", password.HasherConfig{Params: password.Params{Memory: 256, Time: 2, Threads: 1}}, true},
		{"other lanes", password.HasherConfig{Params: password.Params{Memory: 256, Time: 1, Threads: 2}}, true},
		{"longer hash", password.HasherConfig{Params: password.Params{Memory: 256, Time: 1, Threads: 1, KeyLen: 64}}, true},
		{"longer salt", password.HasherConfig{Params: password.Params{Memory: 256, Time: 1, Threads: 1, SaltLen: 32}}, true},
		{"pepper added", password.HasherConfig{Params: cheap, Peppers: []password.Pepper{pepper1}}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHasher(t, tt.cfg)
			assert.Equal(t, tt.want, h.NeedsRehash(enc))
			rehash, err := h.Verify(ctx, "pw", enc)
			require.NoError(t, err)
			assert.Equal(t, tt.want, rehash)
		})
	}
	assert.True(t, base.NeedsRehash("$2b$04$abcdefghijklmnopqrstuu5s2v8.iXieOjg/.AySBTTZIIVFJeBui"), "bcrypt")
	assert.True(t, base.NeedsRehash("$argon2i$v=19$m=256,t=1,p=1$c29tZXNhbHQ$iekCn0Y3spW+sCcFanM2xBT63UP2sghkUoHLIUpWRS8"), "argon2i")
	assert.True(t, base.NeedsRehash("garbage"), "unparseable")
}

func TestPepper(t *testing.T) {
	ctx := context.Background()
	h1 := newHasher(t, password.HasherConfig{Peppers: []password.Pepper{pepper1}})
	enc, err := h1.Hash(ctx, "pw")
	require.NoError(t, err)
	assert.Contains(t, enc, "$m=256,t=1,p=1,keyid=2026-01$")

	rehash, err := h1.Verify(ctx, "pw", enc)
	require.NoError(t, err)
	assert.False(t, rehash)
	_, err = h1.Verify(ctx, "pW", enc)
	assert.ErrorIs(t, err, password.ErrMismatch)

	// Without the key the hash cannot be checked at all, not even by
	// another implementation that ignores keyid.
	plain := newHasher(t, password.HasherConfig{})
	_, err = plain.Verify(ctx, "pw", enc)
	assert.ErrorIs(t, err, password.ErrUnknownPepper)
	ok, _ := argon2id.ComparePasswordAndHash("pw", enc)
	assert.False(t, ok, "the pepper is really mixed in")

	// Rotation: the new key first, the old one kept for verification.
	rotated := newHasher(t, password.HasherConfig{Peppers: []password.Pepper{pepper2, pepper1}})
	rehash, err = rotated.Verify(ctx, "pw", enc)
	require.NoError(t, err)
	assert.True(t, rehash, "old key: rehash under the new one")
	enc2, err := rotated.Hash(ctx, "pw")
	require.NoError(t, err)
	assert.Contains(t, enc2, ",keyid=2026-06$")

	// Unpeppered hashes still verify once a pepper is configured.
	encPlain, err := plain.Hash(ctx, "pw")
	require.NoError(t, err)
	rehash, err = h1.Verify(ctx, "pw", encPlain)
	require.NoError(t, err)
	assert.True(t, rehash)
}

func TestPepperKeyIsCopied(t *testing.T) {
	key := []byte(string(pepper1.Key))
	h := newHasher(t, password.HasherConfig{Peppers: []password.Pepper{{ID: "k", Key: key}}})
	enc, err := h.Hash(context.Background(), "pw")
	require.NoError(t, err)
	clear(key)
	_, err = h.Verify(context.Background(), "pw", enc)
	assert.NoError(t, err)
}

func TestPasswordTooLong(t *testing.T) {
	ctx := context.Background()
	h := newHasher(t, password.HasherConfig{MaxPasswordBytes: 16})
	enc, err := h.Hash(ctx, strings.Repeat("a", 16))
	require.NoError(t, err)

	_, err = h.Hash(ctx, strings.Repeat("a", 17))
	assert.ErrorIs(t, err, password.ErrPasswordTooLong)
	assert.EqualError(t, err, "password: too long: 17 bytes, the maximum is 16")

	before := h.Computations()
	_, err = h.Verify(ctx, strings.Repeat("a", 17), enc)
	assert.ErrorIs(t, err, password.ErrPasswordTooLong)
	assert.Equal(t, before, h.Computations(), "refused before hashing")
}

// TestVerifyRejectsBadHashes feeds stored strings that must never verify,
// and checks that none of them costs a hash.
func TestVerifyRejectsBadHashes(t *testing.T) {
	const (
		salt = "c29tZXNhbHQ"
		tag  = "CTFhFdXPJO1aFaMaO6Mm5c8y7cJHAph8ArZWb2GRPPc"
	)
	tests := []struct {
		name, enc string
		want      error
	}{
		{"empty", "", password.ErrUnsupportedHash},
		{"plain text", "hunter2", password.ErrUnsupportedHash},
		{"scrypt", "$scrypt$ln=16,r=8,p=1$aM15713r3Xsvxbi31lqr1Q$nFNh2CVHVjNldFVKDHDlm4CbdRSCdEBsjjJxD+iCs5E", password.ErrUnsupportedHash},
		{"argon2d", "$argon2d$v=19$m=256,t=1,p=1$" + salt + "$" + tag, password.ErrUnsupportedHash},
		{"version 0x10 (no v=)", "$argon2id$m=256,t=1,p=1$" + salt + "$" + tag, password.ErrUnsupportedHash},
		{"version 16", "$argon2id$v=16$m=256,t=1,p=1$" + salt + "$" + tag, password.ErrUnsupportedHash},
		{"data parameter", "$argon2id$v=19$m=256,t=1,p=1,data=YWJj$" + salt + "$" + tag, password.ErrUnsupportedHash},
		{"attack: memory bomb", "$argon2id$v=19$m=4294967295,t=1,p=1$" + salt + "$" + tag, password.ErrUnsupportedHash},
		{"attack: time bomb", "$argon2id$v=19$m=256,t=100000,p=1$" + salt + "$" + tag, password.ErrUnsupportedHash},
		{"attack: bcrypt cost 31", "$2b$31$abcdefghijklmnopqrstuu5s2v8.iXieOjg/.AySBTTZIIVFJeBui", password.ErrUnsupportedHash},
		{"bcrypt $2x$", "$2x$05$abcdefghijklmnopqrstuu5s2v8.iXieOjg/.AySBTTZIIVFJeBui", password.ErrUnsupportedHash},
		{"truncated", "$argon2id$v=19$m=256,t=1,p=1$" + salt, password.ErrMalformedHash},
		{"missing $", "$argon2id$v=19$m=256,t=1,p=1" + salt + "$" + tag, password.ErrMalformedHash},
		{"extra field", "$argon2id$v=19$m=256,t=1,p=1$" + salt + "$" + tag + "$", password.ErrMalformedHash},
		{"params out of order", "$argon2id$v=19$t=1,m=256,p=1$" + salt + "$" + tag, password.ErrMalformedHash},
		{"leading zero", "$argon2id$v=19$m=0256,t=1,p=1$" + salt + "$" + tag, password.ErrMalformedHash},
		{"signed number", "$argon2id$v=19$m=+256,t=1,p=1$" + salt + "$" + tag, password.ErrMalformedHash},
		{"zero passes", "$argon2id$v=19$m=256,t=0,p=1$" + salt + "$" + tag, password.ErrMalformedHash},
		{"zero lanes", "$argon2id$v=19$m=256,t=1,p=0$" + salt + "$" + tag, password.ErrMalformedHash},
		{"256 lanes", "$argon2id$v=19$m=4096,t=1,p=256$" + salt + "$" + tag, password.ErrMalformedHash},
		{"memory below 8p", "$argon2id$v=19$m=15,t=1,p=2$" + salt + "$" + tag, password.ErrMalformedHash},
		{"unknown parameter", "$argon2id$v=19$m=256,t=1,p=1,x=1$" + salt + "$" + tag, password.ErrMalformedHash},
		{"padded salt", "$argon2id$v=19$m=256,t=1,p=1$c29tZXNhbHQ=$" + tag, password.ErrMalformedHash},
		{"newline in salt", "$argon2id$v=19$m=256,t=1,p=1$c29tZXNh\nbHQ$" + tag, password.ErrMalformedHash},
		{"url-safe base64", "$argon2id$v=19$m=256,t=1,p=1$" + salt + "$" + strings.ReplaceAll(tag, "/", "_") + "_", password.ErrMalformedHash},
		{"non-canonical base64", "$argon2id$v=19$m=256,t=1,p=1$c29tZXNhbHR$" + tag, password.ErrMalformedHash},
		{"short salt", "$argon2id$v=19$m=256,t=1,p=1$c29tZQ$" + tag, password.ErrMalformedHash},
		{"short hash", "$argon2id$v=19$m=256,t=1,p=1$" + salt + "$c29tZXNhbHQ", password.ErrMalformedHash},
		{"bad keyid", "$argon2id$v=19$m=256,t=1,p=1,keyid=a_b$" + salt + "$" + tag, password.ErrMalformedHash},
		{"huge", "$argon2id$v=19$m=256,t=1,p=1$" + salt + "$" + strings.Repeat("A", 600), password.ErrMalformedHash},
		{"bcrypt truncated", "$2b$05$abcdefghijklmnopqrstuu5s2v8.iXieOjg/.AySBTTZIIVFJeBu", password.ErrMalformedHash},
		{"bcrypt bad char", "$2b$05$abcdefghijklmnopqrstuu5s2v8.iXieOjg/.AySBTTZIIVFJeBu!", password.ErrMalformedHash},
		{"bcrypt cost 03", "$2b$03$abcdefghijklmnopqrstuu5s2v8.iXieOjg/.AySBTTZIIVFJeBui", password.ErrMalformedHash},
		{"bcrypt cost letters", "$2b$1a$abcdefghijklmnopqrstuu5s2v8.iXieOjg/.AySBTTZIIVFJeBui", password.ErrMalformedHash},
	}
	h := newHasher(t, password.HasherConfig{})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := h.Computations()
			rehash, err := h.Verify(context.Background(), "password", tt.enc)
			assert.ErrorIs(t, err, tt.want)
			assert.False(t, rehash)
			assert.NotErrorIs(t, err, password.ErrMismatch)
			assert.Equal(t, before, h.Computations(), "no hash computed")
		})
	}
	_, err := h.Verify(context.Background(), "password", "$argon2id$v=19$m=256,t=1,p=1,keyid=gone$"+salt+"$"+tag)
	assert.ErrorIs(t, err, password.ErrUnknownPepper)
}

func TestNewHasherErrors(t *testing.T) {
	tests := []struct {
		name string
		cfg  password.HasherConfig
		msg  string
	}{
		{"weak params", password.HasherConfig{Params: password.Params{Memory: 19455, Time: 2}}, "below the OWASP minimum"},
		{"short salt", password.HasherConfig{Params: password.Params{SaltLen: 4}}, "SaltLen 4 out of range"},
		{"long hash", password.HasherConfig{Params: password.Params{KeyLen: 65}}, "KeyLen 65 out of range"},
		{"memory below 8p", password.HasherConfig{Params: password.Params{Memory: 16, Threads: 4}, AllowWeakParams: true}, "below 8 × Threads"},
		{"negative max length", password.HasherConfig{MaxPasswordBytes: -1}, "MaxPasswordBytes is negative"},
		{"negative concurrency", password.HasherConfig{MaxConcurrent: -1}, "MaxConcurrent is negative"},
		{"negative queue", password.HasherConfig{MaxQueue: -1}, "MaxQueue is negative"},
		{"negative wait", password.HasherConfig{MaxWait: -time.Second}, "MaxWait is negative"},
		{"negative per-client bound", password.HasherConfig{MaxPerClient: -1}, "MaxPerClient is negative"},
		{"short pepper", password.HasherConfig{Peppers: []password.Pepper{{ID: "k1", Key: []byte("short")}}}, "want at least 32"},
		{"bad pepper ID", password.HasherConfig{Peppers: []password.Pepper{{ID: "k$1", Key: pepper1.Key}}}, "Peppers[0].ID"},
		{"empty pepper ID", password.HasherConfig{Peppers: []password.Pepper{{Key: pepper1.Key}}}, "Peppers[0].ID"},
		{"repeated pepper ID", password.HasherConfig{Peppers: []password.Pepper{pepper1, {ID: pepper1.ID, Key: pepper2.Key}}}, "appears twice"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := password.NewHasher(tt.cfg)
			require.Error(t, err)
			assert.Contains(t, err.Error(), tt.msg)
			assert.NotContains(t, err.Error(), "0123456789abcdef", "never the key")
		})
	}
}

// TestConcurrencyBound shows that a hash waits for a free slot, and gives
// up when its context ends.
func TestConcurrencyBound(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHasher(t, password.HasherConfig{MaxConcurrent: 1})
		release, err := h.HoldSlot(context.Background())
		require.NoError(t, err)

		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		_, err = h.Hash(ctx, "pw")
		assert.ErrorIs(t, err, context.DeadlineExceeded)
		assert.Zero(t, h.Computations())

		var wg sync.WaitGroup
		var done bool
		wg.Go(func() {
			_, err := h.Hash(context.Background(), "pw")
			assert.NoError(t, err)
			done = true
		})
		synctest.Wait()
		assert.False(t, done, "waits while the only slot is taken")
		release()
		wg.Wait()
		assert.True(t, done)
		assert.Equal(t, uint64(1), h.Computations())
	})
}

// TestConcurrencyBoundDefault: with MaxConcurrent left 0, GOMAXPROCS hashes
// run at once and the next one waits.
func TestConcurrencyBoundDefault(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHasher(t, password.HasherConfig{})
		var releases []func()
		for range runtime.GOMAXPROCS(0) {
			release, err := h.HoldSlot(context.Background())
			require.NoError(t, err)
			releases = append(releases, release)
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		_, err := h.Hash(ctx, "pw")
		assert.ErrorIs(t, err, context.DeadlineExceeded)
		releases[0]()
		_, err = h.Hash(context.Background(), "pw")
		assert.NoError(t, err)
		for _, release := range releases[1:] {
			release()
		}
	})
}

func TestConcurrentUse(t *testing.T) {
	h := newHasher(t, password.HasherConfig{MaxConcurrent: 2})
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			pw := strings.Repeat("p", i)
			enc, err := h.Hash(context.Background(), pw)
			assert.NoError(t, err)
			_, err = h.Verify(context.Background(), pw, enc)
			assert.NoError(t, err)
		})
	}
	wg.Wait()
	assert.Equal(t, uint64(16), h.Computations())
}

var phcRE = regexp.MustCompile(`^\$argon2id\$v=19\$m=\d+,t=\d+,p=\d+(,keyid=[A-Za-z0-9.-]+)?\$[A-Za-z0-9+/]+\$[A-Za-z0-9+/]+$`)

func TestDummyHashLooksReal(t *testing.T) {
	h := newHasher(t, password.HasherConfig{Peppers: []password.Pepper{pepper1}})
	real, err := h.Hash(context.Background(), "pw")
	require.NoError(t, err)
	d := h.Dummy()
	assert.Regexp(t, phcRE, d)
	assert.Len(t, d, len(real))
	assert.False(t, h.NeedsRehash(d), "same parameters and pepper as a current hash")
}

// BenchmarkHashDefault and BenchmarkVerifyDefault measure one hash at
// DefaultParams (64 MiB, t=3, p=4): the cost of a login.
func BenchmarkHashDefault(b *testing.B) {
	h, err := password.NewHasher(password.HasherConfig{})
	require.NoError(b, err)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := h.Hash(ctx, "correct horse battery staple"); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkVerifyDefault(b *testing.B) {
	h, err := password.NewHasher(password.HasherConfig{})
	require.NoError(b, err)
	ctx := context.Background()
	enc, err := h.Hash(ctx, "correct horse battery staple")
	require.NoError(b, err)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := h.Verify(ctx, "correct horse battery staple", enc); err != nil {
			b.Fatal(err)
		}
	}
}

// TestVerifyDummy: VerifyDummy does the work of one real verification
// (one hash) and reports success of that work, not a match; it refuses
// what Verify refuses.
func TestVerifyDummy(t *testing.T) {
	h := newHasher(t, password.HasherConfig{MaxPasswordBytes: 64})
	assert.Equal(t, 64, h.MaxPasswordBytes())
	require.NoError(t, h.VerifyDummy(context.Background(), "any password"))
	assert.Equal(t, uint64(1), h.Computations(), "one hash, as for a real account")
	assert.ErrorIs(t, h.VerifyDummy(context.Background(), strings.Repeat("x", 65)), password.ErrPasswordTooLong)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	assert.ErrorIs(t, h.VerifyDummy(ctx, "pw"), context.Canceled)
	assert.Equal(t, uint64(1), h.Computations(), "nothing hashed for refusals")
	assert.Equal(t, password.DefaultMaxPasswordBytes, newHasher(t, password.HasherConfig{}).MaxPasswordBytes())
}

// TestOnHash: HasherConfig.OnHash hears of every hash computed (Argon2id
// and bcrypt, by Hash, Verify and VerifyDummy, matching or not), with its
// duration, and of nothing that computed no hash; it runs while the hash
// still holds its slot, so a hash queued behind it waits for it.
func TestOnHash(t *testing.T) {
	var mu sync.Mutex
	var took []time.Duration
	record := func(d time.Duration) {
		mu.Lock()
		defer mu.Unlock()
		took = append(took, d)
	}
	calls := func() int {
		mu.Lock()
		defer mu.Unlock()
		return len(took)
	}
	h := newHasher(t, password.HasherConfig{MaxPasswordBytes: 64, OnHash: record})
	ctx := context.Background()
	enc, err := h.Hash(ctx, "pw")
	require.NoError(t, err)
	_, err = h.Verify(ctx, "pw", enc)
	require.NoError(t, err)
	assert.ErrorIs(t, func() error { _, err := h.Verify(ctx, "other", enc); return err }(), password.ErrMismatch)
	require.NoError(t, h.VerifyDummy(ctx, "pw"))
	legacy, err := bcrypt.GenerateFromPassword([]byte("pw"), bcrypt.MinCost)
	require.NoError(t, err)
	_, err = h.Verify(ctx, "pw", string(legacy))
	require.NoError(t, err)
	assert.Equal(t, 5, calls(), "one call per hash computed")
	assert.Equal(t, uint64(5), h.Computations())

	_, err = h.Verify(ctx, strings.Repeat("x", 65), enc)
	assert.ErrorIs(t, err, password.ErrPasswordTooLong)
	_, err = h.Verify(ctx, "pw", "$argon2id$v=19$m=256,t=1,p=1$truncated")
	assert.Error(t, err)
	canceled, cancel := context.WithCancel(ctx)
	cancel()
	_, err = h.Hash(canceled, "pw")
	assert.ErrorIs(t, err, context.Canceled)
	assert.Equal(t, 5, calls(), "no call for what computed nothing")
	mu.Lock()
	for _, d := range took {
		assert.Positive(t, d)
	}
	mu.Unlock()

	t.Run("inside the slot", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			entered, gate := make(chan struct{}), make(chan struct{})
			var first atomic.Bool
			h := newHasher(t, password.HasherConfig{MaxConcurrent: 1, OnHash: func(time.Duration) {
				if first.CompareAndSwap(false, true) {
					close(entered)
					<-gate
				}
			}})
			var wg sync.WaitGroup
			wg.Go(func() { _, _ = h.Hash(context.Background(), "first") })
			<-entered
			wg.Go(func() { _, _ = h.Hash(context.Background(), "second") })
			synctest.Wait()
			assert.Equal(t, uint64(1), h.Computations(), "the second hash waits for the first's slot")
			close(gate)
			wg.Wait()
			assert.Equal(t, uint64(2), h.Computations())
		})
	})
}
