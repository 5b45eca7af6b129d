package main

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Listing states.
const (
	statusActive = "active"
	statusHidden = "hidden"
)

// listing is one item for sale.
type listing struct {
	ID               string
	SellerID         string
	SellerName       string
	Title            string
	Description      string
	PriceCents       int64
	Status           string
	ModerationReason string
	CreatedAt        time.Time
	UpdatedAt        time.Time
}

// Hidden reports whether a moderator hid the listing.
func (l listing) Hidden() bool { return l.Status == statusHidden }

// Price formats the price for display.
func (l listing) Price() string { return formatCents(l.PriceCents) }

// errNotOwner is returned when a user acts on another seller's listing.
var errNotOwner = errors.New("marketplace: listing belongs to another seller")

// errUnderModeration refuses to delete a hidden listing: its reports and
// moderation decisions are kept until a moderator restores it.
var errUnderModeration = errors.New("marketplace: listing is hidden by a moderator")

const listingColumns = `l.id, l.seller_id, u.display_name, l.title, l.description, l.price_cents, l.status, l.moderation_reason, l.created_at, l.updated_at`

func scanListing(row interface{ Scan(...any) error }) (listing, error) {
	var l listing
	var created, updated int64
	if err := row.Scan(&l.ID, &l.SellerID, &l.SellerName, &l.Title, &l.Description, &l.PriceCents, &l.Status,
		&l.ModerationReason, &created, &updated); err != nil {
		return listing{}, err
	}
	l.CreatedAt, l.UpdatedAt = fromMS(created), fromMS(updated)
	return l, nil
}

// createListing inserts l for its seller and returns it with ID and times.
func (s *store) createListing(ctx context.Context, l listing) (listing, error) {
	l.ID = newID()
	l.Status = statusActive
	l.CreatedAt = s.now().UTC()
	l.UpdatedAt = l.CreatedAt
	_, err := s.exec(ctx, `INSERT INTO listings (id, seller_id, title, description, price_cents, status, moderation_reason, created_at, updated_at)
		VALUES (?, ?, ?, ?, ?, ?, '', ?, ?)`, l.ID, l.SellerID, l.Title, l.Description, l.PriceCents, l.Status, ms(l.CreatedAt), ms(l.UpdatedAt))
	if err != nil {
		return listing{}, fmt.Errorf("store: create listing: %w", err)
	}
	return l, nil
}

