package sqlsink

import (
	"context"
	"crypto/rand"
	"database/sql"
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/deployedworks/rampart/audit"
	"github.com/deployedworks/rampart/identity"
	"github.com/deployedworks/rampart/internal/testenv"
	"github.com/deployedworks/rampart/sqldb"
	_ "github.com/jackc/pgx/v5/stdlib"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	_ "modernc.org/sqlite"
)

type backend struct {
	name string
	open func(t testing.TB) (*sql.DB, sqldb.Dialect, string) // db, dialect, table
}

func openSQLite(t testing.TB) (*sql.DB, sqldb.Dialect, string) {
	return testenv.SQLite(t, 0), sqldb.SQLite, "audit_events"
}

// openPostgres connects to the test server and gives each test its own
// table, dropped afterwards, so parallel test packages do not collide.
func openPostgres(t testing.TB) (*sql.DB, sqldb.Dialect, string) {
	db := testenv.Postgres(t)
	table := "audit_test_" + strings.ToLower(rand.Text())[:12]
	t.Cleanup(func() {
		db.Exec(`DROP TABLE IF EXISTS "` + table + `"`)
		db.Exec(`DROP TABLE IF EXISTS "` + table + `_old"`)
		db.Exec(`DELETE FROM rampart_schema WHERE component IN ($1, $2)`, "audit/sqlsink:"+table, "audit/sqlsink:"+table+"_old")
	})
	return db, sqldb.PostgreSQL, table
}

var backends = []backend{{"sqlite", openSQLite}, {"postgres", openPostgres}}

func newSink(t testing.TB, b backend, cfg Config) *Sink {
	t.Helper()
	db, d, table := b.open(t)
	cfg.Table = table
	s, err := New(db, d, cfg)
	require.NoError(t, err)
	require.NoError(t, s.Migrate(context.Background()))
	return s
}

var base = time.Date(2026, 5, 1, 0, 0, 0, 0, time.UTC)

func ev(i int, cat audit.Category, action, actor string, outcome audit.Outcome) audit.Event {
	return audit.Event{
		Time: base.Add(time.Duration(i) * time.Minute), Category: cat, Action: audit.Action(action), Outcome: outcome,
		Actor: identity.Principal{UserID: actor}, Meta: map[string]string{"i": fmt.Sprint(i)},
	}
}

func forEachBackend(t *testing.T, f func(t *testing.T, b backend)) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) { f(t, b) })
	}
}

func TestRoundTrip(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		s := newSink(t, b, Config{})
		ctx := context.Background()
		full := audit.Event{
			Time: base.Add(123456789), Category: audit.CategoryAdmin, Action: "user.disabled",
			Outcome: audit.OutcomeSuccess, Actor: identity.Principal{UserID: "a1", Roles: []string{"admin", "moderator"}},
			Target: audit.Target{Kind: "user", ID: "u9"}, ClientIP: netip.MustParseAddr("2001:db8::5"),
			UserAgent: "Firefox", RequestID: "rid", SessionRef: "sref", Reason: "spam 'quoted' \"double\"",
			Meta: map[string]string{"k": "v", "emoji": "🎉"},
		}
		minimal := audit.Event{Time: base, Category: audit.CategoryError, Action: "x"}
		require.NoError(t, s.Write(ctx, full))
		n, err := s.WriteBatch(ctx, []audit.Event{minimal})
		require.NoError(t, err)
		assert.Equal(t, 1, n)

		page, err := s.Query(ctx, Query{})
		require.NoError(t, err)
		require.Len(t, page.Records, 2)
		assert.Equal(t, full, page.Records[0].Event)
		assert.Equal(t, minimal, page.Records[1].Event)
		assert.Less(t, page.Records[0].ID, page.Records[1].ID, "ordered by event time, not insertion")
		assert.Empty(t, page.Next)
	})
}

