package main

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/deployedworks/rampart/account"
	"github.com/deployedworks/rampart/auth"
)

// Roles the app knows. Every signed-in user may sell; these add powers.
const (
	roleModerator = "moderator"
	roleAdmin     = "admin"
)

// knownRoles are the roles an administrator may grant.
var knownRoles = []string{roleModerator, roleAdmin}

// user is an account as the app sees it.
type user struct {
	ID          string
	Email       string
	DisplayName string
	Hash        string
	Disabled    bool
	// EmailVerified: the user opened a link mailed to Email.
	EmailVerified bool
	CreatedAt     time.Time
	Roles         []string
}

// HasRole reports whether u holds role.
func (u user) HasRole(role string) bool { return slices.Contains(u.Roles, role) }

// errEmailTaken is returned by createUser for an e-mail already registered.
var errEmailTaken = errors.New("marketplace: e-mail address already registered")

// normEmail is the form e-mail addresses are stored and looked up in.
// Invalid UTF-8 is left as it is, for validation and Authenticator.Login to refuse:
// strings.ToLower would turn it into U+FFFD, a valid address.
func normEmail(s string) string {
	if !utf8.ValidString(s) {
		return s
	}
	return strings.ToLower(strings.TrimSpace(s))
}

// createUser inserts u (ID and CreatedAt filled in) with its roles. It
// returns errEmailTaken when the address is registered already.
func (s *store) createUser(ctx context.Context, u user) (user, error) {
	u.ID = newID()
	u.Email = normEmail(u.Email)
	u.CreatedAt = s.now().UTC()
	err := s.tx(ctx, func(t *txn) error {
		if err := t.insertUser(ctx, u); err != nil {
			return fmt.Errorf("store: create user: %w", err)
		}
		for _, r := range u.Roles {
			if _, err := t.exec(ctx, `INSERT INTO user_roles (user_id, role, granted_at, granted_by) VALUES (?, ?, ?, ?)`,
				u.ID, r, ms(u.CreatedAt), "system"); err != nil {
				return fmt.Errorf("store: create user: role: %w", err)
			}
		}
		return nil
	})
	if err != nil {
		return user{}, err
	}
	return u, nil
}

// createFirstAdmin creates u as an administrator only if no administrator
// exists, and returns errAdminExists otherwise; and only if tok is the
// deployment's live setup token, which it consumes, and returns
// errBadSetupToken otherwise. All in one transaction: of concurrent calls,
// on any instances, at most one succeeds.
func (s *store) createFirstAdmin(ctx context.Context, u user, tok string) (user, error) {
	u.ID = newID()
	u.Email = normEmail(u.Email)
	u.CreatedAt = s.now().UTC()
	u.Roles = []string{roleAdmin}
	err := s.tx(ctx, func(t *txn) error {
		// With PostgreSQL, concurrent transactions would each count no
		// administrator and each create one: serialise them. (SQLite
		// transactions here are IMMEDIATE: serialised already.)
		if s.dialect == dialectPostgres {
			if _, err := t.exec(ctx, `SELECT pg_advisory_xact_lock(?)`, pgFirstAdminLockKey); err != nil {
				return fmt.Errorf("store: first admin: lock: %w", err)
			}
		}
		var n int
		if err := t.queryRow(ctx, `SELECT COUNT(*) FROM user_roles WHERE role = ?`, roleAdmin).Scan(&n); err != nil {
			return fmt.Errorf("store: first admin: %w", err)
		}
		if n > 0 {
			return errAdminExists
		}
		if err := t.consumeSetupToken(ctx, tok); err != nil {
			return err
		}
		if err := t.insertUser(ctx, u); err != nil {
			return fmt.Errorf("store: first admin: %w", err)
		}
		_, err := t.exec(ctx, `INSERT INTO user_roles (user_id, role, granted_at, granted_by) VALUES (?, ?, ?, ?)`,
			u.ID, roleAdmin, ms(u.CreatedAt), "setup")
		return err
	})
	if err != nil {
		return user{}, err
	}
	return u, nil
}

// pgFirstAdminLockKey is the PostgreSQL advisory lock that serialises
// createFirstAdmin.
const pgFirstAdminLockKey = 0x6d6b7461 // "mkta"

