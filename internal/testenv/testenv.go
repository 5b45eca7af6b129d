// Package testenv gives tests the external services they need (PostgreSQL,
// Redis, Chromium) or skips them with a message naming the variable that
// enables them.
//
// A test that needs a service calls the matching helper first. When the
// service is not configured the test is skipped, unless
// RAMPART_REQUIRE_INTEGRATION=1 is set (as CI does), in which case it fails:
// CI must never go green by skipping what it was meant to run.
//
// `go test` shows nothing of a passing package's output, skips included, so
// every skip is also counted, and a summary of the skipped tests (how many,
// for want of which variable, how to run them) is written after the go
// command's last line; see [Skip].
package testenv

import (
	"os"
	"os/exec"
	"testing"
)

// Environment variables read by this package.
const (
	// EnvRequire, set to 1, turns every skip for a missing service into a failure.
	EnvRequire = "RAMPART_REQUIRE_INTEGRATION"
	// EnvPostgres holds a PostgreSQL DSN, e.g.
	// postgres://rampart:rampart@127.0.0.1:5432/rampart?sslmode=disable.
	EnvPostgres = "RAMPART_TEST_POSTGRES_DSN"
	// EnvRedis holds a Redis address, e.g. 127.0.0.1:6379.
	EnvRedis = "RAMPART_TEST_REDIS_ADDR"
	// EnvPostgresTLS holds a PostgreSQL DSN with sslmode=verify-full whose
	// server certificate is issued by the CA in EnvServicesCA, e.g.
	// postgres://rampart:rampart@localhost:5432/rampart?sslmode=verify-full.
	EnvPostgresTLS = "RAMPART_TEST_POSTGRES_TLS_DSN"
	// EnvRedisTLS holds the host:port of a Redis TLS port whose certificate
	// is issued by the CA in EnvServicesCA, e.g. localhost:6380.
	EnvRedisTLS = "RAMPART_TEST_REDIS_TLS_ADDR"
	// EnvServicesCA holds the path of that CA's certificate (PEM).
	EnvServicesCA = "RAMPART_TEST_SERVICES_CA"
	// EnvChromium holds the path of a Chromium binary, e.g. /usr/bin/chromium.
	// When it is empty, Chromium looks for chromium on PATH.
	EnvChromium = "RAMPART_TEST_CHROMIUM"
)

// Required reports whether integration tests must run rather than skip.
func Required() bool { return os.Getenv(EnvRequire) == "1" }

func missing(t testing.TB, what, env string) {
	t.Helper()
	msg := what + " not configured: set " + env + " to run this test (scripts/services.sh starts one locally)"
	if Required() {
		t.Fatal(msg + " [" + EnvRequire + "=1 forbids skipping]")
	}
	Skip(t, env, msg)
}

// PostgresDSN returns the DSN of the test PostgreSQL server, or skips the test.
func PostgresDSN(t testing.TB) string {
	t.Helper()
	dsn := os.Getenv(EnvPostgres)
	if dsn == "" {
		missing(t, "PostgreSQL", EnvPostgres)
	}
	return dsn
}

// RedisAddr returns the host:port of the test Redis server, or skips the test.
func RedisAddr(t testing.TB) string {
	t.Helper()
	addr := os.Getenv(EnvRedis)
	if addr == "" {
		missing(t, "Redis", EnvRedis)
	}
	return addr
}

// PostgresTLS returns the verify-full DSN of the test PostgreSQL server
// and the PEM of the CA that issued its certificate, or skips the test.
func PostgresTLS(t testing.TB) (dsn string, caPEM []byte) {
	t.Helper()
	dsn = os.Getenv(EnvPostgresTLS)
	if dsn == "" {
		missing(t, "PostgreSQL over TLS", EnvPostgresTLS)
	}
	return dsn, servicesCA(t)
}

// RedisTLS returns the host:port of the test Redis server's TLS port and
// the PEM of the CA that issued its certificate, or skips the test.
func RedisTLS(t testing.TB) (addr string, caPEM []byte) {
	t.Helper()
	addr = os.Getenv(EnvRedisTLS)
	if addr == "" {
		missing(t, "Redis over TLS", EnvRedisTLS)
	}
	return addr, servicesCA(t)
}

func servicesCA(t testing.TB) []byte {
	t.Helper()
	path := os.Getenv(EnvServicesCA)
	if path == "" {
		missing(t, "the test services' CA", EnvServicesCA)
	}
	pem, err := os.ReadFile(path) // #nosec G304 G703 -- a test-only file named by the test environment (scripts/services.sh)
	if err != nil {
		t.Fatal(EnvServicesCA + ": " + err.Error())
	}
	return pem
}

// Chromium returns the path of a Chromium binary, or skips the test.
func Chromium(t testing.TB) string {
	t.Helper()
	if p := os.Getenv(EnvChromium); p != "" {
		return p
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	missing(t, "Chromium", EnvChromium)
	return ""
}
