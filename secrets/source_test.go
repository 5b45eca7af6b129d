package secrets_test

import (
	"context"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/deployedworks/rampart/secrets"
)

// envOf returns an Env that reads m instead of the process environment.
func envOf(m map[string]string) secrets.Env {
	return secrets.Env{LookupEnv: func(k string) (string, bool) {
		v, ok := m[k]
		return v, ok
	}}
}

// writeFile writes content to a new file in a temporary directory and
// returns its path.
func writeFile(t *testing.T, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "secret")
	require.NoError(t, os.WriteFile(path, []byte(content), 0o600))
	return path
}

func TestEnvLookup(t *testing.T) {
	t.Parallel()
	const secret = "s3cr3t-Value-42"
	file := writeFile(t, secret+"\n")
	link := filepath.Join(t.TempDir(), "link") // Kubernetes mounts use symlinks
	require.NoError(t, os.Symlink(file, link))
	big := strings.Repeat("x", 64<<10)

	type envCase struct {
		name      string
		env       map[string]string
		want      string
		wantOK    bool
		wantErrIs error  // nil: no error expected unless wantErr
		wantErr   string // substring of the error
	}
	tests := []envCase{
		{name: "env", env: map[string]string{"S": secret}, want: secret, wantOK: true},
		{name: "env trailing newline trimmed", env: map[string]string{"S": secret + "\n"}, want: secret, wantOK: true},
		{name: "env CRLF trimmed", env: map[string]string{"S": secret + "\r\n"}, want: secret, wantOK: true},
		{name: "env inner newline kept", env: map[string]string{"S": "a\nb"}, want: "a\nb", wantOK: true},
		{name: "env leading and trailing spaces kept", env: map[string]string{"S": " a "}, want: " a ", wantOK: true},
		{name: "env empty is set", env: map[string]string{"S": ""}, want: "", wantOK: true},
		{name: "file", env: map[string]string{"S_FILE": file}, want: secret, wantOK: true},
		{name: "file without newline", env: map[string]string{"S_FILE": writeFile(t, secret)}, want: secret, wantOK: true},
		{name: "file CRLF", env: map[string]string{"S_FILE": writeFile(t, secret+"\r\n")}, want: secret, wantOK: true},
		{name: "file several newlines", env: map[string]string{"S_FILE": writeFile(t, secret+"\n\n")}, want: secret, wantOK: true},
		{name: "file through symlink", env: map[string]string{"S_FILE": link}, want: secret, wantOK: true},
		{name: "file exactly 64 KiB", env: map[string]string{"S_FILE": writeFile(t, big)}, want: big, wantOK: true},
		{name: "not set", env: map[string]string{"OTHER": "x"}},

		// Attack and misconfiguration rows.
		{name: "both set is ambiguous", env: map[string]string{"S": secret, "S_FILE": file},
			wantErrIs: secrets.ErrInvalid, wantErr: "both S and S_FILE are set; unset one of them"},
		{name: "both set, variable empty", env: map[string]string{"S": "", "S_FILE": file},
			wantErrIs: secrets.ErrInvalid, wantErr: "both S and S_FILE are set"},
		{name: "file path empty", env: map[string]string{"S_FILE": ""},
			wantErrIs: secrets.ErrInvalid, wantErr: "S_FILE is set but empty"},
		{name: "file missing", env: map[string]string{"S_FILE": "/nonexistent/secret"},
			wantErrIs: fs.ErrNotExist, wantErr: "read S_FILE: stat /nonexistent/secret"},
		{name: "file over 64 KiB", env: map[string]string{"S_FILE": writeFile(t, big+"y")},
			wantErrIs: secrets.ErrInvalid, wantErr: "larger than 64 KiB"},
		{name: "directory", env: map[string]string{"S_FILE": t.TempDir()},
			wantErrIs: secrets.ErrInvalid, wantErr: "not a regular file"},
	}
	if _, err := os.Stat("/dev/zero"); err == nil {
		tests = append(tests, envCase{name: "device /dev/zero", env: map[string]string{"S_FILE": "/dev/zero"},
			wantErrIs: secrets.ErrInvalid, wantErr: "not a regular file"})
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, ok, err := envOf(tt.env).Lookup(t.Context(), "S")
			if tt.wantErrIs != nil || tt.wantErr != "" {
				require.Error(t, err)
				assert.ErrorIs(t, err, tt.wantErrIs)
				assert.Contains(t, err.Error(), tt.wantErr)
				assert.NotContains(t, err.Error(), secret)
				assert.False(t, ok)
				assert.Nil(t, got)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.wantOK, ok)
			if tt.wantOK {
				assert.Equal(t, tt.want, string(got))
			}
		})
	}
}

func TestEnvLookupBadName(t *testing.T) {
	t.Parallel()
	for _, name := range []string{"", "A=B", "A\x00B"} {
		_, _, err := envOf(nil).Lookup(t.Context(), name)
		assert.ErrorContains(t, err, "environment variable name", "name %q", name)
	}
}

func TestEnvLookupCanceled(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	_, _, err := envOf(map[string]string{"S": "x"}).Lookup(ctx, "S")
	assert.ErrorIs(t, err, context.Canceled)
}

// The zero Env reads the process environment.
func TestEnvZeroValueReadsProcessEnv(t *testing.T) {
	t.Setenv("RAMPART_SECRETS_TEST_VALUE", "from-process-env\n")
	got, ok, err := secrets.Env{}.Lookup(t.Context(), "RAMPART_SECRETS_TEST_VALUE")
	require.NoError(t, err)
	require.True(t, ok)
	assert.Equal(t, "from-process-env", string(got))

	_, ok, err = secrets.Env{}.Lookup(t.Context(), "RAMPART_SECRETS_TEST_UNSET")
	require.NoError(t, err)
	assert.False(t, ok)
}
