package main

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/deployedworks/rampart/mfa"
)

// mfaStore keeps second factors in the app's database. It implements
// mfa.TOTPStore, mfa.RecoveryStore, mfa.CredentialStore and
// mfa.FactorStore.
type mfaStore struct{ s *store }

var (
	_ mfa.TOTPStore       = mfaStore{}
	_ mfa.RecoveryStore   = mfaStore{}
	_ mfa.CredentialStore = mfaStore{}
	_ mfa.FactorStore     = mfaStore{}
)

// LoadTOTP implements mfa.TOTPStore.
func (m mfaStore) LoadTOTP(ctx context.Context, userID string) (mfa.TOTPRecord, error) {
	var rec mfa.TOTPRecord
	var confirmed int64
	err := m.s.queryRow(ctx, `SELECT secret, pending, confirmed_at, last_step FROM mfa_totp WHERE user_id = ?`, userID).
		Scan(&rec.Secret, &rec.Pending, &confirmed, &rec.LastStep)
	if errors.Is(err, sql.ErrNoRows) {
		return mfa.TOTPRecord{}, fmt.Errorf("store: totp: %w", mfa.ErrNotEnrolled)
	}
	if err != nil {
		return mfa.TOTPRecord{}, fmt.Errorf("store: totp: %w", err)
	}
	rec.ConfirmedAt = fromMS(confirmed)
	return rec, nil
}

// SaveTOTP implements mfa.TOTPStore; it never changes last_step of an
// existing row.
func (m mfaStore) SaveTOTP(ctx context.Context, userID string, rec mfa.TOTPRecord) error {
	_, err := m.s.exec(ctx, `INSERT INTO mfa_totp (user_id, secret, pending, confirmed_at, last_step) VALUES (?, ?, ?, ?, 0)
		ON CONFLICT (user_id) DO UPDATE SET secret = excluded.secret, pending = excluded.pending, confirmed_at = excluded.confirmed_at`,
		userID, nilIfEmpty(rec.Secret), nilIfEmpty(rec.Pending), ms(rec.ConfirmedAt))
	if err != nil {
		return fmt.Errorf("store: save totp: %w", err)
	}
	return nil
}

// DeleteTOTP implements mfa.TOTPStore.
func (m mfaStore) DeleteTOTP(ctx context.Context, userID string) error {
	m.s.removingFactor()
	if _, err := m.s.exec(ctx, `DELETE FROM mfa_totp WHERE user_id = ?`, userID); err != nil {
		return fmt.Errorf("store: delete totp: %w", err)
	}
	return nil
}

// AcceptTOTPStep implements mfa.TOTPStore with a conditional UPDATE, so
// that of concurrent calls for one step exactly one succeeds.
func (m mfaStore) AcceptTOTPStep(ctx context.Context, userID string, step int64) (bool, error) {
	res, err := m.s.exec(ctx, `UPDATE mfa_totp SET last_step = ? WHERE user_id = ? AND last_step < ?`, step, userID, step)
	if ok, err := rowsOne(res, err, "accept totp step"); err != nil || ok {
		return ok, err
	}
	var exists int
	if err := m.s.queryRow(ctx, `SELECT COUNT(*) FROM mfa_totp WHERE user_id = ?`, userID).Scan(&exists); err != nil {
		return false, fmt.Errorf("store: accept totp step: %w", err)
	}
	if exists == 0 {
		return false, fmt.Errorf("store: accept totp step: %w", mfa.ErrNotEnrolled)
	}
	return false, nil
}

// ReplaceRecoveryCodes implements mfa.RecoveryStore.
func (m mfaStore) ReplaceRecoveryCodes(ctx context.Context, userID string, hashes [][]byte) error {
	return m.s.tx(ctx, func(t *txn) error {
		if _, err := t.exec(ctx, `DELETE FROM mfa_recovery_codes WHERE user_id = ?`, userID); err != nil {
			return fmt.Errorf("store: replace recovery codes: %w", err)
		}
		for _, h := range hashes {
			if _, err := t.exec(ctx, `INSERT INTO mfa_recovery_codes (user_id, code_hash) VALUES (?, ?)`, userID, h); err != nil {
				return fmt.Errorf("store: replace recovery codes: %w", err)
			}
		}
		return nil
	})
}

