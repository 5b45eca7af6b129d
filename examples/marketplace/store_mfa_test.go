package main

import (
	"bytes"
	"context"
	"io/fs"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/deployedworks/rampart/mfa"
	"github.com/deployedworks/rampart/mfa/mfatest"
)

// TestMFAStore_UpgradeKeepsFactors: a database made by the app before
// second factors moved to mfa/sqlstore (migrations up to 0002, the app's
// own MFA queries) keeps every TOTP secret, recovery code and passkey
// after upgrading, with its foreign keys to users.
func TestMFAStore_UpgradeKeepsFactors(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dbs := map[string]string{"sqlite": ""}
	if postgresConfigured() {
		dbs["postgres"] = postgresSchema(t)
	}
	for name, dbURL := range dbs {
		t.Run(name, func(t *testing.T) {
			s, err := openStore(ctx, t.TempDir(), dbURL, time.Now)
			require.NoError(t, err)
			t.Cleanup(func() { _ = s.Close() })
			migrateOldSchema(t, s, "0002_moderation_evidence")

			// What the app's old store wrote (its queries, verbatim).
			secret, pending := bytes.Repeat([]byte{0xa5}, 61), bytes.Repeat([]byte{0x5a}, 61)
			codes := [][]byte{bytes.Repeat([]byte{1}, 32), bytes.Repeat([]byte{2}, 32), bytes.Repeat([]byte{3}, 32)}
			credID, credData := []byte{9, 8, 7, 0}, []byte("passkey state")
			for _, q := range []struct {
				sql  string
				args []any
			}{
				{`INSERT INTO users (id, email, display_name, created_at) VALUES (?, ?, ?, ?)`, []any{"u1", "a@example.com", "A", 1}},
				{`INSERT INTO users (id, email, display_name, created_at) VALUES (?, ?, ?, ?)`, []any{"u2", "b@example.com", "B", 1}},
				{`INSERT INTO mfa_totp (user_id, secret, pending, confirmed_at, last_step) VALUES (?, ?, ?, ?, 0)
					ON CONFLICT (user_id) DO UPDATE SET secret = excluded.secret, pending = excluded.pending, confirmed_at = excluded.confirmed_at`,
					[]any{"u1", secret, pending, int64(1_767_225_600_123)}},
				{`UPDATE mfa_totp SET last_step = ? WHERE user_id = ? AND last_step < ?`, []any{int64(58_900_000), "u1", int64(58_900_000)}},
				{`INSERT INTO mfa_recovery_codes (user_id, code_hash) VALUES (?, ?)`, []any{"u1", codes[0]}},
				{`INSERT INTO mfa_recovery_codes (user_id, code_hash) VALUES (?, ?)`, []any{"u1", codes[1]}},
				{`INSERT INTO mfa_recovery_codes (user_id, code_hash) VALUES (?, ?)`, []any{"u1", codes[2]}},
				{`INSERT INTO webauthn_credentials (id, user_id, name, data, created_at, last_used_at) VALUES (?, ?, ?, ?, ?, ?)
					ON CONFLICT (id) DO NOTHING`, []any{credID, "u2", "YubiKey", credData, int64(1_767_225_600_456), int64(0)}},
			} {
				_, err := s.exec(ctx, q.sql, q.args...)
				require.NoError(t, err, q.sql)
			}

			applied, err := s.migrate(ctx)
			require.NoError(t, err)
			assert.Equal(t, []string{"0003_mfa_sqlstore", "0004_email_verified", "0005_operations", "0006_chain_checkpoints"}, applied)
			_, err = s.migrate(ctx)
			require.NoError(t, err, "migrating again is a no-op")

			st := s.mfaStore()
			rec, err := st.LoadTOTP(ctx, "u1")
			require.NoError(t, err)
			assert.Equal(t, secret, rec.Secret)
			assert.Equal(t, pending, rec.Pending)
			assert.Equal(t, time.UnixMilli(1_767_225_600_123).UTC(), rec.ConfirmedAt)
			assert.Equal(t, int64(58_900_000), rec.LastStep)
			ok, err := st.AcceptTOTPStep(ctx, "u1", 58_900_000)
			require.NoError(t, err)
			assert.False(t, ok, "the step accepted before the upgrade stays used")

			n, err := st.CountRecoveryCodes(ctx, "u1")
			require.NoError(t, err)
			assert.Equal(t, 3, n)
			ok, err = st.ConsumeRecoveryCode(ctx, "u1", codes[1])
			require.NoError(t, err)
			assert.True(t, ok, "a recovery code from before the upgrade works once")

			c, err := st.Credential(ctx, credID)
			require.NoError(t, err)
			assert.Equal(t, "u2", c.UserID)
			assert.Equal(t, "YubiKey", c.Name)
			assert.Equal(t, credData, c.Data)
			assert.Equal(t, time.UnixMilli(1_767_225_600_456).UTC(), c.CreatedAt)
			assert.True(t, c.LastUsedAt.IsZero())
			ok, err = s.hasFactor(ctx, "u2")
			require.NoError(t, err)
			assert.True(t, ok, "the passkey counts as a factor")

			// The foreign keys to users came along: deleting a user deletes
			// their factors.
			_, err = s.exec(ctx, `DELETE FROM users WHERE id = ?`, "u1")
			require.NoError(t, err)
			_, err = st.LoadTOTP(ctx, "u1")
			assert.ErrorIs(t, err, mfa.ErrNotEnrolled)
			assert.Equal(t, 0, countRows(t, s, `SELECT COUNT(*) FROM mfa_recovery_codes`))
			_, err = s.exec(ctx, `DELETE FROM users WHERE id = ?`, "u2")
			require.NoError(t, err)
			_, err = st.Credential(ctx, credID)
			assert.ErrorIs(t, err, mfa.ErrNotFound)
			assert.Error(t, st.CreateCredential(ctx, mfa.StoredCredential{ID: []byte{1}, UserID: "nobody", Data: []byte{1}, CreatedAt: time.Now()}),
				"a credential of no user is refused")
		})
	}
}

