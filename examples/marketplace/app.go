package main

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"html/template"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/deployedworks/rampart/account"
	"github.com/deployedworks/rampart/audit"
	"github.com/deployedworks/rampart/audit/chain"
	"github.com/deployedworks/rampart/audit/detect"
	"github.com/deployedworks/rampart/audit/detect/redisstate"
	"github.com/deployedworks/rampart/audit/sqlsink"
	"github.com/deployedworks/rampart/auth"
	"github.com/deployedworks/rampart/auth/password"
	"github.com/deployedworks/rampart/clientip"
	"github.com/deployedworks/rampart/examples/marketplace/internal/backup"
	"github.com/deployedworks/rampart/headers"
	"github.com/deployedworks/rampart/identity"
	"github.com/deployedworks/rampart/mfa"
	"github.com/deployedworks/rampart/mfa/passkey"
	"github.com/deployedworks/rampart/notify"
	"github.com/deployedworks/rampart/ratelimit"
	"github.com/deployedworks/rampart/ratelimit/redisstore"
	"github.com/deployedworks/rampart/session"
	sessredis "github.com/deployedworks/rampart/session/redisstore"
	"github.com/deployedworks/rampart/session/sqlstore"
	tokensql "github.com/deployedworks/rampart/token/sqlstore"
)

// App is the marketplace: every component built from a Config, and the
// HTTP handler that serves them. Build it with New and release it with
// Close.
type App struct {
	cfg    Config
	origin publicOrigin
	log    *slog.Logger
	db     *store
	keys   *appSecrets

	ips       *clientip.Resolver
	audit     *audit.Logger
	auditSQL  *sqlsink.Sink
	auditFile *chain.Sink
	auditDir  string
	// auditStore holds the audit table and the checkpoints of auditFile
	// (shipped under the name instance): the main database, or the audit
	// database (Config.AuditDatabaseURL).
	auditStore *auditStore
	instance   string
	shipMu     sync.Mutex
	shipped    chain.Checkpoint // the newest checkpoint shipped
	// auditQueues are the queues in front of the audit sinks, whose
	// backlog readiness checks.
	auditQueues []*audit.AsyncSink
	health      readiness

	// outbox queues the mail; devMail, in development, keeps what was
	// sent for /account/outbox.
	outbox  *notify.Outbox
	devMail *devSender
	sender  notify.Sender

	rdb      *redis.Client
	sessions *session.Manager
	sessSQL  *sqlstore.Store // nil when sessions live in Redis

	authn    *auth.Authenticator
	hasher   *password.Hasher
	pwPolicy *password.Policy
	// flows are the account flows (reset, verification, change of
	// address), their tokens in tokenSQL.
	flows    *account.Flows
	tokenSQL *tokensql.Store
	guard    *auth.Guard

	totp     *mfa.TOTP
	recovery *mfa.Recovery
	passkeys *passkey.RelyingParty
	policy   *mfa.Policy
	stepUp   func(http.Handler) http.Handler

	loginThrottle *ratelimit.LoginThrottle
	limits        limiters

	sec         *headers.Policy
	secQR       *headers.Policy
	cross       *headers.CrossOrigin
	cspReports  *headers.Reports
	securityTxt *headers.SecurityTxt

	tmpl   map[string]*template.Template
	routes []string // every route pattern, for the route-coverage test
	// observe, when set (by tests, before serving), is told the pattern of
	// every route served.
	observe func(pattern string)
	handler http.Handler

	backups     *scheduledBackups // nil without Config.BackupDir
	janitorRuns janitorState
	started     time.Time

	closeOnce sync.Once
	closers   []func(context.Context) error // run in reverse order
	stop      chan struct{}
	stopped   chan struct{}
}

// limiters are the request rate limits in front of some routes.
type limiters struct {
	signup, loginIP, report, write, setup, perRoute *ratelimit.Middleware
}

