package main

import (
	"context"
	"html"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

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

// TestModeration_EvidenceRegression: a seller could rewrite (or delete) a
// listing that had open reports or that a moderator had hid, erasing what
// the reports were about. Now such a listing cannot be changed or deleted
// until a moderator decides (then it can again), and every report and
// decision keeps the content it applied to, shown in the queue whatever
// the seller changes later. On SQLite and PostgreSQL.
func TestModeration_EvidenceRegression(t *testing.T) {
	t.Parallel()
	for name, onDB := range appDialects(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			ta := newTestApp(t, onDB)
			sam, samUser := ta.userClient("sam@example.com", "Sam")
			bob, _ := ta.userClient("bob@example.com", "Bob")
			dan, _ := ta.userClient("dan@example.com", "Dan")
			carol, _ := ta.userClient("carol@example.com", "Carol")
			mod, _ := ta.moderatorClient("mod@example.com")
			l := ta.addListing(samUser.ID, "Designer handbag", 30000)
			base, modBase := "/listings/"+l.ID, "/moderation/listings/"+l.ID
			original := content{"Designer handbag", "Description of Designer handbag", 30000}
			rewrite := listingValues("Plain bag", "Nothing to see here.", "10")

			// Reported: the seller can neither change nor delete it.
			require.Equal(t, http.StatusSeeOther, bob.post(base+"/report", url.Values{"reason": {"Counterfeit logo"}}).Status)
			ta.Clock.Add(time.Minute)
			require.Equal(t, http.StatusSeeOther, dan.post(base+"/report", url.Values{"reason": {"Fake"}}).Status)
			r := sam.get(base)
			assert.NotContains(t, r.Body, `id="edit-listing"`)
			assert.Contains(t, r.Body, `id="locked-notice"`)
			assertClearRefusal(t, sam.get(base+"/edit"), http.StatusConflict, "This listing has been reported and a moderator has yet to decide")
			assertClearRefusal(t, sam.post(base+"/edit", rewrite), http.StatusConflict, "so it cannot be changed")
			assertClearRefusal(t, sam.post(base+"/edit", listingValues("", "", "x")), http.StatusConflict, "so it cannot be changed", "a bad form too")
			assertClearRefusal(t, sam.post(base+"/delete", nil), http.StatusConflict, "so it cannot be deleted")
			ta.requireUnchanged(l)
			assert.Equal(t, 2, ta.count(`SELECT COUNT(*) FROM reports WHERE resolved_at IS NULL`))
			ta.flushAudit()
			denied := ta.waitAuditRows("listing.update")
			require.Len(t, denied, 2)
			assert.Equal(t, "denied", denied[0].Outcome)
			assert.Equal(t, "open reports", denied[0].Reason)

			// The queue shows what was reported; two reports on one
			// content share one snapshot.
			r = mod.get("/moderation")
			require.Equal(t, http.StatusOK, r.Status)
			assert.Equal(t, []content{original}, snapshotsShown(t, r.Body, "queue-"+l.ID))
			assert.Equal(t, []content{original, original}, ta.reportEvidence(l.ID))
			assert.Equal(t, 1, ta.count(`SELECT COUNT(*) FROM listing_snapshots`))

			// Dismissed: the seller may change it again, and the reports
			// and the decision keep what it said before.
			require.Equal(t, http.StatusSeeOther, mod.post(modBase+"/dismiss", url.Values{"reason": {"Genuine, receipt seen."}}).Status)
			ta.Clock.Add(time.Minute)
			require.Equal(t, http.StatusSeeOther, sam.post(base+"/edit", rewrite).Status)
			got, _ := ta.listingRow(l.ID)
			require.Equal(t, "Plain bag", got.Title)
			assert.Equal(t, []content{original, original}, ta.reportEvidence(l.ID), "the content at report time, after the edit")
			r = mod.get("/moderation")
			assert.Equal(t, []content{original}, snapshotsShown(t, r.Body, "recent-decisions"), "the dismissed content, not the new one")
			assert.Equal(t, 1, ta.count(`SELECT COUNT(*) FROM listing_snapshots`), "the decision shares the reports' snapshot")

			// Reported again and hidden: the new content is recorded, and
			// the seller can neither change nor delete it.
			require.Equal(t, http.StatusSeeOther, carol.post(base+"/report", url.Values{"reason": {"Still counterfeit"}}).Status)
			ta.Clock.Add(time.Minute)
			rewritten := content{"Plain bag", "Nothing to see here.", 1000}
			assert.Equal(t, []content{rewritten}, snapshotsShown(t, mod.get("/moderation").Body, "queue-"+l.ID))
			require.Equal(t, http.StatusSeeOther, mod.post(modBase+"/hide", url.Values{"reason": {"Counterfeit goods."}}).Status)
			ta.Clock.Add(time.Minute)
			hidden, _ := ta.listingRow(l.ID)
			assertClearRefusal(t, sam.get(base+"/edit"), http.StatusConflict, "A moderator has hidden this listing, so it cannot be changed")
			assertClearRefusal(t, sam.post(base+"/edit", listingValues("Nice bag", "Honest.", "5")), http.StatusConflict, "A moderator has hidden this listing, so it cannot be changed")
			assertClearRefusal(t, sam.post(base+"/delete", nil), http.StatusConflict, "A moderator has hidden this listing, so it cannot be deleted")
			ta.requireUnchanged(hidden)
			assert.Contains(t, sam.get(base).Body, `id="locked-notice"`)
			r = mod.get("/moderation")
			assert.Equal(t, []content{rewritten}, snapshotsShown(t, r.Body, "hidden-"+l.ID))
			assert.Equal(t, []content{rewritten, original}, snapshotsShown(t, r.Body, "recent-decisions"), "newest first")

			// Restored: the seller may change it again; the evidence stays.
			require.Equal(t, http.StatusSeeOther, mod.post(modBase+"/restore", url.Values{"reason": {"Seller proved it genuine."}}).Status)
			require.Equal(t, http.StatusSeeOther, sam.post(base+"/edit", listingValues("Nice bag", "Honest.", "5")).Status)
			assert.Equal(t, []content{original, original, rewritten}, ta.reportEvidence(l.ID))
			assert.Equal(t, []content{rewritten, rewritten, original}, snapshotsShown(t, mod.get("/moderation").Body, "recent-decisions"))

			// Once the moderators are done, the seller may delete it.
			require.Equal(t, http.StatusSeeOther, sam.post(base+"/delete", nil).Status)
			_, ok := ta.listingRow(l.ID)
			assert.False(t, ok)
			ta.assertNoErrorsLogged()
		})
	}
}

