package main

import (
	"bytes"
	"context"
	"database/sql"
	"net/url"
	"os"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib"

	"github.com/deployedworks/rampart/internal/testenv"
)

// TestScenarios runs every scenario of the load test for a fraction of a
// second against the example app on SQLite (built, or RAMPART_LOAD_APP), so
// that the load test cannot rot: each scenario must get answers, every
// answer must be a right one or a deliberate refusal (429, 503 with
// Retry-After), browsing must succeed, and the flood must keep the app's
// memory within floodBoundMiB.
func TestScenarios(t *testing.T) {
	skipUnlessLinux(t)
	runScenarios(t, "-database-url", "", "-redis-url", "") // whatever RAMPART_LOAD_* say
}

// TestScenariosPostgresRedis is TestScenarios with the app on PostgreSQL
// (a fresh schema) and Redis (a fresh key prefix; the keys it leaves
// expire on their own), as a deployment of many instances runs it.
func TestScenariosPostgresRedis(t *testing.T) {
	skipUnlessLinux(t)
	dsn, addr := testenv.PostgresDSN(t), testenv.RedisAddr(t)
	db, err := sql.Open("pgx", dsn)
	if err != nil {
		t.Fatal(err)
	}
	schema := "load_test_" + randomHex(6)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := db.ExecContext(ctx, "CREATE SCHEMA "+schema); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if _, err := db.ExecContext(ctx, "DROP SCHEMA "+schema+" CASCADE"); err != nil {
			t.Error(err)
		}
		_ = db.Close()
	})
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	q.Set("search_path", schema) // pgx passes it as a run-time parameter
	u.RawQuery = q.Encode()
	runScenarios(t, "-database-url", u.String(), "-redis-url", "redis://"+addr+"/0")
}

func skipUnlessLinux(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("the load test reads the app's memory and CPU from /proc (Linux)")
	}
	if testing.Short() {
		t.Skip("builds and runs the example app; skipped with -short")
	}
}

// testApp is the app binary the tests share: RAMPART_LOAD_APP, or built
// once into a directory TestMain removes.
var testApp struct {
	once     sync.Once
	dir, bin string
	err      error
}

func TestMain(m *testing.M) {
	code := m.Run()
	if testApp.dir != "" {
		_ = os.RemoveAll(testApp.dir)
	}
	os.Exit(code)
}

func appBinary(t *testing.T) string {
	testApp.once.Do(func() {
		if testApp.bin = os.Getenv("RAMPART_LOAD_APP"); testApp.bin != "" {
			return
		}
		if testApp.dir, testApp.err = os.MkdirTemp("", "rampart-load-app-"); testApp.err == nil {
			testApp.bin, testApp.err = buildApp(context.Background(), testApp.dir)
		}
	})
	if testApp.err != nil {
		t.Fatal(testApp.err)
	}
	return testApp.bin
}

func runScenarios(t *testing.T, args ...string) {
	c, err := parse(append([]string{"-for", "300ms", "-workers", "8", "-storm", "16", "-flood", "3000", "-users", "8",
		"-app", appBinary(t)}, args...), os.Stderr)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	rep, err := loadTest(ctx, c, testLog{t})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Results) != 6 {
		t.Fatalf("%d scenarios ran, want 6", len(rep.Results))
	}
	for _, r := range rep.Results {
		if r.Requests == 0 {
			t.Errorf("%s: no request answered", r.Name)
		}
		if r.Errors > 0 {
			t.Errorf("%s: %d errors of %d requests, e.g. %v (statuses %v)", r.Name, r.Errors, r.Requests, r.ErrorSamples, r.Codes)
		}
		if r.OK+r.Refused+r.Errors != r.Requests {
			t.Errorf("%s: %d right + %d refused + %d errors != %d requests", r.Name, r.OK, r.Refused, r.Errors, r.Requests)
		}
		if r.OKLat.N != r.OK || r.RefusedLat.N != r.Refused || r.OKLat.Max > r.Max || r.RefusedLat.Max > r.Max {
			t.Errorf("%s: latencies by outcome %+v and %+v do not add up to %d right, %d refused, max %v", r.Name, r.OKLat, r.RefusedLat, r.OK, r.Refused, r.Max)
		}
		if r.PeakRSSMiB <= 0 || r.CPUPerRequest <= 0 {
			t.Errorf("%s: peak RSS %.1f MiB, CPU %v a request: want both measured", r.Name, r.PeakRSSMiB, r.CPUPerRequest)
		}
		if !strings.HasPrefix(r.Name, "login") && r.OK == 0 {
			t.Errorf("%s: no page served (statuses %v)", r.Name, r.Codes)
		}
	}
	if flood := rep.Results[2]; flood.Requests != 3000 {
		t.Errorf("%s: %d requests, want one per address (3000)", flood.Name, flood.Requests)
	}
	if err := rep.checkFlood(); err != nil {
		t.Error(err)
	}
	var md bytes.Buffer
	rep.write(&md)
	for _, want := range []string{"| anonymous browsing |", "| flood, 3000 addresses |", "| login storm, unknown users |", "Signed-in vs anonymous page", "latency by outcome"} {
		if !strings.Contains(md.String(), want) {
			t.Errorf("report lacks %q:\n%s", want, md.String())
		}
	}
	t.Logf("\n%s", md.String())
}

// TestCheckFlood: the memory check fails when the flood grows the app's
// resident set beyond the bound, and names the figures.
func TestCheckFlood(t *testing.T) {
	rep := &report{Results: []result{
		{Name: "anonymous browsing", RSSBefore: 10, PeakRSSMiB: 500},
		{Name: "flood, 1000000 addresses", RSSBefore: 40, PeakRSSMiB: 40 + floodBoundMiB},
	}}
	if err := rep.checkFlood(); err != nil {
		t.Fatalf("growth at the bound: %v", err)
	}
	rep.Results[1].PeakRSSMiB += 0.5
	err := rep.checkFlood()
	if err == nil || !strings.Contains(err.Error(), "beyond the bound of 64 MiB") {
		t.Fatalf("growth beyond the bound: err = %v, want one naming the 64 MiB bound", err)
	}
}

// TestParseRefuses: out-of-range plans are refused with the flag named.
func TestParseRefuses(t *testing.T) {
	for _, args := range [][]string{{"-flood", "5000000"}, {"-users", "0"}, {"-workers", "0"}, {"extra"}} {
		var sink bytes.Buffer
		if _, err := parse(args, &sink); err == nil {
			t.Errorf("parse(%q) = nil error", args)
		}
	}
}

// testLog writes the load test's progress to the test log.
type testLog struct{ t *testing.T }

func (l testLog) Write(p []byte) (int, error) {
	l.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}
