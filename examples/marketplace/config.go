package main

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"net/url"
	"strings"
	"time"

	"github.com/deployedworks/rampart/auth"
	"github.com/deployedworks/rampart/auth/password"
	"github.com/deployedworks/rampart/notify"
	"github.com/deployedworks/rampart/ratelimit"
	"github.com/deployedworks/rampart/secrets"
)

// Config is everything New needs to build the app. main fills it from
// flags and environment variables; tests fill it directly.
type Config struct {
	// PublicURL is the origin users reach the site at, scheme, host and
	// port ("http://localhost:8080", "https://market.example"). Passkeys
	// are bound to its host name, which must therefore be a domain name
	// (localhost counts), not an IP address. Required.
	PublicURL string

	// DataDir holds the SQLite database (without DatabaseURL), the
	// tamper-evident audit chain, development secrets and certificates
	// from autocert. Required. Each instance needs its own.
	DataDir string

	// DatabaseURL, when set, is a PostgreSQL URL: users, listings, MFA
	// factors, audit records and (without RedisURL) sessions live there,
	// shared by every instance. Default: SQLite in DataDir.
	DatabaseURL string

	// AuditDatabaseURL, when set, is a PostgreSQL URL of the audit
	// database, for a role that may only INSERT and SELECT the audit
	// table and the chain checkpoints (README, "Audit database roles"):
	// the app writes them there, prunes through the owner's function, and
	// refuses to start as a role that could change or delete them.
	// Default: the main database, written and pruned by the app's role.
	AuditDatabaseURL string

	// AuditSchema is the schema of the audit tables in AuditDatabaseURL.
	// Default: "marketplace_audit".
	AuditSchema string

	// Instance names this instance's audit chain in the checkpoints table.
	// Default: a random name created once and kept in DataDir
	// (instance-id).
	Instance string

	// RedisURL, when set, keeps sessions and rate limits in Redis
	// ("redis://host:6379/0"), shared by every instance. Default: sessions
	// in the database, rate limits in memory.
	RedisURL string

	// AllowPlaintextDB lets production mode reach PostgreSQL and Redis
	// without verified TLS: a DatabaseURL whose sslmode is not
	// verify-full (disable, allow, prefer, require, verify-ca, or none),
	// a redis:// RedisURL, or rediss:// with skip_verify. Default false:
	// production refuses to start with such a URL, since the passwords
	// and session data on the wire would be readable, and the server
	// impersonable, by anyone on the network path. Development mode
	// allows them regardless. The CA the servers' certificates must chain
	// to is the secret MARKETPLACE_DB_CA (PEM); without it, the system's
	// roots.
	AllowPlaintextDB bool

	// RedisPrefix starts every Redis key. Instances of one site share it.
	// Default: "marketplace:".
	RedisPrefix string

	// Prod refuses to start without every secret configured (see
	// secretSpecs) and without HTTPS. Default: false, development: missing
	// secrets are generated and kept in DataDir, and cookies work over
	// plain http://localhost.
	Prod bool

	// TrustedProxies are the networks of TLS-terminating proxies whose
	// X-Forwarded-For and X-Forwarded-Proto headers are believed.
	// Default: none, the peer is the client.
	TrustedProxies []netip.Prefix

	// Secrets is where secrets are read from. Default: secrets.Env{}, the
	// process environment (NAME or NAME_FILE).
	Secrets secrets.Source

	// BreachCheck asks a Pwned Passwords range API (Have I Been Pwned)
	// about every new password that passes the local checks; only the
	// first 5 hex characters of its SHA-1 leave the server (k-anonymity).
	// Default BreachCheckAuto: on in production mode, off in development
	// mode, which then makes no outbound request. It fails open (see
	// newBreachChecker): when the service does not answer within
	// BreachTimeout, the local checks alone decide and a warning is
	// logged.
	BreachCheck BreachCheck

	// BreachRangeURL is the range API the breach check asks. Default
	// password.DefaultRangeURL; https, or http to a loopback mirror.
	BreachRangeURL string

	// BreachTimeout bounds each breach check, so that a slow or
	// unreachable service delays a sign-up or password change by at most
	// this much. Default: 3 seconds.
	BreachTimeout time.Duration

	// Contact is the security contact for security.txt. Default:
	// "mailto:security@deployed.works".
	Contact string

	// MailFrom is the sender of the app's mail, an address or
	// "Name <address>". Default: "Marketplace <no-reply@HOST>", HOST the
	// public URL's host name.
	MailFrom string

	// AlertTo are the security contacts: the addresses security alerts
	// (credential stuffing, password spraying, a cloned passkey, a flood
	// of browser reports) are mailed to. Default: the address of Contact
	// when it is a mailto: URL, so security@deployed.works.
	AlertTo []string

	// StepUp is how recent an MFA verification must be for sensitive
	// actions (role changes, factor changes). Default: 10 minutes.
	StepUp time.Duration

	// Limits are the request rate limits. Zero fields take defaults.
	Limits Limits

	// RequestTimeout bounds every request: its context ends after this
	// long, and the database, Redis and password-hashing work done for it
	// stops then, so that a hung dependency costs an error page (500 or
	// 503, no details) rather than a connection held open. Default: 15
	// seconds; at most 50 seconds, below the server's write timeout (60 s),
	// so that the error page can still be written.
	RequestTimeout time.Duration

	// RedisTimeout bounds each Redis call of the rate limits, the login
	// throttle and the detector's shared counts, within RequestTimeout:
	// a slow Redis then costs a refusal (the limits fail closed) rather
	// than a slow request. Default: 250 ms, the packages' own default.
	RedisTimeout time.Duration

	// BackupDir, when set, is where backups are kept and watched. With
	// SQLite the app takes an encrypted backup there (package
	// internal/backup, under MARKETPLACE_BACKUP_KEYS) every BackupEvery and
	// keeps the newest BackupKeep (the directory is then this instance's
	// own); with PostgreSQL a scheduler writes them
	// (pg_dump, see README.md) and the app only watches. Either way, while
	// the newest backup is older than BackupStaleAfter the log says so,
	// hourly: "backup: STALE … backup_stale=1 backup_age_seconds=N".
	// Default: none, no backups.
	BackupDir string
	// BackupEvery is how often the app backs up. Default: 24 hours; at
	// least a minute.
	BackupEvery time.Duration
	// BackupKeep is how many of its backups the app keeps; older ones are
	// deleted. Default: 7.
	BackupKeep int
	// BackupStaleAfter is the age of the newest backup past which the log
	// warns. Default: twice BackupEvery.
	BackupStaleAfter time.Duration

	// Logger receives operational logs. Default: a text logger on
	// Console.
	Logger *slog.Logger

	// Console receives the one-time setup token printed when no
	// administrator exists. Default: os.Stderr.
	Console io.Writer

	// Now is the clock of sessions, logins, MFA and rate limits. Default:
	// time.Now. Tests inject one.
	Now func() time.Time

	// PasswordHashing overrides the Argon2id parameters. Tests only: the
	// defaults cost 64 MiB and tens of milliseconds per hash.
	PasswordHashing *password.HasherConfig

	// DisableSetupToken stops New from minting a setup token when no
	// administrator exists (create-admin and tests that do not need it).
	DisableSetupToken bool

	// janitorTicks, when set (by tests), replaces the janitor's ticker;
	// janitorDone is told the tasks each pass ran.
	janitorTicks <-chan time.Time
	janitorDone  func(ran []string)

	// sender, when set (by tests), replaces the outbox's Sender.
	sender notify.Sender

	// wrapUsers, when set, wraps the user table the password logins read:
	// tests hold a login after it read the user.
	wrapUsers func(auth.UserStore) auth.UserStore
}

