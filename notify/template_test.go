package notify_test

import (
	"errors"
	"strings"
	"sync"
	"testing"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/deployedworks/rampart/notify"
)

type changed struct {
	Name, App, Link string
}

func newChanged(t testing.TB) *notify.Template {
	t.Helper()
	tmpl, err := notify.NewTemplate("password_changed",
		"{{.App}}: your password was changed",
		"Hello {{.Name}},\n\nyour password was changed. Not you? {{.Link}}\n",
		`<p>Hello {{.Name}},</p><p>your password was changed. <a href="{{.Link}}">Not you?</a></p>`)
	require.NoError(t, err)
	return tmpl
}

func TestTemplateMessage(t *testing.T) {
	tmpl := newChanged(t)
	tests := []struct {
		name                string
		data                changed
		subject, text, html string
	}{
		{
			name:    "plain data",
			data:    changed{Name: "Alice", App: "Shop", Link: "https://shop.example/undo?t=abc&u=1"},
			subject: "Shop: your password was changed",
			text:    "Hello Alice,\n\nyour password was changed. Not you? https://shop.example/undo?t=abc&u=1\n",
			html:    `<p>Hello Alice,</p><p>your password was changed. <a href="https://shop.example/undo?t=abc&amp;u=1">Not you?</a></p>`,
		},
		{
			name:    "markup in a name is escaped in HTML, kept in text",
			data:    changed{Name: `<script>alert(1)</script>`, App: "Shop", Link: "https://shop.example/"},
			subject: "Shop: your password was changed",
			text:    "Hello <script>alert(1)</script>,\n\nyour password was changed. Not you? https://shop.example/\n",
			html:    `<p>Hello &lt;script&gt;alert(1)&lt;/script&gt;,</p><p>your password was changed. <a href="https://shop.example/">Not you?</a></p>`,
		},
		{
			name:    "a javascript: link is neutralised",
			data:    changed{Name: "Eve", App: "Shop", Link: "javascript:alert(1)"},
			subject: "Shop: your password was changed",
			text:    "Hello Eve,\n\nyour password was changed. Not you? javascript:alert(1)\n",
			html:    `<p>Hello Eve,</p><p>your password was changed. <a href="#ZgotmplZ">Not you?</a></p>`,
		},
		{
			name:    "attribute breakout is escaped",
			data:    changed{Name: "Eve", App: "Shop", Link: `https://x.example/" onclick="alert(1)`},
			subject: "Shop: your password was changed",
			text:    "Hello Eve,\n\nyour password was changed. Not you? https://x.example/\" onclick=\"alert(1)\n",
			html:    `<p>Hello Eve,</p><p>your password was changed. <a href="https://x.example/%22%20onclick=%22alert%281%29">Not you?</a></p>`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := tmpl.Message("password_changed:req1:u1", "alice@example.com", tt.data)
			require.NoError(t, err)
			assert.Equal(t, notify.Message{
				Key: "password_changed:req1:u1", To: "alice@example.com", Kind: "password_changed",
				Subject: tt.subject, Text: tt.text, HTML: tt.html,
			}, m)
		})
	}
}

func TestTemplateTextOnly(t *testing.T) {
	tmpl, err := notify.NewTemplate("security_alert", "Alert: {{.}}", "Detector says: {{.}}", "")
	require.NoError(t, err)
	m, err := tmpl.Message("alert:1", "soc@example.com", "stuffing")
	require.NoError(t, err)
	assert.Equal(t, "Alert: stuffing", m.Subject)
	assert.Equal(t, "Detector says: stuffing", m.Text)
	assert.Empty(t, m.HTML)
}

func TestNewTemplateErrors(t *testing.T) {
	tests := []struct {
		name                      string
		kind, subject, text, html string
		want                      string
	}{
		{"empty kind", "", "s", "t", "", "kind"},
		{"upper-case kind", "Password", "s", "t", "", "kind"},
		{"kind with space", "password changed", "s", "t", "", "kind"},
		{"kind with newline", "a\nb", "s", "t", "", "kind"},
		{"kind too long for the outbox", strings.Repeat("k", 65), "s", "t", "", "longer than 64"},
		{"empty subject", "k", " ", "t", "", "subject is required"},
		{"two-line subject", "k", "Hello\nBcc: eve@example.net", "t", "", "one line"},
		{"subject with CR", "k", "Hello\r", "t", "", "one line"},
		{"empty text", "k", "s", "", "<p>x</p>", "plain-text body is required"},
		{"subject parse error", "k", "{{.A", "t", "", "subject"},
		{"text parse error", "k", "s", "{{if}}", "", "text"},
		{"html parse error", "k", "s", "t", "{{end}}", "html"},
		{"html action in unfinished JS string", "k", "s", "t", `<script>var x = "{{.}}</script>`, "html"},
		{"html ends inside an attribute", "k", "s", "t", `<a href="{{.}}`, "html"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tmpl, err := notify.NewTemplate(tt.kind, tt.subject, tt.text, tt.html)
			require.Error(t, err)
			assert.Nil(t, tmpl)
			assert.Contains(t, err.Error(), tt.want)
		})
	}
}

