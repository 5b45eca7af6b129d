// Command marketplace is Rampart's example application: a small but real
// marketplace where people sign up, sell and report listings, moderators
// hide and restore them, and administrators manage roles and read the audit
// log, with every Rampart package in place.
//
// Usage:
//
//	go run ./examples/marketplace [serve] [flags]
//	go run ./examples/marketplace create-admin -email you@example.com [-name "Your Name"]
//	go run ./examples/marketplace backup -out FILE
//	go run ./examples/marketplace restore -in FILE
//	go run ./examples/marketplace backup-verify -in FILE
//
// See README.md in this directory for the flags, environment variables and
// production mode.
package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/deployedworks/rampart/audit"
	"github.com/deployedworks/rampart/audit/sqlsink"
	"github.com/deployedworks/rampart/auth/password"
	"github.com/deployedworks/rampart/identity"
	"github.com/deployedworks/rampart/secrets"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr, os.LookupEnv))
}

// env looks up an environment variable.
type env func(string) (string, bool)

func (e env) str(name, def string) string {
	if v, ok := e(name); ok && v != "" {
		return v
	}
	return def
}

// integer returns the whole number in the variable, def when it is unset
// or empty, or an error naming the variable.
func (e env) integer(name string, def int) (int, error) {
	v, ok := e(name)
	if v = strings.TrimSpace(v); !ok || v == "" {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil {
		return def, fmt.Errorf("%s=%q: give a whole number", name, v)
	}
	return n, nil
}

func (e env) boolean(name string) bool {
	v, _ := e(name)
	b, _ := strconv.ParseBool(strings.TrimSpace(v))
	return b
}

// run is main without the process: it parses args, runs the subcommand and
// returns the exit code.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer, lookup env) int {
	cmd := "serve"
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		cmd, args = args[0], args[1:]
	}
	var err error
	switch cmd {
	case "serve":
		err = serveCmd(ctx, args, stderr, lookup)
	case "create-admin":
		err = createAdminCmd(ctx, args, stdin, stdout, stderr, lookup)
	case "backup", "restore", "backup-verify":
		err = backupCmd(ctx, cmd, args, stdout, stderr, lookup)
	case "audit-setup":
		err = auditSetupCmd(ctx, args, stdout, stderr, lookup)
	case "audit-verify":
		err = auditVerifyCmd(ctx, args, stdout, stderr, lookup)
	case "help", "-h", "--help":
		usage(stdout)
		return 0
	default:
		fmt.Fprintf(stderr, "marketplace: unknown command %q\n\n", cmd)
		usage(stderr)
		return 2
	}
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintln(stderr, "marketplace:", err)
		var ue usageError
		if errors.As(err, &ue) {
			return 2
		}
		return 1
	}
	return 0
}

func usage(w io.Writer) {
	fmt.Fprint(w, `Usage:
  marketplace [serve] [flags]        run the site (default)
  marketplace create-admin [flags]   create an administrator; the password is read from stdin
  marketplace backup -out FILE       write an encrypted backup of the SQLite database (server may run)
  marketplace restore -in FILE       replace the SQLite database with a backup (stop the server first)
  marketplace backup-verify -in FILE check that a backup is complete and genuine
  marketplace audit-setup -writer R  create the audit tables as their owner; R may only insert (PostgreSQL)
  marketplace audit-verify           verify the audit chain against the checkpoints shipped to the database
  marketplace help                   show this help

Run "marketplace COMMAND -h" for the flags of a command.
`)
}

// usageError is a mistake in the command line (exit status 2).
type usageError struct{ error }

// flagError makes a flag-parsing error a usage error (exit status 2),
// except -h, which is not an error.
func flagError(cmd string, err error) error {
	if errors.Is(err, flag.ErrHelp) {
		return err
	}
	return usageError{fmt.Errorf("%s: %w", cmd, err)}
}

// commonFlags are the flags every subcommand shares.
type commonFlags struct {
	dataDir string
	prod    bool
}

