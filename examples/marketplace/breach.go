package main

import (
	"context"
	"log/slog"
	"net/http"
	"time"

	"github.com/deployedworks/rampart/auth/password"
)

// defaultBreachTimeout is Config.BreachTimeout's default: long enough for
// the range API (usually tens of milliseconds), short enough that an
// outage costs a user a few seconds, not a failed sign-up.
const defaultBreachTimeout = 3 * time.Second

// newBreachChecker returns the breach checker cfg asks for, or nil.
//
// It fails open, a deliberate choice for this app: when the range API is
// down, slow or unreachable (a production network without egress), the
// password policy's local checks alone decide (the 100,000 common
// passwords and their disguises, context words, trivial patterns: the
// checks NIST requires), and a warning is logged for every such check, so
// that operators notice and either allow egress to the service or opt
// out. Failing closed would instead refuse every sign-up and password
// change for as long as the service is away, including the change of a
// password the user knows to be compromised. An attacker cannot choose
// the failure: the request carries only a hash prefix of the password,
// and a client that gives up cancels its own request, which the policy
// reports as an error, never as an acceptance.
func newBreachChecker(cfg Config, log *slog.Logger) (password.BreachChecker, error) {
	if cfg.BreachCheck == BreachCheckOff || cfg.BreachCheck == BreachCheckAuto && !cfg.Prod {
		return nil, nil
	}
	timeout := cfg.BreachTimeout
	if timeout <= 0 {
		timeout = defaultBreachTimeout
	}
	c, err := password.NewRangeClient(password.RangeClientConfig{
		BaseURL:    cfg.BreachRangeURL,
		HTTPClient: &http.Client{Timeout: timeout},
		UserAgent:  "rampart-marketplace",
	})
	if err != nil {
		return nil, err
	}
	rangeURL := cfg.BreachRangeURL
	if rangeURL == "" {
		rangeURL = password.DefaultRangeURL
	}
	log.Info("new passwords are checked against known breaches", "range_url", rangeURL, "timeout", timeout)
	return loggedBreach{c, log}, nil
}

// loggedBreach logs the failures of a breach checker, which the policy
// then ignores (PolicyConfig.AllowOnBreachCheckError).
type loggedBreach struct {
	password.BreachChecker
	log *slog.Logger
}

func (l loggedBreach) Breached(ctx context.Context, password string) (bool, error) {
	breached, err := l.BreachChecker.Breached(ctx, password)
	if err != nil && ctx.Err() == nil {
		// The error names the step and the status, never the password or
		// its hash prefix.
		l.log.WarnContext(ctx, "breach check failed: the password was judged by the local checks only; allow egress to the range API or start with -breach-check=false", "err", err)
	}
	return breached, err
}