// insertUser inserts u without roles, or returns errEmailTaken when the
// address is registered already. The unique index decides, so that
// concurrent sign-ups with one address get errEmailTaken, not an error.
func (t *txn) insertUser(ctx context.Context, u user) error {
	res, err := t.exec(ctx, `INSERT INTO users (id, email, display_name, password_hash, disabled, created_at) VALUES (?, ?, ?, ?, 0, ?)
		ON CONFLICT (email) DO NOTHING`, u.ID, u.Email, u.DisplayName, u.Hash, ms(u.CreatedAt))
	if err != nil {
		return err
	}
	if n, err := res.RowsAffected(); err != nil {
		return err
	} else if n == 0 {
		return errEmailTaken
	}
	return nil
}

// errAdminExists is returned by createFirstAdmin once an administrator exists.
var errAdminExists = errors.New("marketplace: an administrator exists already")

// hasAdmin reports whether any account holds the admin role.
func (s *store) hasAdmin(ctx context.Context) (bool, error) {
	var n int
	if err := s.queryRow(ctx, `SELECT COUNT(*) FROM user_roles WHERE role = ?`, roleAdmin).Scan(&n); err != nil {
		return false, fmt.Errorf("store: count admins: %w", err)
	}
	return n > 0, nil
}

const userColumns = `id, email, display_name, password_hash, disabled, created_at, email_verified`

func scanUser(row interface{ Scan(...any) error }) (user, error) {
	var u user
	var disabled, verified int
	var created int64
	if err := row.Scan(&u.ID, &u.Email, &u.DisplayName, &u.Hash, &disabled, &created, &verified); err != nil {
		return user{}, err
	}
	u.Disabled = disabled != 0
	u.EmailVerified = verified != 0
	u.CreatedAt = fromMS(created)
	return u, nil
}

// userByID returns the user with id and their roles, or errNotFound.
func (s *store) userByID(ctx context.Context, id string) (user, error) {
	return s.userWhere(ctx, `id = ?`, id)
}

// userRowByID is userByID without the roles (u.Roles is nil), one query
// instead of two: for pages that take the roles from the session.
func (s *store) userRowByID(ctx context.Context, id string) (user, error) {
	return s.userRowWhere(ctx, `id = ?`, id)
}

// userByEmail returns the user with the e-mail address, or errNotFound.
func (s *store) userByEmail(ctx context.Context, email string) (user, error) {
	return s.userWhere(ctx, `email = ?`, normEmail(email))
}

func (s *store) userWhere(ctx context.Context, where string, arg any) (user, error) {
	u, err := s.userRowWhere(ctx, where, arg)
	if err != nil {
		return u, err
	}
	u.Roles, err = s.roles(ctx, u.ID)
	return u, err
}

// userRowWhere is userWhere without the roles (u.Roles is nil).
func (s *store) userRowWhere(ctx context.Context, where string, arg any) (user, error) {
	u, err := scanUser(s.queryRow(ctx, `SELECT `+userColumns+` FROM users WHERE `+where, arg))
	if errors.Is(err, sql.ErrNoRows) {
		return user{}, errNotFound
	}
	if err != nil {
		return user{}, fmt.Errorf("store: user: %w", err)
	}
	return u, nil
}

