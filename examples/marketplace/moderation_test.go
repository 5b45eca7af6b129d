package main

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestModeration_OnlyModerators(t *testing.T) {
	t.Parallel()
	ta := newTestApp(t)
	sam, samUser := ta.userClient("sam@example.com", "Sam")
	l := ta.addListing(samUser.ID, "Teapot", 100)
	hidden := ta.addListing(samUser.ID, "Hidden teapot", 100)
	_, err := ta.db.moderate(t.Context(), hidden.ID, "mod", modHide, "spam")
	require.NoError(t, err)
	hidden, _ = ta.listingRow(hidden.ID)

	// A seller, even of the listing, may neither see the queue nor act.
	r := sam.get("/moderation")
	assertClearRefusal(t, r, http.StatusForbidden, "You do not have access to this page.")
	for _, tt := range []struct{ id, action string }{{l.ID, modHide}, {hidden.ID, modRestore}, {l.ID, modDismiss}} {
		r := sam.post("/moderation/listings/"+tt.id+"/"+tt.action, url.Values{"reason": {"I say so"}})
		assertClearRefusal(t, r, http.StatusForbidden, "You do not have access to this page.", tt.action)
	}
	ta.requireUnchanged(l)
	ta.requireUnchanged(hidden)
	assert.Equal(t, 1, ta.count(`SELECT COUNT(*) FROM moderation_actions`), "only the setup action")
	denied := ta.waitAuditRows("access.denied")
	assert.Equal(t, "denied", denied[0].Outcome)

	// Signed out: to the login page.
	r = ta.client().get("/moderation")
	assert.Equal(t, http.StatusSeeOther, r.Status)
	assert.Equal(t, "/login?next=%2Fmoderation", r.Location)
	r = ta.client().post("/moderation/listings/"+l.ID+"/hide", url.Values{"reason": {"drive-by"}})
	assert.Equal(t, http.StatusSeeOther, r.Status)
	ta.requireUnchanged(l)

	// A script gets JSON, not a page.
	req, _ := http.NewRequest(http.MethodGet, ta.URL+"/moderation", nil)
	req.Header.Set("Accept", "application/json")
	r = sam.do(req)
	assert.Equal(t, http.StatusForbidden, r.Status)
	assert.Contains(t, r.Header.Get("Content-Type"), "application/json")
}