// New builds the app from cfg: it opens and migrates the database, loads
// the secrets, and wires every Rampart package. Call Close when done.
func New(ctx context.Context, cfg Config) (*App, error) {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Console == nil {
		cfg.Console = os.Stderr
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(cfg.Console, nil))
	}
	if cfg.RedisPrefix == "" {
		cfg.RedisPrefix = "marketplace:"
	}
	if cfg.Contact == "" {
		cfg.Contact = "mailto:security@deployed.works"
	}
	if cfg.StepUp <= 0 {
		cfg.StepUp = 10 * time.Minute
	}
	switch {
	case cfg.RequestTimeout == 0:
		cfg.RequestTimeout = defaultRequestTimeout
	case cfg.RequestTimeout < 0 || cfg.RequestTimeout > maxRequestTimeout:
		return nil, fmt.Errorf("config: RequestTimeout %v: give a positive duration up to %v, below the server's write timeout (%v) so that the error page can still be written, or 0 for %v",
			cfg.RequestTimeout, maxRequestTimeout, writeTimeout, defaultRequestTimeout)
	}
	if cfg.RedisTimeout < 0 || cfg.RedisTimeout > maxRequestTimeout {
		return nil, fmt.Errorf("config: RedisTimeout %v: give a positive duration up to %v, or 0 for the default (250ms)", cfg.RedisTimeout, maxRequestTimeout)
	}
	if cfg.DataDir == "" {
		return nil, errors.New("config: DataDir is required")
	}
	cfg.Limits = cfg.Limits.withDefaults()
	origin, err := parsePublicURL(cfg.PublicURL)
	if err != nil {
		return nil, err
	}
	if cfg.Prod && origin.Scheme != "https" {
		return nil, fmt.Errorf("config: -prod needs an https public URL, not %q: serve TLS (-tls-cert/-tls-key or -domain) or put a TLS-terminating proxy in front (-trusted-proxies, -public-url https://…)", cfg.PublicURL)
	}
	if err := cfg.backupDefaults(); err != nil {
		return nil, err
	}
	a := &App{cfg: cfg, origin: origin, log: cfg.Logger, started: cfg.Now(), stop: make(chan struct{}), stopped: make(chan struct{})}
	if err := a.build(ctx); err != nil {
		cctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = a.Close(cctx)
		return nil, err
	}
	go a.janitor() // #nosec G118 -- the janitor is background work of the App, stopped by Close, not tied to a request
	return a, nil
}

func (a *App) onClose(fn func(context.Context) error) { a.closers = append(a.closers, fn) }

