package account_test

import (
	"context"
	"testing"
	"testing/synctest"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/deployedworks/rampart/account"
	"github.com/deployedworks/rampart/audit"
	"github.com/deployedworks/rampart/mfa"
	"github.com/deployedworks/rampart/notify"
	"github.com/deployedworks/rampart/token"
)

func mustTemplate(t *testing.T, kind, subject, text, html string) *notify.Template {
	t.Helper()
	tm, err := notify.NewTemplate(kind, subject, text, html)
	require.NoError(t, err)
	return tm
}

// TestMails_Override: an app's template replaces the default of its kind,
// and only that one.
func TestMails_Override(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		reset := mustTemplate(t, account.MailReset, "Réinitialiser votre mot de passe",
			"Ouvrez ce lien dans les 10 minutes :\n{{.Link}}\n", `<p><a href="{{.Link}}">Nouveau mot de passe</a></p>`)
		e := newEnv(t, func(c *account.Config) {
			c.Mails = map[string]*notify.Template{account.MailReset: reset}
		})
		e.addUser(t, "alice", "alice@example.com", goodPassword)
		require.NoError(t, e.flows.RequestReset(req("192.0.2.1", nil), "alice@example.com"))
		synctest.Wait()
		ms := e.outbox.to("alice@example.com", account.MailReset)
		require.Len(t, ms, 1)
		assert.Equal(t, "Réinitialiser votre mot de passe", ms[0].Subject)
		assert.Contains(t, ms[0].Text, "Ouvrez ce lien")
		link := e.outbox.link(t, "alice@example.com", token.PasswordReset)
		assert.Contains(t, ms[0].Text, link, "the override got the link")

		require.NoError(t, e.flows.CompleteReset(req("192.0.2.1", nil), link, "a brand new passphrase 42"))
		changed := e.outbox.to("alice@example.com", account.MailPasswordChanged)
		require.Len(t, changed, 1)
		assert.Equal(t, "Your password was changed", changed[0].Subject, "the other kinds keep their default")
	})
}

// TestMails_BadOverrideRefused: New refuses a template it would fail to
// render, or render into a useless or mislabelled mail.
func TestMails_BadOverrideRefused(t *testing.T) {
	for name, c := range map[string]struct {
		kind string
		tmpl func(t *testing.T) *notify.Template
		want string
	}{
		"unknown kind": {"password_reminder", func(t *testing.T) *notify.Template {
			return mustTemplate(t, "password_reminder", "s", "{{.Link}}", "")
		}, "no such mail"},
		"nil": {account.MailReset, func(*testing.T) *notify.Template { return nil }, "is nil"},
		"other kind": {account.MailReset, func(t *testing.T) *notify.Template {
			return mustTemplate(t, account.MailVerify, "s", "{{.Link}}", "")
		}, `of kind "email_verify"`},
		"missing field": {account.MailVerify, func(t *testing.T) *notify.Template {
			return mustTemplate(t, account.MailVerify, "s", "{{.Link}} {{.SiteName}}", "")
		}, "SiteName"},
		"missing field in html": {account.MailChangedNew, func(t *testing.T) *notify.Template {
			return mustTemplate(t, account.MailChangedNew, "s", "ok", "<p>{{.Name}}</p>")
		}, "Name"},
		"no link": {account.MailChangeConfirm, func(t *testing.T) *notify.Template {
			return mustTemplate(t, account.MailChangeConfirm, "Confirm", "Click the button in the HTML part.", `<a href="{{.Link}}">go</a>`)
		}, "{{.Link}}"},
		"no undo link": {account.MailChangeRequested, func(t *testing.T) *notify.Template {
			return mustTemplate(t, account.MailChangeRequested, "s", "Changing to {{.NewEmail}}.", "")
		}, "{{.Undo}}"},
		"subject from data with a line break": {account.MailChangedOld, func(t *testing.T) *notify.Template {
			return mustTemplate(t, account.MailChangedOld, "{{.NewEmail}}{{printf \"\\n\"}}Bcc: x@evil.example", "t", "")
		}, "subject"},
	} {
		t.Run(name, func(t *testing.T) {
			e := newEnv(t, nil)
			f, err := account.New(account.Config{Users: e.users, Tokens: e.tokens, Notifier: e.outbox, Sessions: e.sess,
				Factors: []mfa.EnrolmentChecker{e.factors}, Link: testLink,
				Mails: map[string]*notify.Template{c.kind: c.tmpl(t)}})
			if f != nil {
				t.Cleanup(func() { _ = f.Close(t.Context()) })
			}
			require.Error(t, err)
			assert.Contains(t, err.Error(), c.want)
		})
	}
}

// TestMails_EventSinkCannotDoubleMail: the flows mail the user about
// their own steps, so an app cannot add an EventSink rule that mails the
// user about one of them again: NewEventSink refuses it. Alerting the
// security contacts stays possible.
func TestMails_EventSinkCannotDoubleMail(t *testing.T) {
	lookup := func(context.Context, string) (string, error) { return "", nil }
	for _, a := range []audit.Action{
		account.ActionResetCompleted, account.ActionResetMailed, account.ActionEmailChangeRequested,
		account.ActionEmailChanged, account.ActionEmailChangeUndone, account.ActionSignUpExisting,
		account.ActionVerificationMailed,
	} {
		_, err := notify.NewEventSink(&audit.MemorySink{}, &outbox{},
			[]notify.Rule{notify.Notice(a, "Something happened", notify.ToUser(lookup))}, notify.EventSinkConfig{})
		assert.ErrorContains(t, err, "mail them twice", a)
		_, err = notify.NewEventSink(&audit.MemorySink{}, &outbox{},
			[]notify.Rule{notify.Alert(a, "Something happened", notify.ToAddresses("security@example.com"))}, notify.EventSinkConfig{})
		assert.NoError(t, err, a)
	}
}