func TestModeration_HideRestoreDismiss(t *testing.T) {
	t.Parallel()
	ta := newTestApp(t)
	sam, samUser := ta.userClient("sam@example.com", "Sam")
	bob, _ := ta.userClient("bob@example.com", "Bob")
	mod, modUser := ta.moderatorClient("mod@example.com")
	public := ta.client()
	l := ta.addListing(samUser.ID, "Designer handbag", 30000)
	other := ta.addListing(samUser.ID, "Garden chair", 2000)

	r := mod.get("/moderation")
	require.Equal(t, http.StatusOK, r.Status)
	assert.Contains(t, r.Body, `id="queue-empty"`)
	assert.Contains(t, r.Body, `id="nav-moderation"`, "moderators see the menu entry")
	assert.NotContains(t, sam.get("/listings").Body, `id="nav-moderation"`)

	require.Equal(t, http.StatusSeeOther, bob.post("/listings/"+l.ID+"/report", url.Values{"reason": {"Counterfeit logo"}}).Status)
	require.Equal(t, http.StatusSeeOther, bob.post("/listings/"+other.ID+"/report", url.Values{"reason": {"Wrong category"}}).Status)
	r = mod.get("/moderation")
	require.Equal(t, http.StatusOK, r.Status)
	assert.Contains(t, r.Body, `id="queue-`+l.ID+`"`)
	assert.Contains(t, r.Body, "Counterfeit logo")
	assert.Contains(t, r.Body, `action="/moderation/listings/`+l.ID+`/hide"`)

	// A reason is required, and bad requests change nothing.
	base := "/moderation/listings/" + l.ID + "/"
	tests := []struct {
		name, path, ct, body string
		status               int
		msg                  string
	}{
		{"no reason", base + "hide", "application/x-www-form-urlencoded", "", http.StatusUnprocessableEntity, "Give a reason of 3 to 500 characters"},
		{"blank reason", base + "hide", "application/x-www-form-urlencoded", "reason=+++", http.StatusUnprocessableEntity, "Give a reason"},
		{"short reason", base + "hide", "application/x-www-form-urlencoded", "reason=no", http.StatusUnprocessableEntity, "Give a reason"},
		{"long reason", base + "hide", "application/x-www-form-urlencoded", "reason=" + strings.Repeat("x", 501), http.StatusUnprocessableEntity, "Give a reason"},
		{"control characters", base + "hide", "application/x-www-form-urlencoded", "reason=spam%07%07", http.StatusUnprocessableEntity, "Give a reason"},
		{"wrong media type", base + "hide", "application/json", `{"reason":"spam"}`, http.StatusUnsupportedMediaType, "must be sent as"},
		{"oversized", base + "hide", "application/x-www-form-urlencoded", "reason=" + strings.Repeat("x", 70<<10), http.StatusRequestEntityTooLarge, "The form is too large"},
		{"unknown action", base + "delete", "application/x-www-form-urlencoded", "reason=spam+spam", http.StatusNotFound, "There is nothing here"},
		{"action case", base + "HIDE", "application/x-www-form-urlencoded", "reason=spam+spam", http.StatusNotFound, "There is nothing here"},
		{"restore a visible listing", base + "restore", "application/x-www-form-urlencoded", "reason=spam+spam", http.StatusConflict, "This listing is not hidden."},
		{"malformed ID", "/moderation/listings/abc/hide", "application/x-www-form-urlencoded", "reason=spam+spam", http.StatusNotFound, "There is nothing here"},
		{"unknown ID", "/moderation/listings/" + newID() + "/hide", "application/x-www-form-urlencoded", "reason=spam+spam", http.StatusNotFound, "There is nothing here"},
	}
	for _, tt := range tests {
		r := mod.postRaw(tt.path, tt.ct, tt.body)
		assertClearRefusal(t, r, tt.status, tt.msg, tt.name)
		ta.requireUnchanged(l, tt.name)
		assert.Equal(t, 2, ta.count(`SELECT COUNT(*) FROM reports WHERE resolved_at IS NULL`), tt.name)
		assert.Equal(t, 0, ta.count(`SELECT COUNT(*) FROM moderation_actions`), tt.name)
	}

	// Hide.
	r = mod.post(base+"hide", url.Values{"reason": {"Counterfeit goods are not allowed."}})
	require.Equal(t, http.StatusSeeOther, r.Status, r.Body)
	assert.Equal(t, "/moderation", r.Location)
	page := mod.follow(r)
	assert.Contains(t, page.Body, "The listing is hidden.")
	assert.Contains(t, page.Body, `id="hidden-`+l.ID+`"`)
	assert.NotContains(t, page.Body, `id="queue-`+l.ID+`"`)
	assert.Contains(t, page.Body, "Counterfeit goods are not allowed.", "in the recent decisions")
	got, _ := ta.listingRow(l.ID)
	assert.Equal(t, statusHidden, got.Status)
	assert.Equal(t, "Counterfeit goods are not allowed.", got.ModerationReason)
	assert.Equal(t, 0, ta.count(`SELECT COUNT(*) FROM reports WHERE listing_id = ? AND resolved_at IS NULL`, l.ID))
	assert.Equal(t, 1, ta.count(`SELECT COUNT(*) FROM reports WHERE listing_id = ? AND resolution = 'hidden' AND resolved_by = ?`, l.ID, modUser.ID))
	assert.Equal(t, http.StatusNotFound, public.get("/listings/"+l.ID).Status)
	assert.Contains(t, sam.get("/listings/"+l.ID).Body, "Counterfeit goods are not allowed.", "the seller sees why")
	rows := ta.waitAuditRows("listing.hidden")
	require.Len(t, rows, 1)
	assert.Equal(t, "moderation", rows[0].Category)
	assert.Equal(t, "success", rows[0].Outcome)
	assert.Equal(t, modUser.ID, rows[0].ActorID)
	assert.Equal(t, l.ID, rows[0].TargetID)
	assert.Equal(t, "Counterfeit goods are not allowed.", rows[0].Reason)

	r = mod.post(base+"hide", url.Values{"reason": {"again"}})
	assertClearRefusal(t, r, http.StatusConflict, "This listing is hidden already.")
	r = mod.post(base+"dismiss", url.Values{"reason": {"again"}})
	assertClearRefusal(t, r, http.StatusConflict, "no open reports, or is hidden")

	// Restore.
	r = mod.post(base+"restore", url.Values{"reason": {"Seller proved it is genuine."}})
	require.Equal(t, http.StatusSeeOther, r.Status, r.Body)
	assert.Contains(t, mod.follow(r).Body, "The listing is visible again.")
	got, _ = ta.listingRow(l.ID)
	assert.Equal(t, statusActive, got.Status)
	assert.Empty(t, got.ModerationReason)
	assert.Equal(t, http.StatusOK, public.get("/listings/"+l.ID).Status)
	rows = ta.waitAuditRows("listing.restored")
	require.Len(t, rows, 1)
	assert.Equal(t, "moderation", rows[0].Category)
	assert.Equal(t, "Seller proved it is genuine.", rows[0].Reason)

	// Dismiss the reports on the other listing: it stays online.
	r = mod.post("/moderation/listings/"+other.ID+"/dismiss", url.Values{"reason": {"It is in the right category."}})
	require.Equal(t, http.StatusSeeOther, r.Status, r.Body)
	assert.Contains(t, mod.follow(r).Body, "The reports are dismissed.")
	got, _ = ta.listingRow(other.ID)
	assert.Equal(t, statusActive, got.Status)
	assert.Equal(t, 0, ta.count(`SELECT COUNT(*) FROM reports WHERE resolved_at IS NULL`))
	rows = ta.waitAuditRows("reports.dismissed")
	require.Len(t, rows, 1)
	assert.Equal(t, "moderation", rows[0].Category)
	// Nothing left to dismiss.
	r = mod.post("/moderation/listings/"+other.ID+"/dismiss", url.Values{"reason": {"Once more."}})
	assertClearRefusal(t, r, http.StatusConflict, "no open reports")
	// After a dismissal the reporter may report again.
	require.Equal(t, http.StatusSeeOther, bob.post("/listings/"+other.ID+"/report", url.Values{"reason": {"Still wrong"}}).Status)

	assert.Equal(t, 3, ta.count(`SELECT COUNT(*) FROM moderation_actions`))
	ta.assertNoErrorsLogged()
}

