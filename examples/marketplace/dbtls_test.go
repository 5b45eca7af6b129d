package main

import (
	"context"
	"net/url"
	"testing"
	"time"

	"github.com/deployedworks/rampart/internal/testenv"
	"github.com/deployedworks/rampart/secrets"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestServiceTLS_Production: production mode accepts PostgreSQL only with
// sslmode=verify-full (on every host it may try) and Redis only as
// rediss:// without skip_verify, unless plain text is allowed explicitly;
// development accepts all. The refusal names the setting and never
// repeats the password.
func TestServiceTLS_Production(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		url  string
		ok   bool
	}{
		{"pg verify-full", "postgres://app:s3cret@db.example/market?sslmode=verify-full", true},
		{"pg verify-full, key=value form", "host=db.example user=app password=s3cret sslmode=verify-full", true},
		{"pg verify-full, two hosts", "postgres://app:s3cret@db1.example,db2.example/market?sslmode=verify-full", true},
		{"attack: pg sslmode=disable", "postgres://app:s3cret@db.example/market?sslmode=disable", false},
		{"attack: pg sslmode=allow (falls back to plain text)", "postgres://app:s3cret@db.example/market?sslmode=allow", false},
		{"attack: pg sslmode=prefer (falls back to plain text)", "postgres://app:s3cret@db.example/market?sslmode=prefer", false},
		{"attack: pg no sslmode (prefer)", "postgres://app:s3cret@db.example/market", false},
		{"attack: pg sslmode=require (no certificate check)", "postgres://app:s3cret@db.example/market?sslmode=require", false},
		{"attack: pg sslmode=verify-ca (no host name check)", "postgres://app:s3cret@db.example/market?sslmode=verify-ca", false},
		{"attack: pg key=value without sslmode", "host=db.example user=app password=s3cret", false},
		{"redis rediss", "rediss://:s3cret@cache.example:6380/0", true},
		{"attack: redis plain", "redis://:s3cret@cache.example:6379/0", false},
		{"attack: redis rediss with skip_verify", "rediss://:s3cret@cache.example:6380/0?skip_verify=true", false},
	}
	parse := func(st serviceTLS, u string) error {
		if len(u) > 5 && u[:5] == "redis" {
			_, err := st.redisOptions(u)
			return err
		}
		_, err := st.pgConfig("DATABASE_URL", u)
		return err
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			prod, err := loadServiceTLS(context.Background(), noEnv, true, false)
			require.NoError(t, err)
			err = parse(prod, tt.url)
			if tt.ok {
				assert.NoError(t, err)
			} else {
				require.Error(t, err)
				assert.Contains(t, err.Error(), envAllowPlaintextDB)
				assert.NotContains(t, err.Error(), "s3cret")
			}
			allowed, err := loadServiceTLS(context.Background(), noEnv, true, true)
			require.NoError(t, err)
			assert.NoError(t, parse(allowed, tt.url), "with %s=1", envAllowPlaintextDB)
			dev, err := loadServiceTLS(context.Background(), noEnv, false, false)
			require.NoError(t, err)
			assert.NoError(t, parse(dev, tt.url), "development mode")
		})
	}
	t.Run("CA secret that is no certificate", func(t *testing.T) {
		_, err := loadServiceTLS(context.Background(), secrets.Env{LookupEnv: mapEnv(map[string]string{envDBCA: "not a PEM"})}, true, false)
		assert.ErrorContains(t, err, envDBCA)
	})
}

// TestNew_ProdRefusesPlaintextDB: the app in production mode does not
// start on a plain-text DATABASE_URL or REDIS_URL, before connecting.
func TestNew_ProdRefusesPlaintextDB(t *testing.T) {
	t.Parallel()
	for name, set := range map[string]func(*Config){
		"DATABASE_URL": func(c *Config) { c.DatabaseURL = "postgres://app:s3cret@127.0.0.1:1/market?sslmode=disable" },
		"REDIS_URL":    func(c *Config) { c.RedisURL = "redis://127.0.0.1:1/0" },
		envAuditDatabaseURL: func(c *Config) {
			c.DatabaseURL = "postgres://app:s3cret@127.0.0.1:1/market?sslmode=verify-full"
			c.AuditDatabaseURL = "postgres://audit:s3cret@127.0.0.1:1/market?sslmode=disable"
		},
	} {
		t.Run(name, func(t *testing.T) {
			cfg := testConfig(t, "https://market.example", testenv.NewClock(time.Now()), &syncBuffer{})
			cfg.Prod = true
			cfg.Secrets = secrets.Env{LookupEnv: mapEnv(prodEnv(t))}
			set(&cfg)
			app, err := New(context.Background(), cfg)
			require.Error(t, err)
			assert.Nil(t, app)
			assert.Contains(t, err.Error(), name)
			assert.Contains(t, err.Error(), envAllowPlaintextDB)
		})
	}
}

// TestNew_ProdServicesOverTLS: in production mode the app reaches
// PostgreSQL (verify-full) and Redis (rediss://) over TLS, trusting the CA
// from the MARKETPLACE_DB_CA secret; without that secret the servers'
// certificates, from a private CA, are refused.
func TestNew_ProdServicesOverTLS(t *testing.T) {
	t.Parallel()
	pgDSN, caPEM := testenv.PostgresTLS(t)
	redisAddr, _ := testenv.RedisTLS(t)
	// A schema of its own, made over the plain connection.
	plain, err := url.Parse(postgresSchema(t))
	require.NoError(t, err)
	u, err := url.Parse(pgDSN)
	require.NoError(t, err)
	q := u.Query()
	q.Set("search_path", plain.Query().Get("search_path"))
	u.RawQuery = q.Encode()

	config := func(withCA bool) Config {
		cfg := testConfig(t, "https://market.example", testenv.NewClock(time.Now()), &syncBuffer{})
		cfg.Prod = true
		env := prodEnv(t)
		if withCA {
			env[envDBCA] = string(caPEM)
		}
		cfg.Secrets = secrets.Env{LookupEnv: mapEnv(env)}
		cfg.DatabaseURL = u.String()
		cfg.RedisURL = "rediss://" + redisAddr + "/0"
		cfg.RedisPrefix = "tls-test-" + newID() + ":"
		return cfg
	}

	t.Run("CA from secrets", func(t *testing.T) {
		app, err := New(context.Background(), config(true))
		require.NoError(t, err)
		t.Cleanup(func() { assert.NoError(t, app.Close(context.Background())) })
		var ssl bool
		require.NoError(t, app.db.db.QueryRowContext(context.Background(),
			`SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()`).Scan(&ssl))
		assert.True(t, ssl, "the PostgreSQL connection is TLS")
		require.NotNil(t, app.rdb)
		assert.NotNil(t, app.rdb.Options().TLSConfig, "Redis over TLS")
		assert.NoError(t, app.rdb.Ping(context.Background()).Err())
	})
	t.Run("attack: no CA, private certificate refused", func(t *testing.T) {
		app, err := New(context.Background(), config(false))
		require.Error(t, err)
		assert.Nil(t, app)
		assert.Contains(t, err.Error(), "certificate")
	})
}
