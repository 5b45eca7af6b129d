package session

import (
	"context"
	"time"
)

// Record is one session as a [Store] keeps it.
type Record struct {
	// Key identifies the session in the store: the SHA-256 hash of the
	// session token (base64url, 43 characters), never the token itself, so
	// that reading the store does not yield a live token.
	Key string

	// UserID is the signed-in user, or "" for an anonymous session. Stores
	// index sessions by it so that every session of one user can be found
	// and revoked without scanning the store.
	UserID string

	// Data is the encoded (and, with a Keyring, encrypted) session. A store
	// may keep the slice it is given; the Manager never modifies it after
	// Save, and never modifies a slice returned by Find or List.
	Data []byte

	// Expiry is when the store may forget the session. The Manager enforces
	// the idle timeout and absolute lifetime itself; Expiry lets the store
	// drop dead sessions and refuse to return them.
	Expiry time.Time

	// AuthAt is when the session's authority (its user and roles) was
	// established: when the login read the user record, before checking
	// the password (see [Manager.Login]). The store refuses a record of a
	// user whose AuthAt is before the user's revocation watermark (see
	// [Store]). Zero for an anonymous session. Stores may keep it to the
	// microsecond, truncating.
	AuthAt time.Time
}

// Revocation is what [Store.DeleteUser] records besides deleting: the
// user's revocation watermark.
type Revocation struct {
	// At is the watermark: the store refuses, from now on, every record of
	// the user whose AuthAt is before At. It never moves back: a
	// revocation with an earlier At leaves the watermark where it is. The
	// Manager passes a whole microsecond, from its own clock; stores
	// compare At with AuthAt only, never with their own clock.
	At time.Time

	// Until is when the store may forget the watermark, like a record's
	// Expiry: no record whose AuthAt is before At can outlive it (the
	// Manager passes At + Lifetime + IdleTimeout; see [Manager.Login]).
	// A later revocation extends it.
	Until time.Time
}

// Store keeps sessions for a [Manager] together with a per-user index and
// a per-user revocation watermark. It is one interface rather than a
// session store plus a separate index because revocation is only sound
// when the index, the watermark and the sessions change together: a
// request already in flight must not be able to write back a session that
// was revoked while it ran (see Save), and a login that read the user
// before the revocation must not be able to create one (see DeleteUser).
//
// The watermark: [Store.DeleteUser] sets the user's watermark to
// Revocation.At (never lowering it); from then on, a record of the user
// whose AuthAt is before the watermark is refused both when it is saved
// (Save returns false, writing nothing) and when it is loaded (Find and
// List leave it out, as if it were gone). Checking at load as well makes
// a Save that raced the revocation harmless on stores where the two can
// interleave (a SQL database at READ COMMITTED). Anonymous records (UserID
// "") have no watermark.
//
// Implementations must be safe for concurrent use, take ctx for every
// operation, and return errors only for failures of the store itself
// (never for a missing key). This package provides [MemoryStore];
// session/sqlstore (SQLite, PostgreSQL) and session/redisstore are leaf
// packages so that importing session compiles no database driver.
type Store interface {
	// Find returns the data of the unexpired session with key, unless its
	// AuthAt is before its user's watermark.
	Find(ctx context.Context, key string) (data []byte, found bool, err error)

	// Save writes r, unless r.AuthAt is before r.UserID's watermark: it
	// then returns false, writing nothing. When replace is "", it writes
	// otherwise unconditionally (a new session). Otherwise it writes only
	// if the session replace exists, is unexpired and belongs to r.UserID
	// (whatever the AuthAt of replace: a kept session is re-stamped this
	// way, see DeleteUser), and in the same atomic step removes replace
	// when it differs from r.Key (a token renewal); it returns false,
	// writing nothing, when replace is gone. Either way the per-user index
	// must list r.Key under r.UserID (when not "") before, or at the same
	// time as, the session becomes findable.
	Save(ctx context.Context, replace string, r Record) (saved bool, err error)

	// Delete removes the session key, which belongs to userID ("" when
	// anonymous), and its index entry. A missing key is not an error.
	Delete(ctx context.Context, userID, key string) error

	// List returns the unexpired sessions of userID (never anonymous ones)
	// whose AuthAt is not before the user's watermark.
	List(ctx context.Context, userID string) ([]Record, error)

	// DeleteUser raises the watermark of userID to rev.At (keeping it at
	// least until rev.Until) and removes every session of userID except
	// the one whose key is except ("" to keep none), in one atomic step
	// with respect to Save: a renewal or update racing with it either
	// completes first and is removed, or finds its session gone; a new
	// session racing with it is refused, at save or at load. The kept
	// session is not removed, but its AuthAt may be before the new
	// watermark: it is then not found until the Manager saves it again,
	// through Save with replace, re-stamped.
	DeleteUser(ctx context.Context, userID, except string, rev Revocation) error

	// Claim records the one-time value key (a SHA-256 hash, base64url) as
	// used until expiry, atomically: of the calls with the same key before
	// expiry, concurrent or not, on any instance, exactly one returns true;
	// the others return false and write nothing. After expiry the store
	// may forget the key.
	// It is how [Manager.TakeChallenge] keeps a challenge single-use when
	// the challenge travels in the client's cookie. Claimed keys live apart
	// from sessions: Find, List and DeleteUser never see them.
	Claim(ctx context.Context, key string, expiry time.Time) (claimed bool, err error)
}
