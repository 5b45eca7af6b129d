package notify

import (
	"errors"
	"fmt"
	htmltemplate "html/template"
	"io"
	"strings"
	texttemplate "text/template"
	"unicode/utf8"
)

// Limits on a rendered [Template]: a subject is one header line (RFC 5322
// §2.1.1), and a notice has no business being longer than a few pages.
const (
	tmplMaxSubject = 998
	tmplMaxBody    = 256 << 10
)

// errTmplTooLarge stops a template that writes more than its limit.
var errTmplTooLarge = errors.New("output too large")

// Template turns an event's data into a [Message]: text/template renders
// the subject and the plain-text body, html/template the optional HTML body,
// so data placed in the HTML is escaped for its context (element, attribute,
// URL: a "javascript:" link becomes "#ZgotmplZ"). The plain-text body is not
// escaped; it is sent as text/plain.
//
// Templates are parsed once, by [NewTemplate], and a reference to a field
// the data lacks is an error rather than "<no value>". A Template is
// immutable and safe for concurrent use.
type Template struct {
	kind    string
	subject *texttemplate.Template
	text    *texttemplate.Template
	html    *htmltemplate.Template // nil: no HTML body
}

// NewTemplate parses the templates of one kind of message ("password_changed":
// lower-case letters, digits, '_' and '.', at most 64 bytes). subject and text are required,
// html is optional (""). The subject's source must be one line; a line
// break that data brings in is refused when the message is rendered.
func NewTemplate(kind, subject, text, html string) (*Template, error) {
	if !kindOK(kind) {
		return nil, fmt.Errorf("notify: template kind %q: use lower-case letters, digits, '_' and '.'", kind)
	}
	if len(kind) > maxKind {
		return nil, fmt.Errorf("notify: template kind %q is longer than %d bytes: the outbox would refuse its every message", kind, maxKind)
	}
	if strings.TrimSpace(subject) == "" {
		return nil, fmt.Errorf("notify: template %s: the subject is required", kind)
	}
	if strings.ContainsAny(subject, "\r\n") {
		return nil, fmt.Errorf("notify: template %s: the subject must be one line", kind)
	}
	if strings.TrimSpace(text) == "" {
		return nil, fmt.Errorf("notify: template %s: the plain-text body is required (mail clients and filters expect it)", kind)
	}
	t := &Template{kind: kind}
	var err error
	if t.subject, err = texttemplate.New("subject").Option("missingkey=error").Parse(subject); err != nil {
		return nil, fmt.Errorf("notify: template %s: subject: %w", kind, err)
	}
	if t.text, err = texttemplate.New("text").Option("missingkey=error").Parse(text); err != nil {
		return nil, fmt.Errorf("notify: template %s: text: %w", kind, err)
	}
	if html != "" {
		if t.html, err = htmltemplate.New("html").Option("missingkey=error").Parse(html); err != nil {
			return nil, fmt.Errorf("notify: template %s: html: %w", kind, err)
		}
		// html/template escapes on the first execution: run it once,
		// without data, to report an unsafe context (an action inside an
		// unfinished JavaScript string, say) now rather than per message.
		var escErr *htmltemplate.Error
		if err := t.html.Execute(io.Discard, nil); errors.As(err, &escErr) {
			return nil, fmt.Errorf("notify: template %s: html: %w", kind, err)
		}
	}
	return t, nil
}

// Message renders the templates with data into a Message for to, with the
// deduplication key key (see [Message].Key) and the template's kind. It
// fails if a template fails (a missing field, a failing method), if the
// subject renders empty or with a control character (a line break in
// data), or if the subject passes 998 bytes or a body 256 KiB.
func (t *Template) Message(key, to string, data any) (Message, error) {
	if key == "" || len(key) > maxKey {
		return Message{}, fmt.Errorf("notify: template %s: the key is required and at most %d bytes", t.kind, maxKey)
	}
	if to == "" || hasControl(to) {
		return Message{}, fmt.Errorf("notify: template %s: the recipient is empty or holds a control character", t.kind)
	}
	subject, err := tmplRender(t.subject.Execute, data, tmplMaxSubject)
	if err != nil {
		return Message{}, fmt.Errorf("notify: template %s: subject: %w", t.kind, err)
	}
	subject = strings.TrimSpace(subject)
	if subject == "" || hasControl(subject) || !utf8.ValidString(subject) {
		return Message{}, fmt.Errorf("notify: template %s: the subject rendered empty, not UTF-8 or with a control character (a line break in the data?)", t.kind)
	}
	text, err := tmplRender(t.text.Execute, data, tmplMaxBody)
	if err != nil {
		return Message{}, fmt.Errorf("notify: template %s: text: %w", t.kind, err)
	}
	var html string
	if t.html != nil {
		if html, err = tmplRender(t.html.Execute, data, tmplMaxBody); err != nil {
			return Message{}, fmt.Errorf("notify: template %s: html: %w", t.kind, err)
		}
	}
	return Message{Key: key, To: to, Kind: t.kind, Subject: subject, Text: text, HTML: html}, nil
}

// tmplRender runs a template's Execute into a buffer of at most max bytes.
func tmplRender(exec func(w io.Writer, data any) error, data any, max int) (string, error) {
	w := &tmplWriter{max: max}
	if err := exec(w, data); err != nil {
		if errors.Is(err, errTmplTooLarge) {
			return "", fmt.Errorf("output passes %d bytes", max)
		}
		return "", err
	}
	return w.b.String(), nil
}

// tmplWriter collects output and fails once it would pass max bytes, which
// stops the template.
type tmplWriter struct {
	b   strings.Builder
	max int
}

func (w *tmplWriter) Write(p []byte) (int, error) {
	if w.b.Len()+len(p) > w.max {
		return 0, errTmplTooLarge
	}
	return w.b.Write(p)
}
