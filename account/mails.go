package account

import (
	"fmt"
	"strings"

	"github.com/deployedworks/rampart/notify"
)

// The kinds of mail the flows send, the keys of [Config].Mails. Each is
// rendered by a notify.Template with a [MailData]; the defaults are
// generic (no site name) and in English. The fields a kind fills in are
// listed with it; the others are empty.
const (
	// MailReset carries a password-reset link: Link (required).
	MailReset = "password_reset"
	// MailPasswordChanged tells the user a reset changed the password.
	MailPasswordChanged = "password_changed"
	// MailVerify carries an e-mail verification link: Link (required).
	MailVerify = "email_verify"
	// MailSignUpExisting tells the owner of an address that someone tried
	// to sign up with it.
	MailSignUpExisting = "signup_existing"
	// MailChangeConfirm, to the new address, carries the link that
	// confirms a change of address: Link (required).
	MailChangeConfirm = "email_change_confirm"
	// MailChangeRequested, to the old address, says a change to NewEmail
	// was asked, with the link that cancels it: Undo (required).
	MailChangeRequested = "email_change_requested"
	// MailChangeTaken tells the owner of an address that another account
	// tried to move to it.
	MailChangeTaken = "email_change_taken"
	// MailChangedOld, to the old address, says the address is now
	// NewEmail, with the undo link: Undo (empty if it could not be
	// issued: say "contact support" then).
	MailChangedOld = "email_changed_old"
	// MailChangedNew, to the new address, says it is now the account's.
	MailChangedNew = "email_changed_new"
	// MailChangeUndone, to the restored address, says an undo ended every
	// session, with a fresh reset link: Link (empty for an account
	// without a password, or if it could not be issued).
	MailChangeUndone = "email_change_undone"
	// MailChangeReverted, to the address an undo replaced, says the
	// account's address was changed back to NewEmail and every session
	// ended.
	MailChangeReverted = "email_change_reverted"
)

// MailData is what the mail templates see (see the Mail constants for
// which fields each kind fills in). Links are absolute URLs built by
// [Config].Link; in an HTML body, html/template escapes them.
type MailData struct {
	Link     string // the action's URL
	Undo     string // the URL that undoes or cancels a change of address
	NewEmail string // the new address of a change
}

// required names the field of MailData a kind's plain-text body must
// show: a mail without its link is useless.
var required = map[string]string{
	MailReset:           "Link",
	MailVerify:          "Link",
	MailChangeConfirm:   "Link",
	MailChangeRequested: "Undo",
}

