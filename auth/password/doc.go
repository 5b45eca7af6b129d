// Package password stores passwords as Argon2id hashes and decides which
// new passwords are acceptable, following NIST SP 800-63B-4 §3.1.1.2. It is
// the mechanism under package auth's login flow, usable on its own: a
// [Hasher] to hash and verify, a [Policy] to check new passwords, and
// [Calibrate] to pick hashing parameters for your hardware.
//
// # Threats
//
//   - A stolen user table. Passwords are hashed with Argon2id (RFC 9106) at
//     [DefaultParams] (64 MiB, 3 passes, 4 lanes: RFC 9106's second
//     recommended option, about five times OWASP's minimum cost), with a
//     random 16-byte salt, optionally peppered with a key kept outside the
//     database ([Pepper], from the secrets package), and encoded as standard
//     PHC strings that other implementations read. Legacy bcrypt and
//     Argon2i hashes verify and report that they need a rehash
//     ([Hasher.Verify]), so that apps migrate as users log in. A password
//     over bcrypt's 72-byte limit never matches a bcrypt hash
//     ([ErrBcryptTooLong]: it is not truncated, which would accept any
//     password sharing the first 72 bytes).
//   - Weak and reused passwords. [Policy] requires 15 characters (8 with
//     MFA), accepts up to 256 and every printable character, normalises
//     Unicode (NFKC, [Normalize]), has no composition rules, and rejects the
//     100,000 most common passwords (embedded, compressed, loaded on first
//     use) and their disguises (digits or symbols around them, look-alike
//     characters, capitals, repeats, keyboard walks, sequences, dates:
//     "P@ssw0rd12345678"), judged by a zxcvbn-style estimate of the guesses
//     needed, so that random passphrases pass; passwords built on the user
//     name, e-mail address or site name, disguised or not; trivial
//     patterns; and, through a [BreachChecker] such as [RangeClient],
//     passwords from known breaches.
//   - Memory exhaustion by a burst of logins. A [Hasher] runs at most
//     HasherConfig.MaxConcurrent hashes at once (default GOMAXPROCS). Live
//     hashing memory stays at MaxConcurrent × Params.Memory (the heap peaks
//     at about three times that before the collector reclaims finished
//     hashes), whatever the size of the burst.
//   - Unanswered requests and a server hashing for clients that have gone.
//     Hashing is admitted, not queued without end: at most MaxQueue more
//     requests (default 8 × MaxConcurrent) wait for a slot, at most
//     MaxPerClient requests (default MaxConcurrent, at least 2) from one
//     client address (IPv6 by /64, the address the clientip middleware put
//     in the context) are admitted at a time, hashing or waiting, and none
//     waits longer than MaxWait (default 5 s) or its context; a request
//     that would, by the recent hashes' durations, is refused at
//     admission instead of after the wait. The rest get a [*BusyError], which apps answer with HTTP 503 and Retry-After. A
//     request whose context ends never starts hashing. [Hasher.Admit]
//     admits a request once for all its hashes, before any other work.
//   - Account enumeration by timing. [Hasher.VerifyDummy] spends the work of
//     a real verification for an account that does not exist.
//
// # Use
//
// Build one [Hasher] and share it; hash at registration, verify at login:
//
//	h, err := password.NewHasher(password.HasherConfig{
//		Peppers: []password.Pepper{{ID: "2026-06", Key: pepper.Reveal()}}, // optional
//	})
//	hash, err := h.Hash(ctx, password.Normalize(pw))
//	needsRehash, err := h.Verify(ctx, password.Normalize(pw), hash)
//
// Check new passwords with [Policy.Check] before hashing them. Package auth
// wraps both in an enumeration-resistant login flow; prefer it for logins.
//
// # Passwords are normalised
//
// Apply [Normalize] (NFKC) to every password before hashing and verifying,
// as NIST recommends, so "ｐａｓｓ" and "pass" are one password. ASCII is
// unchanged. Hashes imported from a system that did not normalise still
// verify for ASCII passwords; users with non-ASCII passwords whose NFKC
// form differs must reset them.
//
// # Out of scope
//
// Login throttling (package ratelimit), the login flow and account
// enumeration through the user store (package auth), and second factors
// (package mfa).
package password