// TestModeration_Admin: administrators moderate too, once past MFA.
func TestModeration_Admin(t *testing.T) {
	t.Parallel()
	ta := newTestApp(t)
	adm, _, _ := ta.adminClient("admin@example.com")
	seller := ta.createUser("sam@example.com", "Sam")
	l := ta.addListing(seller.ID, "Rare coin", 100)
	r := adm.get("/moderation")
	require.Equal(t, http.StatusOK, r.Status)
	r = adm.post("/moderation/listings/"+l.ID+"/hide", url.Values{"reason": {"Stolen property."}})
	require.Equal(t, http.StatusSeeOther, r.Status, r.Body)
	got, _ := ta.listingRow(l.ID)
	assert.Equal(t, statusHidden, got.Status)
}

// TestModeration_OwnListingRegression: a moderator could restore their own
// hidden listing, or dismiss the reports on it.
func TestModeration_OwnListingRegression(t *testing.T) {
	t.Parallel()
	ta := newTestApp(t)
	mod, modUser := ta.moderatorClient("mod@example.com")
	other, _ := ta.moderatorClient("other@example.com")
	bob, _ := ta.userClient("bob@example.com", "Bob")
	mine := ta.addListing(modUser.ID, "Moderator's own watch", 100)
	require.Equal(t, http.StatusSeeOther, bob.post("/listings/"+mine.ID+"/report", url.Values{"reason": {"Fake watch"}}).Status)

	for _, action := range []string{modDismiss, modHide} {
		r := mod.post("/moderation/listings/"+mine.ID+"/"+action, url.Values{"reason": {"Looks fine to me"}})
		assertClearRefusal(t, r, http.StatusForbidden, "You cannot moderate your own listing", action)
	}
	ta.requireUnchanged(mine)
	assert.Equal(t, 1, ta.count(`SELECT COUNT(*) FROM reports WHERE resolved_at IS NULL`))

	// Another moderator hides it; its seller cannot restore it.
	require.Equal(t, http.StatusSeeOther, other.post("/moderation/listings/"+mine.ID+"/hide", url.Values{"reason": {"Counterfeit"}}).Status)
	hidden, _ := ta.listingRow(mine.ID)
	r := mod.post("/moderation/listings/"+mine.ID+"/restore", url.Values{"reason": {"It is genuine"}})
	assertClearRefusal(t, r, http.StatusForbidden, "You cannot moderate your own listing")
	ta.requireUnchanged(hidden)
	rows := ta.waitAuditRows("listing.restored")
	require.Len(t, rows, 1)
	assert.Equal(t, "denied", rows[0].Outcome)
	assert.Equal(t, modUser.ID, rows[0].ActorID)
}
