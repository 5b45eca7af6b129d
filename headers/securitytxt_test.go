package headers

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestSecurityTxt(t *testing.T) { synctest.Test(t, testSecurityTxt) }

func testSecurityTxt(t *testing.T) { // the bubble's clock starts at 2000-01-01T00:00:00Z
	txt, err := NewSecurityTxt(SecurityTxtConfig{
		Contact:            []string{"mailto:security@deployed.works", "https://deployed.works/security"},
		Policy:             "https://deployed.works/legal/security#vulnerability-reporting",
		PreferredLanguages: []string{"en", "pt-BR"},
		Canonical:          []string{"https://deployed.works/.well-known/security.txt"},
		Encryption:         []string{"openpgp4fpr:5f2de5521c63a801ab59ccb603d49de44b29100f"},
		Acknowledgments:    []string{"https://deployed.works/security/thanks"},
	})
	require.NoError(t, err)

	rec := httptest.NewRecorder()
	txt.ServeHTTP(rec, httptest.NewRequest("GET", "https://deployed.works/.well-known/security.txt", nil))
	assert.Equal(t, 200, rec.Code)
	assert.Equal(t, "text/plain; charset=utf-8", rec.Header().Get("Content-Type"))
	want := "Contact: mailto:security@deployed.works\n" +
		"Contact: https://deployed.works/security\n" +
		"Encryption: openpgp4fpr:5f2de5521c63a801ab59ccb603d49de44b29100f\n" +
		"Acknowledgments: https://deployed.works/security/thanks\n" +
		"Policy: https://deployed.works/legal/security#vulnerability-reporting\n" +
		"Canonical: https://deployed.works/.well-known/security.txt\n" +
		"Expires: 2000-06-29T00:00:00Z\n" +
		"Preferred-Languages: en, pt-BR\n"
	assert.Equal(t, want, rec.Body.String())

	// Expires follows the clock, so the file is never stale.
	time.Sleep(400 * 24 * time.Hour)
	assert.Contains(t, txt.Body(), "Expires: 2001-08-03T00:00:00Z\n")

	rec = httptest.NewRecorder()
	txt.ServeHTTP(rec, httptest.NewRequest("HEAD", "/.well-known/security.txt", nil))
	assert.Equal(t, 200, rec.Code)
	assert.Empty(t, rec.Body.String())
	assert.Equal(t, "text/plain; charset=utf-8", rec.Header().Get("Content-Type"))

	rec = httptest.NewRecorder()
	txt.ServeHTTP(rec, httptest.NewRequest("POST", "/.well-known/security.txt", strings.NewReader("x")))
	assert.Equal(t, http.StatusMethodNotAllowed, rec.Code)
	assert.Equal(t, "GET, HEAD", rec.Header().Get("Allow"))
}

func TestSecurityTxtDefaults(t *testing.T) { synctest.Test(t, testSecurityTxtDefaults) }

func testSecurityTxtDefaults(t *testing.T) {
	txt, err := NewSecurityTxt(SecurityTxtConfig{Contact: []string{"mailto:security@deployed.works"}})
	require.NoError(t, err)
	assert.Equal(t, "Contact: mailto:security@deployed.works\nExpires: 2000-06-29T00:00:00Z\nPreferred-Languages: en\n", txt.Body())

	txt, err = NewSecurityTxt(SecurityTxtConfig{Contact: []string{"mailto:s@x.example"}, Expires: 364 * 24 * time.Hour})
	require.NoError(t, err)
	assert.Contains(t, txt.Body(), "Expires: 2000-12-30T00:00:00Z\n")
}

func TestNewSecurityTxtRejects(t *testing.T) {
	ok := []string{"mailto:security@deployed.works"}
	for _, tt := range []struct {
		name string
		cfg  SecurityTxtConfig
	}{
		{"no contact", SecurityTxtConfig{}},
		{"http contact", SecurityTxtConfig{Contact: []string{"http://deployed.works/security"}}},
		{"bare email", SecurityTxtConfig{Contact: []string{"security@deployed.works"}}},
		{"attack: CRLF in contact", SecurityTxtConfig{Contact: []string{"mailto:a@b.example\r\nContact: mailto:evil@evil.example"}}},
		{"attack: LF in policy", SecurityTxtConfig{Contact: ok, Policy: "https://deployed.works/p\nExpires: 2099-01-01T00:00:00Z"}},
		{"attack: space in canonical", SecurityTxtConfig{Contact: ok, Canonical: []string{"https://a.example/ x"}}},
		{"opaque https", SecurityTxtConfig{Contact: []string{"https:deployed.works"}}},
		{"javascript contact", SecurityTxtConfig{Contact: []string{"javascript:alert(1)"}}},
		{"http policy", SecurityTxtConfig{Contact: ok, Policy: "http://deployed.works/p"}},
		{"expires a year", SecurityTxtConfig{Contact: ok, Expires: 365 * 24 * time.Hour}},
		{"expires an hour", SecurityTxtConfig{Contact: ok, Expires: time.Hour}},
		{"expires negative", SecurityTxtConfig{Contact: ok, Expires: -time.Hour}},
		{"attack: injection in language", SecurityTxtConfig{Contact: ok, PreferredLanguages: []string{"en\nContact: x"}}},
		{"bad language", SecurityTxtConfig{Contact: ok, PreferredLanguages: []string{"english-language"}}},
		{"numeric language", SecurityTxtConfig{Contact: ok, PreferredLanguages: []string{"12"}}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := NewSecurityTxt(tt.cfg)
			require.Error(t, err)
			assert.True(t, strings.HasPrefix(err.Error(), "headers: "), err.Error())
		})
	}
}
