package notify

import (
	"strconv"
	"strings"
)

// The default templates of [Notice] and [Alert]. They know nothing of the
// actions they serve but the sentence the application gives, which is
// written into the template as a quoted string constant, so that no
// character of it (not even "{{") is read as template syntax, and the HTML
// template escapes it like any data. Event fields a client chooses (the
// User-Agent, a login name, a reason, meta values) are quoted and cut in
// the plain-text body, so that they read as data rather than as the
// sender's words ("Click https://… to secure your account").

const noticeText = `{{W}}

When: {{.Event.Time.UTC.Format "2006-01-02 15:04 MST"}}
{{- if .Event.ClientIP.IsValid}}
Address: {{.Event.ClientIP}}{{end}}
{{- with .Event.UserAgent}}
Browser: {{printf "%.120q" .}}{{end}}
{{- if .HeldBack}}

{{.HeldBack}} more messages like this one were held back since the last one.{{end}}

If this was you, there is nothing to do. If it was not, change your password
and review the sign-in methods of your account now, or contact support.
`

const noticeHTML = `<p>{{W}}</p>
<table>
<tr><td>When</td><td>{{.Event.Time.UTC.Format "2006-01-02 15:04 MST"}}</td></tr>
{{- if .Event.ClientIP.IsValid}}
<tr><td>Address</td><td>{{.Event.ClientIP}}</td></tr>{{end}}
{{- with .Event.UserAgent}}
<tr><td>Browser</td><td>{{printf "%.120s" .}}</td></tr>{{end}}
</table>
{{- if .HeldBack}}
<p>{{.HeldBack}} more messages like this one were held back since the last one.</p>{{end}}
<p>If this was you, there is nothing to do. If it was not, change your password
and review the sign-in methods of your account now, or contact support.</p>
`

const alertText = `{{W}}

Action: {{.Event.Action}} ({{.Event.Category}}{{with .Event.Outcome}}, {{.}}{{end}})
When: {{.Event.Time.UTC.Format "2006-01-02 15:04:05 MST"}}
{{- with .Event.Target.Kind}}
Target: {{.}} {{printf "%.200q" $.Event.Target.ID}}{{end}}
{{- with .Event.Actor.UserID}}
Actor: {{printf "%.200q" .}}{{end}}
{{- if .Event.ClientIP.IsValid}}
Address: {{.Event.ClientIP}}{{end}}
{{- with .Event.UserAgent}}
Browser: {{printf "%.120q" .}}{{end}}
{{- with .Event.RequestID}}
Request: {{printf "%.100q" .}}{{end}}
{{- with .Event.Reason}}
Reason: {{printf "%.300q" .}}{{end}}
{{- range $k, $v := .Event.Meta}}
{{printf "%.60q" $k}}: {{printf "%.200q" $v}}{{end}}
{{- if .HeldBack}}

{{.HeldBack}} more alerts of this kind were held back by the rate limit since the last one: look at the audit log.{{end}}

Alerts of this action about the same target are sent once per window; the
audit log has every event.
`

const alertHTML = `<p>{{W}}</p>
<table>
<tr><td>Action</td><td>{{.Event.Action}} ({{.Event.Category}}{{with .Event.Outcome}}, {{.}}{{end}})</td></tr>
<tr><td>When</td><td>{{.Event.Time.UTC.Format "2006-01-02 15:04:05 MST"}}</td></tr>
{{- with .Event.Target.Kind}}
<tr><td>Target</td><td>{{.}} {{printf "%.200s" $.Event.Target.ID}}</td></tr>{{end}}
{{- with .Event.Actor.UserID}}
<tr><td>Actor</td><td>{{printf "%.200s" .}}</td></tr>{{end}}
{{- if .Event.ClientIP.IsValid}}
<tr><td>Address</td><td>{{.Event.ClientIP}}</td></tr>{{end}}
{{- with .Event.UserAgent}}
<tr><td>Browser</td><td>{{printf "%.120s" .}}</td></tr>{{end}}
{{- with .Event.RequestID}}
<tr><td>Request</td><td>{{printf "%.100s" .}}</td></tr>{{end}}
{{- with .Event.Reason}}
<tr><td>Reason</td><td>{{printf "%.300s" .}}</td></tr>{{end}}
{{- range $k, $v := .Event.Meta}}
<tr><td>{{printf "%.60s" $k}}</td><td>{{printf "%.200s" $v}}</td></tr>{{end}}
</table>
{{- if .HeldBack}}
<p>{{.HeldBack}} more alerts of this kind were held back by the rate limit since the last one: look at the audit log.</p>{{end}}
<p>Alerts of this action about the same target are sent once per window; the
audit log has every event.</p>
`

// defaultTemplate builds the template of [Notice] (alert false) or
// [Alert] for messages of kind, saying what.
func defaultTemplate(kind, what string, alert bool) (*Template, error) {
	w := "{{" + strconv.Quote(what) + "}}"
	subject, text, html := "Security notice: "+w, noticeText, noticeHTML
	if alert {
		subject, text, html = "Security alert: "+w, alertText, alertHTML
	}
	return NewTemplate(kind, subject, strings.ReplaceAll(text, "{{W}}", w), strings.ReplaceAll(html, "{{W}}", w))
}
