package mfa

import (
	"context"
	"time"
)

// TOTPRecord is a user's TOTP state as stored. The secrets are sealed with
// the [secrets.Keyring] given to [NewTOTP], bound to the user ID, so a
// store holds no plaintext and a record copied to another user does not
// decrypt.
type TOTPRecord struct {
	// Secret is the sealed confirmed secret; nil when none is confirmed.
	Secret []byte
	// Pending is the sealed secret of an enrolment awaiting its first
	// code; nil when none. A confirmed Secret stays in force until Pending
	// is confirmed, so re-enrolling cannot lock a user out.
	Pending []byte
	// ConfirmedAt is when Secret was confirmed.
	ConfirmedAt time.Time
	// LastStep is the last time step accepted for this user. It is
	// written only by [TOTPStore.AcceptTOTPStep]; SaveTOTP ignores it.
	LastStep int64
}

// TOTPStore keeps one [TOTPRecord] per user. It has four methods rather
// than three because replay protection needs an atomic compare-and-set
// that no read-modify-write through Load and Save can give.
// Implementations must be safe for concurrent use.
type TOTPStore interface {
	// LoadTOTP returns the user's record, or an error wrapping
	// [ErrNotEnrolled] when there is none.
	LoadTOTP(ctx context.Context, userID string) (TOTPRecord, error)

	// SaveTOTP creates or replaces the user's Secret, Pending and
	// ConfirmedAt (last writer wins). It must not change LastStep: a new
	// record starts at 0, an existing one keeps its value.
	SaveTOTP(ctx context.Context, userID string, rec TOTPRecord) error

	// DeleteTOTP removes the user's record, LastStep included. Deleting a
	// missing record is not an error.
	DeleteTOTP(ctx context.Context, userID string) error

	// AcceptTOTPStep atomically sets LastStep to step if step is greater
	// than LastStep, and reports whether it did. Of any number of
	// concurrent calls with the same step exactly one may return true; in
	// SQL, "UPDATE … SET last_step = $2 WHERE user_id = $1 AND last_step <
	// $2" and check the affected row count. It returns an error wrapping
	// [ErrNotEnrolled] when the user has no record.
	AcceptTOTPStep(ctx context.Context, userID string, step int64) (bool, error)
}

// RecoveryStore keeps each user's recovery codes as keyed hashes (never
// the codes). Implementations must be safe for concurrent use.
type RecoveryStore interface {
	// ReplaceRecoveryCodes atomically replaces the user's whole set with
	// hashes; an empty set deletes it.
	ReplaceRecoveryCodes(ctx context.Context, userID string, hashes [][]byte) error

	// ConsumeRecoveryCode atomically removes hash from the user's set and
	// reports whether it was there. Of concurrent calls with the same hash
	// exactly one may return true ("DELETE … RETURNING" in SQL).
	ConsumeRecoveryCode(ctx context.Context, userID string, hash []byte) (bool, error)

	// CountRecoveryCodes returns how many unused codes the user has.
	CountRecoveryCodes(ctx context.Context, userID string) (int, error)
}

// StoredCredential is one passkey (WebAuthn credential) as stored.
type StoredCredential struct {
	// ID is the credential ID chosen by the authenticator (at most 1023
	// bytes). It is unique across users.
	ID []byte
	// UserID is the owner.
	UserID string
	// Name is the label the user gave it, e.g. "YubiKey" or "Phone".
	Name string
	// Data is the opaque verification state (public key, sign counter,
	// flags) in the format of package mfa/passkey; store it as a blob.
	Data []byte
	// CreatedAt is when it was registered.
	CreatedAt time.Time
	// LastUsedAt is when it last verified a login; zero if never.
	LastUsedAt time.Time
}

// CredentialStore keeps passkeys (WebAuthn credentials) for package
// mfa/passkey. It is a plain table with one
// lookup by credential ID and one by user, hence five methods.
// Implementations must be safe for concurrent use.
type CredentialStore interface {
	// CreateCredential stores a new credential, or returns an error
	// wrapping [ErrExists] if its ID is taken.
	CreateCredential(ctx context.Context, c StoredCredential) error
	// Credential returns the credential with this ID, or an error wrapping
	// [ErrNotFound].
	Credential(ctx context.Context, id []byte) (StoredCredential, error)
	// UserCredentials returns the user's credentials, oldest first.
	UserCredentials(ctx context.Context, userID string) ([]StoredCredential, error)
	// UpdateCredential replaces Name, Data and LastUsedAt of the
	// credential with c.ID owned by c.UserID, or returns an error wrapping
	// [ErrNotFound].
	UpdateCredential(ctx context.Context, c StoredCredential) error
	// DeleteCredential removes the user's credential id, or returns an
	// error wrapping [ErrNotFound].
	DeleteCredential(ctx context.Context, userID string, id []byte) error
}

// FactorStore removes a factor only if the user keeps another, as one
// atomic step: [TOTP.Disable] and passkey's RemoveCredential use it when
// asked to keep a user's last factor. A check followed by a delete is not
// enough: two requests removing the TOTP secret and the last passkey at
// once would both see the other factor and leave the user with none.
//
// It is implemented by a store that keeps both the TOTP records and the
// passkeys of its users, as the stores of packages mfa/sqlstore and
// mfa/memstore do; pass the same store to [NewTOTP] and to passkey.New. In SQL, run the check and the
// delete in one transaction that first locks the user (SELECT … FROM users
// WHERE id = $1 FOR NO KEY UPDATE in PostgreSQL; SQLite's BEGIN IMMEDIATE
// serialises writers), or as one conditional DELETE under such a lock.
// Implementations must be safe for concurrent use.
type FactorStore interface {
	// DeleteTOTPUnlessLast deletes the user's TOTP record, as
	// [TOTPStore.DeleteTOTP] does, unless its confirmed secret is the
	// user's only factor (the user has no passkey). It
	// reports false, changing nothing, when it refused. A user with no
	// record, or with only a pending enrolment, loses no factor: the
	// record is deleted and it reports true.
	DeleteTOTPUnlessLast(ctx context.Context, userID string) (bool, error)

	// DeleteCredentialUnlessLast deletes the user's credential id, as
	// [CredentialStore.DeleteCredential] does, unless it is the user's
	// only factor (no other credential and no confirmed TOTP secret). It
	// reports false, changing nothing, when it refused, and returns an
	// error wrapping [ErrNotFound] when the user has no credential id.
	DeleteCredentialUnlessLast(ctx context.Context, userID string, id []byte) (bool, error)
}

// ChallengeStore keeps per-session ceremony state (a passkey challenge)
// between the begin and finish requests of package mfa/passkey.
// *session.Manager implements it (on the server for a signed-in session,
// sealed in the cookie before sign-in). Both methods act on the session of
// ctx.
type ChallengeStore interface {
	// PutChallenge stores data under key, replacing any earlier value.
	PutChallenge(ctx context.Context, key string, data []byte) error
	// TakeChallenge returns the data stored under key and removes it, so
	// that a challenge is used at most once. Of concurrent calls for one
	// session (one assertion replayed in parallel with the same cookie),
	// on one instance or on several, exactly one may get the data: the
	// removal must be atomic in the store the instances share, not only in
	// the request's copy of the session. When there is none it returns an
	// error (session.ErrNoChallenge) or nil data; the caller treats
	// either, and any other error, as no challenge (fail closed).
	TakeChallenge(ctx context.Context, key string) ([]byte, error)
}
