package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"regexp"
	"strings"

	"github.com/deployedworks/rampart/internal/sqlmigrate"
	"github.com/deployedworks/rampart/internal/sqlstmt"
	"github.com/deployedworks/rampart/internal/sqltx"
	"github.com/deployedworks/rampart/mfa"
	"github.com/deployedworks/rampart/sqldb"
)

// DefaultPrefix begins the table names unless [Config.Prefix] is set.
const DefaultPrefix = "rampart_mfa"

// Config tunes a [Store]. The zero value is ready to use.
type Config struct {
	// Prefix begins the names of the store's three tables: Prefix+"_totp",
	// Prefix+"_recovery_codes" and Prefix+"_credentials". It may be
	// schema-qualified ("auth.mfa": a PostgreSQL schema, or an attached
	// SQLite database). Default: [DefaultPrefix]. Letters, digits and
	// underscores only, at most 40 of them after the schema: it is written
	// into SQL, and PostgreSQL cuts longer names short.
	Prefix string
}

// Store keeps TOTP records, recovery-code hashes and WebAuthn credentials
// in SQLite or PostgreSQL. It implements [mfa.TOTPStore],
// [mfa.RecoveryStore], [mfa.CredentialStore] and [mfa.FactorStore], is safe
// for concurrent use, and starts no goroutine.
type Store struct {
	db      *sql.DB
	stmts   *sqlstmt.Cache // the request-path queries, prepared on SQLite
	dialect sqldb.Dialect
	prefix  string
	q       queries
}

var (
	_ mfa.TOTPStore       = (*Store)(nil)
	_ mfa.RecoveryStore   = (*Store)(nil)
	_ mfa.CredentialStore = (*Store)(nil)
	_ mfa.FactorStore     = (*Store)(nil)
)

type queries struct {
	loadTOTP, saveTOTP, deleteTOTP, acceptStep, hasTOTP          string
	deleteCodes, insertCode, consumeCode, countCodes             string
	createCred, cred, userCreds, updateCred, deleteCred, hasCred string
	deleteTOTPUnlessLast, deleteCredUnlessLast                   string
	schema                                                       []string
}

var prefixPattern = regexp.MustCompile(`^([A-Za-z_][A-Za-z0-9_]{0,62}\.)?[A-Za-z_][A-Za-z0-9_]{0,39}$`)

