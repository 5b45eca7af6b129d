package main

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"
)

// setupTokenTTL is how long a setup token works. An instance that starts
// after it ran out mints a new one (with PostgreSQL, where instances
// share the token); until then, every instance accepts the one printed by
// the instance that minted it.
const setupTokenTTL = 24 * time.Hour

// errBadSetupToken is returned by createFirstAdmin when the setup token is
// not the deployment's live one: wrong, expired or used already.
var errBadSetupToken = errors.New("marketplace: wrong, expired or used setup token")

// hashSetupToken is the form a setup token is stored and compared in.
func hashSetupToken(tok string) string {
	h := sha256.Sum256([]byte(strings.TrimSpace(tok)))
	return hex.EncodeToString(h[:])
}

// offerSetupToken stores hash as the deployment's setup token unless a
// live one exists: it reports whether this call stored it (and the caller
// must print the token), and when the live token was minted. One row, one
// statement: of instances starting together, exactly one stores its token.
// replace stores it even over a live one (SQLite: the database belongs to
// one instance, which has just restarted and lost the old token).
func (s *store) offerSetupToken(ctx context.Context, hash string, replace bool) (stored bool, minted time.Time, err error) {
	now := s.now()
	cutoff := now.Add(-setupTokenTTL)
	if replace {
		cutoff = now.Add(time.Millisecond)
	}
	res, err := s.exec(ctx, `INSERT INTO setup_token (id, token_hash, created_at) VALUES (1, ?, ?)
		ON CONFLICT (id) DO UPDATE SET token_hash = excluded.token_hash, created_at = excluded.created_at
		WHERE setup_token.created_at < ?`, hash, ms(now), ms(cutoff))
	if err != nil {
		return false, time.Time{}, fmt.Errorf("store: setup token: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, time.Time{}, fmt.Errorf("store: setup token: %w", err)
	}
	if n == 1 {
		return true, now, nil
	}
	var at int64
	if err := s.queryRow(ctx, `SELECT created_at FROM setup_token WHERE id = 1`).Scan(&at); err != nil {
		return false, time.Time{}, fmt.Errorf("store: setup token: %w", err)
	}
	return false, fromMS(at), nil
}

// setupTokenMatches reports whether tok is the deployment's live setup
// token and no administrator exists. It does not consume it
// (createFirstAdmin does): it lets a wrong token be refused before any
// password is hashed.
func (s *store) setupTokenMatches(ctx context.Context, tok string) (bool, error) {
	hash, live, err := s.liveSetupToken(ctx)
	if err != nil || !live {
		return false, err
	}
	return subtle.ConstantTimeCompare([]byte(hashSetupToken(tok)), []byte(hash)) == 1, nil
}

// setupOpen reports whether a live setup token waits to be used and no
// administrator exists.
func (s *store) setupOpen(ctx context.Context) (bool, error) {
	_, live, err := s.liveSetupToken(ctx)
	return live, err
}

func (s *store) liveSetupToken(ctx context.Context) (hash string, live bool, err error) {
	err = s.queryRow(ctx, `SELECT token_hash FROM setup_token WHERE id = 1 AND created_at >= ?
		AND NOT EXISTS (SELECT 1 FROM user_roles WHERE role = ?)`, ms(s.now().Add(-setupTokenTTL)), roleAdmin).Scan(&hash)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return "", false, nil
	case err != nil:
		return "", false, fmt.Errorf("store: setup token: %w", err)
	}
	return hash, true, nil
}

// consumeSetupToken deletes the live setup token if it is tok's, in t (the
// transaction that creates the first administrator), or returns
// errBadSetupToken. Of two transactions presenting it, on any instances,
// one deletes the row and the other finds none.
func (t *txn) consumeSetupToken(ctx context.Context, tok string) error {
	res, err := t.exec(ctx, `DELETE FROM setup_token WHERE id = 1 AND token_hash = ? AND created_at >= ?`,
		hashSetupToken(tok), ms(t.s.now().Add(-setupTokenTTL)))
	if err != nil {
		return fmt.Errorf("store: setup token: %w", err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return fmt.Errorf("store: setup token: %w", err)
	} else if n != 1 {
		return errBadSetupToken
	}
	return nil
}

// clearSetupToken deletes the setup token: an administrator exists.
func (s *store) clearSetupToken(ctx context.Context) error {
	if _, err := s.exec(ctx, `DELETE FROM setup_token`); err != nil {
		return fmt.Errorf("store: setup token: %w", err)
	}
	return nil
}
