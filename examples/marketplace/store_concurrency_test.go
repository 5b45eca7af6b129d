package main

import (
	"context"
	"database/sql"
	"fmt"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/deployedworks/rampart/internal/testenv"
)

// storeDialects returns a migrated store per dialect: SQLite always, and
// PostgreSQL (in a schema of its own, dropped afterwards) when
// RAMPART_TEST_POSTGRES_DSN is set.
func storeDialects(t *testing.T) map[string]*store {
	t.Helper()
	ctx := context.Background()
	out := map[string]*store{}
	lite, err := openStore(ctx, t.TempDir(), "", time.Now)
	require.NoError(t, err)
	t.Cleanup(func() { _ = lite.Close() })
	_, err = lite.migrate(ctx)
	require.NoError(t, err)
	out["sqlite"] = lite

	if postgresConfigured() {
		pg, err := openStore(ctx, "", postgresSchema(t), time.Now)
		require.NoError(t, err)
		t.Cleanup(func() { _ = pg.Close() })
		_, err = pg.migrate(ctx)
		require.NoError(t, err)
		out["postgres"] = pg
	}
	return out
}

// postgresConfigured reports whether tests should run on PostgreSQL too:
// RAMPART_TEST_POSTGRES_DSN is set, or integration tests are required.
func postgresConfigured() bool {
	return os.Getenv(testenv.EnvPostgres) != "" || testenv.Required()
}

// postgresSchema creates a PostgreSQL schema of its own, dropped when the
// test ends, and returns a DATABASE_URL that uses it.
func postgresSchema(t *testing.T) string {
	t.Helper()
	ctx := context.Background()
	dsn := testenv.PostgresDSN(t)
	schema := "mkt_test_" + newID()
	admin, err := sql.Open("pgx", dsn)
	require.NoError(t, err)
	t.Cleanup(func() { _ = admin.Close() })
	_, err = admin.ExecContext(ctx, `CREATE SCHEMA `+schema)
	require.NoError(t, err)
	t.Cleanup(func() { _, _ = admin.ExecContext(context.Background(), `DROP SCHEMA `+schema+` CASCADE`) })
	u, err := url.Parse(dsn)
	require.NoError(t, err)
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}

// appDialects returns, for each database the tests run on, the option
// that puts a test app on it: SQLite always (the default), PostgreSQL in
// a schema of its own when configured (see postgresConfigured).
func appDialects(t *testing.T) map[string]func(*Config) {
	t.Helper()
	out := map[string]func(*Config){"sqlite": func(*Config) {}}
	if postgresConfigured() {
		dbURL := postgresSchema(t)
		out["postgres"] = func(c *Config) { c.DatabaseURL = dbURL }
	}
	return out
}

// race runs fn n times at once and returns the errors.
func race(n int, fn func(i int) error) []error {
	errs := make([]error, n)
	testenv.Race(n, func(i int) { errs[i] = fn(i) })
	return errs
}

// onlyOne asserts that exactly one call succeeded and every other failed
// with want.
func onlyOne(t *testing.T, errs []error, want error) {
	t.Helper()
	ok := 0
	for _, err := range errs {
		if err == nil {
			ok++
			continue
		}
		assert.ErrorIs(t, err, want)
	}
	assert.Equal(t, 1, ok, "exactly one succeeds: %v", errs)
}

// TestStore_ConcurrentWritesRegression: with PostgreSQL, concurrent
// sign-ups with one e-mail address, concurrent reports by one user and
// concurrent moderation of one listing used to check and then write, so
// the losers hit a unique index (a 500) or acted twice.
func TestStore_ConcurrentWritesRegression(t *testing.T) {
	t.Parallel()
	for name, s := range storeDialects(t) {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			errs := race(8, func(int) error {
				_, err := s.createUser(ctx, user{Email: "Same@Example.com", DisplayName: "Same", Hash: "x"})
				return err
			})
			onlyOne(t, errs, errEmailTaken)

			seller, err := s.createUser(ctx, user{Email: "seller@example.com", DisplayName: "Seller", Hash: "x"})
			require.NoError(t, err)
			reporter, err := s.createUser(ctx, user{Email: "reporter@example.com", DisplayName: "Reporter", Hash: "x"})
			require.NoError(t, err)
			l, err := s.createListing(ctx, listing{SellerID: seller.ID, Title: "Lamp", Description: "x", PriceCents: 1})
			require.NoError(t, err)
			errs = race(8, func(int) error { return s.createReport(ctx, l.ID, reporter.ID, "fake") })
			onlyOne(t, errs, errAlreadyReported)

			errs = race(8, func(i int) error {
				_, err := s.moderate(ctx, l.ID, "mod"+strings.Repeat("x", i), modHide, "counterfeit")
				return err
			})
			onlyOne(t, errs, errWrongState)
			var n int
			require.NoError(t, s.queryRow(ctx, `SELECT COUNT(*) FROM moderation_actions WHERE listing_id = ?`, l.ID).Scan(&n))
			assert.Equal(t, 1, n, "one decision recorded")

			// The one-admin rule holds under concurrency too.
			stored, _, err := s.offerSetupToken(ctx, hashSetupToken("TOKEN"), false)
			require.NoError(t, err)
			require.True(t, stored)
			errs = race(8, func(i int) error {
				_, err := s.createFirstAdmin(ctx, user{Email: "root" + strings.Repeat("x", i) + "@example.com", DisplayName: "Root", Hash: "x"}, "TOKEN")
				return err
			})
			onlyOne(t, errs, errAdminExists)
			require.NoError(t, s.queryRow(ctx, `SELECT COUNT(*) FROM user_roles WHERE role = ?`, roleAdmin).Scan(&n))
			assert.Equal(t, 1, n)
		})
	}
}