type failing struct{}

func (failing) Name() (string, error) { return "", errors.New("lookup failed") }

func TestTemplateMessageErrors(t *testing.T) {
	tmpl := newChanged(t)
	ok := changed{Name: "Alice", App: "Shop", Link: "https://shop.example/"}
	tests := []struct {
		name    string
		key, to string
		data    any
		want    string
	}{
		{"missing field", "k", "a@example.com", map[string]string{"Name": "Alice"}, "subject"},
		{"nil data", "k", "a@example.com", nil, "subject"},
		{"newline in subject data", "k", "a@example.com", changed{App: "Shop\nBcc: eve@example.net", Name: "A"}, "control character"},
		{"CR in subject data", "k", "a@example.com", changed{App: "Shop\rX", Name: "A"}, "control character"},
		{"line separator in subject data", "k", "a@example.com", changed{App: "Shop\u2028X", Name: "A"}, "control character"},
		{"invalid UTF-8 in subject data", "k", "a@example.com", changed{App: "Shop\xff", Name: "A"}, "UTF-8"},
		{"oversized subject", "k", "a@example.com", changed{App: strings.Repeat("s", 1000), Name: "A"}, "passes 998 bytes"},
		{"oversized text", "k", "a@example.com", changed{App: "Shop", Name: strings.Repeat("n", 300<<10)}, "passes 262144 bytes"},
		{"empty key", "", "a@example.com", ok, "key"},
		{"oversized key", strings.Repeat("k", 201), "a@example.com", ok, "key"},
		{"empty recipient", "k", "", ok, "recipient"},
		{"CRLF in recipient", "k", "a@example.com\r\nBcc: eve@example.net", ok, "recipient"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := tmpl.Message(tt.key, tt.to, tt.data)
			require.Error(t, err)
			assert.Contains(t, err.Error(), tt.want)
			assert.Contains(t, err.Error(), "password_changed", "the error names the template")
			assert.Zero(t, m)
		})
	}
	t.Run("failing method", func(t *testing.T) {
		tm, err := notify.NewTemplate("k", "Hi {{.Name}}", "t", "")
		require.NoError(t, err)
		_, err = tm.Message("k", "a@example.com", failing{})
		assert.ErrorContains(t, err, "lookup failed")
	})
}

func TestTemplateConcurrent(t *testing.T) {
	tmpl := newChanged(t)
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			name := strings.Repeat("x", i)
			m, err := tmpl.Message("k", "a@example.com", changed{Name: name, App: "Shop", Link: "https://shop.example/"})
			assert.NoError(t, err)
			assert.Contains(t, m.Text, "Hello "+name+",")
		})
	}
	wg.Wait()
}

// FuzzTemplateMessage: whatever the data, rendering never panics, a
// subject is one clean line, and data cannot add markup to the HTML.
func FuzzTemplateMessage(f *testing.F) {
	tmpl, err := notify.NewTemplate("fuzz", "Hi {{.}}", "Hi {{.}}", `<p title="{{.}}">{{.}}</p><a href="/u?x={{.}}">u</a>`)
	require.NoError(f, err)
	for _, s := range []string{"Alice", "a\r\nBcc: x", "<script>", `" onmouseover="x`, "\xff", "javascript:1", "\u2028"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data string) {
		m, err := tmpl.Message("k", "a@example.com", data)
		if err != nil {
			return
		}
		assert.NotContains(t, m.Subject, "\n")
		assert.NotContains(t, m.Subject, "\r")
		assert.True(t, utf8.ValidString(m.Subject))
		assert.Equal(t, 4, strings.Count(m.HTML, "<"), "only the template's own tags: %q", m.HTML)
		assert.Equal(t, 4, strings.Count(m.HTML, `"`), "only the template's own quotes: %q", m.HTML)
	})
}

func BenchmarkTemplateMessage(b *testing.B) {
	tmpl := newChanged(b)
	data := changed{Name: "Alice <alice@example.com>", App: "Shop", Link: "https://shop.example/undo?t=abc&u=1"}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := tmpl.Message("password_changed:req1:u1", "alice@example.com", data); err != nil {
			b.Fatal(err)
		}
	}
}