// New returns a Store on db, which must have been opened with a driver
// for dialect. It does not touch the database: run [Store.Migrate] before
// first use.
func New(db *sql.DB, dialect sqldb.Dialect, cfg Config) (*Store, error) {
	if db == nil {
		return nil, errors.New("mfa/sqlstore: New: nil *sql.DB: open one with sql.Open and the driver for your database")
	}
	prefix := cfg.Prefix
	if prefix == "" {
		prefix = DefaultPrefix
	}
	if !prefixPattern.MatchString(prefix) {
		return nil, fmt.Errorf("mfa/sqlstore: New: Prefix %q: use letters, digits and underscores (at most 40), optionally after schema and a dot", prefix)
	}
	var p func(int) string
	blob := "BLOB"
	switch dialect {
	case sqldb.SQLite:
		p = func(i int) string { return fmt.Sprintf("?%d", i) }
	case sqldb.PostgreSQL:
		p = func(i int) string { return fmt.Sprintf("$%d", i) }
		blob = "BYTEA"
	default:
		return nil, fmt.Errorf("mfa/sqlstore: New: unknown dialect %v: use sqldb.SQLite or sqldb.PostgreSQL", dialect)
	}
	totp, codes, creds := prefix+"_totp", prefix+"_recovery_codes", prefix+"_credentials"
	// PostgreSQL puts an index in its table's schema and forbids
	// qualifying its name; SQLite wants the schema on the index name and
	// none on the table.
	schema, name, qualified := strings.Cut(prefix, ".")
	if !qualified {
		schema, name = "", prefix
	}
	idx, idxOn := name+"_credentials_user_idx", creds
	if dialect == sqldb.SQLite && qualified {
		idx, idxOn = schema+"."+idx, name+"_credentials"
	}
	const credCols = `id, user_id, name, data, created_at, last_used_at` // #nosec G101 -- a list of column names, not a credential
	s := &Store{db: db, dialect: dialect, prefix: prefix, stmts: sqlstmt.New(db, dialect)}
	s.q = queries{
		loadTOTP: fmt.Sprintf(`SELECT secret, pending, confirmed_at, last_step FROM %s WHERE user_id = %s`, totp, p(1)),
		// last_step is not in the SET list: SaveTOTP never moves it.
		saveTOTP: fmt.Sprintf(`INSERT INTO %s (user_id, secret, pending, confirmed_at, last_step) VALUES (%s, %s, %s, %s, 0)
ON CONFLICT (user_id) DO UPDATE SET secret = excluded.secret, pending = excluded.pending, confirmed_at = excluded.confirmed_at`,
			totp, p(1), p(2), p(3), p(4)),
		deleteTOTP: fmt.Sprintf(`DELETE FROM %s WHERE user_id = %s`, totp, p(1)),
		// The compare-and-set: of concurrent updates to one row, the
		// database runs one at a time and re-checks the condition on the
		// row as the previous one left it (PostgreSQL's READ COMMITTED
		// re-evaluates the WHERE clause on the updated row; SQLite has
		// one writer), so one step is accepted once.
		acceptStep: fmt.Sprintf(`UPDATE %s SET last_step = %s WHERE user_id = %s AND last_step < %s`, totp, p(2), p(1), p(2)),
		hasTOTP:    fmt.Sprintf(`SELECT COUNT(*) FROM %s WHERE user_id = %s`, totp, p(1)),

		deleteCodes: fmt.Sprintf(`DELETE FROM %s WHERE user_id = %s`, codes, p(1)),
		insertCode:  fmt.Sprintf(`INSERT INTO %s (user_id, code_hash) VALUES (%s, %s) ON CONFLICT DO NOTHING`, codes, p(1), p(2)),
		// One row per code: of concurrent deletes of it, one deletes it.
		consumeCode: fmt.Sprintf(`DELETE FROM %s WHERE user_id = %s AND code_hash = %s`, codes, p(1), p(2)),
		countCodes:  fmt.Sprintf(`SELECT COUNT(*) FROM %s WHERE user_id = %s`, codes, p(1)),

		createCred: fmt.Sprintf(`INSERT INTO %s (%s) VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT (id) DO NOTHING`,
			creds, credCols, p(1), p(2), p(3), p(4), p(5), p(6)),
		cred:       fmt.Sprintf(`SELECT %s FROM %s WHERE id = %s`, credCols, creds, p(1)),
		userCreds:  fmt.Sprintf(`SELECT %s FROM %s WHERE user_id = %s ORDER BY created_at, id`, credCols, creds, p(1)),
		updateCred: fmt.Sprintf(`UPDATE %s SET name = %s, data = %s, last_used_at = %s WHERE id = %s AND user_id = %s`, creds, p(1), p(2), p(3), p(4), p(5)),
		deleteCred: fmt.Sprintf(`DELETE FROM %s WHERE id = %s AND user_id = %s`, creds, p(1), p(2)),
		hasCred:    fmt.Sprintf(`SELECT COUNT(*) FROM %s WHERE id = %s AND user_id = %s`, creds, p(1), p(2)),

		deleteTOTPUnlessLast: fmt.Sprintf(`DELETE FROM %s WHERE user_id = %s AND (secret IS NULL OR EXISTS (SELECT 1 FROM %s WHERE user_id = %s))`,
			totp, p(1), creds, p(1)),
		deleteCredUnlessLast: fmt.Sprintf(`DELETE FROM %s WHERE id = %s AND user_id = %s AND (
	EXISTS (SELECT 1 FROM %s o WHERE o.user_id = %s AND o.id <> %s)
	OR EXISTS (SELECT 1 FROM %s t WHERE t.user_id = %s AND t.secret IS NOT NULL))`,
			creds, p(1), p(2), creds, p(2), p(1), totp, p(2)),

		// Times are Unix milliseconds, 0 for the zero time.
		schema: []string{
			fmt.Sprintf(`CREATE TABLE IF NOT EXISTS %s (
	user_id      TEXT PRIMARY KEY,
	secret       %s,
	pending      %s,
	confirmed_at BIGINT NOT NULL DEFAULT 0,
	last_step    BIGINT NOT NULL DEFAULT 0
)`, totp, blob, blob),
			fmt.Sprintf(`CREATE TABLE IF NOT EXISTS %s (
	user_id   TEXT NOT NULL,
	code_hash %s NOT NULL,
	PRIMARY KEY (user_id, code_hash)
)`, codes, blob),
			fmt.Sprintf(`CREATE TABLE IF NOT EXISTS %s (
	id           %s PRIMARY KEY,
	user_id      TEXT NOT NULL,
	name         TEXT NOT NULL,
	data         %s NOT NULL,
	created_at   BIGINT NOT NULL,
	last_used_at BIGINT NOT NULL DEFAULT 0
)`, creds, blob, blob),
			fmt.Sprintf(`CREATE INDEX IF NOT EXISTS %s ON %s (user_id, created_at)`, idx, idxOn),
		},
	}
	return s, nil
}

