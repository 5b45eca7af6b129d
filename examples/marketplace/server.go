package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"golang.org/x/crypto/acme/autocert"

	"github.com/deployedworks/rampart/audit"
	"github.com/deployedworks/rampart/audit/chain"
	"github.com/deployedworks/rampart/audit/sqlsink"
	"github.com/deployedworks/rampart/headers"
)

// writeTimeout bounds the time to write a response; Config.RequestTimeout
// stays below it, so that a request that times out can still answer.
const writeTimeout = 60 * time.Second

// newServer returns an http.Server with timeouts, so that slow clients
// cannot hold connections open (Slowloris).
func newServer(h http.Handler, log *slog.Logger) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      writeTimeout,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
}

// serve runs the app's listeners until ctx ends (SIGINT, SIGTERM), then
// shuts them down gracefully.
func serve(ctx context.Context, app *App, f serveFlags, log *slog.Logger) error {
	type listener struct {
		srv *http.Server
		ln  net.Listener
		tls bool
	}
	var ls []listener
	defer func() {
		for _, l := range ls {
			_ = l.ln.Close()
		}
	}()
	// One cap for all listeners. The trusted proxies' connections carry
	// many clients: they count towards the total only.
	caps := newConnLimiter(f.maxConns, f.maxConnsPerAddr, app.ips.Trusted, log)
	listen := func(addr string) (net.Listener, error) {
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			return nil, fmt.Errorf("serve: listen on %s: %w (is another process using it? choose another with -addr)", addr, err)
		}
		return caps.listener(ln), nil
	}

	main := newServer(app.Handler(), log)
	var tlsCfg *tls.Config
	if f.tlsCert != "" {
		// Load now, so that a wrong file stops the start with a clear
		// error instead of failing every handshake.
		cert, err := tls.LoadX509KeyPair(f.tlsCert, f.tlsKey)
		if err != nil {
			return fmt.Errorf("serve: -tls-cert/-tls-key: %w (give a PEM certificate chain and its private key; restart to load renewed files)", err)
		}
		tlsCfg = hardenTLS(&tls.Config{Certificates: []tls.Certificate{cert}})
	}
	var ln net.Listener
	if f.ln != nil {
		ln = caps.listener(f.ln)
	} else {
		var err error
		if ln, err = listen(f.addr); err != nil {
			return err
		}
	}
	switch {
	case f.domain != "":
		m := &autocert.Manager{
			Prompt:     autocert.AcceptTOS,
			HostPolicy: autocert.HostWhitelist(f.domain),
			Cache:      autocert.DirCache(filepath.Join(f.dataDir, "autocert")),
		}
		tlsCfg = hardenTLS(m.TLSConfig())
		ls = append(ls, listener{srv: main, ln: tls.NewListener(ln, tlsCfg), tls: true})
		rd, err := headers.NewRedirect([]string{f.domain}, headers.RedirectConfig{HTTPSPort: httpsPort(app.origin.Origin), ExemptPaths: []string{"/healthz", "/livez"}})
		if err != nil {
			return err
		}
		hln, err := listen(f.httpAddr)
		if err != nil {
			return err
		}
		// The plain listener answers ACME http-01 challenges and otherwise
		// only redirects.
		ls = append(ls, listener{srv: newServer(m.HTTPHandler(app.ips.Handler(rd.Handler(app.Handler()))), log), ln: hln})
	case f.tlsCert != "":
		ls = append(ls, listener{srv: main, ln: tls.NewListener(ln, tlsCfg), tls: true})
		if f.httpAddr != "" {
			rd, err := headers.NewRedirect([]string{app.origin.Host}, headers.RedirectConfig{HTTPSPort: httpsPort(app.origin.Origin), ExemptPaths: []string{"/healthz", "/livez"}})
			if err != nil {
				return err
			}
			hln, err := listen(f.httpAddr)
			if err != nil {
				return err
			}
			ls = append(ls, listener{srv: newServer(app.ips.Handler(rd.Handler(app.Handler())), log), ln: hln})
		}
	default:
		ls = append(ls, listener{srv: main, ln: ln})
	}

	if tlsCfg != nil {
		// The session-ticket keys rotate until the server stops.
		tctx, stopTickets := context.WithCancel(context.Background())
		defer stopTickets()
		startTicketKeys(tctx, tlsCfg, ticketKeyRotation)
	}

	errc := make(chan error, len(ls))
	for _, l := range ls {
		go func() {
			// TLS listeners are tls.NewListener's, not ServeTLS's: ServeTLS
			// serves a clone of the config, which the ticket-key rotation
			// would not reach.
			err := l.srv.Serve(l.ln)
			if !errors.Is(err, http.ErrServerClosed) {
				errc <- err
			}
		}()
		kind := "http"
		if l.tls {
			kind = "https"
		}
		log.Info("listening", "addr", l.ln.Addr().String(), "scheme", kind)
	}
	mode := "development"
	if f.prod {
		mode = "production"
	}
	log.Info("marketplace is up", "url", app.origin.Origin, "mode", mode, "database", app.db.dialect.String(), "redis", app.rdb != nil)

	var serveErr error
	select {
	case <-ctx.Done():
		log.Info("shutting down")
	case serveErr = <-errc:
		log.Error("server failed", "err", serveErr)
	}
	sctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	for _, l := range ls {
		if err := l.srv.Shutdown(sctx); err != nil {
			serveErr = errors.Join(serveErr, err)
		}
	}
	return serveErr
}