// BreachCheck says whether new passwords are checked against known
// breaches (Config.BreachCheck).
type BreachCheck int

const (
	// BreachCheckAuto checks in production mode only (the default).
	BreachCheckAuto BreachCheck = iota
	// BreachCheckOn checks in both modes (-breach-check).
	BreachCheckOn
	// BreachCheckOff never checks (-breach-check=false): the explicit
	// opt-out for production sites that cannot reach the service or
	// must not send anything out.
	BreachCheckOff
)

// Limits are the app's request rate limits. Each is per client address
// (IPv6 per /64) unless noted.
type Limits struct {
	Signup   ratelimit.Limit // POST /signup. Default: 10 an hour, burst 5.
	LoginIP  ratelimit.Limit // POST /login and passkey sign-in, on top of the login throttle. Default: 60 a minute, burst 30.
	Report   ratelimit.Limit // reports, per user. Default: 20 an hour, burst 5.
	Write    ratelimit.Limit // listing writes, per user. Default: 60 an hour, burst 20.
	Setup    ratelimit.Limit // POST /setup. Default: 10 an hour, burst 5.
	MFA      ratelimit.Limit // TOTP and recovery-code attempts, per user, session and factor. Default: 5 per 15 minutes.
	MFAUser  ratelimit.Limit // the ceiling over all of a user's sessions, per factor; keep it at least 4 times MFA. Default: 20 per 15 minutes (one per 45 s after a burst of 20).
	Password ratelimit.Limit // password changes (and their hashing), per user; a success does not reset it. Default: 5 per 15 minutes.
	PerRoute ratelimit.Limit // every other request. Default: 600 a minute, burst 200.
	// AccountPerAddress: requests that mail an address the client types
	// (reset, sign-up). Default: 20 an hour, burst 10.
	AccountPerAddress ratelimit.Limit
	// AccountPerMailbox: mails to one address or account, whoever asks
	// (reset links, verification and change-of-address links). Default: 4
	// an hour, burst 3.
	AccountPerMailbox ratelimit.Limit
}

