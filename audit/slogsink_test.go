package audit

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net/netip"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/deployedworks/rampart/identity"
)

func TestSlogSink(t *testing.T) {
	var buf bytes.Buffer
	s := must(NewSlogSink(slog.New(slog.NewJSONHandler(&buf, nil)), SlogConfig{}))
	e := Event{
		Time: sampleTime, Category: CategoryAdmin, Action: "user.disabled", Outcome: OutcomeSuccess,
		Actor: identity.Principal{UserID: "a1", Roles: []string{"admin"}}, Target: Target{Kind: "user", ID: "u9"},
		ClientIP: netip.MustParseAddr("192.0.2.1"), UserAgent: "ua", RequestID: "rid", SessionRef: "sref",
		Reason: "spam", Meta: map[string]string{"k": "v"},
	}
	require.NoError(t, s.Write(context.Background(), e))
	var got map[string]any
	require.NoError(t, json.Unmarshal(buf.Bytes(), &got))
	assert.Equal(t, map[string]any{
		"time": "2026-06-25T10:15:30.123456789Z", "level": "INFO", "msg": "audit",
		"category": "admin", "action": "user.disabled", "outcome": "success",
		"actor":     map[string]any{"user_id": "a1", "roles": []any{"admin"}},
		"target":    map[string]any{"kind": "user", "id": "u9"},
		"client_ip": "192.0.2.1", "user_agent": "ua", "request_id": "rid", "session": "sref",
		"reason": "spam", "meta": map[string]any{"k": "v"},
	}, got)
}

func TestSlogSinkLevels(t *testing.T) {
	tests := []struct {
		cat  Category
		want string
	}{
		{CategoryAuthentication, "INFO"},
		{CategoryAdmin, "INFO"},
		{CategoryError, "WARN"},
		{CategorySecurityAlert, "WARN"},
		{CategorySuspicious, "WARN"},
	}
	for _, tt := range tests {
		t.Run(string(tt.cat), func(t *testing.T) {
			var buf bytes.Buffer
			s := must(NewSlogSink(slog.New(slog.NewJSONHandler(&buf, nil)), SlogConfig{}))
			require.NoError(t, s.Write(context.Background(), Event{Time: sampleTime, Category: tt.cat, Action: "a"}))
			var got map[string]any
			require.NoError(t, json.Unmarshal(buf.Bytes(), &got))
			assert.Equal(t, tt.want, got["level"])
		})
	}
}

// A handler that would discard the record must not lose it silently.
func TestSlogSinkDisabledLevelIsAnError(t *testing.T) {
	var buf bytes.Buffer
	h := slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: slog.LevelWarn})
	s := must(NewSlogSink(slog.New(h), SlogConfig{}))
	err := s.Write(context.Background(), Event{Time: sampleTime, Category: CategoryAdmin, Action: "a"})
	assert.ErrorContains(t, err, "not enabled")
	assert.Empty(t, buf.String())

	s = must(NewSlogSink(slog.New(h), SlogConfig{Level: func(Event) slog.Level { return slog.LevelError }}))
	assert.NoError(t, s.Write(context.Background(), Event{Time: sampleTime, Category: CategoryAdmin, Action: "a"}))
}

func TestNewSlogSinkRejectsNil(t *testing.T) {
	_, err := NewSlogSink(nil, SlogConfig{})
	assert.ErrorContains(t, err, "nil *slog.Logger")
}