func (a *App) build(ctx context.Context) error {
	cfg := a.cfg
	var err error
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return fmt.Errorf("data directory %q: %w", cfg.DataDir, err)
	}

	// Secrets first: production refuses to start without them.
	if a.keys, err = loadSecretsWith(ctx, cfg.Secrets, cfg.DataDir, secretsOptions{prod: cfg.Prod, mail: true, backup: cfg.BackupDir != "" && cfg.DatabaseURL == ""}); err != nil {
		return err
	}
	if len(a.keys.Generated) > 0 {
		a.log.Warn("DEVELOPMENT MODE: generated secrets for this machine; never use them in production (start with -prod and set them from a secret store)",
			"generated", strings.Join(a.keys.Generated, ","), "stored_in", filepath.Join(cfg.DataDir, devSecretsFile))
	} else if !cfg.Prod {
		a.log.Warn("DEVELOPMENT MODE: using development secrets and settings; start with -prod in production",
			"secrets_file", filepath.Join(cfg.DataDir, devSecretsFile))
	}
	if len(a.keys.FromDataDir) > 0 && (cfg.DatabaseURL != "" || cfg.RedisURL != "") {
		a.log.Warn("DEVELOPMENT MODE with a shared DATABASE_URL/REDIS_URL: some secrets come from this instance's data directory; set them in the environment, the same on every instance, or sessions and passwords made on one instance fail on the others",
			"from_data_dir", strings.Join(a.keys.FromDataDir, ","))
	}

	// PostgreSQL and Redis: over verified TLS in production.
	svcTLS, err := loadServiceTLS(ctx, cfg.Secrets, cfg.Prod, cfg.AllowPlaintextDB)
	if err != nil {
		return err
	}
	if cfg.AuditDatabaseURL != "" { // refused before anything connects
		if _, err := svcTLS.pgConfig(envAuditDatabaseURL, cfg.AuditDatabaseURL); err != nil {
			return err
		}
	}

	// Database and migrations.
	if a.db, err = openStoreTLS(ctx, cfg.DataDir, cfg.DatabaseURL, cfg.Now, svcTLS); err != nil {
		return err
	}
	a.onClose(func(context.Context) error { return a.db.Close() })
	if cfg.RedisURL == "" {
		if a.sessSQL, err = sqlstore.New(a.db.db, a.db.sqlDialect(), sqlstore.Config{}); err != nil {
			return err
		}
	}
	err = a.db.withMigrationLock(ctx, func() error {
		applied, err := a.db.migrate(ctx)
		if err != nil {
			return err
		}
		if len(applied) > 0 {
			a.log.Info("database migrated", "dialect", a.db.dialect.String(), "applied", strings.Join(applied, ","))
		}
		if a.sessSQL != nil {
			if err := a.sessSQL.Migrate(ctx); err != nil {
				return fmt.Errorf("sessions: migrate: %w", err)
			}
		}
		if cfg.AuditDatabaseURL != "" {
			return nil // the owner role created the audit tables (audit-setup)
		}
		a.auditStore, err = mainAuditStore(ctx, a.db, cfg.Now)
		return err
	})
	if err != nil {
		return err
	}
	if cfg.AuditDatabaseURL != "" {
		if a.auditStore, err = openAuditStore(ctx, cfg.AuditDatabaseURL, cfg.AuditSchema, svcTLS); err != nil {
			return err
		}
		a.onClose(a.auditStore.Close) // after the audit queues and the last checkpoint
	}
	a.auditSQL = a.auditStore.sink
	if a.instance, err = instanceName(cfg.DataDir, cfg.Instance); err != nil {
		return err
	}

	// Client addresses: forwarding headers only from the trusted proxies.
	if a.ips, err = clientip.New(cfg.TrustedProxies, clientip.Config{Logger: a.log}); err != nil {
		return err
	}

	// Redis, for sessions, rate limits and the detector's counts shared by every instance.
	if cfg.RedisURL != "" {
		opt, err := svcTLS.redisOptions(cfg.RedisURL)
		if err != nil {
			return err
		}
		opt.DialTimeout = 500 * time.Millisecond
		// Obey context deadlines: the rate-limit store's per-call
		// timeout, and a request's own, bound the wait on a hung Redis.
		opt.ContextTimeoutEnabled = true
		a.rdb = redis.NewClient(opt)
		a.onClose(func(context.Context) error { return a.rdb.Close() })
		pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		if err := a.rdb.Ping(pctx).Err(); err != nil {
			return fmt.Errorf("redis: connect (check REDIS_URL): %w", err)
		}
	}

	// Audit: the chained file (record of truth) and the database (admin
	// pages), each behind its own queue so a retry never duplicates.
	if err := a.buildAudit(); err != nil {
		return err
	}

	// Mail: the outbox, delivered in the background until Close.
	if err := a.buildNotify(); err != nil {
		return err
	}
	err = a.db.withMigrationLock(ctx, func() error { return a.outbox.Migrate(ctx) })
	if err == nil {
		err = a.startOutbox()
	}
	if err != nil {
		return err
	}

	// Sessions.
	var st session.Store = a.sessSQL
	if a.rdb != nil {
		if st, err = sessredis.New(a.rdb, sessredis.Config{Prefix: cfg.RedisPrefix + "session:"}); err != nil {
			return err
		}
	}
	a.sessions, err = session.New(session.Config{
		Store:               st,
		AllowInsecureCookie: !cfg.Prod && a.origin.Scheme == "http",
		Keyring:             a.keys.SessionKeys,
		Audit:               a.audit,
		Logger:              a.log,
		OnError:             a.sessionError,
		Now:                 cfg.Now,
	})
	if err != nil {
		return err
	}

	if err := a.buildLimits(); err != nil {
		return err
	}
	if err := a.buildAuth(); err != nil {
		return err
	}
	if err := a.buildMFA(); err != nil {
		return err
	}
	if err := a.buildAccount(); err != nil {
		return err
	}
	if err := a.db.withMigrationLock(ctx, func() error { return a.tokenSQL.Migrate(ctx) }); err != nil {
		return fmt.Errorf("tokens: migrate: %w", err)
	}
	if err := a.buildHeaders(); err != nil {
		return err
	}
	if a.tmpl, err = parseTemplates(); err != nil {
		return err
	}
	if !cfg.DisableSetupToken {
		if err := a.offerSetup(ctx); err != nil {
			return err
		}
	}
	if err := a.buildBackups(); err != nil {
		return err
	}
	a.handler = a.buildRoutes()
	return nil
}

