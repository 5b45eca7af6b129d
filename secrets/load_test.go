package secrets_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/deployedworks/rampart/secrets"
)

// fakeSource is a hand-written Source: fixed values, fixed errors, and a
// record of the slices it handed out.
type fakeSource struct {
	vals map[string][]byte
	errs map[string]error
}

func (f fakeSource) Lookup(_ context.Context, name string) ([]byte, bool, error) {
	if err := f.errs[name]; err != nil {
		return nil, false, err
	}
	v, ok := f.vals[name]
	return v, ok, nil
}

var _ secrets.Source = fakeSource{}

// key32 is a 32-byte key whose base64 forms use both alphabet-specific
// characters (+/ in standard, -_ in URL-safe) and padding.
var key32 = append(bytes.Repeat([]byte{0xfb, 0xff, 0xbf}, 10), 0x01, 0x02)

func TestLoad(t *testing.T) {
	t.Parallel()
	std := base64.StdEncoding.EncodeToString(key32)
	require.Contains(t, std, "+")
	require.Contains(t, std, "=")
	url := base64.URLEncoding.EncodeToString(key32)
	require.Contains(t, url, "-")
	hexKey := hex.EncodeToString(key32)
	wrapped := std[:20] + "\n" + std[20:40] + "\r\n" + std[40:]
	mixed := strings.Replace(url, "-", "+", 1) // both alphabets
	short := base64.StdEncoding.EncodeToString(key32[:16])

	tests := []struct {
		name      string
		value     *string // nil: not set
		enc       secrets.Encoding
		minLen    int
		want      []byte
		wantErrIs error
		wantErr   string
	}{
		{name: "raw", value: ptr("db-password-1"), enc: secrets.Raw, minLen: 8, want: []byte("db-password-1")},
		{name: "raw exactly MinLen", value: ptr("12345678"), enc: secrets.Raw, minLen: 8, want: []byte("12345678")},
		{name: "raw MinLen zero", value: ptr("x"), enc: secrets.Raw, want: []byte("x")},
		{name: "raw newline trimmed", value: ptr("db-password-1\n"), enc: secrets.Raw, want: []byte("db-password-1")},
		{name: "hex lower", value: ptr(hexKey), enc: secrets.Hex, minLen: 32, want: key32},
		{name: "hex upper", value: ptr(strings.ToUpper(hexKey)), enc: secrets.Hex, minLen: 32, want: key32},
		{name: "hex surrounding space", value: ptr(" \t" + hexKey + " \n"), enc: secrets.Hex, minLen: 32, want: key32},
		{name: "base64 std padded", value: ptr(std), enc: secrets.Base64, minLen: 32, want: key32},
		{name: "base64 std raw", value: ptr(strings.TrimRight(std, "=")), enc: secrets.Base64, minLen: 32, want: key32},
		{name: "base64 url padded", value: ptr(url), enc: secrets.Base64, minLen: 32, want: key32},
		{name: "base64 url raw", value: ptr(strings.TrimRight(url, "=")), enc: secrets.Base64, minLen: 32, want: key32},
		{name: "base64 wrapped lines", value: ptr(wrapped), enc: secrets.Base64, minLen: 32, want: key32},
		{name: "base64 surrounding space", value: ptr("  " + std + "\t"), enc: secrets.Base64, minLen: 32, want: key32},

		// Missing.
		{name: "not set", enc: secrets.Raw, wantErrIs: secrets.ErrMissing,
			wantErr: "secrets: S: not set; set S, or S_FILE to the path of a file holding it"},
		{name: "empty", value: ptr(""), enc: secrets.Raw, wantErrIs: secrets.ErrMissing,
			wantErr: "secrets: S: not set: the value is empty; set S, or S_FILE"},
		{name: "only newline", value: ptr("\n"), enc: secrets.Raw, wantErrIs: secrets.ErrMissing, wantErr: "empty"},
		{name: "hex only spaces", value: ptr("   "), enc: secrets.Hex, wantErrIs: secrets.ErrMissing, wantErr: "empty"},
		{name: "base64 only spaces", value: ptr("   "), enc: secrets.Base64, wantErrIs: secrets.ErrMissing, wantErr: "empty"},

		// Invalid: too short.
		{name: "raw too short", value: ptr("pa55word"), enc: secrets.Raw, minLen: 12, wantErrIs: secrets.ErrInvalid,
			wantErr: "secrets: S: invalid: shorter than 12 bytes"},
		{name: "hex too short", value: ptr(hexKey[:30]), enc: secrets.Hex, minLen: 32, wantErrIs: secrets.ErrInvalid,
			wantErr: "shorter than 32 bytes after decoding; generate one with: openssl rand -hex 32"},
		{name: "base64 too short", value: ptr(short), enc: secrets.Base64, minLen: 32, wantErrIs: secrets.ErrInvalid,
			wantErr: "shorter than 32 bytes after decoding; generate one with: openssl rand -base64 32"},
		{name: "hex counted in bytes not digits", value: ptr(hexKey[:32]), enc: secrets.Hex, minLen: 32, wantErrIs: secrets.ErrInvalid},

		// Invalid: does not decode. The error must not quote the bad
		// character (encoding/hex's own error does).
		{name: "hex bad digit", value: ptr(hexKey[:62] + "zQ"), enc: secrets.Hex, wantErrIs: secrets.ErrInvalid,
			wantErr: "secrets: S: invalid: not valid hex"},
		{name: "hex odd length", value: ptr(hexKey[:63]), enc: secrets.Hex, wantErrIs: secrets.ErrInvalid, wantErr: "not valid hex"},
		{name: "hex with 0x prefix", value: ptr("0x" + hexKey), enc: secrets.Hex, wantErrIs: secrets.ErrInvalid, wantErr: "not valid hex"},
		{name: "hex given base64", value: ptr(std), enc: secrets.Hex, wantErrIs: secrets.ErrInvalid, wantErr: "not valid hex"},
		{name: "base64 bad char", value: ptr("c2VjcmV0*c2VjcmV0"), enc: secrets.Base64, wantErrIs: secrets.ErrInvalid,
			wantErr: "secrets: S: invalid: not valid base64"},
		{name: "base64 mixed alphabets", value: ptr(mixed), enc: secrets.Base64, wantErrIs: secrets.ErrInvalid, wantErr: "not valid base64"},
		{name: "base64 wrong padding", value: ptr("c2VjcmV0c2VjcmV0c2VjcmV0QQ="), enc: secrets.Base64, wantErrIs: secrets.ErrInvalid},
		{name: "base64 padding in middle", value: ptr("c2Vj=cmV0c2VjcmV0"), enc: secrets.Base64, wantErrIs: secrets.ErrInvalid},
		{name: "base64 non-zero trailing bits", value: ptr("c2VjcmV0c2VjcmV0c2VjcmV0QR=="), enc: secrets.Base64, wantErrIs: secrets.ErrInvalid},
		{name: "base64 space inside", value: ptr(std[:10] + " " + std[10:]), enc: secrets.Base64, wantErrIs: secrets.ErrInvalid},

		// Invalid: too long.
		{name: "over 64 KiB", value: ptr(strings.Repeat("A", 64<<10+1)), enc: secrets.Raw, wantErrIs: secrets.ErrInvalid,
			wantErr: "longer than 64 KiB"},

		// Programmer errors in the Spec.
		{name: "spec without encoding", value: ptr("x"), wantErr: "secrets: S: bad Spec: Encoding not set (use secrets.Raw, secrets.Hex or secrets.Base64)"},
		{name: "spec unknown encoding", value: ptr("x"), enc: secrets.Encoding(9), wantErr: "bad Spec: Encoding not set"},
		{name: "spec negative MinLen", value: ptr("x"), enc: secrets.Raw, minLen: -1, wantErr: "bad Spec: MinLen is negative"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			env := map[string]string{}
			if tt.value != nil {
				env["S"] = *tt.value
			}
			v, err := secrets.Load(t.Context(), envOf(env), secrets.Spec{Name: "S", Encoding: tt.enc, MinLen: tt.minLen})
			if tt.wantErrIs != nil || tt.wantErr != "" {
				require.Error(t, err)
				assert.Equal(t, 0, v.Len(), "fails closed: zero Value")
				if tt.wantErrIs != nil {
					assert.ErrorIs(t, err, tt.wantErrIs)
				} else {
					assert.NotErrorIs(t, err, secrets.ErrInvalid)
					assert.NotErrorIs(t, err, secrets.ErrMissing)
				}
				assert.Contains(t, err.Error(), tt.wantErr)
				var se *secrets.Error
				require.ErrorAs(t, err, &se)
				assert.Equal(t, "S", se.Name)
				assert.True(t, strings.HasPrefix(err.Error(), "secrets: S: "), err.Error())
				if tt.value != nil && len(strings.TrimSpace(*tt.value)) >= 4 {
					assertNoLeak(t, err.Error(), []byte(strings.TrimSpace(*tt.value)))
				}
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, v.Reveal())
		})
	}
}

