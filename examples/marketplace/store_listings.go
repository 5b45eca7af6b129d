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

// errUnderModeration refuses to change or delete a hidden listing: what it
// said when a moderator hid it stays as it was, with its reports and the
// decision, until a moderator restores it.
var errUnderModeration = errors.New("marketplace: listing is hidden by a moderator")

// errOpenReports refuses to change or delete a listing with open reports:
// what was reported stays as it was until a moderator decides.
var errOpenReports = errors.New("marketplace: listing has open reports")

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

// lockListing reads the seller, status and content of the listing in a
// write transaction, or errNotFound, and locks its row until the
// transaction ends: FOR UPDATE with PostgreSQL; SQLite's transactions hold
// the database's write lock from BEGIN (_txlock=immediate). So an edit, a
// delete, a report and a moderation decision on one listing run one after
// the other: a report or decision records the content it applies to, and
// an edit or delete sees every report committed before it.
func (t *txn) lockListing(ctx context.Context, id string) (listing, error) {
	q := `SELECT seller_id, title, description, price_cents, status FROM listings WHERE id = ?`
	if t.s.dialect == dialectPostgres {
		q += ` FOR UPDATE`
	}
	l := listing{ID: id}
	err := t.queryRow(ctx, q, id).Scan(&l.SellerID, &l.Title, &l.Description, &l.PriceCents, &l.Status)
	if errors.Is(err, sql.ErrNoRows) {
		return listing{}, errNotFound
	}
	if err != nil {
		return listing{}, fmt.Errorf("store: listing: %w", err)
	}
	return l, nil
}

// editable returns why sellerID may not change or delete l now (locked by
// lockListing): errNotOwner, or as checkEditable; nil if they may.
func (t *txn) editable(ctx context.Context, l listing, sellerID string) error {
	if l.SellerID != sellerID {
		return errNotOwner
	}
	return pendingModeration(ctx, t.queryRow, l)
}

// checkEditable returns why l's seller may not change or delete it now
// (errUnderModeration, errOpenReports), or nil, for the pages that offer
// the change; the write checks again in its transaction (editable).
func (s *store) checkEditable(ctx context.Context, l listing) error {
	return pendingModeration(ctx, s.queryRow, l)
}

// pendingModeration returns errUnderModeration if l is hidden,
// errOpenReports if it has reports no moderator has decided on, else nil,
// querying through queryRow (a store's or a transaction's).
func pendingModeration(ctx context.Context, queryRow func(context.Context, string, ...any) *sql.Row, l listing) error {
	if l.Hidden() {
		return errUnderModeration
	}
	var open bool
	err := queryRow(ctx, `SELECT EXISTS (SELECT 1 FROM reports WHERE listing_id = ? AND resolved_at IS NULL)`, l.ID).Scan(&open)
	switch {
	case err != nil:
		return fmt.Errorf("store: open reports: %w", err)
	case open:
		return errOpenReports
	}
	return nil
}

// updateListing changes title, description and price of the listing, only
// if sellerID owns it and it is neither hidden nor reported; otherwise
// errNotFound, errNotOwner, errUnderModeration or errOpenReports, changing
// nothing.
func (s *store) updateListing(ctx context.Context, l listing) error {
	return s.tx(ctx, func(t *txn) error {
		cur, err := t.lockListing(ctx, l.ID)
		if err != nil {
			return err
		}
		if err := t.editable(ctx, cur, l.SellerID); err != nil {
			return err
		}
		if _, err := t.exec(ctx, `UPDATE listings SET title = ?, description = ?, price_cents = ?, updated_at = ? WHERE id = ?`,
			l.Title, l.Description, l.PriceCents, ms(s.now()), l.ID); err != nil {
			return fmt.Errorf("store: update listing: %w", err)
		}
		return nil
	})
}

// deleteListing deletes the listing (its resolved reports and decisions
// with it) only if sellerID owns it and it is neither hidden nor reported;
// otherwise errNotFound, errNotOwner, errUnderModeration or errOpenReports,
// changing nothing.
func (s *store) deleteListing(ctx context.Context, id, sellerID string) error {
	return s.tx(ctx, func(t *txn) error {
		cur, err := t.lockListing(ctx, id)
		if err != nil {
			return err
		}
		if err := t.editable(ctx, cur, sellerID); err != nil {
			return err
		}
		if _, err := t.exec(ctx, `DELETE FROM listings WHERE id = ?`, id); err != nil {
			return fmt.Errorf("store: delete listing: %w", err)
		}
		return nil
	})
}

// listingSnapshot is the content of a listing as it was when it was
// reported or moderated: the evidence a moderator judges, whatever the
// seller changes later.
type listingSnapshot struct {
	ID          string
	Title       string
	Description string
	PriceCents  int64
	CreatedAt   time.Time // when this content was first recorded
}

