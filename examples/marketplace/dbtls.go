package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/redis/go-redis/v9"

	"github.com/deployedworks/rampart/secrets"
)

// envDBCA is the CA certificate (PEM, one or more) that PostgreSQL's and
// Redis's server certificates must chain to. Optional: without it, the
// system's roots are trusted.
const envDBCA = "MARKETPLACE_DB_CA"

// envAllowPlaintextDB, set to 1, lets production mode reach PostgreSQL
// and Redis without verified TLS (Config.AllowPlaintextDB).
const envAllowPlaintextDB = "MARKETPLACE_ALLOW_PLAINTEXT_DB"

// serviceTLS is how the app reaches PostgreSQL and Redis.
type serviceTLS struct {
	// require refuses a connection that is not TLS with the certificate
	// chain and the host name checked: production without
	// AllowPlaintextDB.
	require bool
	// roots, when set (envDBCA), are the only CAs trusted for both
	// servers; nil trusts the system's roots (or a DSN's sslrootcert).
	roots *x509.CertPool
}

// loadServiceTLS reads envDBCA from src and says what production requires.
func loadServiceTLS(ctx context.Context, src secrets.Source, prod, allowPlaintext bool) (serviceTLS, error) {
	st := serviceTLS{require: prod && !allowPlaintext}
	if src == nil {
		src = secrets.Env{}
	}
	v, err := secrets.Load(ctx, src, secrets.Spec{Name: envDBCA, Encoding: secrets.Raw})
	switch {
	case errors.Is(err, secrets.ErrMissing):
		return st, nil
	case err != nil:
		return st, err
	}
	st.roots = x509.NewCertPool()
	if !st.roots.AppendCertsFromPEM(v.Reveal()) {
		return st, fmt.Errorf("secrets: %s holds no PEM certificate: give the CA certificate (-----BEGIN CERTIFICATE-----…) of the PostgreSQL and Redis servers", envDBCA)
	}
	return st, nil
}

// plaintextHint ends the refusals: what to do instead.
const plaintextHint = "; or, only where the network itself is trusted, set " + envAllowPlaintextDB + "=1 to allow it"

// pgConfig parses a PostgreSQL DSN (URL or key=value) and applies st: in
// production every host it may try (fallbacks included) must be reached
// with sslmode=verify-full, and roots replace the trusted CAs. The error
// never repeats the DSN's password; it starts with name, the setting that
// holds the DSN.
func (st serviceTLS) pgConfig(name, dsn string) (*pgx.ConnConfig, error) {
	cc, err := pgx.ParseConfig(dsn)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err) // pgconn redacts the password
	}
	tlsConfigs := []*tls.Config{cc.TLSConfig}
	for _, fb := range cc.Fallbacks {
		tlsConfigs = append(tlsConfigs, fb.TLSConfig)
	}
	for _, c := range tlsConfigs {
		// verify-full is the only sslmode whose TLS config checks the
		// chain and the host name: disable has none, allow and prefer
		// fall back to plain text, require and verify-ca skip Go's checks.
		if st.require && (c == nil || c.InsecureSkipVerify) {
			return nil, errors.New(name + ": production mode talks to PostgreSQL over TLS only, with its certificate and host name checked: " +
				"set sslmode=verify-full in the URL (and " + envDBCA + " to the server's CA certificate unless a public CA issued it)" + plaintextHint)
		}
		if c != nil && st.roots != nil {
			c.RootCAs = st.roots
		}
	}
	return cc, nil
}

// redisOptions parses a Redis URL and applies st: in production the URL
// must be rediss:// without skip_verify, and roots replace the trusted CAs.
func (st serviceTLS) redisOptions(url string) (*redis.Options, error) {
	opt, err := redis.ParseURL(url)
	if err != nil {
		return nil, fmt.Errorf("REDIS_URL: %w", err)
	}
	if st.require && (opt.TLSConfig == nil || opt.TLSConfig.InsecureSkipVerify) {
		return nil, errors.New("REDIS_URL: production mode talks to Redis over TLS only, with its certificate and host name checked: " +
			"use a rediss:// URL without skip_verify (and " + envDBCA + " to the server's CA certificate unless a public CA issued it)" + plaintextHint)
	}
	if opt.TLSConfig != nil && st.roots != nil {
		opt.TLSConfig.RootCAs = st.roots
	}
	return opt, nil
}