// buildBackups sets up the scheduled backups (Config.BackupDir).
func (a *App) buildBackups() error {
	cfg := a.cfg
	if cfg.BackupDir == "" {
		if cfg.Prod {
			// Nothing would ever say backup_stale=1: say so once.
			a.log.Warn("backup: no backup directory (-backup-dir, MARKETPLACE_BACKUP_DIR): the app takes no backups and watches none; back the database up another way",
				"backup_configured", 0)
		}
		return nil
	}
	if err := os.MkdirAll(cfg.BackupDir, 0o700); err != nil {
		return fmt.Errorf("backup directory %q: %w", cfg.BackupDir, err)
	}
	b := &scheduledBackups{dir: cfg.BackupDir, every: cfg.BackupEvery, keep: cfg.BackupKeep, staleAfter: cfg.BackupStaleAfter,
		db: a.db, now: cfg.Now, log: a.log}
	if a.db.dialect == dialectSQLite {
		var err error
		if b.bk, err = backup.New(a.keys.BackupKeys, backup.Config{Audit: a.audit, Now: cfg.Now}); err != nil {
			return fmt.Errorf("backups: %w", err)
		}
	}
	a.backups = b
	return nil
}

func (a *App) buildAudit() error {
	a.auditDir = filepath.Join(a.cfg.DataDir, "audit")
	fs, err := chain.New(a.auditDir, a.keys.AuditKey.Reveal(), chain.Config{Now: a.cfg.Now})
	if err != nil {
		return fmt.Errorf("audit chain in %s: %w (was %s changed?)", a.auditDir, err, envAuditKey)
	}
	a.auditFile = fs
	// Closers run in reverse: the last checkpoint ships after the seal.
	a.onClose(func(ctx context.Context) error { a.shipCheckpoint(ctx); return nil })
	a.onClose(fs.Close)
	a.shipCheckpoint(context.Background()) // where a reopened chain stands
	fileQ, err := audit.NewAsyncSink(fs, audit.AsyncConfig{Now: a.cfg.Now})
	if err != nil {
		return err
	}
	a.onClose(fileQ.Close)
	sqlQ, err := audit.NewAsyncSink(a.auditSQL, audit.AsyncConfig{Now: a.cfg.Now})
	if err != nil {
		return err
	}
	a.onClose(sqlQ.Close)
	a.auditQueues = []*audit.AsyncSink{fileQ, sqlQ}
	both, err := audit.NewFanoutSink(fileQ, sqlQ)
	if err != nil {
		return err
	}
	// Notices and alerts hang off the audit events, under the detector so
	// that they see its alerts too.
	notices, err := a.buildNotices(both)
	if err != nil {
		return err
	}
	dc := detect.Config{Now: a.cfg.Now}
	if a.rdb != nil {
		if dc.State, err = redisstate.New(a.rdb, redisstate.Config{Prefix: a.cfg.RedisPrefix + "detect:", Timeout: a.cfg.RedisTimeout}); err != nil {
			return err
		}
	}
	det, err := detect.New(notices, dc)
	if err != nil {
		return err
	}
	a.audit, err = audit.New(det, audit.Config{Now: a.cfg.Now, ErrorLog: a.log})
	return err
}