// TestMFAStore_Conformance runs the mfa store conformance suite on the
// app's store, as wired (its tables, foreign keys and test hook): every
// user the suite uses is created first.
func TestMFAStore_Conformance(t *testing.T) {
	t.Parallel()
	for name, s := range storeDialects(t) {
		t.Run(name, func(t *testing.T) {
			mfatest.TestStore(t, func(t *testing.T) any {
				_, err := s.exec(context.Background(), `DELETE FROM users`)
				require.NoError(t, err)
				return usersOnDemand{s.mfaStore()}
			})
		})
	}
}

// migrateOldSchema applies the app's migrations up to and including
// last, as an older version of the app did.
func migrateOldSchema(t *testing.T, s *store, last string) {
	t.Helper()
	ctx := context.Background()
	_, err := s.exec(ctx, `CREATE TABLE schema_migrations (version TEXT PRIMARY KEY, applied_at BIGINT NOT NULL)`)
	require.NoError(t, err)
	files, err := fs.Glob(migrationsFS, "migrations/"+s.dialect.String()+"/*.sql")
	require.NoError(t, err)
	for _, f := range files {
		version := strings.TrimSuffix(f[strings.LastIndexByte(f, '/')+1:], ".sql")
		if version > last {
			break
		}
		body, err := fs.ReadFile(migrationsFS, f)
		require.NoError(t, err)
		for _, stmt := range splitSQL(string(body)) {
			_, err := s.db.ExecContext(ctx, stmt)
			require.NoError(t, err, stmt)
		}
		_, err = s.exec(ctx, `INSERT INTO schema_migrations (version, applied_at) VALUES (?, 1)`, version)
		require.NoError(t, err)
	}
}

func countRows(t *testing.T, s *store, query string, args ...any) int {
	t.Helper()
	var n int
	require.NoError(t, s.queryRow(context.Background(), query, args...).Scan(&n))
	return n
}

// usersOnDemand is the app's second-factor store, with each user the
// conformance suite writes for created first, as the app's tables refer
// to its users.
type usersOnDemand struct{ mfaStore }

func (u usersOnDemand) user(ctx context.Context, id string) error {
	_, err := u.s.exec(ctx, `INSERT INTO users (id, email, display_name, created_at) VALUES (?, ?, ?, 1) ON CONFLICT DO NOTHING`, id, id, id)
	return err
}

func (u usersOnDemand) SaveTOTP(ctx context.Context, userID string, rec mfa.TOTPRecord) error {
	if err := u.user(ctx, userID); err != nil {
		return err
	}
	return u.mfaStore.SaveTOTP(ctx, userID, rec)
}

func (u usersOnDemand) ReplaceRecoveryCodes(ctx context.Context, userID string, hashes [][]byte) error {
	if err := u.user(ctx, userID); err != nil {
		return err
	}
	return u.mfaStore.ReplaceRecoveryCodes(ctx, userID, hashes)
}

func (u usersOnDemand) CreateCredential(ctx context.Context, c mfa.StoredCredential) error {
	if err := u.user(ctx, c.UserID); err != nil {
		return err
	}
	return u.mfaStore.CreateCredential(ctx, c)
}
