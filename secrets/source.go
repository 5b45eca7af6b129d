package secrets

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"strings"
)

// maxSize bounds a secret's stored form (before decoding), from a file or any
// other [Source]: 64 KiB. Real secrets are far smaller; the bound keeps a
// mistaken path (a log file, /dev/zero) from filling memory.
const maxSize = 64 << 10

// Source looks up secrets by name. [Env] is the default; implement Source to
// plug in a managed secret store.
//
// Lookup returns ok == false, with a nil error, when the secret is not set at
// all. It returns an error when the secret cannot be read or its
// configuration is ambiguous; the error must never contain the secret. The
// value is the secret's stored text, before any hex or base64 decoding;
// [Load] checks its size, decodes it and copies it, so Lookup may return a
// slice it keeps. Lookup may be called concurrently.
type Source interface {
	Lookup(ctx context.Context, name string) (value []byte, ok bool, err error)
}

// Env is the default [Source]: the secret NAME comes from the environment
// variable NAME, or from the file whose path is in NAME_FILE. The _FILE
// suffix is the convention of the official Docker images for secrets mounted
// as files (Docker secrets under /run/secrets, Kubernetes Secret volumes).
// The zero Env reads the process environment and is safe for concurrent use.
//
// Env fails closed on ambiguity: if both NAME and NAME_FILE are set (even to
// the empty string) Lookup returns an error wrapping [ErrInvalid] rather than
// pick one. The file is read up to 64 KiB (a larger file is an error) and
// must be a regular file, possibly through symbolic links, so that a FIFO or
// device cannot block or flood start-up. Trailing newlines ("\n" or "\r\n")
// are removed from the file's contents and from the variable's value, as
// editors, echo and kubectl add them; a binary secret must therefore be
// stored hex or base64 encoded.
type Env struct {
	// LookupEnv reads one environment variable. Default (nil): os.LookupEnv.
	// Set it to read from a map in tests and examples, which keeps them
	// parallel-safe, or to add a prefix to every name.
	LookupEnv func(key string) (string, bool)
}

var _ Source = Env{}

// Lookup implements [Source].
func (e Env) Lookup(ctx context.Context, name string) ([]byte, bool, error) {
	if err := ctx.Err(); err != nil {
		return nil, false, err
	}
	if name == "" || strings.ContainsAny(name, "=\x00") {
		return nil, false, fmt.Errorf("environment variable name %q is not valid", name)
	}
	lookup := e.LookupEnv
	if lookup == nil {
		lookup = os.LookupEnv
	}
	fileVar := name + "_FILE"
	val, inEnv := lookup(name)
	path, inFile := lookup(fileVar)
	switch {
	case inEnv && inFile:
		return nil, false, fmt.Errorf("%w: both %s and %s are set; unset one of them", ErrInvalid, name, fileVar)
	case inEnv:
		return trimNewlines([]byte(val)), true, nil
	case !inFile:
		return nil, false, nil
	case path == "":
		return nil, false, fmt.Errorf("%w: %s is set but empty; set it to the path of the file holding the secret", ErrInvalid, fileVar)
	}
	b, err := readBounded(path)
	if err != nil {
		return nil, false, fmt.Errorf("read %s: %w", fileVar, err)
	}
	return trimNewlines(b), true, nil
}

// readBounded reads a regular file of at most maxSize bytes. The error names
// the path, never the contents.
func readBounded(path string) ([]byte, error) {
	// Stat before Open: opening a FIFO for reading blocks until a writer
	// appears, which would hang start-up.
	fi, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("%w: %s is not a regular file", ErrInvalid, path)
	}
	f, err := os.Open(path) // #nosec G304 -- the path is the caller's configuration (a secrets file), not request input
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if fi, err = f.Stat(); err != nil {
		return nil, err
	}
	if !fi.Mode().IsRegular() { // replaced between Stat and Open
		return nil, fmt.Errorf("%w: %s is not a regular file", ErrInvalid, path)
	}
	b, err := io.ReadAll(io.LimitReader(f, maxSize+1))
	if err != nil {
		return nil, err // an *os.PathError: names the path, not the contents
	}
	if len(b) > maxSize {
		clear(b)
		return nil, fmt.Errorf("%w: %s is larger than 64 KiB", ErrInvalid, path)
	}
	return b, nil
}

// trimNewlines removes trailing "\n" and "\r" bytes.
func trimNewlines(b []byte) []byte {
	return bytes.TrimRight(b, "\r\n")
}