// newStore returns a rate-limit store: in Redis when configured, so that
// every instance shares it, else in memory.
func (a *App) newStore(name string, l ratelimit.Limit) (ratelimit.Store, error) {
	if a.rdb != nil {
		return redisstore.New(a.rdb, name, l, redisstore.Config{Prefix: a.cfg.RedisPrefix + "ratelimit:", Audit: a.audit, Timeout: a.cfg.RedisTimeout})
	}
	m, err := ratelimit.NewMemory(l, ratelimit.MemoryConfig{Now: a.cfg.Now})
	if err != nil {
		return nil, err
	}
	a.onClose(m.Close)
	return m, nil
}

func (a *App) buildLimits() error {
	lim := a.cfg.Limits
	byIP := ratelimit.KeyByIP()
	byUser := ratelimit.KeyByUser(func(r *http.Request) (string, bool) {
		id, ok := identity.FromContext(r.Context())
		return id.UserID, ok
	}, byIP)
	mk := func(name string, l ratelimit.Limit, key ratelimit.KeyFunc) (*ratelimit.Middleware, error) {
		st, err := a.newStore(name, l)
		if err != nil {
			return nil, fmt.Errorf("rate limit %s: %w", name, err)
		}
		return ratelimit.NewMiddleware(st, key, ratelimit.MiddlewareConfig{OnDeny: a.rateLimited, OnError: a.rateLimited, Policy: name, Audit: a.audit})
	}
	var err error
	if a.limits.signup, err = mk("signup", lim.Signup, byIP); err != nil {
		return err
	}
	if a.limits.loginIP, err = mk("login", lim.LoginIP, byIP); err != nil {
		return err
	}
	if a.limits.report, err = mk("report", lim.Report, byUser); err != nil {
		return err
	}
	if a.limits.write, err = mk("write", lim.Write, byUser); err != nil {
		return err
	}
	if a.limits.setup, err = mk("setup", lim.Setup, byIP); err != nil {
		return err
	}
	if a.limits.perRoute, err = mk("route", lim.PerRoute, ratelimit.KeyByRoute(byIP)); err != nil {
		return err
	}

	// The login throttle: per account and address ladders, shared through
	// Redis when configured.
	var backend ratelimit.Backend = ratelimit.MemoryBackend{Config: ratelimit.MemoryConfig{Now: a.cfg.Now}}
	if a.rdb != nil {
		if backend, err = redisstore.NewBackend(a.rdb, redisstore.Config{Prefix: a.cfg.RedisPrefix + "login:", Audit: a.audit, Timeout: a.cfg.RedisTimeout}); err != nil {
			return err
		}
	}
	if a.loginThrottle, err = ratelimit.NewLoginThrottle(backend, ratelimit.LoginThrottleConfig{Audit: a.audit}); err != nil {
		return err
	}
	a.onClose(a.loginThrottle.Close)
	return nil
}

func (a *App) buildAuth() error {
	hc := password.HasherConfig{}
	if a.cfg.PasswordHashing != nil {
		hc = *a.cfg.PasswordHashing
	}
	hc.Peppers = a.keys.Peppers
	hasher, err := password.NewHasher(hc)
	if err != nil {
		return err
	}
	pc := password.PolicyConfig{SiteWords: []string{"marketplace", "rampart", "deployedworks", a.origin.Host}}
	if pc.Breach, err = newBreachChecker(a.cfg, a.log); err != nil {
		return err
	}
	pc.AllowOnBreachCheckError = true // fails open: see newBreachChecker
	policy, err := password.NewPolicy(pc)
	if err != nil {
		return err
	}
	a.hasher, a.pwPolicy = hasher, policy
	changes, err := a.newStore("password-change", a.cfg.Limits.Password)
	if err != nil {
		return err
	}
	var users auth.UserStore = authUsers{a.db}
	if a.cfg.wrapUsers != nil {
		users = a.cfg.wrapUsers(users)
	}
	a.authn, err = auth.NewAuthenticator(users, a.sessions, auth.AuthenticatorConfig{
		Hasher: hasher, Policy: policy, Throttle: a.loginThrottle, Audit: a.audit,
		Now:             a.cfg.Now, // the sessions' clock: the principal's AuthTime is compared with their revocations
		PasswordChanges: changes,
		LoginDigestKey:  a.keys.LoginDigestKey, // one key on every instance: see loginDigestKey
	})
	if err != nil {
		return err
	}
	a.guard, err = auth.NewGuard(auth.GuardConfig{Audit: a.audit, OnDeny: a.guardDeny})
	return err
}

