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
}

// Store keeps sessions for a [Manager] together with a per-user index. It
// is one interface rather than a session store plus a separate index
// because revocation is only sound when the index and the sessions change
// together: a request already in flight must not be able to write back a
// session that was revoked while it ran (see Save).
//
// Implementations must be safe for concurrent use, take ctx for every
// operation, and return errors only for failures of the store itself
// (never for a missing key). This package provides [MemoryStore];
// session/sqlstore (SQLite, PostgreSQL) and session/redisstore are leaf
// packages so that importing session compiles no database driver.
type Store interface {
	// Find returns the data of the unexpired session with key.
	Find(ctx context.Context, key string) (data []byte, found bool, err error)

	// Save writes r. When replace is "", it writes unconditionally (a new
	// session). Otherwise it writes only if the session replace exists, is
	// unexpired and belongs to r.UserID, and in the same atomic step removes
	// replace when it differs from r.Key (a token renewal); it returns
	// false, writing nothing, when replace is gone. Either way the per-user
	// index must list r.Key under r.UserID (when not "") before, or at the
	// same time as, the session becomes findable.
	Save(ctx context.Context, replace string, r Record) (saved bool, err error)

	// Delete removes the session key, which belongs to userID ("" when
	// anonymous), and its index entry. A missing key is not an error.
	Delete(ctx context.Context, userID, key string) error

	// List returns the unexpired sessions of userID (never anonymous ones).
	List(ctx context.Context, userID string) ([]Record, error)

	// DeleteUser removes every session of userID except the one whose key
	// is except ("" to keep none), atomically with respect to Save: a
	// renewal or update racing with it either completes first and is
	// removed, or finds its session gone.
	DeleteUser(ctx context.Context, userID, except string) error

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