func (c *commonFlags) register(fs *flag.FlagSet, lookup env) {
	fs.StringVar(&c.dataDir, "data", lookup.str("MARKETPLACE_DATA", "./data"), "data `directory`: SQLite database, audit chain, development secrets (env MARKETPLACE_DATA)")
	fs.BoolVar(&c.prod, "prod", lookup.boolean("MARKETPLACE_PROD"), "production mode: refuse to start without every secret and HTTPS (env MARKETPLACE_PROD=1)")
}

// absDataDir makes the data directory absolute: SQLite's file: URL reads a
// relative path's first element as a host ("file://data/…"), so the
// default ./data would not open.
func (c *commonFlags) absDataDir() error {
	abs, err := filepath.Abs(c.dataDir)
	if err != nil {
		return usageError{fmt.Errorf("-data %q: %w", c.dataDir, err)}
	}
	c.dataDir = abs
	return nil
}

// serveFlags are the flags of the serve command.
type serveFlags struct {
	commonFlags
	addr, httpAddr, publicURL string
	ln                        net.Listener // the main listener, when opened before the app (-addr with port 0)
	maxConns, maxConnsPerAddr int          // connection caps: in total, per address
	tlsCert, tlsKey, domain   string
	trustedProxies            string
	breachCheck               BreachCheck
	requestTimeout            time.Duration
	backup                    backupFlags
}

// backupFlags are serve's scheduled-backup flags (Config.BackupDir …).
type backupFlags struct {
	dir               string
	every, staleAfter time.Duration
	keep              int
}

func (b *backupFlags) register(fs *flag.FlagSet, lookup env) error {
	var errs []error
	dur := func(name string) time.Duration {
		v := lookup.str(name, "")
		if v == "" {
			return 0
		}
		d, err := time.ParseDuration(v)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s=%q: give a duration such as 24h", name, v))
		}
		return d
	}
	keep, err := lookup.integer("MARKETPLACE_BACKUP_KEEP", 0)
	errs = append(errs, err)
	fs.StringVar(&b.dir, "backup-dir", lookup.str("MARKETPLACE_BACKUP_DIR", ""), "`directory` of scheduled backups: the app backs SQLite up there; with DATABASE_URL it only watches for pg_dump files (env MARKETPLACE_BACKUP_DIR; default none)")
	fs.DurationVar(&b.every, "backup-every", dur("MARKETPLACE_BACKUP_EVERY"), "`interval` between scheduled backups (env MARKETPLACE_BACKUP_EVERY; default 24h)")
	fs.IntVar(&b.keep, "backup-keep", keep, "how many scheduled backups to keep (env MARKETPLACE_BACKUP_KEEP; default 7)")
	fs.DurationVar(&b.staleAfter, "backup-stale-after", dur("MARKETPLACE_BACKUP_STALE_AFTER"), "`age` of the newest backup past which the log warns (env MARKETPLACE_BACKUP_STALE_AFTER; default twice -backup-every)")
	return errors.Join(errs...)
}