// listingByID returns the listing with id, or errNotFound.
func (s *store) listingByID(ctx context.Context, id string) (listing, error) {
	l, err := scanListing(s.queryRow(ctx, `SELECT `+listingColumns+` FROM listings l JOIN users u ON u.id = l.seller_id WHERE l.id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return listing{}, errNotFound
	}
	if err != nil {
		return listing{}, fmt.Errorf("store: listing: %w", err)
	}
	return l, nil
}

// ownerCheck explains why a write by sellerID to listing id matched no row:
// errNotFound when the listing does not exist, errNotOwner when it is
// someone else's.
func (s *store) ownerCheck(ctx context.Context, id, sellerID string) error {
	var owner string
	err := s.queryRow(ctx, `SELECT seller_id FROM listings WHERE id = ?`, id).Scan(&owner)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return errNotFound
	case err != nil:
		return fmt.Errorf("store: listing owner: %w", err)
	case owner != sellerID:
		return errNotOwner
	}
	return errNotFound // it existed a moment ago: treat as gone
}

// updateListing changes title, description and price of the listing, only
// if sellerID owns it; otherwise errNotFound or errNotOwner, changing nothing.
func (s *store) updateListing(ctx context.Context, l listing) error {
	res, err := s.exec(ctx, `UPDATE listings SET title = ?, description = ?, price_cents = ?, updated_at = ? WHERE id = ? AND seller_id = ?`,
		l.Title, l.Description, l.PriceCents, ms(s.now()), l.ID, l.SellerID)
	if err != nil {
		return fmt.Errorf("store: update listing: %w", err)
	}
	if n, err := res.RowsAffected(); err != nil || n == 0 {
		if err != nil {
			return fmt.Errorf("store: update listing: %w", err)
		}
		return s.ownerCheck(ctx, l.ID, l.SellerID)
	}
	return nil
}

// deleteListing deletes the listing only if sellerID owns it; otherwise
// errNotFound or errNotOwner, changing nothing.
func (s *store) deleteListing(ctx context.Context, id, sellerID string) error {
	res, err := s.exec(ctx, `DELETE FROM listings WHERE id = ? AND seller_id = ? AND status <> ?`, id, sellerID, statusHidden)
	if err != nil {
		return fmt.Errorf("store: delete listing: %w", err)
	}
	if n, err := res.RowsAffected(); err != nil || n == 0 {
		if err != nil {
			return fmt.Errorf("store: delete listing: %w", err)
		}
		if err := s.ownerCheck(ctx, id, sellerID); !errors.Is(err, errNotFound) {
			return err
		}
		var status string
		if err := s.queryRow(ctx, `SELECT status FROM listings WHERE id = ?`, id).Scan(&status); err == nil && status == statusHidden {
			return errUnderModeration
		}
		return errNotFound
	}
	return nil
}

// listingFilter selects listings.
type listingFilter struct {
	Query    string // words in the title or description
	SellerID string // only this seller's
	Status   string // "" for any
	Offset   int
	Limit    int
}

// listListings returns listings matching f, newest first.
func (s *store) listListings(ctx context.Context, f listingFilter) ([]listing, error) {
	where, args := []string{"1=1"}, []any{}
	if f.Status != "" {
		where = append(where, "l.status = ?")
		args = append(args, f.Status)
	}
	if f.SellerID != "" {
		where = append(where, "l.seller_id = ?")
		args = append(args, f.SellerID)
	}
	for _, w := range strings.Fields(strings.ToLower(f.Query)) {
		where = append(where, `(LOWER(l.title) LIKE ? ESCAPE '\' OR LOWER(l.description) LIKE ? ESCAPE '\')`)
		p := "%" + likeEscape(w) + "%"
		args = append(args, p, p)
	}
	args = append(args, f.Limit, f.Offset)
	rows, err := s.query(ctx, `SELECT `+listingColumns+` FROM listings l JOIN users u ON u.id = l.seller_id WHERE `+
		strings.Join(where, " AND ")+` ORDER BY l.created_at DESC, l.id LIMIT ? OFFSET ?`, args...)
	if err != nil {
		return nil, fmt.Errorf("store: list listings: %w", err)
	}
	defer rows.Close()
	var out []listing
	for rows.Next() {
		l, err := scanListing(rows)
		if err != nil {
			return nil, fmt.Errorf("store: list listings: %w", err)
		}
		out = append(out, l)
	}
	return out, rows.Err()
}

// countListings returns how many listings sellerID has, hidden ones included.
func (s *store) countListings(ctx context.Context, sellerID string) (int, error) {
	var n int
	if err := s.queryRow(ctx, `SELECT COUNT(*) FROM listings WHERE seller_id = ?`, sellerID).Scan(&n); err != nil {
		return 0, fmt.Errorf("store: count listings: %w", err)
	}
	return n, nil
}

// errAlreadyReported is returned when a user reports a listing they have an
// open report on.
var errAlreadyReported = errors.New("marketplace: you have already reported this listing")

// createReport records reporterID's report on an active listing.
func (s *store) createReport(ctx context.Context, listingID, reporterID, reason string) error {
	return s.tx(ctx, func(t *txn) error {
		var status string
		err := t.queryRow(ctx, `SELECT status FROM listings WHERE id = ?`, listingID).Scan(&status)
		if errors.Is(err, sql.ErrNoRows) || status == statusHidden {
			return errNotFound
		}
		if err != nil {
			return fmt.Errorf("store: report: %w", err)
		}
		// One open report per reporter, kept by a unique index: a check
		// before the insert would let concurrent reports through to the
		// index (with PostgreSQL) as an error.
		res, err := t.exec(ctx, `INSERT INTO reports (id, listing_id, reporter_id, reason, created_at) VALUES (?, ?, ?, ?, ?)
			ON CONFLICT (listing_id, reporter_id) WHERE resolved_at IS NULL DO NOTHING`,
			newID(), listingID, reporterID, reason, ms(s.now()))
		if err != nil {
			return fmt.Errorf("store: report: %w", err)
		}
		if n, err := res.RowsAffected(); err != nil {
			return fmt.Errorf("store: report: %w", err)
		} else if n == 0 {
			return errAlreadyReported
		}
		return nil
	})
}

// report is one user's report on a listing.
type report struct {
	ID           string
	ReporterName string
	Reason       string
	CreatedAt    time.Time
}

// queueItem is a listing in the moderation queue with its open reports.
type queueItem struct {
	Listing listing
	Reports []report
}

// moderationQueue returns active listings with open reports, most reported
// first, then hidden listings (to restore), newest first.
func (s *store) moderationQueue(ctx context.Context, limit int) (reported []queueItem, hidden []listing, err error) {
	rows, err := s.query(ctx, `SELECT `+listingColumns+` FROM listings l JOIN users u ON u.id = l.seller_id
		WHERE l.status = ? AND EXISTS (SELECT 1 FROM reports r WHERE r.listing_id = l.id AND r.resolved_at IS NULL)
		ORDER BY (SELECT COUNT(*) FROM reports r WHERE r.listing_id = l.id AND r.resolved_at IS NULL) DESC, l.created_at DESC
		LIMIT ?`, statusActive, limit)
	if err != nil {
		return nil, nil, fmt.Errorf("store: moderation queue: %w", err)
	}
	for rows.Next() {
		l, err := scanListing(rows)
		if err != nil {
			rows.Close()
			return nil, nil, fmt.Errorf("store: moderation queue: %w", err)
		}
		reported = append(reported, queueItem{Listing: l})
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, nil, fmt.Errorf("store: moderation queue: %w", err)
	}
	if err := s.openReports(ctx, reported); err != nil {
		return nil, nil, err
	}
	hidden, err = s.listListings(ctx, listingFilter{Status: statusHidden, Limit: limit})
	return reported, hidden, err
}

// openReports fills in the open reports of every item, oldest first, in
// one query.
func (s *store) openReports(ctx context.Context, items []queueItem) error {
	if len(items) == 0 {
		return nil
	}
	ids := make([]any, len(items))
	byID := make(map[string]*queueItem, len(items))
	for i := range items {
		ids[i], byID[items[i].Listing.ID] = items[i].Listing.ID, &items[i]
	}
	rows, err := s.query(ctx, `SELECT r.listing_id, r.id, u.display_name, r.reason, r.created_at FROM reports r JOIN users u ON u.id = r.reporter_id
		WHERE r.listing_id IN (?`+strings.Repeat(", ?", len(ids)-1)+`) AND r.resolved_at IS NULL ORDER BY r.created_at, r.id`, ids...)
	if err != nil {
		return fmt.Errorf("store: reports: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var listingID string
		var r report
		var created int64
		if err := rows.Scan(&listingID, &r.ID, &r.ReporterName, &r.Reason, &created); err != nil {
			return fmt.Errorf("store: reports: %w", err)
		}
		r.CreatedAt = fromMS(created)
		if it := byID[listingID]; it != nil {
			it.Reports = append(it.Reports, r)
		}
	}
	return rows.Err()
}

// Moderation actions.
const (
	modHide    = "hide"
	modRestore = "restore"
	modDismiss = "dismiss"
)

// errWrongState is returned when a moderation action does not apply to the
// listing's current state (restoring a visible listing, say).
var errWrongState = errors.New("marketplace: the listing is not in a state this action applies to")

// moderate applies action to the listing with the moderator's reason,
// resolves its open reports and records the action, in one transaction.
func (s *store) moderate(ctx context.Context, listingID, moderatorID, action, reason string) (resolved int64, err error) {
	now := ms(s.now())
	err = s.tx(ctx, func(t *txn) error {
		var status string
		err := t.queryRow(ctx, `SELECT status FROM listings WHERE id = ?`, listingID).Scan(&status)
		if errors.Is(err, sql.ErrNoRows) {
			return errNotFound
		}
		if err != nil {
			return fmt.Errorf("store: moderate: %w", err)
		}
		var newStatus, resolution string
		switch action {
		case modHide:
			if status != statusActive {
				return errWrongState
			}
			newStatus, resolution = statusHidden, "hidden"
		case modRestore:
			if status != statusHidden {
				return errWrongState
			}
			newStatus, resolution = statusActive, "restored"
		case modDismiss:
			if status != statusActive {
				return errWrongState
			}
			newStatus, resolution = statusActive, "dismissed"
		default:
			return errWrongState
		}
		modReason := reason
		if newStatus == statusActive {
			modReason = ""
		}
		// Conditional on the status read above, so that of concurrent
		// decisions on one listing (PostgreSQL runs them at once) only
		// the first applies; the others wait for it and match no row.
		upd, err := t.exec(ctx, `UPDATE listings SET status = ?, moderation_reason = ? WHERE id = ? AND status = ?`,
			newStatus, modReason, listingID, status)
		if err != nil {
			return fmt.Errorf("store: moderate: %w", err)
		}
		if n, err := upd.RowsAffected(); err != nil {
			return fmt.Errorf("store: moderate: %w", err)
		} else if n == 0 {
			return errWrongState
		}
		res, err := t.exec(ctx, `UPDATE reports SET resolved_at = ?, resolved_by = ?, resolution = ? WHERE listing_id = ? AND resolved_at IS NULL`,
			now, moderatorID, resolution, listingID)
		if err != nil {
			return fmt.Errorf("store: moderate: %w", err)
		}
		resolved, _ = res.RowsAffected()
		if action == modDismiss && resolved == 0 {
			return errWrongState // nothing to dismiss
		}
		_, err = t.exec(ctx, `INSERT INTO moderation_actions (id, listing_id, moderator_id, action, reason, created_at) VALUES (?, ?, ?, ?, ?, ?)`,
			newID(), listingID, moderatorID, action, reason, now)
		if err != nil {
			return fmt.Errorf("store: moderate: %w", err)
		}
		return nil
	})
	return resolved, err
}

// modAction is one recorded moderation action.
type modAction struct {
	ListingID     string
	ListingTitle  string
	ModeratorName string
	Action        string
	Reason        string
	CreatedAt     time.Time
}

// recentModeration returns the latest moderation actions.
func (s *store) recentModeration(ctx context.Context, limit int) ([]modAction, error) {
	rows, err := s.query(ctx, `SELECT m.listing_id, l.title, COALESCE(u.display_name, m.moderator_id), m.action, m.reason, m.created_at
		FROM moderation_actions m JOIN listings l ON l.id = m.listing_id LEFT JOIN users u ON u.id = m.moderator_id
		ORDER BY m.created_at DESC, m.id LIMIT ?`, limit)
	if err != nil {
		return nil, fmt.Errorf("store: moderation history: %w", err)
	}
	defer rows.Close()
	var out []modAction
	for rows.Next() {
		var a modAction
		var created int64
		if err := rows.Scan(&a.ListingID, &a.ListingTitle, &a.ModeratorName, &a.Action, &a.Reason, &created); err != nil {
			return nil, fmt.Errorf("store: moderation history: %w", err)
		}
		a.CreatedAt = fromMS(created)
		out = append(out, a)
	}
	return out, rows.Err()
}