// TestLoadErrorNeverContainsValue checks the promise that matters most with
// values chosen to make a leak obvious, through every failure path that sees
// the value.
func TestLoadErrorNeverContainsValue(t *testing.T) {
	t.Parallel()
	const value = "TOPSECRET-ZZ-9f8e7d"
	specs := map[string]secrets.Spec{
		"too short raw":  {Name: "S", Encoding: secrets.Raw, MinLen: 64},
		"invalid hex":    {Name: "S", Encoding: secrets.Hex},
		"invalid base64": {Name: "S", Encoding: secrets.Base64},
	}
	for name, spec := range specs {
		for _, src := range []secrets.Source{
			envOf(map[string]string{"S": value}),
			envOf(map[string]string{"S_FILE": writeFile(t, value+"\n")}),
			envOf(map[string]string{"S": value, "S_FILE": writeFile(t, value)}),
			fakeSource{vals: map[string][]byte{"S": []byte(value)}},
		} {
			_, err := secrets.Load(t.Context(), src, spec)
			require.Error(t, err, name)
			assertNoLeak(t, err.Error(), []byte(value))
			for _, part := range []string{"TOPSECRET", "ZZ-9f", "9f8e7d"} {
				assert.NotContains(t, err.Error(), part, name)
			}
			_, err = secrets.LoadAll(t.Context(), src, spec, secrets.Spec{Name: "OTHER", Encoding: secrets.Raw})
			require.Error(t, err, name)
			assertNoLeak(t, err.Error(), []byte(value))
		}
	}
}