func parseServeFlags(args []string, stderr io.Writer, lookup env) (serveFlags, error) {
	var f serveFlags
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	f.register(fs, lookup)
	fs.StringVar(&f.addr, "addr", lookup.str("MARKETPLACE_ADDR", ""), "listen `address` (env MARKETPLACE_ADDR; default localhost:8080, or :443 with -domain)")
	fs.StringVar(&f.httpAddr, "http-addr", lookup.str("MARKETPLACE_HTTP_ADDR", ""), "plain-HTTP `address` that only redirects to HTTPS (env MARKETPLACE_HTTP_ADDR; default :80 with -domain)")
	fs.StringVar(&f.publicURL, "public-url", lookup.str("MARKETPLACE_PUBLIC_URL", ""), "the `URL` users reach the site at (env MARKETPLACE_PUBLIC_URL; default from -addr, -domain)")
	fs.StringVar(&f.tlsCert, "tls-cert", lookup.str("MARKETPLACE_TLS_CERT", ""), "TLS certificate `file` (PEM) (env MARKETPLACE_TLS_CERT)")
	fs.StringVar(&f.tlsKey, "tls-key", lookup.str("MARKETPLACE_TLS_KEY", ""), "TLS private key `file` (PEM) (env MARKETPLACE_TLS_KEY)")
	fs.StringVar(&f.domain, "domain", lookup.str("MARKETPLACE_DOMAIN", ""), "`domain` to obtain certificates for with ACME (Let's Encrypt) (env MARKETPLACE_DOMAIN)")
	fs.StringVar(&f.trustedProxies, "trusted-proxies", lookup.str("MARKETPLACE_TRUSTED_PROXIES", ""), "comma-separated `CIDRs` of TLS-terminating proxies to trust for X-Forwarded-For/-Proto (env MARKETPLACE_TRUSTED_PROXIES)")
	maxConns, errMax := lookup.integer("MARKETPLACE_MAX_CONNS", defaultMaxConns)
	perAddr, errPer := lookup.integer("MARKETPLACE_MAX_CONNS_PER_ADDR", defaultMaxConnsPerAddr)
	fs.IntVar(&f.maxConns, "max-conns", maxConns, "most `connections` open at once; more wait in the listen backlog (env MARKETPLACE_MAX_CONNS)")
	fs.IntVar(&f.maxConnsPerAddr, "max-conns-per-addr", perAddr, "most `connections` open at once from one address (IPv6: one /64), trusted proxies excepted; more are closed (env MARKETPLACE_MAX_CONNS_PER_ADDR)")
	breachEnv := strings.TrimSpace(lookup.str("MARKETPLACE_BREACH_CHECK", ""))
	breachOn, err := strconv.ParseBool(breachEnv)
	if breachEnv != "" && err != nil {
		return f, usageError{fmt.Errorf("serve: MARKETPLACE_BREACH_CHECK=%q: want 1 (check) or 0 (do not)", breachEnv)}
	}
	fs.BoolVar(&breachOn, "breach-check", breachOn, "check new passwords against Have I Been Pwned (k-anonymity); default on with -prod, off without; -breach-check=false opts out (env MARKETPLACE_BREACH_CHECK=1 or 0)")
	var rt time.Duration
	if v := lookup.str("MARKETPLACE_REQUEST_TIMEOUT", ""); v != "" {
		var err error
		if rt, err = time.ParseDuration(v); err != nil {
			return f, usageError{fmt.Errorf("serve: MARKETPLACE_REQUEST_TIMEOUT=%q: give a duration such as 15s", v)}
		}
	}
	if err := f.backup.register(fs, lookup); err != nil {
		return f, usageError{fmt.Errorf("serve: %w", err)}
	}
	fs.DurationVar(&f.requestTimeout, "request-timeout", rt, "`duration` after which a request gives up on the database and Redis and answers with an error page, at most 50s (env MARKETPLACE_REQUEST_TIMEOUT; default 15s)")
	if err := fs.Parse(args); err != nil {
		return f, flagError("serve", err)
	}
	breachSet := breachEnv != ""
	fs.Visit(func(fl *flag.Flag) { breachSet = breachSet || fl.Name == "breach-check" })
	switch {
	case !breachSet:
		f.breachCheck = BreachCheckAuto
	case breachOn:
		f.breachCheck = BreachCheckOn
	default:
		f.breachCheck = BreachCheckOff
	}
	if err := errors.Join(errMax, errPer); err != nil {
		return f, usageError{fmt.Errorf("serve: %w", err)}
	}
	if f.maxConns < 1 || f.maxConnsPerAddr < 1 {
		return f, usageError{fmt.Errorf("serve: -max-conns (%d) and -max-conns-per-addr (%d) must be at least 1", f.maxConns, f.maxConnsPerAddr)}
	}
	if fs.NArg() > 0 {
		return f, usageError{fmt.Errorf("serve: unexpected argument %q", fs.Arg(0))}
	}
	if err := f.absDataDir(); err != nil {
		return f, err
	}
	if (f.tlsCert == "") != (f.tlsKey == "") {
		return f, usageError{errors.New("serve: give both -tls-cert and -tls-key, or neither")}
	}
	if f.domain != "" && f.tlsCert != "" {
		return f, usageError{errors.New("serve: -domain obtains certificates itself: drop -tls-cert/-tls-key, or drop -domain")}
	}
	if f.addr == "" {
		f.addr = "localhost:8080"
		if f.domain != "" {
			f.addr = ":443"
		}
	}
	if f.httpAddr == "" && f.domain != "" {
		f.httpAddr = ":80"
	}
	if f.httpAddr != "" && f.domain == "" && f.tlsCert == "" {
		return f, usageError{errors.New("serve: -http-addr redirects to HTTPS: it needs -tls-cert/-tls-key or -domain")}
	}
	return f, nil
}

