// Package secrets loads an application's secrets from its environment, keeps
// them out of logs, and encrypts sensitive fields at rest.
//
// # Threat
//
// Secrets belong in environment variables or managed secret stores, never
// in source control, and stored data should be encrypted at rest. The
// package addresses three ways that goes wrong:
//
//   - A secret is missing, empty, mistyped or too short, and the application
//     starts anyway with a weak or default value. [Load] and [LoadAll] fail
//     closed at start-up, name every problem variable at once, and never put
//     the value in an error message.
//   - A secret leaks through a log line, an error, a JSON response or a
//     debug dump of a config struct. A [Value] prints, marshals and logs as
//     "[REDACTED]"; only [Value.Reveal] gives the bytes.
//   - A database row, session blob or backup is read by someone who gets a
//     copy of the storage, or is moved between rows to hijack another
//     account. A [Keyring] encrypts with XChaCha20-Poly1305, binds each
//     ciphertext to its owner through associated data, and supports key
//     rotation without downtime.
//
// # Use
//
// At start-up, describe each secret with a [Spec] and load them all from
// [Env] (NAME, or a file named by NAME_FILE as with Docker and Kubernetes
// secrets), or from your own [Source] for a managed store:
//
//	vals, err := secrets.LoadAll(ctx, secrets.Env{},
//		secrets.Spec{Name: "APP_PEPPER", Encoding: secrets.Base64, MinLen: 32},
//		secrets.Spec{Name: "APP_KEYS", Encoding: secrets.Raw},
//	)
//	if err != nil {
//		return err // *LoadError naming every missing or invalid secret
//	}
//	keys, err := secrets.ParseKeyring(vals["APP_KEYS"])
//
// Pass each [Value], not its bytes, to the components that need it, and
// call Reveal only where the bytes are consumed. For development without
// configured secrets, [Random] makes a throw-away one.
//
// # Ciphertext format
//
// [Keyring.Encrypt] returns, in order:
//
//	offset  length  field
//	0       1       format version, 0x01
//	1       1       n, the length of the key ID (1 to 32)
//	2       n       key ID, ASCII A-Z a-z 0-9 . _ -
//	2+n     24      nonce, random per message
//	26+n    L+16    XChaCha20-Poly1305 ciphertext of the L-byte plaintext,
//	                with its 16-byte Poly1305 tag
//
// The AEAD's additional data is the header (bytes 0 to 2+n) followed by the
// caller's associated data, so the version and key ID are authenticated too.
// The associated data itself is not stored. A new format would use a new
// version byte; version 0x01 will stay readable.
//
// # Key rotation
//
// A Keyring has one primary key, used for all new ciphertexts, and any number
// of older keys used only to decrypt. With [ParseKeyring] the primary is the
// first entry. To rotate with several instances running:
//
//  1. Add the new key after the current primary ("old:…,new:…") and deploy
//     everywhere, so that every instance can decrypt under it.
//  2. Move it first ("new:…,old:…") and deploy: new data is sealed under it.
//  3. Re-encrypt stored data with [Keyring.Rotate], skipping current rows with
//     [Keyring.NeedsRotation].
//  4. When nothing under the old key remains, remove it and deploy.
//
// Skipping step 1 makes instances still on the old configuration fail with
// [ErrUnknownKey] on data written by updated ones; removing a key too early
// (step 4) makes its data unreadable, also with ErrUnknownKey.
//
// # Out of scope
//
// Where keys are kept and who may read them (a KMS, an HSM, the
// orchestrator's secret store, file permissions) is the deployment's
// concern, as is transport encryption (HTTPS). The package does not fetch
// from any particular managed store: implement [Source]. A Keyring seals
// whole values in memory; it does not stream files larger than memory, hide
// plaintext length, or protect secrets from code running in the same
// process: Go cannot reliably wipe memory, so a heap dump or a debugger
// reveals them.
package secrets
