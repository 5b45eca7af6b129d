// Package backup makes encrypted, integrity-checked backups of the
// marketplace's SQLite database, checks them, and restores them: backups
// are encrypted at rest, and the backup and restore procedures are tested.
//
// # Threat
//
//   - A copy of a backup (a lost disk, a leaked bucket, an operator's
//     laptop) reveals the database. Backups are sealed with the
//     application's [secrets.Keyring] (XChaCha20-Poly1305); without the
//     key they reveal only their approximate size and creation pattern.
//   - A backup modified in storage or transit, cut short, reassembled from
//     parts of several backups, or replaced by one sealed under someone
//     else's key is restored and silently corrupts or plants data. Every
//     part of a backup is authenticated and bound to its position, the end
//     is authenticated, and [Manager.Restore] refuses the whole backup
//     before touching the live database. Refusals are security alerts in
//     the audit log.
//   - A backup copied from a database that is being written is
//     inconsistent (half a transaction, a torn page). [Manager.Create]
//     snapshots with VACUUM INTO, inside one read transaction.
//   - A restore that fails halfway leaves no usable database. Restore
//     builds the new file beside the old one, checks it (including SQLite's
//     PRAGMA integrity_check), syncs it and renames it into place.
//
// # Use
//
// Build a [Manager] from the application's keyring and audit logger:
//
//	bk, err := backup.New(keys, backup.Config{Audit: events})
//	man, err := bk.Create(ctx, db, f)        // db: the open *sql.DB; f: a new 0600 file, Sync it
//	man, err  = bk.Verify(ctx, f)            // later: is this backup usable?
//	man, err  = bk.Restore(ctx, f, "app.db") // with the application stopped
//
// Put the operator in ctx (identity.NewContext) so the events name them.
//
// # Audit
//
// Every call records one event in [Config.Audit], with the backup's ID,
// creation time, key ID, database size and checksum in Meta:
//
//	backup.created   admin           success | failure
//	backup.verified  admin           success | failure (I/O error, cancelled)
//	backup.restored  admin           success | failure (I/O error, cancelled, ErrInUse)
//	backup.rejected  security_alert  failure: the backup was refused (ErrNotBackup,
//	                                 ErrUnsupportedVersion, ErrTruncated, ErrTampered,
//	                                 ErrWrongKey, ErrBadDatabase); Meta "operation"
//	                                 says whether by verify or restore
//
// The audit Logger never fails the operation: an event it cannot write goes
// to its error log. A command that must know its event was written checks
// its audit sink (the application's command line does).
//
// # Format
//
// A backup (version 1) is a plaintext preamble followed by records, each a
// 4-byte big-endian length and that many bytes of [secrets.Keyring.Encrypt]
// output. All integers are big-endian.
//
//	preamble, 32 bytes:
//	  0   8   magic "RAMPBKUP"
//	  8   1   format version, 1
//	  9   3   zero
//	  12  4   chunk size C, 16 to 16 MiB
//	  16  16  backup ID, random
//	records, in this order:
//	  key check   plaintext empty
//	              AD "rampart-backup/v1 key-check"
//	  header      plaintext: created (int64, Unix milliseconds), database length N (uint64)
//	              AD "rampart-backup/v1 header\x00" || preamble
//	  chunk i     plaintext: database bytes [i*C, min((i+1)*C, N)), for i = 0 … max(1, ⌈N/C⌉)-1
//	              AD "rampart-backup/v1 chunk\x00" || preamble || i (uint64) || final (1 byte, 1 for the last chunk, else 0)
//	  trailer     plaintext: N (uint64) || SHA-256 of the database || SHA-256 of every backup byte before the trailer record
//	              AD "rampart-backup/v1 trailer\x00" || preamble
//	end of input
//
// Every record is sealed under the same key. The reader needs no trust in
// anything before it is authenticated: the preamble's chunk size bounds
// memory and is authenticated by the header's AD before any chunk is read;
// every record's length is known in advance (from the key ID length and
// the header) and checked before it is read. The preamble in every AD binds
// each record to this backup, the index to its position, and the final
// flag plus the header's length to the end, so records cannot be moved,
// dropped, repeated, swapped with another backup's, or cut off without
// detection; the trailer commits to the exact bytes read, and anything after
// it is refused. The key check is sealed without the preamble so that a
// key mismatch ([ErrWrongKey]) is told apart from a modified backup
// ([ErrTampered]). A later format will use a new version byte; version 1
// will stay readable.
//
// # Key rotation
//
// A backup stays readable while the keyring holds the key it was sealed
// under ([Manifest.KeyID]); [secrets.Keyring] opens it with a non-primary
// key too. Before retiring a key, make sure no backup you keep depends on
// it, or make fresh backups under the new primary.
//
// # Out of scope
//
// Rollback: an attacker who can substitute an older genuine backup gets it
// accepted; check [Manifest.Created] and [Manifest.ID], which the audit log
// records. Where backups are stored, how often they are taken and how long
// they are kept is the deployment's concern, as is keeping the keyring out
// of the backups' storage. Restore does not stop or lock out a running
// application: stop it first. A crash during Create may leave a
// ".backup-*" directory holding a plaintext snapshot in [Config.TempDir]
// (by default beside the database); a crash during Restore may leave a
// ".restore-*.db" file beside the database. Delete them. Production
// deployments on a managed database use the provider's backups instead.
package backup