// Migrate creates the store's tables, or brings them up to date, and
// records what it did in the table rampart_schema (component
// "mfa/sqlstore:" and the prefix). It is safe to run from several
// instances at once and more than once. Tables that exist already with
// the same names are kept as they are: an application may create them
// itself, with the columns Migrate would create, to add foreign keys to
// its users.
func (s *Store) Migrate(ctx context.Context) error {
	err := sqlmigrate.Apply(ctx, s.db, s.dialect, "mfa/sqlstore:"+s.prefix, []sqlmigrate.Step{
		{Version: 1, Stmts: s.q.schema},
	})
	if err != nil {
		return fmt.Errorf("mfa/sqlstore: %w", err)
	}
	return nil
}

// LoadTOTP implements [mfa.TOTPStore].
func (s *Store) LoadTOTP(ctx context.Context, userID string) (mfa.TOTPRecord, error) {
	var rec mfa.TOTPRecord
	var confirmed int64
	err := s.stmts.QueryRowContext(ctx, s.q.loadTOTP, userID).Scan(&rec.Secret, &rec.Pending, &confirmed, &rec.LastStep)
	if errors.Is(err, sql.ErrNoRows) {
		return mfa.TOTPRecord{}, fmt.Errorf("mfa/sqlstore: user has no TOTP record: %w", mfa.ErrNotEnrolled)
	}
	if err != nil {
		return mfa.TOTPRecord{}, fmt.Errorf("mfa/sqlstore: load TOTP: %w", err)
	}
	rec.ConfirmedAt = sqltx.FromMillis(confirmed)
	return rec, nil
}

// SaveTOTP implements [mfa.TOTPStore].
func (s *Store) SaveTOTP(ctx context.Context, userID string, rec mfa.TOTPRecord) error {
	if _, err := s.stmts.ExecContext(ctx, s.q.saveTOTP, userID, blob(rec.Secret), blob(rec.Pending), sqltx.Millis(rec.ConfirmedAt)); err != nil {
		return fmt.Errorf("mfa/sqlstore: save TOTP: %w", err)
	}
	return nil
}

// DeleteTOTP implements [mfa.TOTPStore].
func (s *Store) DeleteTOTP(ctx context.Context, userID string) error {
	if _, err := s.stmts.ExecContext(ctx, s.q.deleteTOTP, userID); err != nil {
		return fmt.Errorf("mfa/sqlstore: delete TOTP: %w", err)
	}
	return nil
}

// AcceptTOTPStep implements [mfa.TOTPStore] with one conditional UPDATE;
// only when it changes nothing does a second query tell a replayed step
// from a user with no record.
func (s *Store) AcceptTOTPStep(ctx context.Context, userID string, step int64) (bool, error) {
	ok, err := affected(s.stmts.ExecContext(ctx, s.q.acceptStep, userID, step))
	if err != nil || ok {
		return ok, wrap("accept TOTP step", err)
	}
	var n int
	if err := s.stmts.QueryRowContext(ctx, s.q.hasTOTP, userID).Scan(&n); err != nil {
		return false, fmt.Errorf("mfa/sqlstore: accept TOTP step: %w", err)
	}
	if n == 0 {
		return false, fmt.Errorf("mfa/sqlstore: user has no TOTP record: %w", mfa.ErrNotEnrolled)
	}
	return false, nil
}

