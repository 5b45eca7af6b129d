package secrets

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
)

// Encoding says how a secret's stored text is turned into its bytes. The
// zero Encoding is not valid: every [Spec] must choose one, because reading
// a hex key as text halves its strength per byte and a wrong guess would go
// unnoticed.
type Encoding uint8

// Encodings understood by [Load].
const (
	_ Encoding = iota // not set: Load reports the Spec as bad

	// Raw uses the stored text as the secret's bytes, as for a database
	// password. Trailing newlines have already been removed by [Env].
	Raw
	// Hex decodes hexadecimal, upper or lower case (as from
	// "openssl rand -hex 32"). Surrounding white space is ignored.
	Hex
	// Base64 decodes base64 in the standard or the URL-safe alphabet, with or
	// without "=" padding (as from "openssl rand -base64 32"). Surrounding
	// white space and line breaks are ignored; mixing the two alphabets,
	// wrong padding and non-zero trailing bits are errors.
	Base64
)

// Spec describes one secret to load.
type Spec struct {
	// Name is the secret's name: the environment variable for [Env] (which
	// also reads Name+"_FILE"), or the key in a managed store. It must be
	// printable ASCII without spaces. Required.
	Name string

	// Encoding says how to decode the stored text. Required: the zero
	// Encoding is rejected.
	Encoding Encoding

	// MinLen is the minimum length in bytes after decoding: 32 for a key.
	// Default (0): any non-empty value. An empty value is always reported
	// as missing.
	MinLen int
}

// Sentinel errors of loading, found with errors.Is in the error returned by
// [Load] and [LoadAll]; [ParseKeyring] and [NewKeyring] also wrap ErrInvalid.
var (
	// ErrMissing means a secret is not set, or is set to the empty string.
	ErrMissing = errors.New("secrets: not set")
	// ErrInvalid means a secret is set but unusable: it does not decode, is
	// too short or too long, or its configuration is ambiguous.
	ErrInvalid = errors.New("secrets: invalid")
)

// Error reports why one secret could not be loaded. Its message names the
// secret and what to do, and never contains the secret's value.
type Error struct {
	// Name is the [Spec.Name] of the secret.
	Name string
	// Err is the cause: it wraps [ErrMissing], [ErrInvalid], a [Source]'s
	// error or context.Canceled.
	Err error
}

// Error returns "secrets: NAME: cause".
func (e *Error) Error() string {
	cause := "failed"
	if e.Err != nil {
		cause = strings.TrimPrefix(e.Err.Error(), "secrets: ")
	}
	return "secrets: " + e.Name + ": " + cause
}

// Unwrap returns e.Err.
func (e *Error) Unwrap() error { return e.Err }

// LoadError reports every secret that [LoadAll] could not load, so that an
// application refusing to start can name all of them at once.
type LoadError struct {
	// Errors holds one entry per failed secret, in the order of the specs.
	Errors []*Error
}

// Error lists every failed secret on one line, separated by "; ".
func (e *LoadError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "secrets: %d of the required secrets could not be loaded: ", len(e.Errors))
	for i, se := range e.Errors {
		if i > 0 {
			b.WriteString("; ")
		}
		b.WriteString(strings.TrimPrefix(se.Error(), "secrets: "))
	}
	return b.String()
}

// Unwrap returns the entries of e.Errors, so errors.Is(err, ErrMissing)
// reports whether any secret is missing.
func (e *LoadError) Unwrap() []error {
	errs := make([]error, len(e.Errors))
	for i, se := range e.Errors {
		errs[i] = se
	}
	return errs
}

// Names returns the names of the failed secrets, in the order of the specs.
func (e *LoadError) Names() []string {
	names := make([]string, len(e.Errors))
	for i, se := range e.Errors {
		names[i] = se.Name
	}
	return names
}

// Load reads the secret described by spec from src, decodes it and checks
// its length. It fails closed: on any problem it returns the zero Value and
// an [*Error] naming the secret, never containing its value.
func Load(ctx context.Context, src Source, spec Spec) (Value, error) {
	v, err := load(ctx, src, spec)
	if err != nil {
		return Value{}, err
	}
	return v, nil
}

// LoadAll loads every spec from src, as [Load] does, and returns the values
// keyed by [Spec.Name]. If any secret cannot be loaded it returns a nil map
// and a [*LoadError] listing all of them, not only the first. A name listed
// twice is reported as a bad spec. If ctx is done LoadAll stops and returns
// ctx's error.
func LoadAll(ctx context.Context, src Source, specs ...Spec) (map[string]Value, error) {
	vals := make(map[string]Value, len(specs))
	var errs []*Error
	seen := make(map[string]bool, len(specs))
	for _, spec := range specs {
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("secrets: load: %w", err)
		}
		if seen[spec.Name] {
			errs = append(errs, &Error{Name: spec.Name, Err: errors.New("bad Spec: name listed twice")})
			continue
		}
		seen[spec.Name] = true
		v, err := load(ctx, src, spec)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		vals[spec.Name] = v
	}
	if errs != nil {
		return nil, &LoadError{Errors: errs}
	}
	return vals, nil
}

