// Package token issues the single-use tokens that account recovery and
// e-mail ownership rest on: password-reset, e-mail-verification and
// e-mail-change links. Start with [New] and an [Issuer]; keep the records
// in a [MemoryStore] (one instance) or in token/sqlstore (SQLite or
// PostgreSQL, shared by every instance).
//
//	issuer, err := token.New(store, token.Config{})
//	tok, err := issuer.Issue(ctx, userID, token.PasswordReset, digest)
//	// mail a link carrying tok; when the user submits the form:
//	rec, err := issuer.Redeem(ctx, tok, token.PasswordReset)
//
// # Threat
//
// A reset link is a password that arrives by e-mail: recovery is the back
// door attackers use when the front door is strong, so its tokens get the
// care of credentials.
//
//   - Guessing: a token is 256 bits from crypto/rand, written as 43
//     characters of base64url.
//   - A stolen database or backup: the store keeps only the SHA-256 of a
//     token, never the token, so a copy of the table opens no account.
//   - Replay: a token is single use. [Issuer.Redeem] consumes it in the
//     store's one atomic step (one DELETE … RETURNING in token/sqlstore), so
//     of any number of concurrent uses, on any number of instances,
//     exactly one succeeds.
//   - Confusion: a token is bound to its user and its [Purpose]; an
//     e-mail-verification token does not reset a password.
//   - Staleness: tokens expire (reset 30 minutes, e-mail change 1 hour,
//     verification 24 hours, undoing an e-mail change 7 days by default,
//     bounded by [Config.TTL]); issuing a token voids the user's older
//     tokens of the same purpose; and [Issuer.Void] voids them when what
//     they were issued against changes.
//   - Probing: every token that cannot be used — malformed, unknown,
//     expired, used, voided, of another purpose — gets the one error
//     [ErrInvalid]. Malformed tokens are refused without a store lookup.
//
// Lookups are by the SHA-256 of the token, through a map or a database
// index, which compare in variable time. That leaks nothing useful: the
// attacker controls the hash only through its preimage, so timing can at
// best reveal a prefix of a stored hash, and finding a token whose hash
// matches a stored one needs a SHA-256 preimage of a 256-bit random value.
// A slow hash is not needed either: it protects guessable secrets, and a
// 256-bit random one is not guessable.
//
// # Voiding reset tokens on a password change
//
// A reset token must not survive the password it was issued to replace.
// Call [Issuer.Void] with [PasswordReset] whenever a password changes, and
// also bind the token to the password: issue it with Data set to a digest
// of the user's current password hash (for example a keyed hash of the PHC
// string), and on Redeem compare that digest, with
// crypto/subtle.ConstantTimeCompare, to one of the password hash the user
// has then. A password changed by any path, even one that forgot to call
// Void, voids the link. [EmailChange] tokens carry the new address in Data
// the same way.
//
// # Out of scope
//
// Sending the link, the forms behind it, throttling requests per account
// and per address, answering alike for known and unknown accounts, and
// the audit events of each step belong to the recovery flows that use this
// package. Call the DeleteExpired method of the [Store] now and then (a [MemoryStore] also
// drops expired records as it meets them): expired records are refused
// either way, deleting them only frees space.
package token