// Attacker-chosen text that PostgreSQL would refuse (NUL, invalid UTF-8)
// must not make a batch fail: that would stall the log.
func TestHostileText(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		s := newSink(t, b, Config{})
		e := audit.Event{Time: base, Category: audit.CategoryAuthentication, Action: "login.failed",
			UserAgent: "evil\x00agent\xff", Reason: "a\x00b", Meta: map[string]string{"k\x00": "v\xfe"}}
		n, err := s.WriteBatch(context.Background(), []audit.Event{e})
		require.NoError(t, err)
		assert.Equal(t, 1, n)
		page, err := s.Query(context.Background(), Query{})
		require.NoError(t, err)
		got := page.Records[0].Event
		assert.Equal(t, "evil\uFFFDagent\uFFFD", got.UserAgent)
		assert.Equal(t, "a\uFFFDb", got.Reason)
	})
}

// Logger.Log accepts years 0 to 9999; int64 nanoseconds end in 1678 and
// 2262. An event outside them is stored at the nearest end, not at a
// wrapped-around time.
func TestEventTimeOutsideNanosecondRange(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		s := newSink(t, b, Config{})
		ctx := context.Background()
		past := ev(0, audit.CategoryAdmin, "past", "u", "")
		past.Time = time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC)
		future := ev(1, audit.CategoryAdmin, "future", "u", "")
		future.Time = time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC)
		_, err := s.WriteBatch(ctx, []audit.Event{past, ev(2, audit.CategoryAdmin, "now", "u", ""), future})
		require.NoError(t, err)
		page, err := s.Query(ctx, Query{})
		require.NoError(t, err)
		var got []string
		for _, r := range page.Records {
			got = append(got, string(r.Event.Action))
		}
		assert.Equal(t, []string{"future", "now", "past"}, got, "newest first")
		assert.Equal(t, maxNanosTime.UTC(), page.Records[0].Event.Time)
		assert.Equal(t, minNanosTime.UTC(), page.Records[2].Event.Time)
	})
}

func TestQueryFilters(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		s := newSink(t, b, Config{})
		ctx := context.Background()
		events := []audit.Event{
			ev(0, audit.CategoryAuthentication, "login.failed", "alice", audit.OutcomeFailure),
			ev(1, audit.CategoryAuthentication, "login.succeeded", "alice", audit.OutcomeSuccess),
			ev(2, audit.CategoryAuthentication, "logout", "bob", audit.OutcomeSuccess),
			ev(3, audit.CategoryAdmin, "user.disabled", "root", audit.OutcomeSuccess),
			ev(4, audit.CategoryModeration, "listing.hidden", "mod", audit.OutcomeDenied),
			ev(5, audit.CategoryError, "http.panic", "", audit.OutcomeFailure),
		}
		events[3].Target = audit.Target{Kind: "user", ID: "bob"}
		events[4].ClientIP = netip.MustParseAddr("192.0.2.4")
		events[5].RequestID = "req-5"
		_, err := s.WriteBatch(ctx, events)
		require.NoError(t, err)

		tests := []struct {
			name string
			q    Query
			want []string // Meta["i"], newest first
		}{
			{"all", Query{}, []string{"5", "4", "3", "2", "1", "0"}},
			{"category", Query{Categories: []audit.Category{audit.CategoryAuthentication}}, []string{"2", "1", "0"}},
			{"two categories", Query{Categories: []audit.Category{audit.CategoryAdmin, audit.CategoryError}}, []string{"5", "3"}},
			{"action", Query{Action: "login.failed"}, []string{"0"}},
			{"action prefix", Query{ActionPrefix: "login."}, []string{"1", "0"}},
			{"actor", Query{ActorID: "alice"}, []string{"1", "0"}},
			{"outcome", Query{Outcome: audit.OutcomeFailure}, []string{"5", "0"}},
			{"target", Query{TargetKind: "user", TargetID: "bob"}, []string{"3"}},
			{"client ip", Query{ClientIP: netip.MustParseAddr("192.0.2.4")}, []string{"4"}},
			{"request id", Query{RequestID: "req-5"}, []string{"5"}},
			{"time range", Query{Since: base.Add(time.Minute), Until: base.Add(3 * time.Minute)}, []string{"2", "1"}},
			{"combined", Query{ActorID: "alice", Outcome: audit.OutcomeSuccess}, []string{"1"}},
			{"range beyond int64 nanoseconds", Query{Since: time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC), Until: time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC)}, []string{"5", "4", "3", "2", "1", "0"}},
			{"since far future", Query{Since: time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC)}, nil},
			{"until far past", Query{Until: time.Date(1000, 1, 1, 0, 0, 0, 0, time.UTC)}, nil},
			{"attack: SQL in a value", Query{ActorID: "' OR '1'='1"}, nil},
			{"attack: LIKE wildcards are literal", Query{ActionPrefix: "%"}, nil},
			{"attack: underscore is literal", Query{ActionPrefix: "login_"}, nil},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				page, err := s.Query(ctx, tt.q)
				require.NoError(t, err)
				var got []string
				for _, r := range page.Records {
					got = append(got, r.Event.Meta["i"])
				}
				assert.Equal(t, tt.want, got)
				n, err := s.Count(ctx, tt.q)
				require.NoError(t, err)
				assert.Equal(t, int64(len(tt.want)), n)
			})
		}
	})
}

