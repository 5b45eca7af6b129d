package account_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/deployedworks/rampart/account"
	"github.com/deployedworks/rampart/auth"
	"github.com/deployedworks/rampart/ratelimit"
	"github.com/deployedworks/rampart/token"
)

// TestSignUp_RevealsNothing: a sign-up with an existing address creates
// nothing and mails its owner; one with a new address creates the
// account and mails a verification link; both answer nil, with no
// user-table work on the request.
func TestSignUp_RevealsNothing(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t, nil)
		e.addUser(t, "alice", "alice@example.com", goodPassword)
		created := 0
		counting := func(id, email string) func(context.Context) (string, error) {
			create := e.users.create(id, email, "hash")
			return func(ctx context.Context) (string, error) { created++; return create(ctx) }
		}
		// Every worker busy inside the table first, so that the sign-ups'
		// jobs wait in the queue: a call counted now was the request's own.
		e.users.block, e.users.entered, e.users.release = map[string]bool{}, make(chan string), make(chan struct{})
		for i := range account.Workers {
			e.users.block[fmt.Sprintf("hold%d@example.com", i)] = true
		}
		for i := range account.Workers {
			require.NoError(t, e.flows.RequestReset(req("192.0.2.9", nil), fmt.Sprintf("hold%d@example.com", i)))
		}
		for range account.Workers {
			<-e.users.entered
		}
		before := e.users.calls.Load()
		existing := e.flows.SignUp(req("192.0.2.1", nil), "Alice@example.com", counting("alice2", "Alice@example.com"))
		fresh := e.flows.SignUp(req("192.0.2.2", nil), "bob@example.com", counting("bob", "bob@example.com"))
		assert.NoError(t, existing)
		assert.NoError(t, fresh)
		assert.Equal(t, before, e.users.calls.Load(), "the request path asked the user table nothing")
		close(e.users.release)
		synctest.Wait()

		assert.Equal(t, 1, created, "only the new address created an account")
		require.Len(t, e.outbox.to("alice@example.com", "signup_existing"), 1, "the owner was told, at the address the account has")
		assert.Empty(t, e.outbox.to("alice@example.com", "email_verify"))
		assert.Len(t, e.events(account.ActionSignUpExisting), 1)
		assert.Len(t, e.events(account.ActionSignUpCreated), 1)

		tok := e.outbox.link(t, "bob@example.com", token.EmailVerify)
		assert.Empty(t, e.users.isVerified("bob"))
		require.NoError(t, e.flows.VerifyEmail(req("192.0.2.2", nil), tok))
		assert.Equal(t, "bob@example.com", e.users.isVerified("bob"))
		assert.ErrorIs(t, e.flows.VerifyEmail(req("192.0.2.2", nil), tok), token.ErrInvalid, "single use")
	})
}

// TestSignUp_Race: a create that finds the address taken by a sign-up
// racing it (the unique index) tells the owner, as for any taken address.
func TestSignUp_Race(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t, nil)
		racing := func(ctx context.Context) (string, error) {
			e.users.add(auth.User{ID: "carol", Email: "carol@example.com"}) // the other sign-up won
			return "", errors.Join(errors.New("insert: unique violation"), account.ErrEmailTaken)
		}
		require.NoError(t, e.flows.SignUp(req("192.0.2.1", nil), "carol@example.com", racing))
		synctest.Wait()
		assert.Len(t, e.outbox.to("carol@example.com", "signup_existing"), 1)
		assert.Empty(t, e.outbox.to("carol@example.com", "email_verify"))
	})
}

// TestSignUp_Refusals: bad input and a failing create.
func TestSignUp_Refusals(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t, nil)
		assert.Error(t, e.flows.SignUp(req("192.0.2.1", nil), "a@example.com", nil))
		assert.ErrorIs(t, e.flows.SignUp(req("192.0.2.1", nil), "a\r\n@example.com", e.users.create("a", "a", "")), account.ErrInvalidAddress)
		failing := func(context.Context) (string, error) { return "", errors.New("database down") }
		require.NoError(t, e.flows.SignUp(req("192.0.2.1", nil), "d@example.com", failing), "the client is not told")
		synctest.Wait()
		errs := e.events(account.ActionError)
		require.Len(t, errs, 1)
		assert.Contains(t, errs[0].Reason, "database down")
		assert.Empty(t, e.outbox.all())
	})
}

// TestVerifyEmail: the link verifies the address it was sent to, only
// while it is the user's; it expires after 24 hours.
func TestVerifyEmail(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t, nil)
		e.addUser(t, "alice", "alice@example.com", goodPassword)
		require.NoError(t, e.flows.SendVerification(req("192.0.2.1", nil), "alice"))
		tok := e.outbox.link(t, "alice@example.com", token.EmailVerify)
		require.NoError(t, e.users.SetEmail(t.Context(), "alice", "alice@example.com", "alice@new.example"))
		assert.ErrorIs(t, e.flows.VerifyEmail(req("192.0.2.1", nil), tok), token.ErrInvalid, "the address changed")
		assert.Empty(t, e.users.isVerified("alice"))

		require.NoError(t, e.flows.SendVerification(req("192.0.2.1", nil), "alice"))
		tok = e.outbox.link(t, "alice@new.example", token.EmailVerify)
		time.Sleep(24 * time.Hour)
		assert.ErrorIs(t, e.flows.VerifyEmail(req("192.0.2.1", nil), tok), token.ErrInvalid, "expired")

		assert.ErrorIs(t, e.flows.SendVerification(req("192.0.2.1", nil), "nobody"), auth.ErrUserNotFound)
		for range 3 {
			require.NoError(t, e.flows.SendVerification(req("192.0.2.1", nil), "alice"))
		}
		assert.ErrorIs(t, e.flows.SendVerification(req("192.0.2.1", nil), "alice"), ratelimit.ErrLimited, "3 at once per user")
	})
}
