package account_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/deployedworks/rampart/account"
	"github.com/deployedworks/rampart/audit"
	"github.com/deployedworks/rampart/auth"
	"github.com/deployedworks/rampart/auth/password"
	"github.com/deployedworks/rampart/clientip"
	"github.com/deployedworks/rampart/identity"
	"github.com/deployedworks/rampart/internal/testenv"
	"github.com/deployedworks/rampart/mfa"
	"github.com/deployedworks/rampart/ratelimit"
	"github.com/deployedworks/rampart/sqldb"
	"github.com/deployedworks/rampart/token"
	"github.com/deployedworks/rampart/token/sqlstore"
)

// TestRequestReset_SameWorkForKnownAndUnknown: the request path of a
// reset does the same work for an address with an account and one
// without: no user-table call at all (everything is queued), the same
// answer, and when the queue is full the same refusal. No wall clock is
// involved: the workers are held inside the user table while the
// requests run, so any table call made on the request would show.
func TestRequestReset_SameWorkForKnownAndUnknown(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t, func(c *account.Config) { noLimits(c); c.QueueSize = 4 })
		e.addUser(t, "alice", "alice@example.com", goodPassword)
		e.users.block, e.users.entered, e.users.release = map[string]bool{}, make(chan string), make(chan struct{})
		for i := range account.Workers {
			e.users.block[fmt.Sprintf("hold%d@example.com", i)] = true
		}
		for i := range account.Workers {
			require.NoError(t, e.flows.RequestReset(req("192.0.2.1", nil), fmt.Sprintf("hold%d@example.com", i)))
		}
		for range account.Workers {
			<-e.users.entered // every worker is busy inside the table
		}
		before := e.users.calls.Load()

		known := e.flows.RequestReset(req("192.0.2.2", nil), "alice@example.com")
		unknown := e.flows.RequestReset(req("192.0.2.3", nil), "nobody@example.com")
		assert.NoError(t, known)
		assert.NoError(t, unknown)
		assert.Equal(t, before, e.users.calls.Load(), "the request path asked the user table nothing, for either")

		// Two of the four queue slots are taken; fill the rest.
		require.NoError(t, e.flows.RequestReset(req("192.0.2.4", nil), "x1@example.com"))
		require.NoError(t, e.flows.RequestReset(req("192.0.2.5", nil), "x2@example.com"))
		known = e.flows.RequestReset(req("192.0.2.6", nil), "alice@example.com")
		unknown = e.flows.RequestReset(req("192.0.2.7", nil), "nobody@example.com")
		var lk, lu *ratelimit.LimitedError
		require.ErrorAs(t, known, &lk, "a full queue refuses a known address")
		require.ErrorAs(t, unknown, &lu, "and an unknown one")
		assert.Equal(t, lk, lu, "alike")
		assert.Positive(t, lk.RetryAfter)
		assert.Equal(t, before, e.users.calls.Load())
		assert.Len(t, e.events(account.ActionThrottled), 2)

		close(e.users.release)
		e.drain(t)
		assert.Len(t, e.outbox.to("alice@example.com", "password_reset"), 1, "the known address got its link")
		assert.Len(t, e.outbox.all(), 1, "nothing was mailed to an address without an account")
		notMailed := e.events(account.ActionResetNotMailed)
		assert.Len(t, notMailed, 5, "the holders, x1, x2 and nobody")
		for _, ev := range notMailed {
			assert.Equal(t, "unknown_address", ev.Reason)
			assert.Len(t, ev.Meta["email_digest"], 16)
			assert.NotContains(t, fmt.Sprint(ev), "@example.com", "no address in clear")
		}
		for _, ev := range e.sink.Events() {
			assert.NotContains(t, fmt.Sprint(ev), "nobody@", "no address typed by a client in audit")
		}
		_, err := e.flows.BeginReset(req("192.0.2.1", nil), "x")
		assert.ErrorIs(t, err, token.ErrInvalid, "the synchronous steps work after Close")
		assert.Error(t, e.flows.RequestReset(req("192.0.2.1", nil), "alice@example.com"), "the queue is closed")
	})
}

