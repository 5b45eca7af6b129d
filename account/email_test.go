package account_test

import (
	"errors"
	"testing"
	"testing/synctest"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/deployedworks/rampart/account"
	"github.com/deployedworks/rampart/audit"
	"github.com/deployedworks/rampart/auth"
	"github.com/deployedworks/rampart/identity"
	"github.com/deployedworks/rampart/ratelimit"
	"github.com/deployedworks/rampart/token"
)

var alice = &identity.Principal{UserID: "alice", Methods: []identity.Method{identity.MethodPassword}}

// TestEmailChange_ConfirmAndUndo: the change needs the password, takes
// effect from the link mailed to the new address, and the owner of the
// old address can undo it, which ends every session.
func TestEmailChange_ConfirmAndUndo(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t, nil)
		e.addUser(t, "alice", "alice@old.example", goodPassword)
		r := req("192.0.2.1", alice)

		assert.ErrorIs(t, e.flows.RequestEmailChange(req("192.0.2.1", nil), goodPassword, "alice@new.example"), auth.ErrUnauthenticated)
		assert.ErrorIs(t, e.flows.RequestEmailChange(r, "wrong", "alice@new.example"), auth.ErrInvalidCredentials)
		assert.ErrorIs(t, e.flows.RequestEmailChange(r, goodPassword, "ALICE@old.example"), account.ErrInvalidAddress, "the current address")
		assert.ErrorIs(t, e.flows.RequestEmailChange(r, goodPassword, "alice@new.example\nBcc: x"), account.ErrInvalidAddress)
		require.NoError(t, e.flows.RequestEmailChange(r, goodPassword, "alice@new.example"))
		synctest.Wait()
		assert.Equal(t, "alice@old.example", e.users.get("alice").Email, "nothing changes before the link is opened")
		confirm := e.outbox.link(t, "alice@new.example", token.EmailChange)
		notice := e.outbox.to("alice@old.example", "email_change_requested")
		require.Len(t, notice, 1)
		assert.Contains(t, notice[0].Text, "alice@new.example")

		require.NoError(t, e.flows.ConfirmEmailChange(req("192.0.2.1", nil), confirm))
		assert.Equal(t, "alice@new.example", e.users.get("alice").Email)
		assert.Equal(t, "alice@new.example", e.users.isVerified("alice"), "opening the link proved the mailbox")
		assert.Len(t, e.outbox.to("alice@new.example", "email_changed_new"), 1)
		require.Len(t, e.outbox.to("alice@old.example", "email_changed_old"), 1)
		assert.ErrorIs(t, e.flows.ConfirmEmailChange(req("192.0.2.1", nil), confirm), token.ErrInvalid, "single use")
		assert.Empty(t, e.sess.(*sessions).revokedUsers())

		undo := e.outbox.link(t, "alice@old.example", token.EmailChangeUndo)
		_, err := e.tokens.Check(t.Context(), undo, token.EmailChange)
		assert.ErrorIs(t, err, token.ErrInvalid, "the undo link does not confirm")
		require.NoError(t, e.flows.UndoEmailChange(req("192.0.2.1", nil), undo))
		assert.Equal(t, "alice@old.example", e.users.get("alice").Email, "restored")
		assert.Equal(t, "alice@old.example", e.users.isVerified("alice"))
		assert.Equal(t, []string{"alice"}, e.sess.(*sessions).revokedUsers(), "every session ended")
		undone := e.outbox.to("alice@old.example", "email_change_undone")
		require.Len(t, undone, 1)
		reset := e.outbox.link(t, "alice@old.example", token.PasswordReset)
		_, err = e.flows.BeginReset(req("192.0.2.1", nil), reset)
		assert.NoError(t, err, "with a fresh reset link")
		ev := e.events(account.ActionEmailChangeUndone)
		require.Len(t, ev, 1)
		assert.Equal(t, "reverted", ev[0].Meta["state"])
		assert.ErrorIs(t, e.flows.UndoEmailChange(req("192.0.2.1", nil), undo), token.ErrInvalid, "single use")
		for _, a := range []audit.Action{account.ActionEmailChangeRequested, account.ActionEmailChanged, account.ActionEmailChangeUndone} {
			evs := e.events(a)
			if assert.NotEmpty(t, evs, "each step is audited: %s", a) {
				assert.Equal(t, "alice", evs[0].Target.ID, a)
			}
		}
		var reasons []string
		for _, ev := range e.events(account.ActionEmailChangeFailed) {
			reasons = append(reasons, ev.Reason)
		}
		assert.Equal(t, []string{"bad_password", "invalid_token", "invalid_token"}, reasons, "the wrong password, the reused links")
	})
}

