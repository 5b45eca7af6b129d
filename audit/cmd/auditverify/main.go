// Command auditverify checks the tamper-evident audit log written by
// audit.FileSink and reports the first modified, deleted, reordered or
// truncated record.
//
// Usage:
//
//	AUDIT_LOG_KEY=$(cat key.hex) go run ./audit/cmd/auditverify -dir /var/log/app/audit [-sealed] [-checkpoint SEQ:MAC]
//
// The key is never taken on the command line, where other users could see
// it: it is read from the environment variable named by -key-env (default
// AUDIT_LOG_KEY), or from the file in that variable with a _FILE suffix,
// or from -key-file; hex by default (see -key-encoding).
//
// Exit status: 0 when the chain verifies, 1 when it was tampered with, 2 on
// a usage or I/O error.
package main

import (
	"context"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"github.com/deployedworks/rampart/audit"
)

func main() {
	os.Exit(run(os.Args[1:], os.Getenv, os.Stdout, os.Stderr))
}

type checkpoints []audit.Checkpoint

// String implements flag.Value.
func (c *checkpoints) String() string { return fmt.Sprint(*c) }

// Set implements flag.Value: it parses SEQ:MAC.
func (c *checkpoints) Set(s string) error {
	seq, mac, ok := strings.Cut(s, ":")
	n, err := strconv.ParseUint(seq, 10, 64)
	if !ok || err != nil || n == 0 || len(mac) != 64 {
		return errors.New("want SEQ:MAC, as printed by a previous run or FileSink.Checkpoint")
	}
	*c = append(*c, audit.Checkpoint{Seq: n, MAC: strings.ToLower(mac)})
	return nil
}

func run(args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("auditverify", flag.ContinueOnError)
	fs.SetOutput(stderr)
	dir := fs.String("dir", "", "directory of the audit log (required)")
	prefix := fs.String("prefix", "audit", "file name prefix, as in audit.FileConfig.Prefix")
	keyEnv := fs.String("key-env", "AUDIT_LOG_KEY", "environment variable holding the key (or NAME_FILE naming a file)")
	keyFile := fs.String("key-file", "", "file holding the key (instead of -key-env)")
	keyEnc := fs.String("key-encoding", "hex", "encoding of the key: hex, base64 or raw")
	sealed := fs.Bool("sealed", false, "require the chain to end with the seal written by Close (the writer has stopped)")
	var cps checkpoints
	fs.Var(&cps, "checkpoint", "SEQ:MAC of a record that must still be in the chain (repeatable)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *dir == "" || fs.NArg() > 0 {
		fmt.Fprintln(stderr, "auditverify: -dir is required and no arguments are taken")
		fs.Usage()
		return 2
	}
	key, err := loadKey(*keyFile, *keyEnv, *keyEnc, getenv)
	if err != nil {
		fmt.Fprintln(stderr, "auditverify:", err)
		return 2
	}
	rep, err := audit.Verify(context.Background(), os.DirFS(*dir), key, audit.VerifyConfig{
		Prefix: *prefix, RequireSealed: *sealed, Checkpoints: cps,
	})
	var te *audit.TamperError
	switch {
	case errors.As(err, &te):
		fmt.Fprintf(stdout, "TAMPERED: %s record at %s", te.Problem, te.File)
		if te.Line > 0 {
			fmt.Fprintf(stdout, " line %d", te.Line)
		}
		fmt.Fprintf(stdout, " (seq %d): %s\n", te.Seq, te.Detail)
		fmt.Fprintf(stdout, "verified before it: %d files, %d records, %d events\n", rep.Files, rep.Records, rep.Events)
		return 1
	case err != nil:
		fmt.Fprintln(stderr, "auditverify:", err)
		return 2
	}
	state := "open (the writer may still be running; use -sealed once it has stopped)"
	if rep.Sealed {
		state = "sealed"
	}
	fmt.Fprintf(stdout, "OK: %d files, %d records (%d events), seq %d-%d, %s\n",
		rep.Files, rep.Records, rep.Events, rep.FirstSeq, rep.Last.Seq, state)
	if rep.FirstSeq > 1 {
		fmt.Fprintf(stdout, "records before %d were deleted by retention\n", rep.FirstSeq)
	}
	fmt.Fprintf(stdout, "checkpoint: %d:%s\n", rep.Last.Seq, rep.Last.MAC)
	return 0
}

// loadKey reads the key from a file, or from the environment variable env
// or the file named by env_FILE, and decodes it.
func loadKey(file, env, enc string, getenv func(string) string) ([]byte, error) {
	var raw string
	switch {
	case file != "":
		b, err := os.ReadFile(file)
		if err != nil {
			return nil, err
		}
		raw = string(b)
	case getenv(env) != "" && getenv(env+"_FILE") != "":
		return nil, fmt.Errorf("both %s and %s_FILE are set: set only one", env, env)
	case getenv(env) != "":
		raw = getenv(env)
	case getenv(env+"_FILE") != "":
		b, err := os.ReadFile(getenv(env + "_FILE"))
		if err != nil {
			return nil, err
		}
		raw = string(b)
	default:
		return nil, fmt.Errorf("no key: set %s (or %s_FILE) or pass -key-file", env, env)
	}
	var key []byte
	var err error
	switch enc {
	case "hex":
		key, err = hex.DecodeString(strings.TrimSpace(raw))
	case "base64":
		s := strings.Join(strings.Fields(raw), "")
		key, err = base64.StdEncoding.DecodeString(s)
		if err != nil {
			key, err = base64.RawURLEncoding.DecodeString(strings.TrimRight(s, "="))
		}
	case "raw":
		key = []byte(strings.TrimRight(raw, "\r\n"))
	default:
		return nil, fmt.Errorf("unknown -key-encoding %q: use hex, base64 or raw", enc)
	}
	if err != nil {
		return nil, fmt.Errorf("key is not valid %s", enc)
	}
	if len(key) < audit.MinKeyLen {
		return nil, fmt.Errorf("key is %d bytes, want at least %d", len(key), audit.MinKeyLen)
	}
	return key, nil
}