// TestReset_NoMFA walks a user without a second factor through a reset:
// the link signs nobody in, the new password takes effect, every session
// ends, a notice is mailed, and the link is single use.
func TestReset_NoMFA(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t, nil)
		old := e.addUser(t, "alice", "Alice@Example.com", goodPassword)
		require.NoError(t, e.flows.RequestReset(req("192.0.2.1", nil), " alice@example.COM"))
		synctest.Wait()
		mails := e.outbox.to("Alice@Example.com", "password_reset")
		require.Len(t, mails, 1, "mailed to the address the account has, not the one typed")
		assert.NotContains(t, mails[0].Key, e.outbox.link(t, "Alice@Example.com", token.PasswordReset), "the dedup key is not the token")
		tok := e.outbox.link(t, "Alice@Example.com", token.PasswordReset)

		res, err := e.flows.BeginReset(req("192.0.2.9", nil), tok)
		require.NoError(t, err)
		assert.False(t, res.NeedsMFA)
		assert.Empty(t, e.sess.(*sessions).logins, "nobody signed in")
		require.Empty(t, e.users.isVerified("alice"), "the address was never confirmed")

		err = e.flows.CompleteReset(req("192.0.2.9", nil), tok, "alice")
		var pe *password.PolicyError
		require.ErrorAs(t, err, &pe, "the policy applies, with the login as a context word")
		require.NoError(t, e.flows.CompleteReset(req("192.0.2.9", nil), tok, "a brand new passphrase 42"))

		u := e.users.get("alice")
		assert.NotEqual(t, old.PasswordHash, u.PasswordHash)
		_, err = e.hasher.Verify(t.Context(), "a brand new passphrase 42", u.PasswordHash)
		assert.NoError(t, err, "the new password works")
		assert.Equal(t, []string{"alice"}, e.sess.(*sessions).revokedUsers(), "every session ended")
		assert.Equal(t, "Alice@Example.com", e.users.isVerified("alice"), "the reset confirmed the address it was mailed to")
		assert.Len(t, e.outbox.to("Alice@Example.com", "password_changed"), 1)
		for _, a := range []audit.Action{account.ActionResetRequested, account.ActionResetMailed, account.ActionResetBegun, account.ActionResetCompleted} {
			assert.Len(t, e.events(a), 1, "each step is audited: %s", a)
		}
		assert.Contains(t, e.events(account.ActionResetFailed)[0].Reason, "policy:")

		err = e.flows.CompleteReset(req("192.0.2.9", nil), tok, "yet another passphrase 43")
		assert.ErrorIs(t, err, token.ErrInvalid, "single use")
		for _, ev := range e.sink.Events() {
			assert.NotContains(t, fmt.Sprint(ev), tok, "no token in audit")
		}
	})
}

// TestReset_Expiry: a reset link works for 30 minutes.
func TestReset_Expiry(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t, nil)
		e.addUser(t, "alice", "alice@example.com", goodPassword)
		require.NoError(t, e.flows.RequestReset(req("192.0.2.1", nil), "alice@example.com"))
		synctest.Wait()
		tok := e.outbox.link(t, "alice@example.com", token.PasswordReset)
		time.Sleep(30*time.Minute - time.Millisecond)
		_, err := e.flows.BeginReset(req("192.0.2.1", nil), tok)
		assert.NoError(t, err, "valid until 30 minutes")
		time.Sleep(time.Millisecond)
		_, err = e.flows.BeginReset(req("192.0.2.1", nil), tok)
		assert.ErrorIs(t, err, token.ErrInvalid, "expired at 30 minutes")
		assert.ErrorIs(t, e.flows.CompleteReset(req("192.0.2.1", nil), tok, "a brand new passphrase 42"), token.ErrInvalid)
	})
}