// content is a listing's content as the evidence tests compare it.
type content struct {
	Title, Description string
	PriceCents         int64
}

// reportEvidence returns the content recorded with each report on the
// listing, oldest first.
func (ta *testApp) reportEvidence(listingID string) []content {
	ta.t.Helper()
	rows, err := ta.db.query(context.Background(), `SELECT s.title, s.description, s.price_cents FROM reports r
		JOIN listing_snapshots s ON s.id = r.snapshot_id WHERE r.listing_id = ? ORDER BY r.created_at, r.id`, listingID)
	require.NoError(ta.t, err)
	defer rows.Close()
	var out []content
	for rows.Next() {
		var c content
		require.NoError(ta.t, rows.Scan(&c.Title, &c.Description, &c.PriceCents))
		out = append(out, c)
	}
	require.NoError(ta.t, rows.Err())
	assert.Equal(ta.t, len(out), ta.count(`SELECT COUNT(*) FROM reports WHERE listing_id = ?`, listingID), "every report has its snapshot")
	return out
}

var (
	snapshotRE = regexp.MustCompile(`(?s)<div class="snapshot" data-snapshot="[0-9a-f]{24}"><p><strong class="snapshot-title">([^<]*)</strong> · <span class="snapshot-price">([0-9.]+)</span>.*?<div class="description snapshot-description">([^<]*)</div></div>`)
	sectionRE  = regexp.MustCompile(`(?s)<(article|table)[^>]* id="([^"]+)"[^>]*>(.*?)</(article|table)>`)
)

// snapshotsShown returns the snapshots the moderation page shows in the
// element with the given id, in page order.
func snapshotsShown(t *testing.T, body, id string) []content {
	t.Helper()
	for _, m := range sectionRE.FindAllStringSubmatch(body, -1) {
		if m[2] != id {
			continue
		}
		var out []content
		for _, s := range snapshotRE.FindAllStringSubmatch(m[3], -1) {
			cents, err := parsePrice(s[2])
			require.NoError(t, err)
			out = append(out, content{html.UnescapeString(s[1]), html.UnescapeString(s[3]), cents})
		}
		return out
	}
	t.Fatalf("no element with id %q in the page:\n%s", id, body)
	return nil
}