// Price formats the price for display.
func (s listingSnapshot) Price() string { return formatCents(s.PriceCents) }

// snapshot records the content of l (read by lockListing) and returns its
// ID: the listing's earlier snapshot with the same content, if any, so
// that many reports on unchanged content share one row.
func (t *txn) snapshot(ctx context.Context, l listing) (string, error) {
	var id string
	err := t.queryRow(ctx, `SELECT id FROM listing_snapshots WHERE listing_id = ? AND title = ? AND description = ? AND price_cents = ?
		ORDER BY created_at, id LIMIT 1`, l.ID, l.Title, l.Description, l.PriceCents).Scan(&id)
	switch {
	case err == nil:
		return id, nil
	case !errors.Is(err, sql.ErrNoRows):
		return "", fmt.Errorf("store: snapshot: %w", err)
	}
	id = newID()
	if _, err := t.exec(ctx, `INSERT INTO listing_snapshots (id, listing_id, title, description, price_cents, created_at) VALUES (?, ?, ?, ?, ?, ?)`,
		id, l.ID, l.Title, l.Description, l.PriceCents, ms(t.s.now())); err != nil {
		return "", fmt.Errorf("store: snapshot: %w", err)
	}
	return id, nil
}

// snapshotColumns are the columns of a snapshot joined as s, read with
// nullSnapshot: reports and decisions from before snapshots were kept
// have none.
const snapshotColumns = `s.id, s.title, s.description, s.price_cents, s.created_at`

// nullSnapshot scans snapshotColumns from an outer join.
type nullSnapshot struct {
	id, title, desc sql.NullString
	price, created  sql.NullInt64
}

func (n *nullSnapshot) dest() []any {
	return []any{&n.id, &n.title, &n.desc, &n.price, &n.created}
}