// TestReset_PasswordChangeVoidsLink: a password changed between the
// request and the completion, by any path, voids the link.
func TestReset_PasswordChangeVoidsLink(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t, nil)
		u := e.addUser(t, "alice", "alice@example.com", goodPassword)
		require.NoError(t, e.flows.RequestReset(req("192.0.2.1", nil), "alice@example.com"))
		synctest.Wait()
		tok := e.outbox.link(t, "alice@example.com", token.PasswordReset)
		h, err := e.hasher.Hash(t.Context(), "changed by the user meanwhile")
		require.NoError(t, err)
		require.NoError(t, e.users.SetPasswordHash(t.Context(), "alice", u.PasswordHash, h)) // not through account: no Void

		_, err = e.flows.BeginReset(req("192.0.2.1", nil), tok)
		assert.ErrorIs(t, err, token.ErrInvalid)
		assert.ErrorIs(t, e.flows.CompleteReset(req("192.0.2.1", nil), tok, "a brand new passphrase 42"), token.ErrInvalid)
		assert.Equal(t, h, e.users.get("alice").PasswordHash, "the password is the one the user set")
		failed := e.events(account.ActionResetFailed)
		require.NotEmpty(t, failed)
		assert.Equal(t, "password_changed", failed[0].Reason)
	})
}

// TestReset_ConcurrentComplete: of concurrent completions of one link,
// one takes effect, with tokens in memory, SQLite and PostgreSQL.
func TestReset_ConcurrentComplete(t *testing.T) {
	t.Run("memory", func(t *testing.T) { concurrentComplete(t, newEnv(t, nil)) })
	for _, b := range []struct {
		name    string
		dialect sqldb.Dialect
		open    func(t testing.TB) (*sql.DB, string)
	}{
		{"sqlite", sqldb.SQLite, func(t testing.TB) (*sql.DB, string) { return testenv.SQLite(t, 0), "" }},
		{"postgresql", sqldb.PostgreSQL, func(t testing.TB) (*sql.DB, string) {
			db := testenv.Postgres(t)
			return db, testenv.PGSchema(t, db, "account") + ".tokens"
		}},
	} {
		t.Run(b.name, func(t *testing.T) {
			db, table := b.open(t)
			s, err := sqlstore.New(db, b.dialect, sqlstore.Config{Table: table})
			require.NoError(t, err)
			require.NoError(t, s.Migrate(t.Context()))
			issuer, err := token.New(s, token.Config{})
			require.NoError(t, err)
			concurrentComplete(t, newEnv(t, func(c *account.Config) { c.Tokens = issuer }))
		})
	}
}

func concurrentComplete(t *testing.T, e *env) {
	e.addUser(t, "alice", "alice@example.com", goodPassword)
	require.NoError(t, e.flows.RequestReset(req("192.0.2.1", nil), "alice@example.com"))
	e.drain(t)
	tok := e.outbox.link(t, "alice@example.com", token.PasswordReset)
	const n = 8
	var won atomic.Int32
	errs := make([]error, n)
	testenv.Race(n, func(i int) {
		errs[i] = e.flows.CompleteReset(req(fmt.Sprintf("192.0.2.%d", 10+i), nil), tok, fmt.Sprintf("concurrent passphrase number %d", i))
		if errs[i] == nil {
			won.Add(1)
		}
	})
	require.Equal(t, int32(1), won.Load(), "one completion won: %v", errs)
	for i, err := range errs {
		if err != nil {
			assert.ErrorIs(t, err, token.ErrInvalid, i)
			continue
		}
		_, verr := e.hasher.Verify(t.Context(), fmt.Sprintf("concurrent passphrase number %d", i), e.users.get("alice").PasswordHash)
		assert.NoError(t, verr, "the winner's password is the one stored")
	}
	assert.Len(t, e.outbox.to("alice@example.com", "password_changed"), 1, "one notice")
}