func TestLoadSourceErrors(t *testing.T) {
	t.Parallel()
	storeDown := errors.New("vault: connection refused")
	src := fakeSource{errs: map[string]error{"S": storeDown}}
	_, err := secrets.Load(t.Context(), src, secrets.Spec{Name: "S", Encoding: secrets.Raw})
	assert.ErrorIs(t, err, storeDown)
	assert.EqualError(t, err, "secrets: S: vault: connection refused")

	// A Source other than Env gets no NAME_FILE hint.
	_, err = secrets.Load(t.Context(), fakeSource{}, secrets.Spec{Name: "S", Encoding: secrets.Raw})
	assert.EqualError(t, err, "secrets: S: not set")

	// A hand-built Error without a cause still prints.
	assert.EqualError(t, &secrets.Error{Name: "S"}, "secrets: S: failed")

	_, err = secrets.Load(t.Context(), nil, secrets.Spec{Name: "S", Encoding: secrets.Raw})
	assert.ErrorContains(t, err, "secrets: S: bad Source: nil (use secrets.Env{}")

	for _, name := range []string{"", "A B", "A\nB", "Ä", strings.Repeat("A", 257)} {
		_, err = secrets.Load(t.Context(), fakeSource{}, secrets.Spec{Name: name, Encoding: secrets.Raw})
		assert.ErrorContains(t, err, "bad Spec: Name", "name %q", name)
	}
}

// The Value must own its bytes: a Source that keeps (and later reuses) the
// slice it returned cannot change a loaded secret, and Load does not write
// to that slice.
func TestLoadDoesNotAliasSource(t *testing.T) {
	t.Parallel()
	for _, enc := range []secrets.Encoding{secrets.Raw, secrets.Hex, secrets.Base64} {
		stored := []byte("00112233445566778899aabbccddeeff")
		orig := bytes.Clone(stored)
		src := fakeSource{vals: map[string][]byte{"S": stored}}
		v, err := secrets.Load(t.Context(), src, secrets.Spec{Name: "S", Encoding: enc})
		require.NoError(t, err)
		before := v.Reveal()
		assert.Equal(t, orig, stored, "Load modified the Source's slice")
		stored[0] ^= 0xff
		assert.Equal(t, before, v.Reveal(), "Value aliases the Source's slice")
	}
}