// TestEmailChange_UndoBeforeConfirm: undoing before the change is
// confirmed cancels it.
func TestEmailChange_UndoBeforeConfirm(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t, nil)
		e.addUser(t, "alice", "alice@old.example", goodPassword)
		require.NoError(t, e.flows.RequestEmailChange(req("192.0.2.1", alice), goodPassword, "mallory@evil.example"))
		synctest.Wait()
		confirm := e.outbox.link(t, "mallory@evil.example", token.EmailChange)
		undo := e.outbox.link(t, "alice@old.example", token.EmailChangeUndo)
		require.NoError(t, e.flows.UndoEmailChange(req("192.0.2.1", nil), undo))
		assert.ErrorIs(t, e.flows.ConfirmEmailChange(req("192.0.2.1", nil), confirm), token.ErrInvalid, "cancelled")
		assert.Equal(t, "alice@old.example", e.users.get("alice").Email)
		assert.Equal(t, []string{"alice"}, e.sess.(*sessions).revokedUsers())
		assert.Equal(t, "cancelled", e.events(account.ActionEmailChangeUndone)[0].Meta["state"])
	})
}

// TestEmailChange_SecondChangeKeepsUndo: an attacker who knows the
// password changes the address to his own, then again: the owner's undo
// link, mailed to the original address, still restores it.
func TestEmailChange_SecondChangeKeepsUndo(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t, nil)
		e.addUser(t, "alice", "alice@old.example", goodPassword)
		r := req("203.0.113.66", alice)
		require.NoError(t, e.flows.RequestEmailChange(r, goodPassword, "m1@evil.example"))
		synctest.Wait()
		require.NoError(t, e.flows.ConfirmEmailChange(r, e.outbox.link(t, "m1@evil.example", token.EmailChange)))
		ownersUndo := e.outbox.link(t, "alice@old.example", token.EmailChangeUndo)

		require.NoError(t, e.flows.RequestEmailChange(r, goodPassword, "m2@evil.example"))
		synctest.Wait()
		require.NoError(t, e.flows.ConfirmEmailChange(r, e.outbox.link(t, "m2@evil.example", token.EmailChange)))
		assert.Equal(t, "m2@evil.example", e.users.get("alice").Email)

		require.NoError(t, e.flows.UndoEmailChange(req("192.0.2.1", nil), ownersUndo))
		assert.Equal(t, "alice@old.example", e.users.get("alice").Email, "the owner's link survived the second change")
	})
}

// TestEmailChange_Taken: asking for another account's address mails its
// owner, not a link, and answers as for a free address.
func TestEmailChange_Taken(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t, nil)
		e.addUser(t, "alice", "alice@example.com", goodPassword)
		e.addUser(t, "bob", "bob@example.com", goodPassword)
		require.NoError(t, e.flows.RequestEmailChange(req("192.0.2.1", alice), goodPassword, "BOB@example.com"))
		synctest.Wait()
		assert.Len(t, e.outbox.to("bob@example.com", "email_change_taken"), 1)
		assert.Empty(t, e.outbox.to("BOB@example.com", "email_change_confirm"))
		assert.Empty(t, e.outbox.to("alice@example.com", "email_change_requested"))
		assert.Equal(t, "address_taken", e.events(account.ActionEmailChangeFailed)[0].Reason)
	})
}

// TestEmailChange_PasswordThrottled: wrong passwords are throttled like
// logins.
func TestEmailChange_PasswordThrottled(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t, nil)
		e.addUser(t, "alice", "alice@example.com", goodPassword)
		r := req("192.0.2.1", alice)
		guesses := 0
		for ; guesses < 20; guesses++ {
			err := e.flows.RequestEmailChange(r, "guess", "x@example.com")
			if errors.Is(err, ratelimit.ErrLimited) {
				break
			}
			require.ErrorIs(t, err, auth.ErrInvalidCredentials)
		}
		assert.Equal(t, 5, guesses, "the login throttle's default: 5 at once per account and address")
		err := e.flows.RequestEmailChange(r, goodPassword, "x@example.com")
		assert.ErrorIs(t, err, ratelimit.ErrLimited, "even the right password, once throttled")
		assert.NotEmpty(t, e.events(account.ActionThrottled))
	})
}

// TestEmailChange_VoidedByPasswordChange: an attacker who knew the
// password asks to move the address to his own; the owner, warned,
// changes the password (by a reset, or by any other path that sets a new
// hash) instead of clicking the undo link. The attacker's confirmation
// link must then be dead: it was granted on the strength of the old
// password.
func TestEmailChange_VoidedByPasswordChange(t *testing.T) {
	for _, via := range []string{"reset", "other_path"} {
		t.Run(via, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				e := newEnv(t, noLimits)
				u := e.addUser(t, "alice", "alice@old.example", goodPassword)
				require.NoError(t, e.flows.RequestEmailChange(req("203.0.113.66", alice), goodPassword, "mallory@evil.example"))
				synctest.Wait()
				confirm := e.outbox.link(t, "mallory@evil.example", token.EmailChange)

				switch via {
				case "reset":
					require.NoError(t, e.flows.RequestReset(req("192.0.2.1", nil), "alice@old.example"))
					synctest.Wait()
					reset := e.outbox.link(t, "alice@old.example", token.PasswordReset)
					require.NoError(t, e.flows.CompleteReset(req("192.0.2.1", nil), reset, "a brand new passphrase 42"))
				case "other_path":
					require.NoError(t, e.users.SetPasswordHash(t.Context(), "alice", u.PasswordHash, "$argon2id$changed"))
				}
				assert.ErrorIs(t, e.flows.ConfirmEmailChange(req("203.0.113.66", nil), confirm), token.ErrInvalid,
					"a change asked with the old password dies with it")
				assert.Equal(t, "alice@old.example", e.users.get("alice").Email)
			})
		})
	}
}