// load does the work of Load; it returns a typed *Error so LoadAll can
// collect it.
func load(ctx context.Context, src Source, spec Spec) (Value, *Error) {
	fail := func(err error) (Value, *Error) { return Value{}, &Error{Name: spec.Name, Err: err} }
	if err := checkSpec(spec); err != nil {
		return fail(err)
	}
	if src == nil {
		return fail(errors.New("bad Source: nil (use secrets.Env{} for environment variables and files)"))
	}
	raw, ok, err := src.Lookup(ctx, spec.Name)
	if err != nil {
		return fail(err)
	}
	if !ok {
		return fail(fmt.Errorf("%w%s", ErrMissing, missingHint(src, spec.Name)))
	}
	if len(raw) > maxSize {
		return fail(fmt.Errorf("%w: longer than 64 KiB", ErrInvalid))
	}
	b, err := decode(raw, spec.Encoding)
	if err != nil {
		return fail(err)
	}
	if len(b) == 0 {
		return fail(fmt.Errorf("%w: the value is empty%s", ErrMissing, missingHint(src, spec.Name)))
	}
	if len(b) < spec.MinLen {
		clear(b)
		return fail(fmt.Errorf("%w: shorter than %d bytes%s", ErrInvalid, spec.MinLen, generateHint(spec)))
	}
	return Value{p: &b}, nil
}

// checkSpec reports a programmer error in spec.
func checkSpec(spec Spec) error {
	if spec.Name == "" || len(spec.Name) > 256 {
		return errors.New("bad Spec: Name must be 1 to 256 bytes long")
	}
	for i := 0; i < len(spec.Name); i++ {
		if c := spec.Name[i]; c <= ' ' || c > '~' {
			return errors.New("bad Spec: Name must be printable ASCII without spaces")
		}
	}
	switch spec.Encoding {
	case Raw, Hex, Base64:
	default:
		return errors.New("bad Spec: Encoding not set (use secrets.Raw, secrets.Hex or secrets.Base64)")
	}
	if spec.MinLen < 0 {
		return errors.New("bad Spec: MinLen is negative")
	}
	return nil
}

// decode turns stored text into secret bytes. Its errors describe the
// problem without quoting the input: encoding/hex's errors quote the
// offending character, which is part of the secret. It never modifies raw,
// which may belong to the Source.
func decode(raw []byte, enc Encoding) ([]byte, error) {
	switch enc {
	case Hex:
		t := bytes.TrimSpace(raw)
		b := make([]byte, hex.DecodedLen(len(t)))
		if _, err := hex.Decode(b, t); err != nil {
			clear(b)
			return nil, fmt.Errorf("%w: not valid hex (want an even number of 0-9a-fA-F digits)", ErrInvalid)
		}
		return b, nil
	case Base64:
		b, ok := decodeBase64(bytes.TrimSpace(raw))
		if !ok {
			return nil, fmt.Errorf("%w: not valid base64 (standard or URL-safe alphabet, padded or not)", ErrInvalid)
		}
		return b, nil
	default: // Raw; checkSpec has rejected the rest
		return bytes.Clone(raw), nil // own the bytes: a Source may keep its slice
	}
}

// decodeBase64 decodes standard or URL-safe base64, padded or not. It never
// returns the underlying error, whose text could locate a character of the
// secret.
func decodeBase64(t []byte) ([]byte, bool) {
	url := bytes.ContainsAny(t, "-_")
	std := bytes.ContainsAny(t, "+/")
	padded := bytes.IndexByte(t, '=') >= 0
	var enc *base64.Encoding
	switch {
	case url && std:
		return nil, false
	case url && padded:
		enc = base64.URLEncoding
	case url:
		enc = base64.RawURLEncoding
	case padded:
		enc = base64.StdEncoding
	default:
		enc = base64.RawStdEncoding
	}
	enc = enc.Strict() // reject non-zero trailing bits: one text per secret
	b := make([]byte, enc.DecodedLen(len(t)))
	n, err := enc.Decode(b, t)
	if err != nil {
		clear(b)
		return nil, false
	}
	return b[:n], true
}

// missingHint tells the operator how to set a missing secret.
func missingHint(src Source, name string) string {
	switch src.(type) {
	case Env, *Env:
		return "; set " + name + ", or " + name + "_FILE to the path of a file holding it"
	}
	return ""
}

// generateHint suggests how to make a long enough secret.
func generateHint(spec Spec) string {
	switch spec.Encoding {
	case Hex:
		return fmt.Sprintf(" after decoding; generate one with: openssl rand -hex %d", spec.MinLen)
	case Base64:
		return fmt.Sprintf(" after decoding; generate one with: openssl rand -base64 %d", spec.MinLen)
	}
	return ""
}