func (a *App) buildMFA() error {
	st := a.db.mfaStore()
	// Code attempts are limited per session, so that whoever holds a
	// user's password cannot use up the owner's attempts, under a
	// per-user ceiling that only slows down (see the mfa package doc).
	perSession, err := a.newStore("mfa", a.cfg.Limits.MFA)
	if err != nil {
		return err
	}
	perUser, err := a.newStore("mfa-user", a.cfg.Limits.MFAUser)
	if err != nil {
		return err
	}
	// The stores can forget a key (ratelimit.Store): mfa resets a
	// session's attempts after a success, so that limit counts
	// consecutive failures.
	if a.totp, err = mfa.NewTOTP(mfa.TOTPConfig{
		Issuer: "Marketplace", Keyring: a.keys.DataKeys, Store: st, Sessions: a.sessions,
		Limiter: perSession, UserLimiter: perUser, Audit: a.audit, Now: a.cfg.Now,
	}); err != nil {
		return err
	}
	if a.recovery, err = mfa.NewRecovery(mfa.RecoveryConfig{
		Key: a.keys.RecoveryKey, Store: st,
		Limiter: perSession, UserLimiter: perUser, Audit: a.audit,
	}); err != nil {
		return err
	}
	if a.passkeys, err = passkey.New(passkey.Config{
		RPID: a.origin.Host, RPDisplayName: "Marketplace", RPOrigins: []string{a.origin.Origin},
		Credentials: st, Sessions: a.sessions, Challenges: a.sessions,
		OnLogin:   a.passkeyLogin,
		UserNames: a.passkeyNames,
		OnError:   a.passkeyError,
		Audit:     a.audit, Now: a.cfg.Now,
	}); err != nil {
		return err
	}
	// Which routes are reachable before MFA is said where they are
	// registered (buildRoutes: policy.AllowEnrolment, AllowChallenge).
	if a.policy, err = mfa.NewPolicy(mfa.PolicyConfig{
		Factors:   []mfa.EnrolmentChecker{a.totp, a.passkeys},
		Roles:     []string{roleAdmin},
		EnrolPath: "/account/mfa", ChallengePath: "/mfa", ReauthPath: "/account/reauth",
		OnDeny: a.mfaDeny, Audit: a.audit, Now: a.cfg.Now,
	}); err != nil {
		return err
	}
	a.stepUp = a.policy.StepUp(a.cfg.StepUp)
	return nil
}

func (a *App) buildHeaders() error {
	var err error
	if a.sec, err = headers.New(headers.Config{CSP: headers.CSP{ReportURI: "/csp-report"}}); err != nil {
		return err
	}
	// The TOTP enrolment page shows its QR code as a data: URL image.
	if a.secQR, err = a.sec.With(func(c *headers.Config) {
		c.CSP.ImgSrc = []headers.Source{headers.Self, "data:"}
	}); err != nil {
		return err
	}
	if a.cross, err = headers.NewCrossOrigin(headers.CrossOriginConfig{
		PublicOrigin:           a.origin.Origin,
		InsecureBypassPatterns: []string{"POST /csp-report"},
		Audit:                  a.audit,
		OnDeny: func(w http.ResponseWriter, r *http.Request, _ error) {
			a.fail(w, r, http.StatusForbidden, "This request came from another site and was refused. If you sent it yourself, reload the page and try again.")
		},
	}); err != nil {
		return err
	}
	// Signed-in users' reports have budgets of their own, which a flood of
	// anonymous ones cannot spend: the route loads the session (see
	// buildRoutes), and this tells the endpoint whose it is.
	if a.cspReports, err = headers.NewReports(headers.ReportsConfig{
		Audit: a.audit, Now: a.cfg.Now,
		SessionKey: func(r *http.Request) (string, bool) {
			id, ok := identity.FromContext(r.Context())
			return id.UserID, ok
		},
	}); err != nil {
		return err
	}
	a.onClose(func(ctx context.Context) error { a.cspReports.Flush(ctx); return nil }) // runs before the audit queues close
	txt := headers.SecurityTxtConfig{Contact: []string{a.cfg.Contact}, PreferredLanguages: []string{"en"}}
	if a.origin.Scheme == "https" {
		txt.Canonical = []string{a.origin.Origin + "/.well-known/security.txt"}
		txt.Policy = a.origin.Origin + "/security"
	}
	a.securityTxt, err = headers.NewSecurityTxt(txt)
	return err
}