func (l Limits) withDefaults() Limits {
	def := func(v *ratelimit.Limit, d ratelimit.Limit) {
		if v.Events == 0 {
			*v = d
		}
	}
	def(&l.Signup, ratelimit.Limit{Events: 10, Per: time.Hour, Burst: 5})
	def(&l.LoginIP, ratelimit.Limit{Events: 60, Per: time.Minute, Burst: 30})
	def(&l.Report, ratelimit.Limit{Events: 20, Per: time.Hour, Burst: 5})
	def(&l.Write, ratelimit.Limit{Events: 60, Per: time.Hour, Burst: 20})
	def(&l.Setup, ratelimit.Limit{Events: 10, Per: time.Hour, Burst: 5})
	def(&l.MFA, ratelimit.Limit{Events: 5, Per: 15 * time.Minute})
	def(&l.MFAUser, ratelimit.Limit{Events: 20, Per: 15 * time.Minute})
	def(&l.Password, ratelimit.Limit{Events: 5, Per: 15 * time.Minute})
	def(&l.PerRoute, ratelimit.Limit{Events: 600, Per: time.Minute, Burst: 200})
	def(&l.AccountPerAddress, ratelimit.Limit{Events: 20, Per: time.Hour, Burst: 10})
	def(&l.AccountPerMailbox, ratelimit.Limit{Events: 4, Per: time.Hour, Burst: 3})
	return l
}

// backupDefaults fills in and checks the backup settings.
func (c *Config) backupDefaults() error {
	if c.BackupEvery == 0 {
		c.BackupEvery = defaultBackupEvery
	}
	if c.BackupKeep == 0 {
		c.BackupKeep = defaultBackupKeep
	}
	if c.BackupStaleAfter == 0 {
		c.BackupStaleAfter = 2 * c.BackupEvery
	}
	if c.BackupEvery < time.Minute || c.BackupKeep < 1 || c.BackupStaleAfter < c.BackupEvery {
		return fmt.Errorf("config: backups every %v, keeping %d, stale after %v: give at least a minute, at least 1, and at least the interval", c.BackupEvery, c.BackupKeep, c.BackupStaleAfter)
	}
	return nil
}

// publicOrigin is the parsed PublicURL.
type publicOrigin struct {
	Scheme string // "http" or "https"
	Host   string // host name without port
	Origin string // scheme://host[:port]
}

// parsePublicURL checks a PublicURL and splits it.
func parsePublicURL(s string) (publicOrigin, error) {
	if s == "" {
		return publicOrigin{}, errors.New("config: PublicURL is required (e.g. http://localhost:8080)")
	}
	u, err := url.Parse(s)
	if err != nil {
		return publicOrigin{}, fmt.Errorf("config: PublicURL %q: %w", s, err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return publicOrigin{}, fmt.Errorf("config: PublicURL %q: scheme must be http or https", s)
	}
	if u.Host == "" || u.User != nil || (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" {
		return publicOrigin{}, fmt.Errorf("config: PublicURL %q: give only scheme, host and port, like https://market.example", s)
	}
	host := strings.ToLower(u.Hostname())
	if _, err := netip.ParseAddr(host); err == nil {
		return publicOrigin{}, fmt.Errorf("config: PublicURL %q: use a host name, not an IP address: passkeys (WebAuthn) need a domain; for local use, http://localhost:PORT", s)
	}
	origin := u.Scheme + "://" + strings.ToLower(u.Host)
	return publicOrigin{Scheme: u.Scheme, Host: host, Origin: origin}, nil
}
