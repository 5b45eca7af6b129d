package audit

import (
	"encoding/json"
	"net/netip"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/deployedworks/rampart/identity"
)

// plainEvent has Event's fields and tags but not its MarshalJSON, so that
// encoding/json shows what the struct tags alone produce.
type plainEvent Event

var sampleTime = time.Date(2026, 6, 25, 10, 15, 30, 123456789, time.UTC)

func TestEventMarshalJSONMatchesStructTags(t *testing.T) {
	tests := []struct {
		name string
		e    Event
	}{
		{"minimal", Event{Time: sampleTime, Category: CategoryAuthentication, Action: "login.failed"}},
		{"full", Event{
			Time: sampleTime, Category: CategoryAdmin, Action: "user.disabled", Outcome: OutcomeSuccess,
			Actor: identity.Principal{UserID: "u1", Roles: []string{"admin", "moderator"}}, Target: Target{Kind: "user", ID: "u2"},
			ClientIP: netip.MustParseAddr("2001:db8::1"), UserAgent: "Mozilla/5.0", RequestID: "req-1",
			SessionRef: "abcd", Reason: "spam", Meta: map[string]string{"z": "1", "a": "2", "m": ""},
		}},
		{"roles only", Event{Time: sampleTime, Category: "c", Action: "a", Actor: identity.Principal{Roles: []string{"r"}}}},
		{"empty non-nil roles", Event{Time: sampleTime, Category: "c", Action: "a", Actor: identity.Principal{Roles: []string{}}}},
		{"target kind only", Event{Time: sampleTime, Category: "c", Action: "a", Target: Target{Kind: "k"}}},
		{"target id only", Event{Time: sampleTime, Category: "c", Action: "a", Target: Target{ID: "i"}}},
		{"ipv4", Event{Time: sampleTime, Category: "c", Action: "a", ClientIP: netip.MustParseAddr("192.0.2.1")}},
		{"attack: newline injection", Event{Time: sampleTime, Category: "c", Action: "a",
			UserAgent: "x\n{\"category\":\"admin\"}", Reason: "a\r\nb\tc\u2028d\u2029e"}},
		{"attack: html and quotes", Event{Time: sampleTime, Category: "c", Action: "a", Reason: `<script>"&'\`}},
		{"attack: control and invalid utf-8", Event{Time: sampleTime, Category: "c", Action: "a",
			Reason: "\x00\x01\x1f\x7f\xff\xfe ok \xe2\x82", Meta: map[string]string{"\xff": "\x08\x0c"}}},
		{"non-ascii", Event{Time: sampleTime, Category: "c", Action: "a", Reason: "日本語 ✓ émoji 🎉"}},
		{"zero time", Event{Category: "c", Action: "a"}},
		{"many meta keys", Event{Time: sampleTime, Category: "c", Action: "a", Meta: func() map[string]string {
			m := map[string]string{}
			for i := range 40 {
				m[string(rune('A'+i))] = "v"
			}
			return m
		}()}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := json.Marshal(tt.e)
			require.NoError(t, err)
			want, err := json.Marshal(plainEvent(tt.e))
			require.NoError(t, err)
			assert.Equal(t, string(want), string(got))
			assert.True(t, json.Valid(got))
			assert.NotContains(t, string(got), "\n")
		})
	}
}

// The field names are the stable format: this test fails if one changes.
func TestEventJSONStableFieldNames(t *testing.T) {
	e := Event{
		Time: sampleTime, Category: CategoryAccess, Action: "role.granted", Outcome: OutcomeSuccess,
		Actor: identity.Principal{UserID: "u1", Roles: []string{"admin"}}, Target: Target{Kind: "user", ID: "u2"},
		ClientIP: netip.MustParseAddr("192.0.2.1"), UserAgent: "ua", RequestID: "r", SessionRef: "s",
		Reason: "why", Meta: map[string]string{"role": "moderator"},
	}
	b, err := json.Marshal(e)
	require.NoError(t, err)
	assert.Equal(t, `{"time":"2026-06-25T10:15:30.123456789Z","category":"access","action":"role.granted",`+
		`"outcome":"success","actor":{"user_id":"u1","roles":["admin"]},"target":{"kind":"user","id":"u2"},`+
		`"client_ip":"192.0.2.1","user_agent":"ua","request_id":"r","session":"s","reason":"why",`+
		`"meta":{"role":"moderator"}}`, string(b))
}

func TestEventJSONRoundTrip(t *testing.T) {
	e := Event{
		Time: sampleTime, Category: CategoryModeration, Action: "listing.hidden", Outcome: OutcomeDenied,
		Actor: identity.Principal{UserID: "mod", Roles: []string{"moderator"}}, Target: Target{Kind: "listing", ID: "42"},
		ClientIP: netip.MustParseAddr("2001:db8::7"), Reason: "<b>spam</b>", Meta: map[string]string{"k": "v"},
	}
	b, err := json.Marshal(e)
	require.NoError(t, err)
	var got Event
	require.NoError(t, json.Unmarshal(b, &got))
	assert.Equal(t, e, got)
}

func TestEventMarshalJSONRejectsTimeOutOfRange(t *testing.T) {
	_, err := json.Marshal(Event{Time: time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC), Category: "c", Action: "a"})
	assert.ErrorIs(t, err, ErrInvalidEvent)
}

func TestCategoriesAreDistinct(t *testing.T) {
	seen := map[Category]bool{}
	for _, c := range Categories() {
		assert.False(t, seen[c], c)
		seen[c] = true
	}
	assert.Len(t, seen, 8)
}

func FuzzAppendString(f *testing.F) {
	for _, s := range []string{"", "plain", "<>&", "\u2028\u2029", "\xff\xfe", "a\"b\\c\n\t\x00", "日本"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		want, err := json.Marshal(s)
		require.NoError(t, err)
		assert.Equal(t, string(want), string(appendString(nil, s)))
	})
}

func BenchmarkEventMarshal(b *testing.B) {
	e := Event{
		Time: sampleTime, Category: CategoryAuthentication, Action: "login.failed", Outcome: OutcomeFailure,
		Actor: identity.Principal{UserID: "u1"}, ClientIP: netip.MustParseAddr("192.0.2.1"),
		UserAgent: "Mozilla/5.0 (X11; Linux x86_64)", RequestID: "01J0ABCDEF", Meta: map[string]string{"method": "password"},
	}
	b.ReportAllocs()
	var buf []byte
	for b.Loop() {
		buf = appendEvent(buf[:0], &e)
	}
}