// Handler returns the app's HTTP handler, with every middleware installed.
func (a *App) Handler() http.Handler { return a.handler }

// Close stops the background work, flushes the audit queues, seals the
// audit chain and closes the connections. It is safe to call more than
// once.
func (a *App) Close(ctx context.Context) error {
	var errs []error
	a.closeOnce.Do(func() {
		close(a.stop)
		if a.handler != nil {
			select { // the janitor starts only after a successful build
			case <-a.stopped:
			case <-ctx.Done():
			}
		}
		for _, fn := range slices.Backward(a.closers) {
			if err := fn(ctx); err != nil {
				errs = append(errs, err)
			}
		}
	})
	return errors.Join(errs...)
}

// shipCheckpoint records the audit chain's newest record in the database
// (audit-verify checks the chain against it), unless it was shipped
// already. A failure is logged; the next call ships the newer checkpoint.
func (a *App) shipCheckpoint(ctx context.Context) {
	cp := a.auditFile.Checkpoint()
	a.shipMu.Lock()
	defer a.shipMu.Unlock()
	if cp.Seq == 0 || cp == a.shipped {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := a.auditStore.shipCheckpoint(ctx, a.instance, cp, a.cfg.Now()); err != nil {
		a.log.Warn("audit: the chain checkpoint was not shipped to the database", "seq", cp.Seq, "err", err)
		return
	}
	a.shipped = cp
}

// offerSetup mints a setup token when no administrator exists and no
// live token does, stores its hash in the database (shared by every
// instance) and prints it. An instance that finds a live token minted by
// another (or by itself before a restart, with PostgreSQL) says so instead:
// the token printed then works on every instance, once.
func (a *App) offerSetup(ctx context.Context) error {
	ok, err := a.db.hasAdmin(ctx)
	if err != nil || ok {
		return err
	}
	tok := rand.Text()
	// SQLite: the database is this instance's alone, and its old token
	// went with its console output: replace it.
	stored, minted, err := a.db.offerSetupToken(ctx, hashSetupToken(tok), a.db.dialect == dialectSQLite)
	if err != nil {
		return err
	}
	if !stored {
		fmt.Fprintf(a.cfg.Console, "\n"+
			"  No administrator exists yet. The one-time setup token for this deployment\n"+
			"  was printed at %s by the instance that minted it; it works on every\n"+
			"  instance, at %s/setup, until %s.\n"+
			"  Lost it? Run: go run ./examples/marketplace create-admin -email you@example.com\n\n",
			minted.UTC().Format(time.RFC3339), a.origin.Origin, minted.Add(setupTokenTTL).UTC().Format(time.RFC3339))
		return nil
	}
	fmt.Fprintf(a.cfg.Console, "\n"+
		"  No administrator exists yet. To create the first one, open\n"+
		"    %s/setup\n"+
		"  (on any instance) and enter this one-time setup token:\n"+
		"    %s\n"+
		"  or run: go run ./examples/marketplace create-admin -email you@example.com\n"+
		"  The token works once, for %v, and only until an administrator exists.\n\n",
		a.origin.Origin, tok, setupTokenTTL)
	return nil
}