func TestQueryPaging(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		s := newSink(t, b, Config{})
		ctx := context.Background()
		var events []audit.Event
		for i := range 23 {
			e := ev(i/2, audit.CategoryAdmin, "a", "root", audit.OutcomeSuccess) // pairs share a time
			e.Meta["i"] = fmt.Sprint(i)
			events = append(events, e)
		}
		_, err := s.WriteBatch(ctx, events)
		require.NoError(t, err)

		var seen []int64
		q := Query{Limit: 5}
		pages := 0
		for {
			page, err := s.Query(ctx, q)
			require.NoError(t, err)
			pages++
			for _, r := range page.Records {
				seen = append(seen, r.ID)
			}
			if page.Next == "" {
				break
			}
			// A new event arriving between pages does not shift them.
			require.NoError(t, s.Write(ctx, ev(100, audit.CategoryAdmin, "new", "root", audit.OutcomeSuccess)))
			q.Cursor = page.Next
		}
		assert.Equal(t, 5, pages)
		assert.Len(t, seen, 23)
		for i := 1; i < len(seen); i++ {
			assert.Less(t, seen[i], seen[i-1], "strictly newest first, no duplicates")
		}
	})
}

func TestQueryLimit(t *testing.T) {
	s := newSink(t, backends[0], Config{})
	ctx := context.Background()
	events := make([]audit.Event, 1001)
	for i := range events {
		events[i] = ev(i, audit.CategoryAdmin, "a", "root", audit.OutcomeSuccess)
	}
	_, err := s.WriteBatch(ctx, events)
	require.NoError(t, err)
	for _, tt := range []struct {
		name  string
		limit int
		want  int
	}{
		{"default", 0, 50},
		{"negative is the default", -5, 50},
		{"as asked", 7, 7},
		{"at the cap", 1000, 1000},
		{"attack: over the cap", 1 << 30, 1000},
	} {
		t.Run(tt.name, func(t *testing.T) {
			page, err := s.Query(ctx, Query{Limit: tt.limit})
			require.NoError(t, err)
			assert.Len(t, page.Records, tt.want)
			assert.NotEmpty(t, page.Next)
		})
	}
}

func TestQueryBadCursor(t *testing.T) {
	s := newSink(t, backends[0], Config{})
	for _, c := range []string{"!!!", "djE6eDp5", "djI6MTox", strings.Repeat("A", 200), "djE6MTow"} {
		_, err := s.Query(context.Background(), Query{Cursor: c})
		assert.ErrorIs(t, err, ErrBadCursor, c)
	}
}

