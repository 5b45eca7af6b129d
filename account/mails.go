package account

import (
	"fmt"

	"github.com/deployedworks/rampart/notify"
)

// The mails of the flows, one kind each: a subject, a plain-text body and
// an HTML body, rendered by notify.Template with mailData. The text is
// generic (no site name) and in English.
const (
	kindReset          = "password_reset"
	kindPasswordChange = "password_changed"
	kindVerify         = "email_verify"
	kindSignUpExisting = "signup_existing"
	kindChangeConfirm  = "email_change_confirm"
	kindChangeNotice   = "email_change_requested"
	kindChangeTaken    = "email_change_taken"
	kindChangedOld     = "email_changed_old"
	kindChangedNew     = "email_changed_new"
	kindChangeUndone   = "email_change_undone"
)

// mailData is what the templates see.
type mailData struct {
	Link     string // the action's URL, if any
	Undo     string // the undo URL, if any
	NewEmail string // the new address of a change
}

var mailSources = []struct{ kind, subject, text, html string }{
	{kindReset, "Reset your password",
		"Someone, hopefully you, asked to reset the password of your account.\n\nTo choose a new password, open this link within 30 minutes:\n{{.Link}}\n\nIf you did not ask, ignore this mail: your password has not changed.\n",
		`<p>Someone, hopefully you, asked to reset the password of your account.</p><p><a href="{{.Link}}">Choose a new password</a> (the link works for 30 minutes).</p><p>If you did not ask, ignore this mail: your password has not changed.</p>`},
	{kindPasswordChange, "Your password was changed",
		"The password of your account was just reset, and every session was signed out.\n\nIf this was not you, reset your password at once and contact support.\n",
		`<p>The password of your account was just reset, and every session was signed out.</p><p>If this was not you, reset your password at once and contact support.</p>`},
	{kindVerify, "Confirm your e-mail address",
		"Please confirm that this is your address by opening this link:\n{{.Link}}\n\nIf you did not sign up, ignore this mail.\n",
		`<p>Please <a href="{{.Link}}">confirm that this is your address</a>.</p><p>If you did not sign up, ignore this mail.</p>`},
	{kindSignUpExisting, "Someone tried to sign up with your address",
		"Someone, perhaps you, tried to create an account with this address, which already has one. Nothing was created.\n\nIf it was you, sign in instead, or reset your password if you forgot it. If not, you need not do anything.\n",
		`<p>Someone, perhaps you, tried to create an account with this address, which already has one. Nothing was created.</p><p>If it was you, sign in instead, or reset your password if you forgot it. If not, you need not do anything.</p>`},
	{kindChangeConfirm, "Confirm your new e-mail address",
		"To make this the address of your account, open this link within an hour:\n{{.Link}}\n\nIf you did not ask, ignore this mail.\n",
		`<p><a href="{{.Link}}">Make this the address of your account</a> (the link works for an hour).</p><p>If you did not ask, ignore this mail.</p>`},
	{kindChangeNotice, "Your e-mail address is about to change",
		"Someone signed in to your account asked to change its address to {{.NewEmail}}.\n\nIf this was not you, cancel the change and sign everyone out:\n{{.Undo}}\nThen reset your password: whoever asked knew it.\n",
		`<p>Someone signed in to your account asked to change its address to {{.NewEmail}}.</p><p>If this was not you, <a href="{{.Undo}}">cancel the change and sign everyone out</a>, then reset your password: whoever asked knew it.</p>`},
	{kindChangeTaken, "Someone tried to use your address",
		"Someone tried to move another account to this address, which already has one. Nothing was changed.\n\nYou need not do anything.\n",
		`<p>Someone tried to move another account to this address, which already has one. Nothing was changed.</p><p>You need not do anything.</p>`},
	{kindChangedOld, "Your e-mail address was changed",
		"The address of your account was changed to {{.NewEmail}}.\n{{if .Undo}}\nIf this was not you, undo the change and sign everyone out (the link works for 7 days):\n{{.Undo}}\n{{else}}\nIf this was not you, contact support.\n{{end}}",
		`<p>The address of your account was changed to {{.NewEmail}}.</p>{{if .Undo}}<p>If this was not you, <a href="{{.Undo}}">undo the change and sign everyone out</a> (the link works for 7 days).</p>{{else}}<p>If this was not you, contact support.</p>{{end}}`},
	{kindChangedNew, "Your e-mail address was changed",
		"This is now the address of your account.\n",
		`<p>This is now the address of your account.</p>`},
	{kindChangeUndone, "Your e-mail address was restored",
		"The change of your account's address was undone, and every session was signed out.\n\nWhoever changed it knew your password: choose a new one now{{if .Link}} (the link works for 30 minutes):\n{{.Link}}{{else}}.{{end}}\n",
		`<p>The change of your account's address was undone, and every session was signed out.</p><p>Whoever changed it knew your password: {{if .Link}}<a href="{{.Link}}">choose a new one now</a> (the link works for 30 minutes){{else}}choose a new one now{{end}}.</p>`},
}

// parseMails parses every mail.
func parseMails() (map[string]*notify.Template, error) {
	ms := make(map[string]*notify.Template, len(mailSources))
	for _, s := range mailSources {
		t, err := notify.NewTemplate(s.kind, s.subject, s.text, s.html)
		if err != nil {
			return nil, err
		}
		ms[s.kind] = t
	}
	return ms, nil
}

// mail renders the mail of kind for to, with deduplication key key.
func (f *Flows) mail(kind, key, to string, d mailData) (notify.Message, error) {
	t := f.mails[kind]
	if t == nil {
		return notify.Message{}, fmt.Errorf("account: no mail of kind %q", kind)
	}
	return t.Message(key, to, d)
}