func TestLoadAll(t *testing.T) {
	t.Parallel()
	env := envOf(map[string]string{
		"APP_PEPPER":      base64.StdEncoding.EncodeToString(key32),
		"APP_DB_PASSWORD": "correct horse",
		"APP_SHORT":       "abc",
		"APP_BADHEX":      "not-hex-at-all",
		"APP_AMBIG":       "x",
		"APP_AMBIG_FILE":  "/run/secrets/x",
	})

	t.Run("all present", func(t *testing.T) {
		t.Parallel()
		vals, err := secrets.LoadAll(t.Context(), env,
			secrets.Spec{Name: "APP_PEPPER", Encoding: secrets.Base64, MinLen: 32},
			secrets.Spec{Name: "APP_DB_PASSWORD", Encoding: secrets.Raw},
		)
		require.NoError(t, err)
		require.Len(t, vals, 2)
		assert.Equal(t, key32, vals["APP_PEPPER"].Reveal())
		assert.Equal(t, "correct horse", string(vals["APP_DB_PASSWORD"].Reveal()))
	})

	t.Run("no specs", func(t *testing.T) {
		t.Parallel()
		vals, err := secrets.LoadAll(t.Context(), env)
		require.NoError(t, err)
		assert.Empty(t, vals)
	})

	t.Run("reports every failure", func(t *testing.T) {
		t.Parallel()
		vals, err := secrets.LoadAll(t.Context(), env,
			secrets.Spec{Name: "APP_MISSING_1", Encoding: secrets.Raw},
			secrets.Spec{Name: "APP_PEPPER", Encoding: secrets.Base64, MinLen: 32},
			secrets.Spec{Name: "APP_SHORT", Encoding: secrets.Raw, MinLen: 16},
			secrets.Spec{Name: "APP_BADHEX", Encoding: secrets.Hex},
			secrets.Spec{Name: "APP_AMBIG", Encoding: secrets.Raw},
			secrets.Spec{Name: "APP_MISSING_2", Encoding: secrets.Hex, MinLen: 32},
			secrets.Spec{Name: "APP_NOENC"},
			secrets.Spec{Name: "APP_PEPPER", Encoding: secrets.Base64},
		)
		require.Error(t, err)
		assert.Nil(t, vals, "fails closed: no partial map")

		var le *secrets.LoadError
		require.ErrorAs(t, err, &le)
		assert.Equal(t, []string{"APP_MISSING_1", "APP_SHORT", "APP_BADHEX", "APP_AMBIG", "APP_MISSING_2", "APP_NOENC", "APP_PEPPER"}, le.Names())
		assert.ErrorIs(t, err, secrets.ErrMissing)
		assert.ErrorIs(t, err, secrets.ErrInvalid)
		assert.Len(t, le.Unwrap(), 7)

		var missing []string
		for _, e := range le.Errors {
			if errors.Is(e, secrets.ErrMissing) {
				missing = append(missing, e.Name)
			}
		}
		assert.Equal(t, []string{"APP_MISSING_1", "APP_MISSING_2"}, missing)

		msg := err.Error()
		assert.NotContains(t, msg, "\n", "one log line")
		assert.True(t, strings.HasPrefix(msg, "secrets: 7 of the required secrets could not be loaded: APP_MISSING_1: not set; set APP_MISSING_1, or"), msg)
		for _, want := range []string{
			"APP_SHORT: invalid: shorter than 16 bytes",
			"APP_BADHEX: invalid: not valid hex",
			"APP_AMBIG: invalid: both APP_AMBIG and APP_AMBIG_FILE are set",
			"APP_NOENC: bad Spec: Encoding not set",
			"APP_PEPPER: bad Spec: name listed twice",
		} {
			assert.Contains(t, msg, want)
		}
		for _, leak := range []string{"abc", "not-hex-at-all", "correct horse", base64.StdEncoding.EncodeToString(key32)} {
			assert.NotContains(t, msg, leak)
		}
	})

	t.Run("canceled context", func(t *testing.T) {
		t.Parallel()
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		vals, err := secrets.LoadAll(ctx, env, secrets.Spec{Name: "APP_PEPPER", Encoding: secrets.Base64})
		assert.Nil(t, vals)
		assert.ErrorIs(t, err, context.Canceled)
		var le *secrets.LoadError
		assert.False(t, errors.As(err, &le))
	})
}

func ptr(s string) *string { return &s }

// FuzzLoad feeds arbitrary stored text through every encoding: Load must not
// panic, must fail closed, and anything it accepts must be the one canonical
// encoding of the bytes it returns.
func FuzzLoad(f *testing.F) {
	for _, s := range []string{
		"", "\n", "secret", hex.EncodeToString(key32), base64.StdEncoding.EncodeToString(key32),
		base64.RawURLEncoding.EncodeToString(key32), "QQ=", "QR==", "a+b-", "zz", "0x00", " 00ff\n",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, stored string) {
		src := fakeSource{vals: map[string][]byte{"S": []byte(stored)}}
		for _, enc := range []secrets.Encoding{secrets.Raw, secrets.Hex, secrets.Base64} {
			v, err := secrets.Load(t.Context(), src, secrets.Spec{Name: "S", Encoding: enc, MinLen: 1})
			if err != nil {
				require.Equal(t, 0, v.Len())
				var se *secrets.Error
				require.ErrorAs(t, err, &se)
				require.True(t, errors.Is(err, secrets.ErrMissing) != errors.Is(err, secrets.ErrInvalid))
				continue
			}
			got := v.Reveal()
			require.NotEmpty(t, got)
			text := strings.TrimSpace(stored)
			switch enc {
			case secrets.Raw:
				require.Equal(t, stored, string(got))
			case secrets.Hex:
				require.Equal(t, strings.ToLower(text), hex.EncodeToString(got))
			case secrets.Base64:
				text = strings.NewReplacer("\r", "", "\n", "").Replace(text)
				require.Contains(t, []string{
					base64.StdEncoding.EncodeToString(got), base64.RawStdEncoding.EncodeToString(got),
					base64.URLEncoding.EncodeToString(got), base64.RawURLEncoding.EncodeToString(got),
				}, text)
			}
		}
	})
}