// defaultPublicURL derives the public URL from the flags.
func (f serveFlags) defaultPublicURL() (string, error) {
	if f.publicURL != "" {
		return strings.TrimSuffix(f.publicURL, "/"), nil
	}
	if f.domain != "" {
		return "https://" + f.domain, nil
	}
	host, port, err := net.SplitHostPort(f.addr)
	if err != nil {
		return "", usageError{fmt.Errorf("serve: -addr %q: %w", f.addr, err)}
	}
	if ip, err := netip.ParseAddr(host); host == "" || (err == nil && (ip.IsUnspecified() || ip.IsLoopback())) {
		host = "localhost" // passkeys need a host name
	}
	scheme := "http"
	if f.tlsCert != "" {
		scheme = "https"
	}
	if (scheme == "http" && port == "80") || (scheme == "https" && port == "443") {
		return scheme + "://" + host, nil
	}
	return scheme + "://" + net.JoinHostPort(host, port), nil
}

// parsePrefixes reads comma-separated CIDRs (or single addresses).
func parsePrefixes(s string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for part := range strings.SplitSeq(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		p, err := netip.ParsePrefix(part)
		if err != nil {
			a, aerr := netip.ParseAddr(part)
			if aerr != nil {
				return nil, usageError{fmt.Errorf("-trusted-proxies: %q is not a CIDR or an address", part)}
			}
			p = netip.PrefixFrom(a, a.BitLen())
		}
		out = append(out, p)
	}
	return out, nil
}

func serveCmd(ctx context.Context, args []string, stderr io.Writer, lookup env) error {
	f, err := parseServeFlags(args, stderr, lookup)
	if err != nil {
		return err
	}
	if _, port, err := net.SplitHostPort(f.addr); err == nil && port == "0" && f.publicURL == "" && f.domain == "" {
		// Any free port: listen now, so that the public URL (cookies,
		// passkeys, redirects) names the port actually chosen.
		if f.ln, err = net.Listen("tcp", f.addr); err != nil {
			return fmt.Errorf("serve: listen on %s: %w", f.addr, err)
		}
		defer f.ln.Close()
		f.addr = f.ln.Addr().String()
	}
	publicURL, err := f.defaultPublicURL()
	if err != nil {
		return err
	}
	proxies, err := parsePrefixes(f.trustedProxies)
	if err != nil {
		return err
	}
	if f.prod && f.tlsCert == "" && f.domain == "" && len(proxies) == 0 {
		return errors.New("serve: -prod needs HTTPS: give -tls-cert and -tls-key, -domain for automatic certificates, or -trusted-proxies for a TLS-terminating proxy (with -public-url https://…)")
	}
	logger := slog.New(slog.NewTextHandler(stderr, nil))
	cfg := Config{
		PublicURL:        publicURL,
		DataDir:          f.dataDir,
		DatabaseURL:      lookup.str("DATABASE_URL", ""),
		AuditDatabaseURL: lookup.str(envAuditDatabaseURL, ""),
		AuditSchema:      lookup.str(envAuditSchema, ""),
		Instance:         lookup.str(envInstance, ""),
		RedisURL:         lookup.str("REDIS_URL", ""),
		RedisPrefix:      lookup.str("MARKETPLACE_REDIS_PREFIX", ""),
		AllowPlaintextDB: lookup.boolean(envAllowPlaintextDB),
		MailFrom:         lookup.str("MARKETPLACE_MAIL_FROM", ""),
		AlertTo:          splitList(lookup.str("MARKETPLACE_ALERT_TO", "")),
		Prod:             f.prod,
		TrustedProxies:   proxies,
		Secrets:          secrets.Env{LookupEnv: lookup},
		BreachCheck:      f.breachCheck,
		RequestTimeout:   f.requestTimeout,
		Logger:           logger,
		Console:          stderr,
	}
	cfg.BackupDir, cfg.BackupEvery, cfg.BackupKeep, cfg.BackupStaleAfter = f.backup.dir, f.backup.every, f.backup.keep, f.backup.staleAfter
	app, err := New(ctx, cfg)
	if err != nil {
		return err
	}
	defer func() {
		cctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		defer cancel()
		if err := app.Close(cctx); err != nil {
			logger.Error("shutdown", "err", err)
		}
	}()
	return serve(ctx, app, f, logger)
}