// ConsumeRecoveryCode implements mfa.RecoveryStore: a DELETE that affects
// one row succeeds for exactly one of concurrent callers.
func (m mfaStore) ConsumeRecoveryCode(ctx context.Context, userID string, hash []byte) (bool, error) {
	res, err := m.s.exec(ctx, `DELETE FROM mfa_recovery_codes WHERE user_id = ? AND code_hash = ?`, userID, hash)
	return rowsOne(res, err, "consume recovery code")
}

// CountRecoveryCodes implements mfa.RecoveryStore.
func (m mfaStore) CountRecoveryCodes(ctx context.Context, userID string) (int, error) {
	var n int
	if err := m.s.queryRow(ctx, `SELECT COUNT(*) FROM mfa_recovery_codes WHERE user_id = ?`, userID).Scan(&n); err != nil {
		return 0, fmt.Errorf("store: count recovery codes: %w", err)
	}
	return n, nil
}

// CreateCredential implements mfa.CredentialStore.
func (m mfaStore) CreateCredential(ctx context.Context, c mfa.StoredCredential) error {
	res, err := m.s.exec(ctx, `INSERT INTO webauthn_credentials (id, user_id, name, data, created_at, last_used_at) VALUES (?, ?, ?, ?, ?, ?)
		ON CONFLICT (id) DO NOTHING`, c.ID, c.UserID, c.Name, c.Data, ms(c.CreatedAt), ms(c.LastUsedAt))
	created, err := rowsOne(res, err, "create credential")
	if err == nil && !created {
		err = fmt.Errorf("store: create credential: %w", mfa.ErrExists)
	}
	return err
}

const credColumns = `id, user_id, name, data, created_at, last_used_at`

func scanCred(row interface{ Scan(...any) error }) (mfa.StoredCredential, error) {
	var c mfa.StoredCredential
	var created, used int64
	if err := row.Scan(&c.ID, &c.UserID, &c.Name, &c.Data, &created, &used); err != nil {
		return mfa.StoredCredential{}, err
	}
	c.CreatedAt, c.LastUsedAt = fromMS(created), fromMS(used)
	return c, nil
}

