package password

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParsePHC(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want phcHash
	}{
		{"reference argon2id", "$argon2id$v=19$m=65536,t=2,p=1$c29tZXNhbHQ$CTFhFdXPJO1aFaMaO6Mm5c8y7cJHAph8ArZWb2GRPPc",
			phcHash{alg: "argon2id", memory: 65536, time: 2, threads: 1, salt: []byte("somesalt")}},
		{"argon2i", "$argon2i$v=19$m=256,t=2,p=2$c29tZXNhbHQ$T/XOJ2mh1/TIpJHfCdQan76Q5esCFVoT5MAeIM1Oq2E",
			phcHash{alg: "argon2i", memory: 256, time: 2, threads: 2, salt: []byte("somesalt")}},
		{"keyid", "$argon2id$v=19$m=256,t=1,p=1,keyid=2026-06.a$c29tZXNhbHQ$T/XOJ2mh1/TIpJHfCdQan76Q5esCFVoT5MAeIM1Oq2E",
			phcHash{alg: "argon2id", memory: 256, time: 1, threads: 1, keyID: "2026-06.a", salt: []byte("somesalt")}},
		{"max lanes", "$argon2id$v=19$m=2040,t=1,p=255$c29tZXNhbHQ$T/XOJ2mh1/TIpJHfCdQan76Q5esCFVoT5MAeIM1Oq2E",
			phcHash{alg: "argon2id", memory: 2040, time: 1, threads: 255, salt: []byte("somesalt")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parsePHC(tt.in)
			require.NoError(t, err)
			assert.Equal(t, tt.want.alg, got.alg)
			assert.Equal(t, tt.want.memory, got.memory)
			assert.Equal(t, tt.want.time, got.time)
			assert.Equal(t, tt.want.threads, got.threads)
			assert.Equal(t, tt.want.keyID, got.keyID)
			assert.Equal(t, tt.want.salt, got.salt)
			assert.Len(t, got.hash, 32)
			assert.Equal(t, tt.in, got.String(), "round trip")
		})
	}
}

func TestParsePHCErrorsNameTheField(t *testing.T) {
	tests := []struct{ in, msg string }{
		{"$argon2id$v=19$m=256,t=1,p=1$c29tZXNhbHQ$" + strings.Repeat("A", 10), "malformed password hash: hash: "},
		{"$argon2id$v=19$m=256,t=1,p=1$!$c29tZXNhbHQ", "malformed password hash: salt: "},
		{"$argon2id$v=19$m=x,t=1,p=1$c29tZXNhbHQ$c29tZXNhbHQ", "malformed password hash: parameter m: not a decimal number"},
		{"$argon2id$v=19$m=256,t=1,p=1,keyid=a,keyid=b$c29tZXNhbHQ$c29tZXNhbHQ", "keyid repeated"},
		{"$argon2id$v=019$m=256,t=1,p=1$c29tZXNhbHQ$c29tZXNhbHQ", "malformed password hash: version: number has a leading zero"},
		{"argon2id$v=19$m=256,t=1,p=1$c29tZXNhbHQ$c29tZXNhbHQ", `does not start with "$"`},
		{"$" + strings.Repeat("argon2idargon2id", 3) + "$v=19", `algorithm "argon2idargon2id…"`},
	}
	for _, tt := range tests {
		_, err := parsePHC(tt.in)
		require.Error(t, err, tt.in)
		assert.Contains(t, err.Error(), tt.msg)
	}
}

func TestParseBcrypt(t *testing.T) {
	cost, err := parseBcrypt("$2y$12$/OK.fbVrR/bpIqNJ5ianF.CE5elHaaO4EbggVDjb8P19RukzXSM3e")
	require.NoError(t, err)
	assert.Equal(t, 12, cost)
	for _, bad := range []string{"$2$", "$2c$05$" + strings.Repeat("a", 53), "$2b$05$" + strings.Repeat("a", 54), "$2b$40$" + strings.Repeat("a", 53), "$2b$17$" + strings.Repeat("a", 53)} {
		_, err := parseBcrypt(bad)
		assert.Error(t, err, bad)
	}
}

// FuzzParsePHC: the parser never panics, accepts only canonical strings,
// and everything it accepts is within the documented limits.
func FuzzParsePHC(f *testing.F) {
	for _, s := range []string{
		"$argon2id$v=19$m=65536,t=2,p=1$c29tZXNhbHQ$CTFhFdXPJO1aFaMaO6Mm5c8y7cJHAph8ArZWb2GRPPc",
		"$argon2i$v=19$m=256,t=2,p=2$c29tZXNhbHQ$T/XOJ2mh1/TIpJHfCdQan76Q5esCFVoT5MAeIM1Oq2E",
		"$argon2id$v=19$m=256,t=1,p=1,keyid=k1$c29tZXNhbHQ$T/XOJ2mh1/TIpJHfCdQan76Q5esCFVoT5MAeIM1Oq2E",
		"$argon2id$v=19$m=256,t=1,p=1,data=YQ$c29tZXNhbHQ$T/XOJ2mh1/TIpJHfCdQan76Q5esCFVoT5MAeIM1Oq2E",
		"$argon2id$m=256,t=1,p=1$c29tZXNhbHQ$T/XOJ2mh1/TIpJHfCdQan76Q5esCFVoT5MAeIM1Oq2E",
		"$argon2d$v=19$m=256,t=1,p=1$c29tZXNhbHQ$T/XOJ2mh1/TIpJHfCdQan76Q5esCFVoT5MAeIM1Oq2E",
		"$argon2id$v=19$m=4294967295,t=4294967295,p=255$c29tZXNhbHQ$T/XOJ2mh1/TIpJHfCdQan76Q5esCFVoT5MAeIM1Oq2E",
		"$argon2id$v=19$m=,t=,p=$$", "$$$$$", "", "$", "$argon2id",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		h, err := parsePHC(s)
		if err != nil {
			return
		}
		if got := h.String(); got != s {
			t.Fatalf("non-canonical string accepted:\n in  %q\n out %q", s, got)
		}
		if h.time < 1 || h.threads < 1 || uint64(h.memory) < 8*uint64(h.threads) {
			t.Fatalf("out-of-range parameters accepted: %q", s)
		}
		if len(h.salt) < minSaltLen || len(h.salt) > maxSaltLen || len(h.hash) < minKeyLen || len(h.hash) > maxKeyLen {
			t.Fatalf("out-of-range lengths accepted: %q", s)
		}
		if h.alg != algArgon2id && h.alg != algArgon2i {
			t.Fatalf("unsupported algorithm accepted: %q", s)
		}
	})
}

// FuzzParseBcrypt: never panics; whatever it accepts x/crypto/bcrypt can
// read.
func FuzzParseBcrypt(f *testing.F) {
	for _, s := range []string{
		"$2a$05$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW",
		"$2y$05$/OK.fbVrR/bpIqNJ5ianF.CE5elHaaO4EbggVDjb8P19RukzXSM3e",
		"$2x$05$/OK.fbVrR/bpIqNJ5ianF.CE5elHaaO4EbggVDjb8P19RukzXSM3e",
		"$2b$31$/OK.fbVrR/bpIqNJ5ianF.CE5elHaaO4EbggVDjb8P19RukzXSM3e",
		"$2$", "$2b$", "",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		cost, err := parseBcrypt(s)
		if err != nil {
			return
		}
		if cost < 4 || cost > bcryptMaxCost || len(s) != bcryptLen {
			t.Fatalf("accepted %q with cost %d", s, cost)
		}
	})
}
