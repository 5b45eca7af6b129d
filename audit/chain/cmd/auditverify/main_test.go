package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/hex"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/deployedworks/rampart/audit"
	"github.com/deployedworks/rampart/audit/chain"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var key = bytes.Repeat([]byte{0xab}, 32)

func writeLog(t *testing.T, close bool) (string, chain.Checkpoint) {
	t.Helper()
	dir := t.TempDir()
	s, err := chain.New(dir, key, chain.Config{MaxSize: 2048})
	require.NoError(t, err)
	l := audit.MustNew(s, audit.Config{})
	for range 30 {
		l.Log(context.Background(), audit.Event{Category: audit.CategoryAdmin, Action: "user.disabled"})
	}
	cp := s.Checkpoint()
	if close {
		require.NoError(t, s.Close(context.Background()))
	}
	return dir, cp
}

func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func runCmd(args []string, e map[string]string) (int, string, string) {
	var out, errb bytes.Buffer
	code := run(args, env(e), &out, &errb)
	return code, out.String(), errb.String()
}

func TestAuditVerify(t *testing.T) {
	hexKey := map[string]string{"AUDIT_LOG_KEY": hex.EncodeToString(key)}
	dir, cp := writeLog(t, true)

	code, out, _ := runCmd([]string{"-dir", dir, "-sealed", "-checkpoint", strconv.FormatUint(cp.Seq, 10) + ":" + cp.MAC}, hexKey)
	assert.Equal(t, 0, code, out)
	assert.Contains(t, out, "OK:")
	assert.Contains(t, out, "30 events")
	assert.Contains(t, out, "sealed")

	// Tamper with one record.
	names, _ := filepath.Glob(filepath.Join(dir, "audit-*.jsonl"))
	b, err := os.ReadFile(names[1])
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(names[1], bytes.Replace(b, []byte("user.disabled"), []byte("user.enabled!"), 1), 0o600))
	code, out, _ = runCmd([]string{"-dir", dir}, hexKey)
	assert.Equal(t, 1, code)
	assert.Contains(t, out, "TAMPERED: modified record at "+filepath.Base(names[1])+" line 2")
}

func TestAuditVerifyOpenChain(t *testing.T) {
	dir, _ := writeLog(t, false)
	e := map[string]string{"AUDIT_LOG_KEY": hex.EncodeToString(key)}
	code, out, _ := runCmd([]string{"-dir", dir}, e)
	assert.Equal(t, 0, code)
	assert.Contains(t, out, "open")
	code, out, _ = runCmd([]string{"-dir", dir, "-sealed"}, e)
	assert.Equal(t, 1, code)
	assert.Contains(t, out, "truncated")
}

func TestAuditVerifyKeySources(t *testing.T) {
	dir, _ := writeLog(t, true)
	keyFile := filepath.Join(t.TempDir(), "key")
	require.NoError(t, os.WriteFile(keyFile, []byte(hex.EncodeToString(key)+"\n"), 0o600))
	b64File := filepath.Join(t.TempDir(), "key64")
	require.NoError(t, os.WriteFile(b64File, []byte(base64.StdEncoding.EncodeToString(key)), 0o600))
	hugeFile := filepath.Join(t.TempDir(), "huge")
	require.NoError(t, os.WriteFile(hugeFile, bytes.Repeat([]byte("ab"), 64<<10), 0o600))
	tests := []struct {
		name string
		args []string
		env  map[string]string
		code int
		err  string
	}{
		{"hex env", nil, map[string]string{"AUDIT_LOG_KEY": hex.EncodeToString(key)}, 0, ""},
		{"custom env", []string{"-key-env", "K"}, map[string]string{"K": hex.EncodeToString(key)}, 0, ""},
		{"env _FILE", nil, map[string]string{"AUDIT_LOG_KEY_FILE": keyFile}, 0, ""},
		{"key file", []string{"-key-file", keyFile}, nil, 0, ""},
		{"base64 file", []string{"-key-file", b64File, "-key-encoding", "base64"}, nil, 0, ""},
		{"key file wins over env", []string{"-key-file", keyFile}, map[string]string{"AUDIT_LOG_KEY": strings.Repeat("11", 32)}, 0, ""},
		{"no key", nil, nil, 2, "not set"},
		{"both env and file", nil, map[string]string{"AUDIT_LOG_KEY": "aa", "AUDIT_LOG_KEY_FILE": keyFile}, 2, "unset one"},
		{"short key", nil, map[string]string{"AUDIT_LOG_KEY": "abcd"}, 2, "shorter than 32"},
		{"key file is a directory", []string{"-key-file", t.TempDir()}, nil, 2, "not a regular file"},
		{"key file over 64 KiB", []string{"-key-file", hugeFile}, nil, 2, "larger than 64 KiB"},
		{"missing key file", []string{"-key-file", keyFile + ".missing"}, nil, 2, "no such file"},
		{"bad hex", nil, map[string]string{"AUDIT_LOG_KEY": "zz"}, 2, "not valid hex"},
		{"wrong key", nil, map[string]string{"AUDIT_LOG_KEY": strings.Repeat("11", 32)}, 1, ""},
		{"bad encoding", []string{"-key-file", keyFile, "-key-encoding", "rot13"}, nil, 2, "unknown -key-encoding"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, _, errOut := runCmd(append([]string{"-dir", dir}, tt.args...), tt.env)
			assert.Equal(t, tt.code, code, errOut)
			if tt.err != "" {
				assert.Contains(t, errOut, tt.err)
			}
		})
	}
}

func TestAuditVerifyUsage(t *testing.T) {
	code, _, errOut := runCmd(nil, nil)
	assert.Equal(t, 2, code)
	assert.Contains(t, errOut, "-dir is required")
	code, _, _ = runCmd([]string{"-dir", t.TempDir(), "-checkpoint", "bad"}, nil)
	assert.Equal(t, 2, code)
}
