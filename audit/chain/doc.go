// Package chain is a tamper-evident audit log: a [Sink] for package audit
// that writes events to rotated JSON Lines files chained with HMAC-SHA256,
// and [Verify], which reports the first record modified, deleted,
// reordered or truncated by someone without the key. The command
// audit/chain/cmd/auditverify runs Verify from a shell.
//
// # Threat
//
// An intruder who can edit the log files edits them to cover their
// tracks: deletes the records of their login, changes an address, cuts the
// end of a file. Each record carries a sequence number and a MAC over the
// previous record's MAC and its own bytes, so any such change shows in
// [Verify], as long as the key stays out of the intruder's reach (load it
// from a secrets manager with package secrets). Retention deletes old
// files; each new file records how far the writer pruned, so Verify tells
// retention from tampering.
//
// # Use
//
//	sink, err := chain.New("/var/log/app/audit", key, chain.Config{}) // key: 32+ random bytes
//	async, err := audit.NewAsyncSink(sink, audit.AsyncConfig{})
//	events, err := audit.New(async, audit.Config{})
//	...
//	err = errors.Join(async.Close(ctx), sink.Close(ctx)) // flush, then seal
//
//	rep, err := chain.Verify(ctx, os.DirFS("/var/log/app/audit"), key, chain.VerifyConfig{RequireSealed: true})
//
// # Chain format
//
// A Sink writes files PREFIX-SEQ.jsonl (SEQ: 20 digits, the first
// record's sequence number). Each line is
//
//	{"seq":N,"KIND":BODY,"mac":"HEX"}
//
// with KIND "file" (a header: the MAC it chains to, creation time, and the
// oldest sequence number the writer still keeps), "event" (an event in
// package audit's stable encoding) or "seal" (reason, time and the
// categories in the file; written on rotation and Close). mac is
// HMAC-SHA256 over the previous record's MAC followed by the line's bytes
// up to `,"mac":"`. The first record of a chain chains to 32 zero bytes.
//
// # Out of scope
//
// The chain proves integrity against someone who cannot read the key; it
// does not encrypt (files are created with mode 0600), and it cannot by
// itself detect removal of the newest records while the writer runs: ship
// [Sink.Checkpoint] values elsewhere and pass them to [Verify]. A chain
// file keeps every event as long as its longest-kept category: whoever
// writes browser reports into it must bound how many.
package chain
