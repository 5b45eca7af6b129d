package mail

import (
	"bytes"
	"mime"
	netmail "net/mail"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/deployedworks/rampart/notify"
)

// allowedHeaders are the only top-level headers a composed message has:
// anything else came from the message's fields (header injection).
var allowedHeaders = map[string]bool{
	"From": true, "To": true, "Subject": true, "Message-Id": true, "Date": true,
	"Mime-Version": true, "Content-Type": true, "Content-Transfer-Encoding": true,
}

// FuzzCompose: whatever the recipient, subject and bodies, a message
// compose accepts has exactly one recipient, the one asked for, only the
// headers compose sets, and the subject asked for.
func FuzzCompose(f *testing.F) {
	m, err := New(Config{Host: "smtp.example.org", From: "Rampart <security@example.org>"})
	require.NoError(f, err)
	seeds := [][4]string{
		{"alice@example.com", "Your password was changed", "Hello", ""},
		{"alice@example.com\r\nBcc: eve@example.net", "s", "t", ""},
		{"alice@example.com", "s\r\nBcc: eve@example.net", "t", "<p>h</p>"},
		{`"Alice\r\nBcc: x" <alice@example.com>`, "s", "t", ""},
		{"Ålice <alice@example.com>", "Passwort geändert", "Grüße\r\n.\r\nMAIL FROM:<x>", "<p>ü</p>"},
		{"alice@example.com", "=?utf-8?q?Bcc:_x?=", "t", ""},
	}
	for _, s := range seeds {
		f.Add(s[0], s[1], s[2], s[3])
	}
	f.Fuzz(func(t *testing.T, to, subject, text, html string) {
		gm, err := m.compose(notify.Message{Key: "k", To: to, Kind: "k", Subject: subject, Text: text, HTML: html})
		if err != nil {
			assert.ErrorIs(t, err, notify.ErrPermanent)
			return
		}
		var buf bytes.Buffer
		_, err = gm.WriteTo(&buf)
		require.NoError(t, err)
		parsed, err := netmail.ReadMessage(&buf)
		require.NoError(t, err, "compose wrote a message net/mail cannot read")
		for k := range parsed.Header {
			assert.True(t, allowedHeaders[k], "unexpected header %q", k)
		}
		assert.Len(t, parsed.Header["To"], 1)
		assert.Len(t, parsed.Header["Subject"], 1)
		want, err := netmail.ParseAddress(to)
		require.NoError(t, err)
		got, err := parsed.Header.AddressList("To")
		require.NoError(t, err)
		require.Len(t, got, 1)
		assert.Equal(t, want.Address, got[0].Address)
		if !strings.Contains(subject, "=?") {
			dec, err := new(mime.WordDecoder).DecodeHeader(parsed.Header.Get("Subject"))
			if assert.NoError(t, err) {
				assert.Equal(t, strings.TrimSpace(subject), strings.TrimSpace(dec))
			}
		}
	})
}

// BenchmarkCompose measures checking a message and writing its MIME form,
// the part of Send that does not wait on the network.
func BenchmarkCompose(b *testing.B) {
	m, err := New(Config{Host: "smtp.example.org", From: "Rampart <security@example.org>"})
	require.NoError(b, err)
	msg := notify.Message{Key: "k", To: "alice@example.com", Kind: "password_changed",
		Subject: "Ihr Passwort wurde geändert", Text: "Hello Alice,\n\nyour password was changed.\n",
		HTML: "<p>Hello Alice,</p><p>your password was changed.</p>"}
	var buf bytes.Buffer
	b.ReportAllocs()
	for b.Loop() {
		gm, err := m.compose(msg)
		if err != nil {
			b.Fatal(err)
		}
		buf.Reset()
		if _, err := gm.WriteTo(&buf); err != nil {
			b.Fatal(err)
		}
	}
}