// TestStore_ReportEditRace: a seller's edits racing with reports on one
// listing. The listing's row is locked by both, so no edit lands after a
// report: when all is done every report's snapshot is the listing's
// content, and each edit either applied or was refused with
// errOpenReports. Whatever the interleaving, on both dialects.
func TestStore_ReportEditRace(t *testing.T) {
	t.Parallel()
	for name, s := range storeDialects(t) {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			seller, err := s.createUser(ctx, user{Email: "seller@example.com", DisplayName: "Seller", Hash: "x"})
			require.NoError(t, err)
			var reporters []user
			for i := range 4 {
				u, err := s.createUser(ctx, user{Email: fmt.Sprintf("r%d@example.com", i), DisplayName: "R", Hash: "x"})
				require.NoError(t, err)
				reporters = append(reporters, u)
			}
			l, err := s.createListing(ctx, listing{SellerID: seller.ID, Title: "Lamp", Description: "x", PriceCents: 1})
			require.NoError(t, err)
			errs := race(12, func(i int) error {
				if i%3 == 0 {
					return s.createReport(ctx, l.ID, reporters[i/3].ID, "fake")
				}
				return s.updateListing(ctx, listing{ID: l.ID, SellerID: seller.ID, Title: fmt.Sprintf("Lamp %d", i), Description: "x", PriceCents: int64(i)})
			})
			for i, err := range errs {
				if i%3 == 0 {
					assert.NoError(t, err, "report %d", i)
				} else if err != nil {
					assert.ErrorIs(t, err, errOpenReports, "edit %d", i)
				}
			}
			final, err := s.listingByID(ctx, l.ID)
			require.NoError(t, err)
			rows, err := s.query(ctx, `SELECT s.title, s.price_cents FROM reports r JOIN listing_snapshots s ON s.id = r.snapshot_id WHERE r.listing_id = ?`, l.ID)
			require.NoError(t, err)
			defer rows.Close()
			n := 0
			for rows.Next() {
				var title string
				var cents int64
				require.NoError(t, rows.Scan(&title, &cents))
				assert.Equal(t, final.Title, title, "no edit after a report")
				assert.Equal(t, final.PriceCents, cents)
				n++
			}
			require.NoError(t, rows.Err())
			assert.Equal(t, 4, n, "every report, each with its snapshot")
		})
	}
}

// The admin user list and the moderation queue load roles and reports for
// the whole page in one query each: every row gets its own, on both
// dialects.
func TestStore_PageQueries(t *testing.T) {
	t.Parallel()
	for name, s := range storeDialects(t) {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			var users []user
			for i := range 3 {
				u, err := s.createUser(ctx, user{Email: fmt.Sprintf("u%d@example.com", i), DisplayName: fmt.Sprintf("U%d", i), Hash: "x"})
				require.NoError(t, err)
				users = append(users, u)
			}
			_, err := s.grantRole(ctx, users[0].ID, roleModerator, users[2].ID)
			require.NoError(t, err)
			_, err = s.grantRole(ctx, users[0].ID, roleAdmin, users[2].ID)
			require.NoError(t, err)
			_, err = s.grantRole(ctx, users[1].ID, roleModerator, users[2].ID)
			require.NoError(t, err)
			list, err := s.listUsers(ctx, userFilter{Limit: 10})
			require.NoError(t, err)
			roles := map[string][]string{}
			for _, u := range list {
				roles[u.DisplayName] = u.Roles
			}
			assert.Equal(t, map[string][]string{"U0": {roleAdmin, roleModerator}, "U1": {roleModerator}, "U2": nil}, roles)

			a, err := s.createListing(ctx, listing{SellerID: users[0].ID, Title: "A", Description: "x", PriceCents: 1})
			require.NoError(t, err)
			b, err := s.createListing(ctx, listing{SellerID: users[0].ID, Title: "B", Description: "x", PriceCents: 1})
			require.NoError(t, err)
			require.NoError(t, s.createReport(ctx, a.ID, users[1].ID, "first"))
			require.NoError(t, s.createReport(ctx, a.ID, users[2].ID, "second"))
			require.NoError(t, s.createReport(ctx, b.ID, users[1].ID, "only"))
			queue, _, err := s.moderationQueue(ctx, 10)
			require.NoError(t, err)
			got := map[string][]string{}
			for _, it := range queue {
				for _, r := range it.Reports {
					got[it.Listing.Title] = append(got[it.Listing.Title], r.ReporterName+": "+r.Reason)
				}
			}
			// Reports made in one millisecond have no defined order.
			assert.Len(t, got, 2)
			assert.ElementsMatch(t, []string{"U1: first", "U2: second"}, got["A"])
			assert.Equal(t, []string{"U1: only"}, got["B"])
		})
	}
}