func TestWriteBatchLarge(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		s := newSink(t, b, Config{})
		events := make([]audit.Event, 2*batchRows+37)
		for i := range events {
			events[i] = ev(i, audit.CategoryAuthentication, "login.failed", "u", audit.OutcomeFailure)
		}
		n, err := s.WriteBatch(context.Background(), events)
		require.NoError(t, err)
		assert.Equal(t, len(events), n)
		count, err := s.Count(context.Background(), Query{})
		require.NoError(t, err)
		assert.Equal(t, int64(len(events)), count)
	})
}

func TestWriteBatchIsAllOrNothing(t *testing.T) {
	s := newSink(t, backends[0], Config{})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	n, err := s.WriteBatch(ctx, []audit.Event{ev(1, "c", "a", "u", "")})
	assert.Error(t, err)
	assert.Zero(t, n)
	count, err := s.Count(context.Background(), Query{})
	require.NoError(t, err)
	assert.Zero(t, count)
}

func TestPrune(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		now := base.Add(400 * audit.Day)
		s := newSink(t, b, Config{Now: func() time.Time { return now }, Retention: audit.Retention{
			audit.CategoryAdmin: audit.KeepForever, "billing": 10 * audit.Day,
		}})
		ctx := context.Background()
		at := func(age time.Duration, c audit.Category) audit.Event {
			e := ev(0, c, "a", "u", "")
			e.Time = now.Add(-age)
			e.Meta["c"] = string(c) + "@" + age.String()
			return e
		}
		_, err := s.WriteBatch(ctx, []audit.Event{
			at(100*audit.Day, audit.CategoryError),          // past 90 days: deleted
			at(80*audit.Day, audit.CategoryError),           // kept
			at(366*audit.Day, audit.CategoryAuthentication), // past 1 year: deleted
			at(300*audit.Day, audit.CategoryAuthentication), // kept
			at(399*audit.Day, audit.CategoryAdmin),          // forever
			at(11*audit.Day, "billing"),                     // custom period: deleted
			at(91*audit.Day, "other"),                       // default 90 days: deleted
			at(89*audit.Day, "other"),                       // kept
			at(31*audit.Day, audit.CategoryBrowserReport),   // past 30 days: deleted
			at(29*audit.Day, audit.CategoryBrowserReport),   // kept
		})
		require.NoError(t, err)
		n, err := s.Prune(ctx)
		require.NoError(t, err)
		assert.Equal(t, int64(5), n)
		page, err := s.Query(ctx, Query{})
		require.NoError(t, err)
		var kept []string
		for _, r := range page.Records {
			kept = append(kept, r.Event.Meta["c"])
		}
		assert.ElementsMatch(t, []string{"error@1920h0m0s", "authentication@7200h0m0s", "admin@9576h0m0s", "other@2136h0m0s", "browser_report@696h0m0s"}, kept)
	})
}

func TestNewValidates(t *testing.T) {
	db, _, _ := openSQLite(t)
	tests := []struct {
		name    string
		dialect sqldb.Dialect
		table   string
		want    string
	}{
		{"no dialect", 0, "", "unknown"},
		{"attack: SQL in table name", sqldb.SQLite, `x"; DROP TABLE users; --`, "invalid Table"},
		{"upper case", sqldb.SQLite, "Audit", "invalid Table"},
		{"schema on sqlite", sqldb.SQLite, "a.b", "PostgreSQL"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := New(db, tt.dialect, Config{Table: tt.table})
			assert.ErrorContains(t, err, tt.want)
		})
	}
	_, err := New(nil, sqldb.SQLite, Config{})
	assert.ErrorContains(t, err, "nil *sql.DB")
}