// createAdminCmd creates an administrator from the command line. The
// password comes from stdin, never from a flag (flags show in ps and shell
// history).
func createAdminCmd(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer, lookup env) error {
	var c commonFlags
	var email, name string
	fs := flag.NewFlagSet("create-admin", flag.ContinueOnError)
	fs.SetOutput(stderr)
	c.register(fs, lookup)
	fs.StringVar(&email, "email", "", "the administrator's e-mail `address` (required)")
	fs.StringVar(&name, "name", "", "the administrator's display `name` (default: the part of the e-mail before @)")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "Usage: marketplace create-admin -email ADDRESS [-name NAME] [-data DIR] [-prod]")
		fmt.Fprintln(stderr, "The password is read from standard input (one line); pipe it in, or type it when asked.")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return flagError("create-admin", err)
	}
	if fs.NArg() > 0 {
		return usageError{fmt.Errorf("create-admin: unexpected argument %q (the password is read from stdin, not given as an argument)", fs.Arg(0))}
	}
	if err := c.absDataDir(); err != nil {
		return err
	}
	email = normEmail(email)
	if email == "" {
		return usageError{errors.New("create-admin: -email is required")}
	}
	if name == "" {
		name, _, _ = strings.Cut(email, "@")
	}
	email, name, msg := checkAccountForm(email, name, "x", "x")
	if msg != "" {
		return usageError{errors.New("create-admin: " + msg)}
	}
	pw, err := readPassword(stdin, stderr)
	if err != nil {
		return err
	}

	keys, err := loadSecrets(ctx, secrets.Env{LookupEnv: lookup}, c.prod, c.dataDir)
	if err != nil {
		return err
	}
	st, err := loadServiceTLS(ctx, secrets.Env{LookupEnv: lookup}, c.prod, lookup.boolean(envAllowPlaintextDB))
	if err != nil {
		return err
	}
	db, err := openStoreTLS(ctx, c.dataDir, lookup.str("DATABASE_URL", ""), time.Now, st)
	if err != nil {
		return err
	}
	defer db.Close()
	// The audit table too is created under the lock, as the server does:
	// of two concurrent CREATE TABLE IF NOT EXISTS, PostgreSQL can fail one.
	var auditTable *sqlsink.Sink
	err = db.withMigrationLock(ctx, func() error {
		if _, err := db.migrate(ctx); err != nil {
			return err
		}
		if lookup.str(envAuditDatabaseURL, "") != "" {
			return nil
		}
		st, err := mainAuditStore(ctx, db, time.Now)
		if err == nil {
			auditTable = st.sink
		}
		return err
	})
	if err != nil {
		return err
	}
	if u := lookup.str(envAuditDatabaseURL, ""); u != "" {
		as, err := openAuditStore(ctx, u, lookup.str(envAuditSchema, ""), st)
		if err != nil {
			return err
		}
		defer as.Close(ctx) //nolint:errcheck // read-mostly; the insert is checked
		auditTable = as.sink
	}
	hasher, err := password.NewHasher(password.HasherConfig{Peppers: keys.Peppers})
	if err != nil {
		return err
	}
	policy, err := password.NewPolicy(password.PolicyConfig{SiteWords: []string{"marketplace", "rampart", "deployedworks"}})
	if err != nil {
		return err
	}
	// The policy, then the hash: what auth's HashNewPassword does, without
	// a login flow (nobody signs in here).
	pw = password.Normalize(pw)
	hash := ""
	err = policy.Check(ctx, pw, password.Context{UserName: email, Email: email})
	if err == nil {
		hash, err = hasher.Hash(ctx, pw)
	}
	if msg, _, ok := passwordProblem(err); !ok {
		if msg == "" {
			return err
		}
		return errors.New("create-admin: password refused: " + msg)
	}
	u, err := db.createUser(ctx, user{Email: email, DisplayName: name, Hash: hash, Roles: []string{roleAdmin}})
	if errors.Is(err, errEmailTaken) {
		return errors.New("create-admin: an account with this e-mail address exists already")
	}
	if err != nil {
		return err
	}
	// The setup token's offer ends (it would fail anyway: an administrator
	// exists).
	if err := db.clearSetupToken(ctx); err != nil {
		fmt.Fprintln(stderr, "create-admin: warning:", err)
	}

	// Record it in both audit stores: the database (admin pages) and a
	// chain of its own beside the server's (one writer per chain).
	sink, err := newCLIAuditSink(auditTable, keys, c.dataDir)
	if err != nil {
		return fmt.Errorf("create-admin: the administrator was created, but auditing failed: %w", err)
	}
	e := audit.Event{Category: audit.CategoryAccess, Action: ActionRoleGranted, Outcome: audit.OutcomeSuccess,
		Actor: identity.Principal{UserID: "system"}, Target: audit.Target{Kind: "user", ID: u.ID},
		Reason: "administrator created with the create-admin command", Meta: map[string]string{"role": roleAdmin}}
	if err := sink.log(ctx, e); err != nil {
		return fmt.Errorf("create-admin: the administrator was created, but auditing failed: %w", err)
	}
	fmt.Fprintf(stdout, "Administrator %s created (ID %s). Log in and set up a second factor: administrators must use one.\n", email, u.ID)
	return nil
}

