package chain_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"time"

	"github.com/deployedworks/rampart/audit"
	"github.com/deployedworks/rampart/audit/chain"
)

var clock = func() time.Time { return time.Date(2026, 6, 25, 10, 0, 0, 0, time.UTC) }

// A tamper-evident log: write, close, verify, tamper, verify again.
func ExampleVerify() {
	dir, _ := os.MkdirTemp("", "audit")
	defer os.RemoveAll(dir)
	key := bytes.Repeat([]byte{1}, 32) // in production: from package secrets

	fs, err := chain.New(dir, key, chain.Config{Now: clock})
	if err != nil {
		panic(err)
	}
	events := audit.MustNew(fs, audit.Config{Now: clock})
	for _, action := range []audit.Action{"user.created", "user.disabled", "user.deleted"} {
		events.Log(context.Background(), audit.Event{Category: audit.CategoryAdmin, Action: action})
	}
	fs.Close(context.Background())

	rep, err := chain.Verify(context.Background(), os.DirFS(dir), key, chain.VerifyConfig{RequireSealed: true})
	fmt.Println(rep.Events, rep.Sealed, err)

	name := dir + "/audit-00000000000000000001.jsonl"
	b, _ := os.ReadFile(name)
	os.WriteFile(name, bytes.Replace(b, []byte("user.disabled"), []byte("user.enabled!"), 1), 0o600)
	_, err = chain.Verify(context.Background(), os.DirFS(dir), key, chain.VerifyConfig{})
	fmt.Println(err)
	// Output:
	// 3 true <nil>
	// audit: log chain: record modified at audit-00000000000000000001.jsonl:3 (seq 3): MAC does not verify (record changed, or wrong key)
}
