package secrets_test

import (
	"bytes"
	"encoding/base64"
	"encoding/gob"
	"encoding/hex"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/deployedworks/rampart/secrets"
)

// plain is a recognisable secret: if any of its renderings shows up in
// output, the secret leaked.
var plain = []byte("hunter2-correct-horse-battery")

// assertNoLeak fails if out contains plain in any of the forms fmt or an
// encoder would produce from the raw bytes.
func assertNoLeak(t *testing.T, out string, secret []byte) {
	t.Helper()
	forms := map[string]string{
		"text":      string(secret),
		"hex":       hex.EncodeToString(secret),
		"HEX":       strings.ToUpper(hex.EncodeToString(secret)),
		"decimal":   strings.Trim(fmt.Sprint(secret), "[]"),
		"base64":    base64.StdEncoding.EncodeToString(secret),
		"base64url": base64.RawURLEncoding.EncodeToString(secret),
		"quoted":    fmt.Sprintf("%q", secret),
		"gosyntax":  strings.Trim(fmt.Sprintf("%#v", secret), "[]byte{}"),
	}
	for name, form := range forms {
		assert.NotContains(t, out, form, "output leaks the secret as %s", name)
	}
}

type exported struct {
	Name string
	Key  secrets.Value
}

type unexported struct {
	name string
	key  secrets.Value
}

type withPointer struct {
	Key *secrets.Value
}

func TestValueFmt(t *testing.T) {
	t.Parallel()
	v := secrets.NewValue(plain)
	verbs := []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%X", "%d", "%o", "%b", "%c", "%U", "%10v", "%-12s", "% x", "%#x", "%08d"}
	for _, verb := range verbs {
		t.Run(verb, func(t *testing.T) {
			t.Parallel()
			assert.Equal(t, "[REDACTED]", fmt.Sprintf(verb, v), "value")
			assert.Equal(t, "[REDACTED]", fmt.Sprintf(verb, &v), "pointer")
		})
	}
	// fmt handles %p and %T itself: an address and a type name.
	assertNoLeak(t, fmt.Sprintf("%p %p %T", v, &v, v), plain)
	assert.Equal(t, "[REDACTED]", v.String())
	assert.Equal(t, "[REDACTED]", v.GoString())
	assert.Equal(t, "[REDACTED]", fmt.Sprint(v))
	assert.Equal(t, "[REDACTED]\n", fmt.Sprintln(v))
}

func TestValueInContainers(t *testing.T) {
	t.Parallel()
	v := secrets.NewValue(plain)
	tests := []struct {
		name string
		arg  any
		verb string
		want string // "" means only check for leaks
	}{
		{"exported field %v", exported{"db", v}, "%v", "{db [REDACTED]}"},
		{"exported field %+v", exported{"db", v}, "%+v", "{Name:db Key:[REDACTED]}"},
		{"exported field %#v", exported{"db", v}, "%#v", `secrets_test.exported{Name:"db", Key:[REDACTED]}`},
		{"pointer to struct %+v", &exported{"db", v}, "%+v", "&{Name:db Key:[REDACTED]}"},
		{"pointer field %+v", withPointer{&v}, "%+v", ""},
		{"slice %v", []secrets.Value{v, v}, "%v", "[[REDACTED] [REDACTED]]"},
		{"map %v", map[string]secrets.Value{"k": v}, "%v", "map[k:[REDACTED]]"},
		{"any slice %x", []any{v}, "%x", "[[REDACTED]]"},
		{"error wrapping %v", fmt.Errorf("connect with %v", v), "%v", "connect with [REDACTED]"},
		// fmt cannot call methods on unexported fields; it must print an
		// address, never the bytes.
		{"unexported field %v", unexported{"db", v}, "%v", ""},
		{"unexported field %+v", unexported{"db", v}, "%+v", ""},
		{"unexported field %#v", unexported{"db", v}, "%#v", ""},
		{"unexported field %x", unexported{"db", v}, "%x", ""},
		{"unexported field %d", unexported{"db", v}, "%d", ""},
		{"pointer to unexported %+v", &unexported{"db", v}, "%+v", ""},
		{"nested unexported %+v", struct{ inner unexported }{unexported{"db", v}}, "%+v", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			out := fmt.Sprintf(tt.verb, tt.arg)
			if tt.want != "" {
				assert.Equal(t, tt.want, out)
			}
			assertNoLeak(t, out, plain)
		})
	}
}