// Credential implements mfa.CredentialStore.
func (m mfaStore) Credential(ctx context.Context, id []byte) (mfa.StoredCredential, error) {
	c, err := scanCred(m.s.queryRow(ctx, `SELECT `+credColumns+` FROM webauthn_credentials WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return mfa.StoredCredential{}, fmt.Errorf("store: credential: %w", mfa.ErrNotFound)
	}
	if err != nil {
		return mfa.StoredCredential{}, fmt.Errorf("store: credential: %w", err)
	}
	return c, nil
}

// UserCredentials implements mfa.CredentialStore, oldest first.
func (m mfaStore) UserCredentials(ctx context.Context, userID string) ([]mfa.StoredCredential, error) {
	rows, err := m.s.query(ctx, `SELECT `+credColumns+` FROM webauthn_credentials WHERE user_id = ? ORDER BY created_at, id`, userID)
	if err != nil {
		return nil, fmt.Errorf("store: user credentials: %w", err)
	}
	defer rows.Close()
	var out []mfa.StoredCredential
	for rows.Next() {
		c, err := scanCred(rows)
		if err != nil {
			return nil, fmt.Errorf("store: user credentials: %w", err)
		}
		out = append(out, c)
	}
	return out, rows.Err()
}

// UpdateCredential implements mfa.CredentialStore.
func (m mfaStore) UpdateCredential(ctx context.Context, c mfa.StoredCredential) error {
	res, err := m.s.exec(ctx, `UPDATE webauthn_credentials SET name = ?, data = ?, last_used_at = ? WHERE id = ? AND user_id = ?`,
		c.Name, c.Data, ms(c.LastUsedAt), c.ID, c.UserID)
	return affectedOne(res, err, "update credential")
}

// DeleteCredential implements mfa.CredentialStore.
func (m mfaStore) DeleteCredential(ctx context.Context, userID string, id []byte) error {
	m.s.removingFactor()
	res, err := m.s.exec(ctx, `DELETE FROM webauthn_credentials WHERE id = ? AND user_id = ?`, id, userID)
	return affectedOne(res, err, "delete credential")
}

// DeleteTOTPUnlessLast implements mfa.FactorStore: the check and the
// delete are one statement in a transaction that holds the user's factor
// lock, so that a concurrent removal of the user's last passkey waits for
// it and then sees the TOTP secret gone.
func (m mfaStore) DeleteTOTPUnlessLast(ctx context.Context, userID string) (bool, error) {
	m.s.removingFactor()
	var deleted bool
	err := m.s.tx(ctx, func(t *txn) error {
		if err := t.lockFactors(ctx, userID); err != nil {
			return err
		}
		res, err := t.exec(ctx, `DELETE FROM mfa_totp WHERE user_id = ?
			AND (secret IS NULL OR EXISTS (SELECT 1 FROM webauthn_credentials WHERE user_id = ?))`, userID, userID)
		if deleted, err = rowsOne(res, err, "delete totp"); err != nil || deleted {
			return err
		}
		// Nothing deleted: refused, unless there was no record at all.
		var n int
		if err := t.queryRow(ctx, `SELECT COUNT(*) FROM mfa_totp WHERE user_id = ?`, userID).Scan(&n); err != nil {
			return fmt.Errorf("store: delete totp: %w", err)
		}
		deleted = n == 0
		return nil
	})
	return deleted, err
}

// DeleteCredentialUnlessLast implements mfa.FactorStore, like
// DeleteTOTPUnlessLast.
func (m mfaStore) DeleteCredentialUnlessLast(ctx context.Context, userID string, id []byte) (bool, error) {
	m.s.removingFactor()
	var deleted bool
	err := m.s.tx(ctx, func(t *txn) error {
		if err := t.lockFactors(ctx, userID); err != nil {
			return err
		}
		res, err := t.exec(ctx, `DELETE FROM webauthn_credentials WHERE id = ? AND user_id = ?
			AND (EXISTS (SELECT 1 FROM webauthn_credentials WHERE user_id = ? AND id <> ?)
				OR EXISTS (SELECT 1 FROM mfa_totp WHERE user_id = ? AND secret IS NOT NULL))`,
			id, userID, userID, id, userID)
		if deleted, err = rowsOne(res, err, "delete credential"); err != nil || deleted {
			return err
		}
		var n int
		if err := t.queryRow(ctx, `SELECT COUNT(*) FROM webauthn_credentials WHERE id = ? AND user_id = ?`, id, userID).Scan(&n); err != nil {
			return fmt.Errorf("store: delete credential: %w", err)
		}
		if n == 0 {
			return fmt.Errorf("store: delete credential: %w", mfa.ErrNotFound)
		}
		return nil
	})
	return deleted, err
}

// lockFactors serialises changes to userID's second factors until the
// transaction ends. PostgreSQL locks the user's row (FOR NO KEY UPDATE,
// which the foreign-key checks of factor inserts do not wait for); SQLite
// needs nothing, as its transactions take the write lock when they begin
// (_txlock=immediate). A missing user has no factors to protect.
func (t *txn) lockFactors(ctx context.Context, userID string) error {
	if t.s.dialect != dialectPostgres {
		return nil
	}
	var one int
	err := t.queryRow(ctx, `SELECT 1 FROM users WHERE id = ? FOR NO KEY UPDATE`, userID).Scan(&one)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("store: lock factors: %w", err)
	}
	return nil
}

// rowsOne reports whether the statement that returned res and err
// affected a row; step names it in errors.
func rowsOne(res sql.Result, err error, step string) (bool, error) {
	if err != nil {
		return false, fmt.Errorf("store: %s: %w", step, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, fmt.Errorf("store: %s: %w", step, err)
	}
	return n == 1, nil
}

// affectedOne is rowsOne, with mfa.ErrNotFound when no row was affected.
func affectedOne(res sql.Result, err error, step string) error {
	one, err := rowsOne(res, err, step)
	if err == nil && !one {
		err = fmt.Errorf("store: %s: %w", step, mfa.ErrNotFound)
	}
	return err
}

func nilIfEmpty(b []byte) []byte {
	if len(b) == 0 {
		return nil
	}
	return b
}