// TestReset_MFARequired: a user with a factor must verify it in the
// session, after the link was issued, before the reset takes effect.
func TestReset_MFARequired(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t, nil)
		e.addUser(t, "alice", "alice@example.com", goodPassword)
		e.addUser(t, "mallory", "mallory@example.com", goodPassword)
		e.factors.enrol("alice")
		verifiedEarlier := time.Now()
		time.Sleep(time.Minute)
		require.NoError(t, e.flows.RequestReset(req("192.0.2.1", nil), "alice@example.com"))
		synctest.Wait()
		tok := e.outbox.link(t, "alice@example.com", token.PasswordReset)

		res, err := e.flows.BeginReset(req("192.0.2.1", nil), tok)
		require.NoError(t, err)
		assert.True(t, res.NeedsMFA)
		logins := e.sess.(*sessions).logins
		require.Len(t, logins, 1, "signed in for the challenge")
		assert.Equal(t, "alice", logins[0].UserID)
		assert.Empty(t, logins[0].Methods, "with no methods: the mailbox is not a credential")
		assert.Equal(t, []string{"buyer"}, logins[0].Roles)

		later := time.Now().Add(time.Second)
		for name, p := range map[string]*identity.Principal{
			"anonymous":                               nil,
			"signed in by the link, no MFA":           {UserID: "alice"},
			"MFA verified before the link was issued": {UserID: "alice", Methods: []identity.Method{identity.MethodOTP}, MFATime: verifiedEarlier},
			"attack: another user's verified session": {UserID: "mallory", MFATime: later},
			"password only":                           {UserID: "alice", Methods: []identity.Method{identity.MethodPassword}},
		} {
			err := e.flows.CompleteReset(req("192.0.2.1", p), tok, "a brand new passphrase 42")
			assert.ErrorIs(t, err, mfa.ErrMFARequired, name)
		}
		assert.Empty(t, e.outbox.to("alice@example.com", "password_changed"))
		time.Sleep(time.Second)
		verified := &identity.Principal{UserID: "alice", Methods: []identity.Method{identity.MethodOTP}, MFATime: time.Now()}
		require.NoError(t, e.flows.CompleteReset(req("192.0.2.1", verified), tok, "a brand new passphrase 42"))
		assert.Len(t, e.outbox.to("alice@example.com", "password_changed"), 1)
	})
}

// TestReset_NotMailed: a disabled account, one without a password, and
// an address the table matched loosely get no link.
func TestReset_NotMailed(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t, noLimits)
		e.users.add(auth.User{ID: "d", Email: "disabled@example.com", PasswordHash: "x", Disabled: true})
		e.users.add(auth.User{ID: "s", Email: "sso@example.com"})
		for _, a := range []string{"disabled@example.com", "sso@example.com"} {
			require.NoError(t, e.flows.RequestReset(req("192.0.2.1", nil), a))
		}
		synctest.Wait()
		assert.Empty(t, e.outbox.all())
		var reasons []string
		for _, ev := range e.events(account.ActionResetNotMailed) {
			reasons = append(reasons, ev.Reason)
		}
		assert.ElementsMatch(t, []string{"disabled", "no_password"}, reasons)
	})
}