func TestValueEncoders(t *testing.T) {
	t.Parallel()
	v := secrets.NewValue(plain)
	tests := []struct {
		name    string
		encode  func() ([]byte, error)
		want    string
		wantErr bool // the encoder refuses a Value: fails closed
	}{
		{"json value", func() ([]byte, error) { return json.Marshal(v) }, `"[REDACTED]"`, false},
		{"json pointer", func() ([]byte, error) { return json.Marshal(&v) }, `"[REDACTED]"`, false},
		{"json struct", func() ([]byte, error) { return json.Marshal(exported{"db", v}) }, `{"Name":"db","Key":"[REDACTED]"}`, false},
		{"json map", func() ([]byte, error) { return json.Marshal(map[string]secrets.Value{"k": v}) }, `{"k":"[REDACTED]"}`, false},
		{"json unexported field", func() ([]byte, error) {
			//lint:ignore SA9005 the point is that an unexported Value is skipped
			return json.Marshal(unexported{"db", v})
		}, `{}`, false},
		{"MarshalJSON", v.MarshalJSON, `"[REDACTED]"`, false},
		{"MarshalText", v.MarshalText, `[REDACTED]`, false},
		{"xml struct", func() ([]byte, error) { return xml.Marshal(exported{"db", v}) }, `<exported><Name>db</Name><Key>[REDACTED]</Key></exported>`, false},
		{"gob struct", func() ([]byte, error) {
			var buf bytes.Buffer
			err := gob.NewEncoder(&buf).Encode(exported{"db", v})
			return buf.Bytes(), err
		}, "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			out, err := tt.encode()
			assertNoLeak(t, string(out), plain)
			if tt.wantErr {
				require.Error(t, err)
				assertNoLeak(t, err.Error(), plain)
				return
			}
			require.NoError(t, err)
			if tt.want != "" {
				assert.Equal(t, tt.want, string(out))
			}
			assertNoLeak(t, string(out), plain)
		})
	}
}

func TestValueSlog(t *testing.T) {
	t.Parallel()
	v := secrets.NewValue(plain)
	handlers := map[string]func(*bytes.Buffer) slog.Handler{
		"json": func(b *bytes.Buffer) slog.Handler { return slog.NewJSONHandler(b, nil) },
		"text": func(b *bytes.Buffer) slog.Handler { return slog.NewTextHandler(b, nil) },
	}
	attrs := []struct {
		name string
		attr slog.Attr
	}{
		{"any value", slog.Any("k", v)},
		{"any pointer", slog.Any("k", &v)},
		{"group", slog.Group("g", slog.Any("k", v))},
		{"exported struct", slog.Any("cfg", exported{"db", v})},
		{"unexported struct", slog.Any("cfg", unexported{"db", v})},
		{"slice", slog.Any("list", []secrets.Value{v})},
	}
	for hname, mk := range handlers {
		for _, a := range attrs {
			t.Run(hname+"/"+a.name, func(t *testing.T) {
				t.Parallel()
				var buf bytes.Buffer
				log := slog.New(mk(&buf))
				log.Info("loaded", a.attr)
				log.With(a.attr).Info("with")
				log.Info("args", "secret", v)
				out := buf.String()
				assertNoLeak(t, out, plain)
				if a.name != "unexported struct" {
					assert.Contains(t, out, "[REDACTED]")
				}
			})
		}
	}
}

func TestValueReveal(t *testing.T) {
	t.Parallel()
	in := bytes.Clone(plain)
	v := secrets.NewValue(in)
	in[0] = 'X' // NewValue copied
	assert.Equal(t, plain, v.Reveal())
	assert.Equal(t, len(plain), v.Len())

	out := v.Reveal()
	out[0] = 'Y' // Reveal returns a copy
	assert.Equal(t, plain, v.Reveal())

	copied := v // copies share immutable bytes
	assert.Equal(t, plain, copied.Reveal())

	var zero secrets.Value
	assert.Nil(t, zero.Reveal())
	assert.Equal(t, 0, zero.Len())
	assert.Equal(t, "[REDACTED]", fmt.Sprint(zero))

	empty := secrets.NewValue(nil)
	assert.Empty(t, empty.Reveal())
	assert.Equal(t, 0, empty.Len())
}

func TestRandom(t *testing.T) {
	t.Parallel()
	a, b := secrets.Random(32), secrets.Random(32)
	assert.Equal(t, 32, a.Len())
	assert.NotEqual(t, a.Reveal(), b.Reveal())
	assert.Equal(t, 1, secrets.Random(1).Len())
	assert.PanicsWithValue(t, "secrets: Random: n must be at least 1", func() { secrets.Random(0) })
	assert.Panics(t, func() { secrets.Random(-1) })
}

// A Value in an error chain stays redacted.
func TestValueInError(t *testing.T) {
	t.Parallel()
	v := secrets.NewValue(plain)
	err := fmt.Errorf("dial: password %s rejected: %w", v, errors.New("auth failed"))
	assert.Equal(t, "dial: password [REDACTED] rejected: auth failed", err.Error())
}
