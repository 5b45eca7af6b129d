package notify

import (
	"errors"
	"fmt"
	"unicode"
	"unicode/utf8"
)

// Bounds of a [Message], checked by [Outbox.Enqueue].
const (
	maxKey     = 200
	maxTo      = 512
	maxKind    = 64
	maxSubject = 1000
	maxTotal   = 256 << 10
)

// validate reports the first reason m cannot be queued. To and Subject go
// into message headers, so a control character there (CR and LF above
// all: header injection) is refused rather than cleaned; the bodies may
// hold line breaks and tabs but no other control character. Every field
// must be valid UTF-8, which PostgreSQL's TEXT demands anyway.
func (m *Message) validate() error {
	switch {
	case m.Key == "":
		return errors.New("notify: Message.Key is empty: build one from the event (kind, user, request ID) so that a retried event is sent once")
	case len(m.Key) > maxKey:
		return fmt.Errorf("notify: Message.Key is %d bytes: at most %d", len(m.Key), maxKey)
	case m.To == "":
		return errors.New("notify: Message.To is empty: name the recipient")
	case len(m.To) > maxTo:
		return fmt.Errorf("notify: Message.To is %d bytes: at most %d", len(m.To), maxTo)
	case m.Kind == "":
		return errors.New(`notify: Message.Kind is empty: name what the message is about ("password_changed")`)
	case len(m.Kind) > maxKind:
		return fmt.Errorf("notify: Message.Kind is %d bytes: at most %d", len(m.Kind), maxKind)
	case len(m.Subject) > maxSubject:
		return fmt.Errorf("notify: Message.Subject is %d bytes: at most %d", len(m.Subject), maxSubject)
	case m.Text == "":
		return errors.New("notify: Message.Text is empty: every message has a plain-text body")
	}
	if n := len(m.Key) + len(m.To) + len(m.Kind) + len(m.Subject) + len(m.Text) + len(m.HTML); n > maxTotal {
		return fmt.Errorf("notify: Message is %d bytes: at most %d in all", n, maxTotal)
	}
	if !kindOK(m.Kind) {
		return fmt.Errorf("notify: Message.Kind %q: use lower-case letters, digits, '_' and '.'", m.Kind)
	}
	for _, f := range [...]struct {
		name, v string
		body    bool
	}{{"Key", m.Key, false}, {"To", m.To, false}, {"Subject", m.Subject, false}, {"Text", m.Text, true}, {"HTML", m.HTML, true}} {
		if !utf8.ValidString(f.v) {
			return fmt.Errorf("notify: Message.%s is not valid UTF-8", f.name)
		}
		for _, c := range f.v {
			if f.body && (c == '\n' || c == '\r' || c == '\t') {
				continue
			}
			if isControl(c) {
				what := "a control character"
				if c == '\r' || c == '\n' {
					what = "a line break (header injection)"
				}
				return fmt.Errorf("notify: Message.%s contains %s (%U)", f.name, what, c)
			}
		}
	}
	return nil
}

// kindOK reports whether kind is a non-empty run of lower-case letters,
// digits, '_' and '.'.
func kindOK(kind string) bool {
	if kind == "" {
		return false
	}
	for _, c := range kind {
		if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '_' || c == '.') {
			return false
		}
	}
	return true
}

// isControl reports whether c is an ASCII or Unicode control character or
// a Unicode line or paragraph separator.
func isControl(c rune) bool { return unicode.IsControl(c) || c == '\u2028' || c == '\u2029' }

// hasControl reports whether s holds a character isControl refuses.
func hasControl(s string) bool {
	for _, c := range s {
		if isControl(c) {
			return true
		}
	}
	return false
}
