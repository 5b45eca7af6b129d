package main

import (
	"context"
	"database/sql"
	"fmt"
	"net/url"
	"os"
	"strings"
	"sync"
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

	if os.Getenv(testenv.EnvPostgres) != "" || testenv.Required() {
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
		pg, err := openStore(ctx, "", u.String(), time.Now)
		require.NoError(t, err)
		t.Cleanup(func() { _ = pg.Close() })
		_, err = pg.migrate(ctx)
		require.NoError(t, err)
		out["postgres"] = pg
	}
	return out
}

// race runs fn n times at once and returns the errors.
func race(n int, fn func(i int) error) []error {
	errs := make([]error, n)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		wg.Go(func() {
			<-start
			errs[i] = fn(i)
		})
	}
	close(start)
	wg.Wait()
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
			errs = race(8, func(i int) error {
				_, err := s.createFirstAdmin(ctx, user{Email: "root" + strings.Repeat("x", i) + "@example.com", DisplayName: "Root", Hash: "x"})
				return err
			})
			onlyOne(t, errs, errAdminExists)
			require.NoError(t, s.queryRow(ctx, `SELECT COUNT(*) FROM user_roles WHERE role = ?`, roleAdmin).Scan(&n))
			assert.Equal(t, 1, n)
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