// readPassword reads one line from stdin. On a terminal it asks twice and
// turns echo off (best effort, with stty).
func readPassword(stdin io.Reader, stderr io.Writer) (string, error) {
	tty := false
	if f, ok := stdin.(*os.File); ok {
		if st, err := f.Stat(); err == nil && st.Mode()&os.ModeCharDevice != 0 {
			tty = true
		}
	}
	br := bufio.NewReader(stdin)
	read := func(prompt string) (string, error) {
		if tty {
			fmt.Fprint(stderr, prompt)
			if err := stty(stdin.(*os.File), "-echo"); err == nil {
				defer func() {
					_ = stty(stdin.(*os.File), "echo")
					fmt.Fprintln(stderr)
				}()
			}
		}
		line, err := br.ReadString('\n')
		if err != nil && !(errors.Is(err, io.EOF) && line != "") {
			return "", errors.New("create-admin: no password on standard input (pipe it in, e.g. from a password manager)")
		}
		return strings.TrimRight(line, "\r\n"), nil
	}
	pw, err := read("Password for the new administrator: ")
	if err != nil {
		return "", err
	}
	if tty {
		again, err := read("The same password again: ")
		if err != nil {
			return "", err
		}
		if again != pw {
			return "", errors.New("create-admin: the two passwords do not match")
		}
	}
	if pw == "" {
		return "", errors.New("create-admin: the password is empty")
	}
	return pw, nil
}

// stty runs stty on the terminal f.
func stty(f *os.File, arg string) error {
	c := exec.Command("stty", arg) // #nosec G204 -- stty with a constant argument chosen by the caller; no shell
	c.Stdin = f
	return c.Run()
}

// splitList splits a comma-separated list, dropping empty items.
func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}
