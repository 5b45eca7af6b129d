package audit

import (
	"context"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestSensitiveKey(t *testing.T) {
	tests := []struct {
		key  string
		want bool
	}{
		// Secrets, in the spellings they come in.
		{"password", true}, {"Password", true}, {"new_password", true}, {"PASSWORD_CONFIRM", true},
		{"passwd", true}, {"pwd", true}, {"passphrase", true}, {"pass", true},
		{"token", true}, {"access_token", true}, {"refreshToken", true}, {"X-Auth-Token", true}, {"id_token", true},
		{"secret", true}, {"client_secret", true}, {"totpSecret", true},
		{"code", true}, {"otp", true}, {"otp_code", true}, {"totpCode", true}, {"mfa-code", true}, {"codes", true},
		{"recovery", true}, {"recovery_codes", true}, {"RecoveryCode", true},
		{"cookie", true}, {"Set-Cookie", true}, {"cookies", true},
		{"authorization", true}, {"Authorization", true}, {"proxy-authorization", true}, {"auth", true},
		{"api_key", true}, {"apiKey", true}, {"X-API-Key", true}, {"key", true}, {"private_key", true},
		{"session_id", true}, {"sessionID", true}, {"sid", true}, {"csrf_token", true}, {"xsrf", true},
		{"pin", true}, {"credentials", true}, {"bearer", true}, {"jwt", true}, {"seed", true}, {"salt", true},
		{"attack: very long key " + strings.Repeat("x", 200), true},
		// Facts that are not secrets.
		{"method", false}, {"route", false}, {"path", false}, {"status", false}, {"status_code", false},
		{"StatusCode", false}, {"country_code", false}, {"user_id", false}, {"email", false}, {"role", false},
		{"author", false}, {"passenger", false}, {"keyboard", false}, {"monkey", false}, {"reason", false},
		{"panic", false}, {"stack", false}, {"dropped", false}, {"distinct_ips", false}, {"", false},
	}
	for _, tt := range tests {
		t.Run(tt.key, func(t *testing.T) {
			assert.Equal(t, tt.want, SensitiveKey(tt.key))
		})
	}
}

func TestSensitiveValue(t *testing.T) {
	tests := []struct {
		name, v string
		want    bool
	}{
		{"bearer header", "Bearer abc.def", true},
		{"bearer lower case", "bearer xyz", true},
		{"basic header", "Basic dXNlcjpwYXNz", true},
		{"jwt", "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.sig", true},
		{"plain", "password reset requested", false},
		{"word bearer alone", "Bearer", false},
		{"basic without space", "Basically", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, sensitiveValue(tt.v))
		})
	}
}

func TestLogRedactsWithoutTouchingCallerMap(t *testing.T) {
	sink := &MemorySink{}
	l := MustNew(sink, Config{})
	meta := map[string]string{
		"password": "hunter2", "otp": "123456", "method": "password",
		"header": "Bearer sk_live_secret", "recovery_code": "ABCD-EFGH",
	}
	l.Log(context.Background(), Event{Category: CategoryAuthentication, Action: "login.failed", Meta: meta})
	got := sink.Events()[0].Meta
	assert.Equal(t, map[string]string{
		"password": Redacted, "otp": Redacted, "method": "password",
		"header": Redacted, "recovery_code": Redacted,
	}, got)
	assert.Equal(t, "hunter2", meta["password"], "the caller's map must not be modified")
}

func TestLogKeepsCleanMetaMap(t *testing.T) {
	sink := &MemorySink{}
	meta := map[string]string{"method": "password"}
	MustNew(sink, Config{}).Log(context.Background(), Event{Category: "c", Action: "a", Meta: meta})
	assert.Equal(t, meta, sink.Events()[0].Meta)
}

func TestCleanMetaLimits(t *testing.T) {
	m := map[string]string{}
	for i := range MaxMeta + 10 {
		m["k"+strconv.Itoa(1000+i)] = "v"
	}
	m["long"] = strings.Repeat("é", MaxMetaValue) // 2 bytes each
	got := cleanMeta(m)
	assert.Len(t, got, MaxMeta)
	assert.Equal(t, "12", got[metaDropped])
	for k, v := range got {
		assert.LessOrEqual(t, len(v), MaxMetaValue, k)
	}
}

func TestTruncate(t *testing.T) {
	tests := []struct {
		name, in string
		max      int
		want     string
	}{
		{"short", "abc", 5, "abc"},
		{"exact", "abcde", 5, "abcde"},
		{"cut", "abcdefgh", 6, "abc…"},
		{"cut inside rune", "ééé", 5, "é…"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := truncate(tt.in, tt.max)
			assert.Equal(t, tt.want, got)
			assert.LessOrEqual(t, len(got), tt.max)
		})
	}
}

func BenchmarkSensitiveKey(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		SensitiveKey("refreshTokenExpiry")
		SensitiveKey("status_code")
	}
}
