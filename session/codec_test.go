package session

import (
	"net/http"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/deployedworks/rampart/identity"
)

func sampleValues() map[string]any {
	t0 := time.Date(2026, 6, 25, 10, 0, 0, 123, time.UTC)
	return map[string]any{
		metaKey: &meta{
			Handle: "h", UserID: "user-1", Roles: []string{"admin", "seller"}, Methods: []identity.Method{identity.MethodPassword, identity.MethodOTP},
			AuthTime: t0, MFATime: t0.Add(time.Minute), Created: t0, LastSeen: t0.Add(time.Hour),
			IP: netip.MustParseAddr("2001:db8::1"), UserAgent: "Mozilla/5.0 é", Stored: "stored-key",
		},
		"flash":                  "saved ✓",
		"empty":                  "",
		rememberKey:              true,
		challengePrefix + "w.l":  &challenge{Data: []byte{0, 1, 2, 255}, At: t0, ID: "id"},
		strings.Repeat("k", 128): strings.Repeat("v", 5000),
	}
}

func TestCodecRoundTrip(t *testing.T) {
	deadline := time.Date(2026, 6, 26, 0, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name   string
		values map[string]any
	}{
		{"empty", map[string]any{}},
		{"smallest entry (3 bytes)", map[string]any{"": ""}},
		{"anonymous meta, IPv4", map[string]any{metaKey: &meta{Handle: "h", Created: deadline, LastSeen: deadline, IP: netip.MustParseAddr("192.0.2.1")}}},
		{"no IP", map[string]any{metaKey: &meta{Handle: "h"}}},
		{"everything", sampleValues()},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b, err := codec{}.Encode(deadline, tc.values)
			require.NoError(t, err)
			d, v, err := codec{}.Decode(b)
			require.NoError(t, err)
			assert.True(t, deadline.Equal(d))
			if md, ok := v[metaKey].(*meta); ok {
				assert.Equal(t, len(md.Roles), len(md.rolesRoom), "room for the principal's copy")
				assert.Equal(t, len(md.Methods), len(md.methodsRoom))
				md.rolesRoom, md.methodsRoom = nil, nil
			}
			assert.Equal(t, tc.values, v)
		})
	}
}

// TestCodecLegacyChallenge decodes a challenge stored before challenges
// had IDs; TakeChallenge claims it by its time and data.
func TestCodecLegacyChallenge(t *testing.T) {
	t0 := time.Date(2026, 6, 25, 10, 0, 0, 123, time.UTC)
	b := []byte{codecVersion, 0, 1}
	b = appendString(b, "k")
	b = append(b, tagChallenge)
	b = appendTime(b, t0)
	b = appendString(b, "data")
	_, v, err := codec{}.Decode(b)
	require.NoError(t, err)
	c := v["k"].(*challenge)
	assert.Equal(t, &challenge{Data: []byte("data"), At: t0}, c)
	assert.NotEqual(t, c.claimKey(), (&challenge{Data: []byte("data2"), At: t0}).claimKey())
	assert.NotEqual(t, c.claimKey(), (&challenge{Data: []byte("data"), At: t0, ID: "x"}).claimKey())
}

func TestCodecRejects(t *testing.T) {
	_, err := codec{}.Encode(time.Now(), map[string]any{"n": 42})
	assert.ErrorIs(t, err, errUnsupportedValue)

	good, err := codec{}.Encode(time.Now(), sampleValues())
	require.NoError(t, err)
	for _, tc := range []struct {
		name string
		b    []byte
	}{
		{"empty", nil},
		{"gob from plain scs", []byte("\x1d\xff\x81\x03\x01\x01")},
		{"unknown version", append([]byte{9}, good[1:]...)},
		{"truncated", good[:len(good)-1]},
		{"trailing byte", append(append([]byte{}, good...), 0)},
		{"huge count", []byte{1, 0, 0xff, 0xff, 0xff, 0xff, 0x0f}},
		{"count above what the data holds", []byte{1, 0, 2, 0, 1, 0, 0}},
		{"huge string", []byte{1, 0, 1, 0xff, 0xff, 0xff, 0xff, 0x0f}},
		{"unknown tag", []byte{1, 0, 1, 1, 'k', 9}},
		{"bad IP length", func() []byte {
			b, _ := codec{}.Encode(time.Time{}, map[string]any{metaKey: &meta{IP: netip.MustParseAddr("192.0.2.1")}})
			i := len(b) - 1 /*flags*/ - 1 /*ua*/ - 4 - 1
			b[i] = 5
			return b
		}()},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := codec{}.Decode(tc.b)
			assert.ErrorIs(t, err, errCorrupt)
		})
	}
}