// httpsPort is the port of an https origin, 443 by default.
func httpsPort(origin string) int {
	u, err := url.Parse(origin)
	if err != nil || u.Port() == "" {
		return 443
	}
	p, err := strconv.Atoi(u.Port())
	if err != nil {
		return 443
	}
	return p
}

// cliAudit records the create-admin command's event in the audit table
// and in a chain of its own (prefix audit-cli), since the server may be
// writing its chain at the same time.
type cliAudit struct {
	logger  *audit.Logger
	written *checkedSink
	file    *chain.Sink
}

// newCLIAuditSink starts a new file of the command-line chain beside the
// audit table sq.
func newCLIAuditSink(sq *sqlsink.Sink, keys *appSecrets, dataDir string) (*cliAudit, error) {
	fs, err := chain.New(filepath.Join(dataDir, "audit"), keys.AuditKey.Reveal(), chain.Config{Prefix: cliChainPrefix})
	if err != nil {
		return nil, err
	}
	both, err := audit.NewFanoutSink(fs, sq)
	if err != nil {
		return nil, errors.Join(err, fs.Close(context.Background()))
	}
	written := &checkedSink{Sink: both}
	lg, err := audit.New(written, audit.Config{ErrorLog: discardLogger()})
	if err != nil {
		return nil, errors.Join(err, fs.Close(context.Background()))
	}
	return &cliAudit{logger: lg, written: written, file: fs}, nil
}

// log records e, seals the chain, and says whether both happened: a
// command, unlike a request, must not report success without its record.
func (c *cliAudit) log(ctx context.Context, e audit.Event) error {
	c.logger.Log(ctx, e)
	return errors.Join(c.written.Err(), c.file.Close(ctx))
}

// checkedSink passes events to Sink and keeps the first error, so that a
// command can tell whether its events were written ([audit.Logger.Log],
// which serves requests, never fails its caller).
type checkedSink struct {
	audit.Sink
	mu  sync.Mutex
	err error
}

// Write implements audit.Sink.
func (c *checkedSink) Write(ctx context.Context, e audit.Event) error {
	err := c.Sink.Write(ctx, e)
	if err != nil {
		c.mu.Lock()
		if c.err == nil {
			c.err = err
		}
		c.mu.Unlock()
	}
	return err
}

// Err returns the first write error, or nil.
func (c *checkedSink) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}