// ReplaceRecoveryCodes implements [mfa.RecoveryStore], in a transaction
// that holds the user's lock, so that of two concurrent replacements one
// set survives whole.
func (s *Store) ReplaceRecoveryCodes(ctx context.Context, userID string, hashes [][]byte) error {
	return s.locked(ctx, "replace recovery codes", userID, func(tx querier) error {
		if _, err := tx.ExecContext(ctx, s.q.deleteCodes, userID); err != nil {
			return err
		}
		for _, h := range hashes {
			if _, err := tx.ExecContext(ctx, s.q.insertCode, userID, h); err != nil {
				return err
			}
		}
		return nil
	})
}

// ConsumeRecoveryCode implements [mfa.RecoveryStore] with one DELETE:
// of concurrent calls with one hash, one deletes the row. The lookup is
// by index, not in constant time; the hashes are keyed, so its timing
// tells nothing about a code.
func (s *Store) ConsumeRecoveryCode(ctx context.Context, userID string, hash []byte) (bool, error) {
	ok, err := affected(s.stmts.ExecContext(ctx, s.q.consumeCode, userID, hash))
	return ok, wrap("consume recovery code", err)
}

// CountRecoveryCodes implements [mfa.RecoveryStore].
func (s *Store) CountRecoveryCodes(ctx context.Context, userID string) (int, error) {
	var n int
	if err := s.stmts.QueryRowContext(ctx, s.q.countCodes, userID).Scan(&n); err != nil {
		return 0, fmt.Errorf("mfa/sqlstore: count recovery codes: %w", err)
	}
	return n, nil
}

// CreateCredential implements [mfa.CredentialStore].
func (s *Store) CreateCredential(ctx context.Context, c mfa.StoredCredential) error {
	data := c.Data
	if data == nil {
		data = []byte{}
	}
	created, err := affected(s.stmts.ExecContext(ctx, s.q.createCred, c.ID, c.UserID, c.Name, data, sqltx.Millis(c.CreatedAt), sqltx.Millis(c.LastUsedAt)))
	if err != nil {
		return wrap("create credential", err)
	}
	if !created {
		return fmt.Errorf("mfa/sqlstore: create credential: %w", mfa.ErrExists)
	}
	return nil
}

// Credential implements [mfa.CredentialStore].
func (s *Store) Credential(ctx context.Context, id []byte) (mfa.StoredCredential, error) {
	c, err := scanCred(s.stmts.QueryRowContext(ctx, s.q.cred, id))
	if errors.Is(err, sql.ErrNoRows) {
		return mfa.StoredCredential{}, fmt.Errorf("mfa/sqlstore: credential: %w", mfa.ErrNotFound)
	}
	return c, wrap("credential", err)
}

// UserCredentials implements [mfa.CredentialStore].
func (s *Store) UserCredentials(ctx context.Context, userID string) ([]mfa.StoredCredential, error) {
	rows, err := s.stmts.QueryContext(ctx, s.q.userCreds, userID)
	if err != nil {
		return nil, wrap("user credentials", err)
	}
	defer rows.Close()
	var out []mfa.StoredCredential
	for rows.Next() {
		c, err := scanCred(rows)
		if err != nil {
			return nil, wrap("user credentials", err)
		}
		out = append(out, c)
	}
	return out, wrap("user credentials", rows.Err())
}

// UpdateCredential implements [mfa.CredentialStore].
func (s *Store) UpdateCredential(ctx context.Context, c mfa.StoredCredential) error {
	data := c.Data
	if data == nil {
		data = []byte{}
	}
	return found("update credential")(affected(s.stmts.ExecContext(ctx, s.q.updateCred, c.Name, data, sqltx.Millis(c.LastUsedAt), c.ID, c.UserID)))
}