// New runs no statement; Migrate creates the table, is idempotent, and
// adopts a table that an earlier release's constructor created.
func TestMigrate(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		db, d, table := b.open(t)
		s, err := New(db, d, Config{Table: table})
		require.NoError(t, err)
		assert.Error(t, s.Write(context.Background(), ev(1, audit.CategoryAdmin, "user.disabled", "u", audit.OutcomeSuccess)),
			"New created no table")
		for range 2 {
			require.NoError(t, s.Migrate(context.Background()))
		}
		require.NoError(t, s.Write(context.Background(), ev(1, audit.CategoryAdmin, "user.disabled", "u", audit.OutcomeSuccess)))

		// A table created before Migrate existed (same DDL, no record).
		old := table + "_old"
		s2, err := New(db, d, Config{Table: old})
		require.NoError(t, err)
		for _, stmt := range s2.schema {
			_, err := db.ExecContext(context.Background(), stmt)
			require.NoError(t, err)
		}
		// A row as that release wrote it (without the batch column).
		e := ev(2, audit.CategoryAdmin, "user.enabled", "u", audit.OutcomeSuccess)
		ph := make([]string, ncols)
		for i := range ph {
			ph[i] = s2.placeholder(i + 1)
		}
		_, err = db.ExecContext(context.Background(), "INSERT INTO "+s2.table+" ("+columns+") VALUES ("+strings.Join(ph, ",")+")", appendArgs(nil, &e)...)
		require.NoError(t, err)
		require.NoError(t, s2.Migrate(context.Background()))
		require.NoError(t, s2.Write(context.Background(), ev(3, audit.CategoryAdmin, "user.enabled", "u", audit.OutcomeSuccess)))
		n, err := s2.Count(context.Background(), Query{})
		require.NoError(t, err)
		assert.Equal(t, int64(2), n, "the existing rows are kept")
	})
}

// Redaction holds for this sink too: it happens in audit.Logger.
func TestRedactionThroughLogger(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		s := newSink(t, b, Config{})
		l := audit.MustNew(s, audit.Config{})
		l.Log(context.Background(), audit.Event{
			Category: audit.CategoryAuthentication, Action: "password.reset",
			Meta: map[string]string{"reset_token": "SECRET-TOKEN", "new_password": "SECRET-PW"},
		})
		page, err := s.Query(context.Background(), Query{})
		require.NoError(t, err)
		assert.Equal(t, map[string]string{"reset_token": audit.Redacted, "new_password": audit.Redacted}, page.Records[0].Event.Meta)
	})
}

// Through an AsyncSink, the way applications should use it.
func TestAsyncBatching(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		s := newSink(t, b, Config{})
		a, err := audit.NewAsyncSink(s, audit.AsyncConfig{})
		require.NoError(t, err)
		l := audit.MustNew(a, audit.Config{})
		for i := range 1000 {
			l.Log(context.Background(), ev(i, audit.CategoryAuthentication, string(audit.ActionLoginFailed), "u", audit.OutcomeFailure))
		}
		require.NoError(t, a.Close(context.Background()))
		n, err := s.Count(context.Background(), Query{})
		require.NoError(t, err)
		assert.Equal(t, int64(1000), n)
	})
}

func BenchmarkAsyncSQLSink(b *testing.B) {
	for _, be := range backends {
		b.Run(be.name, func(b *testing.B) {
			s := newSink(b, be, Config{})
			a, err := audit.NewAsyncSink(s, audit.AsyncConfig{BatchSize: 500, QueueSize: 16384})
			require.NoError(b, err)
			l := audit.MustNew(a, audit.Config{})
			e := audit.Event{Category: audit.CategoryAuthentication, Action: audit.ActionLoginFailed, Outcome: audit.OutcomeFailure,
				Actor: identity.Principal{UserID: "user-1234"}, ClientIP: netip.MustParseAddr("192.0.2.1"), UserAgent: "Mozilla/5.0"}
			ctx := context.Background()
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				l.Log(ctx, e)
			}
			require.NoError(b, a.Close(ctx))
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
		})
	}
}
