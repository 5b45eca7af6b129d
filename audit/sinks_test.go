package audit_test

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/deployedworks/rampart/audit"
	"github.com/deployedworks/rampart/audit/chain"
	"github.com/deployedworks/rampart/audit/detect"
)

// Redaction happens in Logger.Log, before any sink: no sink may ever see
// the secrets.
func TestRedactionHoldsForEverySink(t *testing.T) {
	secretMeta := map[string]string{
		"password":      "pw-SECRET-1",
		"Authorization": "Basic SECRET-2",
		"otp_code":      "SECRET-3",
		"recoveryCode":  "SECRET-4",
		"session_token": "SECRET-5",
		"Cookie":        "sid=SECRET-6",
		"note":          "Bearer SECRET-7",
		"client_secret": "SECRET-8",
		"method":        "password",
	}
	type sinkUnderTest struct {
		sink   audit.Sink
		output func() string
	}
	tests := []struct {
		name string
		make func(t *testing.T) sinkUnderTest
	}{
		{"memory", func(t *testing.T) sinkUnderTest {
			m := &audit.MemorySink{}
			return sinkUnderTest{m, func() string { b, _ := json.Marshal(m.Events()); return string(b) }}
		}},
		{"jsonl", func(t *testing.T) sinkUnderTest {
			var buf bytes.Buffer
			return sinkUnderTest{must(audit.NewJSONLSink(&buf)), buf.String}
		}},
		{"slog text", func(t *testing.T) sinkUnderTest {
			var buf bytes.Buffer
			return sinkUnderTest{must(audit.NewSlogSink(slog.New(slog.NewTextHandler(&buf, nil)), audit.SlogConfig{})), buf.String}
		}},
		{"file chain", func(t *testing.T) sinkUnderTest {
			dir := t.TempDir()
			fs, err := chain.New(dir, bytes.Repeat([]byte{0x42}, 32), chain.Config{})
			require.NoError(t, err)
			return sinkUnderTest{fs, func() string {
				require.NoError(t, fs.Close(context.Background()))
				var all []byte
				names, err := filepath.Glob(filepath.Join(dir, "*.jsonl"))
				require.NoError(t, err)
				require.NotEmpty(t, names)
				for _, n := range names {
					b, err := os.ReadFile(n)
					require.NoError(t, err)
					all = append(all, b...)
				}
				return string(all)
			}}
		}},
		{"async", func(t *testing.T) sinkUnderTest {
			var buf bytes.Buffer
			a, err := audit.NewAsyncSink(must(audit.NewJSONLSink(&buf)), audit.AsyncConfig{})
			require.NoError(t, err)
			return sinkUnderTest{a, func() string { require.NoError(t, a.Close(context.Background())); return buf.String() }}
		}},
		{"fanout", func(t *testing.T) sinkUnderTest {
			var b1, b2 bytes.Buffer
			return sinkUnderTest{must(audit.NewFanoutSink(must(audit.NewJSONLSink(&b1)), must(audit.NewJSONLSink(&b2)))), func() string { return b1.String() + b2.String() }}
		}},
		{"detector", func(t *testing.T) sinkUnderTest {
			var buf bytes.Buffer
			d, err := detect.New(must(audit.NewJSONLSink(&buf)), detect.Config{})
			require.NoError(t, err)
			return sinkUnderTest{d, buf.String}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := tt.make(t)
			l := audit.MustNew(s.sink, audit.Config{})
			l.Log(context.Background(), audit.Event{
				Category: audit.CategoryAuthentication, Action: audit.ActionLoginFailed, Outcome: audit.OutcomeFailure,
				Target: audit.Target{Kind: audit.TargetKindAccount, ID: "alice"}, Meta: secretMeta,
			})
			out := s.output()
			assert.Contains(t, out, audit.Redacted)
			assert.Contains(t, out, "login.failed")
			assert.NotContains(t, out, "SECRET")
		})
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}
