// Command auditverify checks the tamper-evident audit log written by
// package audit/chain and reports the first modified, deleted, reordered or
// truncated record.
//
// Usage:
//
//	AUDIT_LOG_KEY=$(cat key.hex) go run ./audit/chain/cmd/auditverify -dir /var/log/app/audit [-sealed] [-checkpoint SEQ:MAC]
//
// The key is never taken on the command line, where other users could see
// it: it is read from the environment variable named by -key-env (default
// AUDIT_LOG_KEY), or from the file in that variable with a _FILE suffix,
// or from -key-file; hex by default (see -key-encoding). It is loaded with
// package secrets, as the application loads it: a file must be a regular
// file of at most 64 KiB.
//
// Exit status: 0 when the chain verifies, 1 when it was tampered with, 2 on
// a usage or I/O error.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"github.com/deployedworks/rampart/audit/chain"
	"github.com/deployedworks/rampart/secrets"
)

func main() {
	os.Exit(run(os.Args[1:], os.Getenv, os.Stdout, os.Stderr))
}

type checkpoints []chain.Checkpoint

// String implements flag.Value.
func (c *checkpoints) String() string { return fmt.Sprint(*c) }

// Set implements flag.Value: it parses SEQ:MAC.
func (c *checkpoints) Set(s string) error {
	seq, mac, ok := strings.Cut(s, ":")
	n, err := strconv.ParseUint(seq, 10, 64)
	if !ok || err != nil || n == 0 || len(mac) != 64 {
		return errors.New("want SEQ:MAC, as printed by a previous run or chain.Sink.Checkpoint")
	}
	*c = append(*c, chain.Checkpoint{Seq: n, MAC: strings.ToLower(mac)})
	return nil
}

func run(args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("auditverify", flag.ContinueOnError)
	fs.SetOutput(stderr)
	dir := fs.String("dir", "", "directory of the audit log (required)")
	prefix := fs.String("prefix", "audit", "file name prefix, as in chain.Config.Prefix")
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
	rep, err := chain.Verify(context.Background(), os.DirFS(*dir), key, chain.VerifyConfig{
		Prefix: *prefix, RequireSealed: *sealed, Checkpoints: cps,
	})
	var te *chain.TamperError
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

// loadKey loads the key with package secrets from the environment variable
// env or the file named by env_FILE, or from file instead when it is set,
// and decodes it.
func loadKey(file, env, enc string, getenv func(string) string) ([]byte, error) {
	encoding, ok := map[string]secrets.Encoding{"hex": secrets.Hex, "base64": secrets.Base64, "raw": secrets.Raw}[enc]
	if !ok {
		return nil, fmt.Errorf("unknown -key-encoding %q: use hex, base64 or raw", enc)
	}
	lookup := func(k string) (string, bool) { v := getenv(k); return v, v != "" }
	if file != "" {
		// -key-file stands in for env_FILE; the environment is not read.
		lookup = func(k string) (string, bool) { return file, k == env+"_FILE" }
	}
	v, err := secrets.Load(context.Background(), secrets.Env{LookupEnv: lookup},
		secrets.Spec{Name: env, Encoding: encoding, MinLen: chain.MinKeyLen})
	if errors.Is(err, secrets.ErrMissing) && file == "" {
		return nil, fmt.Errorf("%w, or pass -key-file", err)
	}
	if err != nil {
		return nil, err
	}
	return v.Reveal(), nil
}
