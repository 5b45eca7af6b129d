package main

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestCrossOriginSchemeRegression: for a browser without Sec-Fetch-Site,
// an Origin with the site's host but another scheme was taken for the
// site itself. The app compares Origin with its public URL, scheme and
// port included.
func TestCrossOriginSchemeRegression(t *testing.T) {
	t.Parallel()
	ta := newTestApp(t) // public URL http://localhost:PORT
	ta.createUser("victim@example.com", "Victim")
	other := strings.Replace(ta.URL, "http://", "https://", 1)
	for _, tt := range []struct {
		origin string
		want   int
	}{
		{other, http.StatusForbidden},
		{ta.URL + "0", http.StatusForbidden}, // another port
		{ta.URL, http.StatusSeeOther},
	} {
		form := url.Values{"email": {"victim@example.com"}, "password": {goodPassword}}
		req, err := http.NewRequest(http.MethodPost, ta.URL+"/login", strings.NewReader(form.Encode()))
		require.NoError(t, err)
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Origin", tt.origin) // and no Sec-Fetch-Site: a browser from before 2023
		assert.Equal(t, tt.want, ta.client().do(req).Status, tt.origin)
	}
}