var mailSources = []struct{ kind, subject, text, html string }{
	{MailReset, "Reset your password",
		"Someone, hopefully you, asked to reset the password of your account.\n\nTo choose a new password, open this link within 30 minutes:\n{{.Link}}\n\nIf you did not ask, ignore this mail: your password has not changed.\n",
		`<p>Someone, hopefully you, asked to reset the password of your account.</p><p><a href="{{.Link}}">Choose a new password</a> (the link works for 30 minutes).</p><p>If you did not ask, ignore this mail: your password has not changed.</p>`},
	{MailPasswordChanged, "Your password was changed",
		"The password of your account was just reset, and every session was signed out.\n\nIf this was not you, reset your password at once and contact support.\n",
		`<p>The password of your account was just reset, and every session was signed out.</p><p>If this was not you, reset your password at once and contact support.</p>`},
	{MailVerify, "Confirm your e-mail address",
		"Please confirm that this is your address by opening this link:\n{{.Link}}\n\nIf you did not sign up, ignore this mail.\n",
		`<p>Please <a href="{{.Link}}">confirm that this is your address</a>.</p><p>If you did not sign up, ignore this mail.</p>`},
	{MailSignUpExisting, "Someone tried to sign up with your address",
		"Someone, perhaps you, tried to create an account with this address, which already has one. Nothing was created.\n\nIf it was you, sign in instead, or reset your password if you forgot it. If not, you need not do anything.\n",
		`<p>Someone, perhaps you, tried to create an account with this address, which already has one. Nothing was created.</p><p>If it was you, sign in instead, or reset your password if you forgot it. If not, you need not do anything.</p>`},
	{MailChangeConfirm, "Confirm your new e-mail address",
		"To make this the address of your account, open this link within an hour:\n{{.Link}}\n\nIf you did not ask, ignore this mail.\n",
		`<p><a href="{{.Link}}">Make this the address of your account</a> (the link works for an hour).</p><p>If you did not ask, ignore this mail.</p>`},
	{MailChangeRequested, "Your e-mail address is about to change",
		"Someone signed in to your account asked to change its address to {{.NewEmail}}.\n\nIf this was not you, cancel the change and sign everyone out:\n{{.Undo}}\nThen reset your password: whoever asked knew it.\n",
		`<p>Someone signed in to your account asked to change its address to {{.NewEmail}}.</p><p>If this was not you, <a href="{{.Undo}}">cancel the change and sign everyone out</a>, then reset your password: whoever asked knew it.</p>`},
	{MailChangeTaken, "Someone tried to use your address",
		"Someone tried to move another account to this address, which already has one. Nothing was changed.\n\nYou need not do anything.\n",
		`<p>Someone tried to move another account to this address, which already has one. Nothing was changed.</p><p>You need not do anything.</p>`},
	{MailChangedOld, "Your e-mail address was changed",
		"The address of your account was changed to {{.NewEmail}}.\n{{if .Undo}}\nIf this was not you, undo the change and sign everyone out (the link works for 7 days):\n{{.Undo}}\n{{else}}\nIf this was not you, contact support.\n{{end}}",
		`<p>The address of your account was changed to {{.NewEmail}}.</p>{{if .Undo}}<p>If this was not you, <a href="{{.Undo}}">undo the change and sign everyone out</a> (the link works for 7 days).</p>{{else}}<p>If this was not you, contact support.</p>{{end}}`},
	{MailChangedNew, "Your e-mail address was changed",
		"This is now the address of your account.\n",
		`<p>This is now the address of your account.</p>`},
	{MailChangeUndone, "Your e-mail address was restored",
		"The change of your account's address was undone, and every session was signed out.\n\nWhoever changed it knew your password: choose a new one now{{if .Link}} (the link works for 30 minutes):\n{{.Link}}{{else}}.{{end}}\n",
		`<p>The change of your account's address was undone, and every session was signed out.</p><p>Whoever changed it knew your password: {{if .Link}}<a href="{{.Link}}">choose a new one now</a> (the link works for 30 minutes){{else}}choose a new one now{{end}}.</p>`},
	{MailChangeReverted, "Your e-mail address was changed back",
		"The address of your account was changed back to {{.NewEmail}}, through the undo link mailed there, and every session was signed out. Mail to this address no longer reaches the account.\n\nIf this was not you (if you no longer read {{.NewEmail}}), contact support at once.\n",
		`<p>The address of your account was changed back to {{.NewEmail}}, through the undo link mailed there, and every session was signed out. Mail to this address no longer reaches the account.</p><p>If this was not you (if you no longer read {{.NewEmail}}), contact support at once.</p>`},
}

// parseMails parses every default mail and replaces those overrides
// names, checking each override by rendering it with sample data: it must
// be of its key's kind, use no field MailData lacks, render, and show the
// link its kind carries in the plain-text body.
func parseMails(overrides map[string]*notify.Template) (map[string]*notify.Template, error) {
	ms := make(map[string]*notify.Template, len(mailSources))
	for _, s := range mailSources {
		t, err := notify.NewTemplate(s.kind, s.subject, s.text, s.html)
		if err != nil {
			return nil, err
		}
		ms[s.kind] = t
	}
	sample := MailData{Link: "https://example.com/link?token=sample", Undo: "https://example.com/undo?token=sample",
		NewEmail: "new@example.com"}
	for kind, t := range overrides {
		if _, ok := ms[kind]; !ok {
			return nil, fmt.Errorf("Config.Mails[%q]: no such mail: use the Mail constants (MailReset, ...)", kind)
		}
		if t == nil {
			return nil, fmt.Errorf("Config.Mails[%q] is nil: leave the key out to keep the default", kind)
		}
		m, err := t.Message("sample", "user@example.com", sample)
		if err != nil {
			return nil, fmt.Errorf("Config.Mails[%q]: rendering with sample MailData: %w", kind, err)
		}
		if m.Kind != kind {
			return nil, fmt.Errorf("Config.Mails[%q]: the template is of kind %q: build it with notify.NewTemplate(%q, ...)", kind, m.Kind, kind)
		}
		if field, ok := required[kind]; ok {
			link := sample.Link
			if field == "Undo" {
				link = sample.Undo
			}
			if !strings.Contains(m.Text, link) {
				return nil, fmt.Errorf("Config.Mails[%q]: the plain-text body does not show {{.%s}}: the mail would be useless", kind, field)
			}
		}
		ms[kind] = t
	}
	return ms, nil
}

// mail renders the mail of kind for to, with deduplication key key.
func (f *Flows) mail(kind, key, to string, d MailData) (notify.Message, error) {
	t := f.mails[kind]
	if t == nil {
		return notify.Message{}, fmt.Errorf("account: no mail of kind %q", kind)
	}
	return t.Message(key, to, d)
}