// TestEmailChange_UndoTellsReplacedAddress: the owner moves away from an
// old mailbox that someone else now reads; that someone opens the undo
// link mailed there. The owner's new address, which the undo replaces,
// must hear of it: silence would leave the account with the attacker's
// mailbox, and a fresh reset link in it.
func TestEmailChange_UndoTellsReplacedAddress(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t, noLimits)
		e.addUser(t, "alice", "alice@old.example", goodPassword)
		require.NoError(t, e.flows.RequestEmailChange(req("192.0.2.1", alice), goodPassword, "alice@new.example"))
		synctest.Wait()
		require.NoError(t, e.flows.ConfirmEmailChange(req("192.0.2.1", nil), e.outbox.link(t, "alice@new.example", token.EmailChange)))
		require.NoError(t, e.flows.UndoEmailChange(req("203.0.113.66", nil), e.outbox.link(t, "alice@old.example", token.EmailChangeUndo)))
		told := e.outbox.to("alice@new.example", account.MailChangeReverted)
		require.Len(t, told, 1, "the replaced address is told")
		assert.Contains(t, told[0].Text, "alice@old.example", "which address the account went back to")

		// Undo before the change is confirmed replaces nothing: no such mail.
		e.addUser(t, "bob", "bob@old.example", goodPassword)
		bob := &identity.Principal{UserID: "bob", Methods: []identity.Method{identity.MethodPassword}}
		require.NoError(t, e.flows.RequestEmailChange(req("192.0.2.1", bob), goodPassword, "bob@new.example"))
		synctest.Wait()
		require.NoError(t, e.flows.UndoEmailChange(req("192.0.2.1", nil), e.outbox.link(t, "bob@old.example", token.EmailChangeUndo)))
		assert.Empty(t, e.outbox.to("bob@new.example", account.MailChangeReverted))
	})
}

// TestEmailChange_EitherUndoLinkWorks: an attacker who knows the password
// asks for a change and confirms it at once. The owner gets two mails at
// the old address, "about to change" and "was changed", each with an
// undo link, and may well click the first: it must work, not say
// "invalid or expired" (and leave the owner thinking nothing can be done).
func TestEmailChange_EitherUndoLinkWorks(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t, noLimits)
		e.addUser(t, "alice", "alice@old.example", goodPassword)
		require.NoError(t, e.flows.RequestEmailChange(req("203.0.113.66", alice), goodPassword, "mallory@evil.example"))
		synctest.Wait()
		asked := e.outbox.to("alice@old.example", account.MailChangeRequested)
		require.Len(t, asked, 1)
		m := linkRE.FindStringSubmatch(asked[0].Text)
		require.NotNil(t, m)
		firstUndo := m[2]
		require.NoError(t, e.flows.ConfirmEmailChange(req("203.0.113.66", nil), e.outbox.link(t, "mallory@evil.example", token.EmailChange)))
		require.Len(t, e.outbox.to("alice@old.example", account.MailChangedOld), 1)

		require.NoError(t, e.flows.UndoEmailChange(req("192.0.2.1", nil), firstUndo), "the first mail's undo link")
		assert.Equal(t, "alice@old.example", e.users.get("alice").Email)
	})
}

// TestEmailChange_ConfirmSignedInAsOtherUser: a confirmation link opened
// in a browser signed in as another user is refused before it is used:
// that user would believe they confirmed an address of their own. The
// link still works for its own user, or signed out.
func TestEmailChange_ConfirmSignedInAsOtherUser(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t, nil)
		e.addUser(t, "alice", "alice@old.example", goodPassword)
		e.addUser(t, "bob", "bob@example.com", goodPassword)
		require.NoError(t, e.flows.RequestEmailChange(req("192.0.2.1", alice), goodPassword, "bob.work@example.com"))
		synctest.Wait()
		confirm := e.outbox.link(t, "bob.work@example.com", token.EmailChange)

		bob := &identity.Principal{UserID: "bob", Methods: []identity.Method{identity.MethodPassword}}
		assert.ErrorIs(t, e.flows.ConfirmEmailChange(req("192.0.2.2", bob), confirm), account.ErrOtherUser)
		assert.Equal(t, "alice@old.example", e.users.get("alice").Email, "nothing changed")
		ev := e.events(account.ActionEmailChangeFailed)
		require.Len(t, ev, 1)
		assert.Equal(t, "other_user_signed_in", ev[0].Reason)

		require.NoError(t, e.flows.ConfirmEmailChange(req("192.0.2.1", alice), confirm), "the link was not used")
		assert.Equal(t, "bob.work@example.com", e.users.get("alice").Email)
	})
}