// DeleteCredential implements [mfa.CredentialStore].
func (s *Store) DeleteCredential(ctx context.Context, userID string, id []byte) error {
	return found("delete credential")(affected(s.stmts.ExecContext(ctx, s.q.deleteCred, id, userID)))
}

// DeleteTOTPUnlessLast implements [mfa.FactorStore]: the check and the
// delete are one statement, in a transaction that holds the user's lock,
// so that a concurrent removal of the user's last credential waits and
// then sees the TOTP record gone.
func (s *Store) DeleteTOTPUnlessLast(ctx context.Context, userID string) (bool, error) {
	var deleted bool
	err := s.locked(ctx, "delete TOTP", userID, func(tx querier) error {
		var err error
		if deleted, err = affected(tx.ExecContext(ctx, s.q.deleteTOTPUnlessLast, userID)); err != nil || deleted {
			return err
		}
		// Nothing deleted: refused, unless there was no record.
		var n int
		if err := tx.QueryRowContext(ctx, s.q.hasTOTP, userID).Scan(&n); err != nil {
			return err
		}
		deleted = n == 0
		return nil
	})
	return deleted, err
}

// DeleteCredentialUnlessLast implements [mfa.FactorStore], as
// [Store.DeleteTOTPUnlessLast] does.
func (s *Store) DeleteCredentialUnlessLast(ctx context.Context, userID string, id []byte) (bool, error) {
	var deleted bool
	err := s.locked(ctx, "delete credential", userID, func(tx querier) error {
		var err error
		if deleted, err = affected(tx.ExecContext(ctx, s.q.deleteCredUnlessLast, id, userID)); err != nil || deleted {
			return err
		}
		var n int
		if err := tx.QueryRowContext(ctx, s.q.hasCred, id, userID).Scan(&n); err != nil {
			return err
		}
		if n == 0 {
			return mfa.ErrNotFound
		}
		return nil
	})
	return deleted, err
}

// querier is what a locked function runs on: a transaction, or on SQLite
// a connection inside BEGIN IMMEDIATE.
type querier = sqltx.Querier

// locked runs fn in a transaction that holds userID's lock, committing if
// it returns nil; op names the operation in errors. fn must use only the
// querier it is given: with a single-connection pool, a query on s.db
// would wait forever.
//
// PostgreSQL: a transaction-scoped advisory lock on a hash of the prefix
// and the user ID, at READ COMMITTED so that each statement after it sees
// what the previous holder committed. SQLite: BEGIN IMMEDIATE, which takes
// the database's write lock.
func (s *Store) locked(ctx context.Context, op, userID string, fn func(querier) error) error {
	return wrap(op, sqltx.Locked(ctx, s.db, s.dialect, s.lockKey(userID), fn))
}

// lockKey is the advisory lock of userID's factors in this store's
// tables. Two users sharing a key only wait for each other.
func (s *Store) lockKey(userID string) int64 {
	return sqltx.LockKey("mfa/sqlstore:"+s.prefix, userID)
}

// affected reports whether the statement that returned res and err
// changed a row.
func affected(res sql.Result, err error) (bool, error) {
	if err != nil {
		return false, err
	}
	n, err := res.RowsAffected()
	return n > 0, err
}

// found turns "no row changed" into an error wrapping mfa.ErrNotFound.
func found(op string) func(bool, error) error {
	return func(ok bool, err error) error {
		if err == nil && !ok {
			err = mfa.ErrNotFound
		}
		return wrap(op, err)
	}
}

// wrap prefixes err, if any, with the package and op.
func wrap(op string, err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("mfa/sqlstore: %s: %w", op, err)
}

func scanCred(row interface{ Scan(...any) error }) (mfa.StoredCredential, error) {
	var c mfa.StoredCredential
	var created, used int64
	if err := row.Scan(&c.ID, &c.UserID, &c.Name, &c.Data, &created, &used); err != nil {
		return mfa.StoredCredential{}, err
	}
	c.CreatedAt, c.LastUsedAt = sqltx.FromMillis(created), sqltx.FromMillis(used)
	return c, nil
}

// blob passes b as a parameter: NULL when nil.
func blob(b []byte) any {
	if b == nil {
		return nil
	}
	return b
}