func FuzzCodecDecode(f *testing.F) {
	good, _ := codec{}.Encode(time.Unix(1, 0), sampleValues())
	f.Add(good)
	f.Add([]byte{})
	f.Add([]byte{1, 0, 0})
	f.Add([]byte{1, 0, 1, 1, 'k', 2})
	f.Fuzz(func(t *testing.T, b []byte) {
		d, v, err := codec{}.Decode(b)
		if err != nil {
			return
		}
		// Whatever decodes must encode and decode to the same thing.
		b2, err := codec{}.Encode(d, v)
		require.NoError(t, err)
		d2, v2, err := codec{}.Decode(b2)
		require.NoError(t, err)
		assert.True(t, d.Equal(d2))
		assert.Equal(t, v, v2)
	})
}

func TestCookieFromHeader(t *testing.T) {
	tok := strings.Repeat("A", 42) + "_"
	sealed := strings.Repeat("s", maxSealed)
	name := DefaultCookieName
	for _, tc := range []struct {
		name, header, want string
	}{
		{"alone", name + "=" + tok, tok},
		{"among others", "a=1; " + name + "=" + tok + "; b=2", tok},
		{"quoted", name + `="` + tok + `"`, tok},
		{"no spaces", "a=1;" + name + "=" + tok, tok},
		{"first well-formed wins", name + "=bad; " + name + "=" + tok, tok},
		{"attack: too short", name + "=" + tok[:42], ""},
		{"longer: sealed anonymous state", name + "=" + tok + "A", tok + "A"},
		{"longest sealed state", name + "=" + sealed, sealed},
		{"attack: longer than sealed state", name + "=" + sealed + "s", ""},
		{"attack: bad characters in sealed state", name + "=" + sealed[:100] + "=", ""},
		{"attack: bad characters", name + "=" + strings.Repeat("+", 43), ""},
		{"attack: name prefix", name + "x=" + tok, ""},
		{"attack: name suffix", "x" + name + "=" + tok, ""},
		{"attack: NUL", name + "=" + tok[:42] + "\x00", ""},
		{"other cookie only", "session=" + tok, ""},
		{"empty", "", ""},
		{"no value", name, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, tc.want, cookieFromHeader(tc.header, name))
		})
	}
	r, _ := http.NewRequest(http.MethodGet, "/", nil)
	r.Header.Add("Cookie", "a=1")
	r.Header.Add("Cookie", name+"="+tok)
	assert.Equal(t, tok, cookieFromRequest(r, name), "several Cookie lines (HTTP/2)")
}

func FuzzCookieFromHeader(f *testing.F) {
	f.Add(DefaultCookieName + "=" + strings.Repeat("a", 43))
	f.Add("a=b; " + DefaultCookieName + `="` + strings.Repeat("-", 43) + `"`)
	f.Add(";;;=;")
	f.Fuzz(func(t *testing.T, header string) {
		got := cookieFromHeader(header, DefaultCookieName)
		if got == "" {
			return
		}
		assert.True(t, validToken(got) || validSealed(got))
		assert.LessOrEqual(t, len(got), maxSealed)
		assert.Contains(t, header, DefaultCookieName+"=")
		assert.Contains(t, header, got)
	})
}

func TestMemoryStoreSweeps(t *testing.T) {
	s := NewMemoryStore()
	ctx := t.Context()
	past := time.Now().Add(-time.Minute)
	for i := range 1000 {
		_, err := s.Save(ctx, "", Record{Key: string(rune('a'+i%26)) + strings.Repeat("x", i), UserID: "u", Data: []byte("x"), Expiry: past})
		require.NoError(t, err)
	}
	for i := range 1000 {
		_, err := s.Save(ctx, "", Record{Key: "live" + strings.Repeat("y", i), Data: []byte("x"), Expiry: time.Now().Add(time.Hour)})
		require.NoError(t, err)
	}
	for i := range 1000 {
		_, err := s.Claim(ctx, "spent"+strings.Repeat("z", i), past)
		require.NoError(t, err)
	}
	for i := range 1000 {
		_, err := s.Claim(ctx, "live"+strings.Repeat("z", i), time.Now().Add(time.Hour))
		require.NoError(t, err)
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	assert.Less(t, len(s.recs), 1300, "writes sweep expired sessions without a goroutine")
	assert.LessOrEqual(t, len(s.users["u"]), 300, "and their index entries")
	assert.Less(t, len(s.claims), 1300, "and claims sweep expired claims")
}