// TestRequestReset_Refusals: bad input and floods are refused before any
// work, the same for every address.
func TestRequestReset_Refusals(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t, nil)
		e.addUser(t, "alice", "alice@example.com", goodPassword)
		r := req("192.0.2.1", nil)
		assert.ErrorIs(t, e.flows.RequestReset(r.WithContext(context.Background()), "alice@example.com"), clientip.ErrNoClient, "fail closed without clientip")
		for name, a := range map[string]string{
			"empty": "", "no at": "alice", "no local part": "@example.com", "no domain": "alice@",
			"two ats": "a@b@example.com", "space": "al ice@example.com", "NUL": "alice\x00@example.com",
			"newline (header injection)": "alice@example.com\r\nBcc: x@evil.example", "invalid UTF-8": "al\xffice@example.com",
			"oversized": strings.Repeat("a", 250) + "@example.com",
		} {
			assert.ErrorIs(t, e.flows.RequestReset(req(fmt.Sprintf("198.51.100.%d", len(name)), nil), a), account.ErrInvalidAddress, name)
		}

		// Per address typed: 3 at once, from any client.
		for i := range 3 {
			require.NoError(t, e.flows.RequestReset(req(fmt.Sprintf("203.0.113.%d", i), nil), "alice@example.com"))
		}
		err := e.flows.RequestReset(req("203.0.113.9", nil), "ALICE@example.com")
		assert.ErrorIs(t, err, ratelimit.ErrLimited, "per account, case-folded")
		err = e.flows.RequestReset(req("203.0.113.9", nil), "nobody@example.com")
		assert.NoError(t, err, "another address is not limited")

		// Per client address: 10 at once.
		for i := range 9 {
			require.NoError(t, e.flows.RequestReset(req("192.0.2.200", nil), fmt.Sprintf("u%d@example.com", i)))
		}
		assert.NoError(t, e.flows.RequestReset(req("192.0.2.200", nil), "u9@example.com"))
		assert.ErrorIs(t, e.flows.RequestReset(req("192.0.2.200", nil), "u10@example.com"), ratelimit.ErrLimited, "per client")
		synctest.Wait()
		assert.Len(t, e.outbox.to("alice@example.com", "password_reset"), 3)
		limits := map[string]int{}
		for _, ev := range e.events(account.ActionThrottled) {
			limits[ev.Meta["limit"]]++
		}
		assert.Equal(t, map[string]int{"per_account": 1, "per_address": 1}, limits)
	})
}

// TestReset_NotifierDown: a notifier that cannot queue fails no request;
// the failure is audited.
func TestReset_NotifierDown(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t, nil)
		e.addUser(t, "alice", "alice@example.com", goodPassword)
		e.outbox.fail = errors.New("database down")
		require.NoError(t, e.flows.RequestReset(req("192.0.2.1", nil), "alice@example.com"))
		synctest.Wait()
		errs := e.events(account.ActionError)
		require.Len(t, errs, 1)
		assert.Contains(t, errs[0].Reason, "database down")
		assert.Equal(t, "reset", errs[0].Meta["flow"])
	})
}

// TestReset_VoidedByAddressChange: a reset link is good only while the
// address it was mailed to is the account's. A change of address by a
// path that does not void links (an administrator's edit, or the job that
// mailed the link having read the user just before a confirmed change)
// must not leave a live reset link in the old mailbox.
func TestReset_VoidedByAddressChange(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t, noLimits)
		e.addUser(t, "alice", "alice@old.example", goodPassword)
		require.NoError(t, e.flows.RequestReset(req("192.0.2.1", nil), "alice@old.example"))
		synctest.Wait()
		tok := e.outbox.link(t, "alice@old.example", token.PasswordReset)
		require.NoError(t, e.users.SetEmail(t.Context(), "alice", "alice@old.example", "alice@new.example")) // not through account: no Void

		_, err := e.flows.BeginReset(req("203.0.113.66", nil), tok)
		assert.ErrorIs(t, err, token.ErrInvalid)
		assert.ErrorIs(t, e.flows.CompleteReset(req("203.0.113.66", nil), tok, "a brand new passphrase 42"), token.ErrInvalid)
		failed := e.events(account.ActionResetFailed)
		require.NotEmpty(t, failed)
		assert.Equal(t, "address_changed", failed[0].Reason)

		// A case-only edit of the address keeps the link.
		require.NoError(t, e.flows.RequestReset(req("192.0.2.1", nil), "alice@new.example"))
		synctest.Wait()
		tok = e.outbox.link(t, "alice@new.example", token.PasswordReset)
		require.NoError(t, e.users.SetEmail(t.Context(), "alice", "alice@new.example", "Alice@New.example"))
		_, err = e.flows.BeginReset(req("192.0.2.1", nil), tok)
		assert.NoError(t, err)
	})
}