// roles returns the roles of userID, sorted.
func (s *store) roles(ctx context.Context, userID string) ([]string, error) {
	rows, err := s.query(ctx, `SELECT role FROM user_roles WHERE user_id = ? ORDER BY role`, userID)
	if err != nil {
		return nil, fmt.Errorf("store: roles: %w", err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var r string
		if err := rows.Scan(&r); err != nil {
			return nil, fmt.Errorf("store: roles: %w", err)
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

// hasFactor reports whether userID has a confirmed second factor (TOTP or
// a passkey).
func (s *store) hasFactor(ctx context.Context, userID string) (bool, error) {
	var n int
	err := s.queryRow(ctx, `SELECT
		(SELECT COUNT(*) FROM mfa_totp WHERE user_id = ? AND secret IS NOT NULL) +
		(SELECT COUNT(*) FROM mfa_credentials WHERE user_id = ?)`, userID, userID).Scan(&n)
	if err != nil {
		return false, fmt.Errorf("store: factors: %w", err)
	}
	return n > 0, nil
}

// authUser converts u for package auth.
func (s *store) authUser(ctx context.Context, u user) (auth.User, error) {
	mfaOn, err := s.hasFactor(ctx, u.ID)
	if err != nil {
		return auth.User{}, err
	}
	return auth.User{ID: u.ID, Login: u.Email, Email: u.Email, PasswordHash: u.Hash,
		Disabled: u.Disabled, Roles: u.Roles, MFAEnabled: mfaOn}, nil
}

// authUsers is the store as an auth.UserStore.
type authUsers struct{ s *store }

var _ account.Users = authUsers{}

// UserByLogin implements auth.UserStore: the login is the e-mail address,
// matched case-insensitively.
func (a authUsers) UserByLogin(ctx context.Context, login string) (auth.User, error) {
	u, err := a.s.userByEmail(ctx, login)
	if errors.Is(err, errNotFound) {
		return auth.User{}, auth.ErrUserNotFound
	}
	if err != nil {
		return auth.User{}, err
	}
	return a.s.authUser(ctx, u)
}

// UserByID implements auth.UserStore.
func (a authUsers) UserByID(ctx context.Context, id string) (auth.User, error) {
	u, err := a.s.userByID(ctx, id)
	if errors.Is(err, errNotFound) {
		return auth.User{}, auth.ErrUserNotFound
	}
	if err != nil {
		return auth.User{}, err
	}
	return a.s.authUser(ctx, u)
}

// SetPasswordHash implements auth.UserStore with compare-and-swap.
func (a authUsers) SetPasswordHash(ctx context.Context, userID, oldHash, newHash string) error {
	res, err := a.s.exec(ctx, `UPDATE users SET password_hash = ? WHERE id = ? AND password_hash = ?`, newHash, userID, oldHash)
	if err != nil {
		return fmt.Errorf("store: set password hash: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return fmt.Errorf("store: set password hash: %w", err)
	}
	if n == 0 {
		return auth.ErrHashConflict
	}
	return nil
}

// UserByEmail implements account.Users: the address is the login.
func (a authUsers) UserByEmail(ctx context.Context, email string) (auth.User, error) {
	return a.UserByLogin(ctx, email)
}

// SetEmail implements account.Users: the address changes, unverified,
// only if it is still oldEmail. The unique index on users.email decides
// between two accounts taking one address.
func (a authUsers) SetEmail(ctx context.Context, userID, oldEmail, newEmail string) error {
	oldEmail, newEmail = normEmail(oldEmail), normEmail(newEmail)
	err := a.s.tx(ctx, func(t *txn) error {
		var n int
		if err := t.queryRow(ctx, `SELECT COUNT(*) FROM users WHERE email = ? AND id <> ?`, newEmail, userID).Scan(&n); err != nil {
			return err
		}
		if n > 0 {
			return account.ErrEmailTaken
		}
		res, err := t.exec(ctx, `UPDATE users SET email = ?, email_verified = 0 WHERE id = ? AND email = ?`, newEmail, userID, oldEmail)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n == 0 {
			return account.ErrEmailConflict
		}
		return nil
	})
	switch {
	case err == nil, errors.Is(err, account.ErrEmailTaken), errors.Is(err, account.ErrEmailConflict):
		return err
	}
	// A concurrent change (PostgreSQL) that took the address between the
	// check and the update fails on the unique index.
	if u, lerr := a.s.userByEmail(ctx, newEmail); lerr == nil && u.ID != userID {
		return account.ErrEmailTaken
	}
	return fmt.Errorf("store: set email: %w", err)
}

// SetEmailVerified implements account.Users.
func (a authUsers) SetEmailVerified(ctx context.Context, userID, email string) error {
	res, err := a.s.exec(ctx, `UPDATE users SET email_verified = 1 WHERE id = ? AND email = ?`, userID, normEmail(email))
	if err != nil {
		return fmt.Errorf("store: set email verified: %w", err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return fmt.Errorf("store: set email verified: %w", err)
	} else if n == 0 {
		return account.ErrEmailConflict
	}
	return nil
}

// userFilter selects users for the admin list.
type userFilter struct {
	EmailContains string
	Role          string
	Offset, Limit int
}

// listUsers returns users matching f, newest first, with their roles.
func (s *store) listUsers(ctx context.Context, f userFilter) ([]user, error) {
	where, args := []string{"1=1"}, []any{}
	if f.EmailContains != "" {
		where = append(where, `email LIKE ? ESCAPE '\'`)
		args = append(args, "%"+likeEscape(normEmail(f.EmailContains))+"%")
	}
	if f.Role != "" {
		where = append(where, `id IN (SELECT user_id FROM user_roles WHERE role = ?)`)
		args = append(args, f.Role)
	}
	args = append(args, f.Limit, f.Offset)
	rows, err := s.query(ctx, `SELECT `+userColumns+` FROM users WHERE `+strings.Join(where, " AND ")+
		` ORDER BY created_at DESC, id LIMIT ? OFFSET ?`, args...)
	if err != nil {
		return nil, fmt.Errorf("store: list users: %w", err)
	}
	var out []user
	for rows.Next() {
		u, err := scanUser(rows)
		if err != nil {
			_ = rows.Close()
			return nil, fmt.Errorf("store: list users: %w", err)
		}
		out = append(out, u)
	}
	_ = rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: list users: %w", err)
	}
	if len(out) == 0 {
		return out, nil
	}
	// One query for the page's roles (after closing rows: SQLite has one
	// connection), not one per user.
	ids := make([]any, len(out))
	byID := make(map[string]*user, len(out))
	for i := range out {
		ids[i], byID[out[i].ID] = out[i].ID, &out[i]
	}
	rrows, err := s.query(ctx, `SELECT user_id, role FROM user_roles WHERE user_id IN (?`+strings.Repeat(", ?", len(ids)-1)+`) ORDER BY user_id, role`, ids...)
	if err != nil {
		return nil, fmt.Errorf("store: list users: roles: %w", err)
	}
	defer rrows.Close()
	for rrows.Next() {
		var id, role string
		if err := rrows.Scan(&id, &role); err != nil {
			return nil, fmt.Errorf("store: list users: roles: %w", err)
		}
		if u := byID[id]; u != nil {
			u.Roles = append(u.Roles, role)
		}
	}
	if err := rrows.Err(); err != nil {
		return nil, fmt.Errorf("store: list users: roles: %w", err)
	}
	return out, nil
}

// grantRole gives userID role; it reports whether the user lacked it.
func (s *store) grantRole(ctx context.Context, userID, role, by string) (bool, error) {
	res, err := s.exec(ctx, `INSERT INTO user_roles (user_id, role, granted_at, granted_by) VALUES (?, ?, ?, ?) ON CONFLICT (user_id, role) DO NOTHING`,
		userID, role, ms(s.now()), by)
	if err != nil {
		return false, fmt.Errorf("store: grant role: %w", err)
	}
	n, err := res.RowsAffected()
	return n > 0, err
}

// revokeRole takes role from userID; it reports whether the user held it.
func (s *store) revokeRole(ctx context.Context, userID, role string) (bool, error) {
	res, err := s.exec(ctx, `DELETE FROM user_roles WHERE user_id = ? AND role = ?`, userID, role)
	if err != nil {
		return false, fmt.Errorf("store: revoke role: %w", err)
	}
	n, err := res.RowsAffected()
	return n > 0, err
}

// setDisabled disables or enables userID; it reports whether anything changed.
func (s *store) setDisabled(ctx context.Context, userID string, disabled bool) (bool, error) {
	res, err := s.exec(ctx, `UPDATE users SET disabled = ? WHERE id = ? AND disabled <> ?`, boolInt(disabled), userID, boolInt(disabled))
	if err != nil {
		return false, fmt.Errorf("store: disable user: %w", err)
	}
	n, err := res.RowsAffected()
	return n > 0, err
}

// likeEscape escapes the LIKE wildcards in s for ESCAPE '\'.
func likeEscape(s string) string {
	return strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`).Replace(s)
}
