package account_test

import (
	"context"
	"errors"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/deployedworks/rampart/account"
	"github.com/deployedworks/rampart/identity"
	"github.com/deployedworks/rampart/mfa"
	"github.com/deployedworks/rampart/token"
)

func TestNew_Config(t *testing.T) {
	var nilUsers *users
	for name, c := range map[string]struct {
		mutate func(*account.Config)
		want   string
	}{
		"no users":             {func(c *account.Config) { c.Users = nil }, "Config.Users is nil"},
		"nil pointer users":    {func(c *account.Config) { c.Users = nilUsers }, "Config.Users is nil"},
		"no tokens":            {func(c *account.Config) { c.Tokens = nil }, "Config.Tokens is nil"},
		"no notifier":          {func(c *account.Config) { c.Notifier = nil }, "Config.Notifier is nil"},
		"no sessions":          {func(c *account.Config) { c.Sessions = nil }, "Config.Sessions is nil"},
		"no link":              {func(c *account.Config) { c.Link = nil }, "Config.Link is nil"},
		"no factors":           {func(c *account.Config) { c.Factors = nil }, "AllowNoFactors"},
		"nil factor":           {func(c *account.Config) { c.Factors = []mfa.EnrolmentChecker{nil} }, "nil factor"},
		"negative queue":       {func(c *account.Config) { c.QueueSize = -1 }, "QueueSize"},
		"no factors, declared": {func(c *account.Config) { c.Factors, c.AllowNoFactors = nil, true }, ""},
	} {
		e := newEnv(t, nil) // a valid config to start from
		cfg := account.Config{Users: e.users, Tokens: e.tokens, Notifier: e.outbox, Sessions: e.sess,
			Factors: []mfa.EnrolmentChecker{e.factors}, Link: testLink}
		c.mutate(&cfg)
		f, err := account.New(cfg)
		if c.want == "" {
			require.NoError(t, err, name)
			require.NoError(t, f.Close(t.Context()))
			continue
		}
		assert.ErrorContains(t, err, c.want, name)
	}
}

// failingFactor cannot say whether a user is enrolled.
type failingFactor struct{}

func (failingFactor) Enrolled(context.Context, string) (bool, error) {
	return false, errors.New("mfa store down")
}

// TestReset_EnrolmentLookupFails: when the factors cannot be asked, a
// reset fails closed.
func TestReset_EnrolmentLookupFails(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t, func(c *account.Config) { c.Factors = append(c.Factors, failingFactor{}) })
		u := e.addUser(t, "alice", "alice@example.com", goodPassword)
		require.NoError(t, e.flows.RequestReset(req("192.0.2.1", nil), "alice@example.com"))
		synctest.Wait()
		tok := e.outbox.link(t, "alice@example.com", token.PasswordReset)
		_, err := e.flows.BeginReset(req("192.0.2.1", nil), tok)
		assert.ErrorContains(t, err, "mfa store down")
		err = e.flows.CompleteReset(req("192.0.2.1", &identity.Principal{UserID: "alice"}), tok, "a brand new passphrase 42")
		assert.ErrorContains(t, err, "mfa store down")
		assert.Equal(t, u.PasswordHash, e.users.get("alice").PasswordHash)
	})
}

// TestWorkers_HungTable: a job stuck in a hung user table is cancelled
// after 30 seconds, and Close with an ended context stops waiting.
func TestWorkers_HungTable(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t, nil)
		e.users.block, e.users.entered, e.users.release = map[string]bool{"hang@example.com": true}, make(chan string, 1), make(chan struct{})
		require.NoError(t, e.flows.RequestReset(req("192.0.2.1", nil), "hang@example.com"))
		<-e.users.entered
		time.Sleep(30 * time.Second)
		synctest.Wait()
		errs := e.events(account.ActionError)
		require.Len(t, errs, 1, "the job was cancelled at its deadline")
		assert.Contains(t, errs[0].Reason, context.DeadlineExceeded.Error())

		require.NoError(t, e.flows.RequestReset(req("192.0.2.1", nil), "hang@example.com"))
		<-e.users.entered
		ctx, cancel := context.WithTimeout(t.Context(), time.Second)
		defer cancel()
		assert.ErrorIs(t, e.flows.Close(ctx), context.DeadlineExceeded, "Close stopped waiting")
		synctest.Wait()
		assert.Len(t, e.events(account.ActionError), 2, "and cancelled the job")
	})
}