// get returns the snapshot, nil if there was none.
func (n *nullSnapshot) get() *listingSnapshot {
	if !n.id.Valid {
		return nil
	}
	return &listingSnapshot{ID: n.id.String, Title: n.title.String, Description: n.desc.String,
		PriceCents: n.price.Int64, CreatedAt: fromMS(n.created.Int64)}
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

// createReport records reporterID's report on an active listing, with a
// snapshot of the listing's content as the reporter saw it.
func (s *store) createReport(ctx context.Context, listingID, reporterID, reason string) error {
	return s.tx(ctx, func(t *txn) error {
		l, err := t.lockListing(ctx, listingID)
		if err != nil {
			return err
		}
		if l.Hidden() {
			return errNotFound
		}
		snap, err := t.snapshot(ctx, l)
		if err != nil {
			return err
		}
		// One open report per reporter, kept by a unique index: a check
		// before the insert would let concurrent reports through to the
		// index (with PostgreSQL) as an error.
		res, err := t.exec(ctx, `INSERT INTO reports (id, listing_id, reporter_id, reason, created_at, snapshot_id) VALUES (?, ?, ?, ?, ?, ?)
			ON CONFLICT (listing_id, reporter_id) WHERE resolved_at IS NULL DO NOTHING`,
			newID(), listingID, reporterID, reason, ms(s.now()), snap)
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
	Snapshot     *listingSnapshot // the content reported; nil for reports made before snapshots were kept
}

// queueItem is a listing in the moderation queue with its open reports.
type queueItem struct {
	Listing listing
	Reports []report
}

// evidence is the reports made on one content of a listing.
type evidence struct {
	Snapshot *listingSnapshot // nil: reports made before snapshots were kept
	Reports  []report
}

// Evidence groups the item's reports by the content they were made on, in
// the order of each content's first report.
func (it queueItem) Evidence() []evidence {
	var out []evidence
	at := map[string]int{}
	for _, r := range it.Reports {
		key := ""
		if r.Snapshot != nil {
			key = r.Snapshot.ID
		}
		i, ok := at[key]
		if !ok {
			i = len(out)
			at[key] = i
			out = append(out, evidence{Snapshot: r.Snapshot})
		}
		out[i].Reports = append(out[i].Reports, r)
	}
	return out
}

// hiddenItem is a hidden listing in the moderation queue with its content
// when it was hidden.
type hiddenItem struct {
	Listing  listing
	Snapshot *listingSnapshot // nil if hidden before snapshots were kept
}

// moderationQueue returns active listings with open reports, most reported
// first, then hidden listings (to restore), newest first, each with the
// content that was reported or hidden.
func (s *store) moderationQueue(ctx context.Context, limit int) (reported []queueItem, hidden []hiddenItem, err error) {
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
			_ = rows.Close()
			return nil, nil, fmt.Errorf("store: moderation queue: %w", err)
		}
		reported = append(reported, queueItem{Listing: l})
	}
	_ = rows.Close()
	if err := rows.Err(); err != nil {
		return nil, nil, fmt.Errorf("store: moderation queue: %w", err)
	}
	if err := s.openReports(ctx, reported); err != nil {
		return nil, nil, err
	}
	ls, err := s.listListings(ctx, listingFilter{Status: statusHidden, Limit: limit})
	if err != nil {
		return nil, nil, err
	}
	hidden, err = s.hiddenSnapshots(ctx, ls)
	return reported, hidden, err
}

// hiddenSnapshots pairs each hidden listing with the content recorded by
// its latest hide decision, in one query.
func (s *store) hiddenSnapshots(ctx context.Context, ls []listing) ([]hiddenItem, error) {
	if len(ls) == 0 {
		return nil, nil
	}
	items := make([]hiddenItem, len(ls))
	args := []any{modHide}
	byID := make(map[string]*hiddenItem, len(ls))
	for i, l := range ls {
		items[i].Listing, byID[l.ID] = l, &items[i]
		args = append(args, l.ID)
	}
	rows, err := s.query(ctx, `SELECT m.listing_id, `+snapshotColumns+` FROM moderation_actions m JOIN listing_snapshots s ON s.id = m.snapshot_id
		WHERE m.action = ? AND m.listing_id IN (?`+strings.Repeat(", ?", len(ls)-1)+`) ORDER BY m.created_at, m.id`, args...)
	if err != nil {
		return nil, fmt.Errorf("store: hidden listings: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var listingID string
		var ns nullSnapshot
		if err := rows.Scan(append([]any{&listingID}, ns.dest()...)...); err != nil {
			return nil, fmt.Errorf("store: hidden listings: %w", err)
		}
		if it := byID[listingID]; it != nil {
			it.Snapshot = ns.get() // the latest decision comes last
		}
	}
	return items, rows.Err()
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
	rows, err := s.query(ctx, `SELECT r.listing_id, r.id, u.display_name, r.reason, r.created_at, `+snapshotColumns+`
		FROM reports r JOIN users u ON u.id = r.reporter_id LEFT JOIN listing_snapshots s ON s.id = r.snapshot_id
		WHERE r.listing_id IN (?`+strings.Repeat(", ?", len(ids)-1)+`) AND r.resolved_at IS NULL ORDER BY r.created_at, r.id`, ids...)
	if err != nil {
		return fmt.Errorf("store: reports: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var listingID string
		var r report
		var created int64
		var ns nullSnapshot
		if err := rows.Scan(append([]any{&listingID, &r.ID, &r.ReporterName, &r.Reason, &created}, ns.dest()...)...); err != nil {
			return fmt.Errorf("store: reports: %w", err)
		}
		r.CreatedAt, r.Snapshot = fromMS(created), ns.get()
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
		l, err := t.lockListing(ctx, listingID)
		if err != nil {
			return err
		}
		status := l.Status
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
		// The row is locked, so concurrent decisions on one listing run
		// one after the other and the later ones see the new status; the
		// condition on the status read is a second guard.
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
		snap, err := t.snapshot(ctx, l)
		if err != nil {
			return err
		}
		_, err = t.exec(ctx, `INSERT INTO moderation_actions (id, listing_id, moderator_id, action, reason, created_at, snapshot_id) VALUES (?, ?, ?, ?, ?, ?, ?)`,
			newID(), listingID, moderatorID, action, reason, now, snap)
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
	ListingTitle  string // the title now
	ModeratorName string
	Action        string
	Reason        string
	CreatedAt     time.Time
	Snapshot      *listingSnapshot // the content decided on; nil for decisions made before snapshots were kept
}

// recentModeration returns the latest moderation actions, with the content
// each applied to.
func (s *store) recentModeration(ctx context.Context, limit int) ([]modAction, error) {
	rows, err := s.query(ctx, `SELECT m.listing_id, l.title, COALESCE(u.display_name, m.moderator_id), m.action, m.reason, m.created_at, `+snapshotColumns+`
		FROM moderation_actions m JOIN listings l ON l.id = m.listing_id LEFT JOIN users u ON u.id = m.moderator_id
		LEFT JOIN listing_snapshots s ON s.id = m.snapshot_id
		ORDER BY m.created_at DESC, m.id LIMIT ?`, limit)
	if err != nil {
		return nil, fmt.Errorf("store: moderation history: %w", err)
	}
	defer rows.Close()
	var out []modAction
	for rows.Next() {
		var a modAction
		var created int64
		var ns nullSnapshot
		if err := rows.Scan(append([]any{&a.ListingID, &a.ListingTitle, &a.ModeratorName, &a.Action, &a.Reason, &created}, ns.dest()...)...); err != nil {
			return nil, fmt.Errorf("store: moderation history: %w", err)
		}
		a.CreatedAt, a.Snapshot = fromMS(created), ns.get()
		out = append(out, a)
	}
	return out, rows.Err()
}
