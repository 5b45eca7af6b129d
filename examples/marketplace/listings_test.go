package main

import (
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var listingPathRE = regexp.MustCompile(`^/listings/([0-9a-f]{24})$`)

func listingValues(title, desc, price string) url.Values {
	return url.Values{"title": {title}, "description": {desc}, "price": {price}}
}

func TestListings_SellerLifecycle(t *testing.T) {
	t.Parallel()
	ta := newTestApp(t)
	sam, samUser := ta.userClient("sam@example.com", "Sam Seller")
	public := ta.client()

	r := sam.get("/listings/new")
	require.Equal(t, http.StatusOK, r.Status)
	assert.Contains(t, r.Body, `id="listing-form"`)
	assert.Contains(t, r.Body, `action="/listings"`)

	// Create.
	r = sam.post("/listings", listingValues("  Brass desk lamp ", "Works.\r\nBulb included.", "12.5"))
	require.Equal(t, http.StatusSeeOther, r.Status, r.Body)
	m := listingPathRE.FindStringSubmatch(r.Location)
	require.Len(t, m, 2, r.Location)
	id := m[1]
	page := sam.follow(r)
	assert.Contains(t, page.Body, "Your listing is online.")
	assert.Contains(t, page.Body, `id="listing-price">12.50<`)
	assert.Contains(t, page.Body, `id="edit-listing"`)
	assert.NotContains(t, page.Body, `id="report-form"`, "sellers cannot report their own listing")
	l, ok := ta.listingRow(id)
	require.True(t, ok)
	assert.Equal(t, "Brass desk lamp", l.Title, "trimmed")
	assert.Equal(t, "Works.\nBulb included.", l.Description, "line ends normalised")
	assert.Equal(t, int64(1250), l.PriceCents)
	assert.Equal(t, samUser.ID, l.SellerID)
	assert.Equal(t, statusActive, l.Status)

	// Everyone browses: the home page, the list, search, the listing page.
	for _, path := range []string{"/", "/listings", "/listings?q=brass", "/listings?q=LAMP+desk", "/listings/" + id} {
		r := public.get(path)
		require.Equal(t, http.StatusOK, r.Status, path)
		assert.Contains(t, r.Body, "Brass desk lamp", path)
	}
	r = public.get("/listings/" + id)
	assert.NotContains(t, r.Body, `id="edit-listing"`)
	assert.NotContains(t, r.Body, `id="report-form"`, "signed out: no report form")
	assert.NotContains(t, public.get("/listings?q=bicycle").Body, "Brass desk lamp")
	r = sam.get("/my/listings")
	require.Equal(t, http.StatusOK, r.Status)
	assert.Contains(t, r.Body, "Brass desk lamp")
	assert.Contains(t, r.Body, "online")

	// Edit.
	r = sam.get("/listings/" + id + "/edit")
	require.Equal(t, http.StatusOK, r.Status)
	assert.Contains(t, r.Body, `value="Brass desk lamp"`)
	assert.Contains(t, r.Body, `value="12.50"`)
	assert.Contains(t, r.Body, `action="/listings/`+id+`/edit"`)
	r = sam.post("/listings/"+id+"/edit", listingValues("Brass desk lamp, green shade", "Works.", "10"))
	require.Equal(t, http.StatusSeeOther, r.Status, r.Body)
	assert.Equal(t, "/listings/"+id, r.Location)
	assert.Contains(t, sam.follow(r).Body, "Your listing is updated.")
	l, _ = ta.listingRow(id)
	assert.Equal(t, "Brass desk lamp, green shade", l.Title)
	assert.Equal(t, int64(1000), l.PriceCents)

	// Delete.
	r = sam.post("/listings/"+id+"/delete", nil)
	require.Equal(t, http.StatusSeeOther, r.Status, r.Body)
	assert.Equal(t, "/my/listings", r.Location)
	assert.Contains(t, sam.follow(r).Body, "Your listing is deleted.")
	_, ok = ta.listingRow(id)
	assert.False(t, ok)
	assertClearRefusal(t, public.get("/listings/"+id), http.StatusNotFound, "There is nothing here")
	assert.Equal(t, http.StatusNotFound, sam.post("/listings/"+id+"/delete", nil).Status, "deleting twice")
	for _, action := range []string{"listing.created", "listing.updated", "listing.deleted"} {
		rows := ta.waitAuditRows(action)
		require.Len(t, rows, 1, action)
		assert.Equal(t, samUser.ID, rows[0].ActorID, action)
		assert.Equal(t, id, rows[0].TargetID, action)
	}
}

func TestListings_SignedOut(t *testing.T) {
	t.Parallel()
	ta := newTestApp(t)
	owner := ta.createUser("sam@example.com", "Sam")
	l := ta.addListing(owner.ID, "Kettle", 900)
	c := ta.client()
	for _, path := range []string{"/listings/new", "/my/listings", "/listings/" + l.ID + "/edit"} {
		r := c.get(path)
		assert.Equal(t, http.StatusSeeOther, r.Status, path)
		assert.Equal(t, "/login?next="+url.QueryEscape(path), r.Location, path)
	}
	for _, path := range []string{"/listings", "/listings/" + l.ID + "/edit", "/listings/" + l.ID + "/delete", "/listings/" + l.ID + "/report"} {
		r := c.post(path, listingValues("Mine now", "Stolen", "1"))
		assert.Equal(t, http.StatusSeeOther, r.Status, path)
		assert.True(t, strings.HasPrefix(r.Location, "/login"), path)
	}
	ta.requireUnchanged(l)
	assert.Equal(t, 1, ta.count(`SELECT COUNT(*) FROM listings`))
	assert.Equal(t, 0, ta.count(`SELECT COUNT(*) FROM reports`))
}

// TestListings_BadInput: every malformed form is refused with a 4xx and a
// message saying what to fix, and nothing is stored or changed.
func TestListings_BadInput(t *testing.T) {
	t.Parallel()
	ta := newTestApp(t)
	sam, samUser := ta.userClient("sam@example.com", "Sam")
	mine := ta.addListing(samUser.ID, "Original title", 500)

	const form = "application/x-www-form-urlencoded"
	long := func(n int) string { return strings.Repeat("a", n) }
	tests := []struct {
		name   string
		ct     string
		body   string
		status int
		msg    string
	}{
		{"empty form", form, "", http.StatusUnprocessableEntity, "Fill in the title, the description and the price."},
		{"missing title", form, "description=x&price=1", http.StatusUnprocessableEntity, "Fill in the title"},
		{"blank title", form, "title=+++&description=x&price=1", http.StatusUnprocessableEntity, "Fill in the title"},
		{"missing description", form, "title=Lamp&price=1", http.StatusUnprocessableEntity, "Fill in the title, the description"},
		{"missing price", form, "title=Lamp&description=x", http.StatusUnprocessableEntity, "and the price"},
		{"title too short", form, "title=ab&description=x&price=1", http.StatusUnprocessableEntity, "The title must be 3 to 100 characters"},
		{"title too long", form, "title=" + long(101) + "&description=x&price=1", http.StatusUnprocessableEntity, "The title must be 3 to 100 characters"},
		{"title on two lines", form, "title=Lamp%0Aand+more&description=x&price=1", http.StatusUnprocessableEntity, "on one line"},
		{"title with a NUL", form, "title=Lamp%00&description=x&price=1", http.StatusUnprocessableEntity, "The title must be"},
		{"title invalid UTF-8", form, "title=Lamp%FF%FE&description=x&price=1", http.StatusUnprocessableEntity, "The title must be"},
		{"description too long", form, "title=Lamp&description=" + long(5001) + "&price=1", http.StatusUnprocessableEntity, "at most 5000 characters"},
		{"description with escape codes", form, "title=Lamp&description=a%1B%5B2Jb&price=1", http.StatusUnprocessableEntity, "without control characters"},
		{"price not a number", form, "title=Lamp&description=x&price=abc", http.StatusUnprocessableEntity, "The price must be a number like 12 or 12.50"},
		{"price negative", form, "title=Lamp&description=x&price=-5", http.StatusUnprocessableEntity, "The price must be a number"},
		{"price with a plus", form, "title=Lamp&description=x&price=%2B5", http.StatusUnprocessableEntity, "The price must be a number"},
		{"price exponent", form, "title=Lamp&description=x&price=1e3", http.StatusUnprocessableEntity, "The price must be a number"},
		{"price three decimals", form, "title=Lamp&description=x&price=1.005", http.StatusUnprocessableEntity, "The price must be a number"},
		{"price trailing dot", form, "title=Lamp&description=x&price=5.", http.StatusUnprocessableEntity, "The price must be a number"},
		{"price thousands separator", form, "title=Lamp&description=x&price=1%2C000", http.StatusUnprocessableEntity, "The price must be a number"},
		{"price too high", form, "title=Lamp&description=x&price=1000000.01", http.StatusUnprocessableEntity, "from 0 to 1000000"},
		{"price overflow", form, "title=Lamp&description=x&price=99999999999999999999", http.StatusUnprocessableEntity, "The price must be a number"},
		{"price NaN", form, "title=Lamp&description=x&price=NaN", http.StatusUnprocessableEntity, "The price must be a number"},
		{"price Unicode digits", form, "title=Lamp&description=x&price=%D9%A1%D9%A2", http.StatusUnprocessableEntity, "The price must be a number"},
		{"oversized body", form, "title=Lamp&description=" + long(70<<10) + "&price=1", http.StatusRequestEntityTooLarge, "The form is too large"},
		{"JSON body", "application/json", `{"title":"Lamp","description":"x","price":1}`, http.StatusUnsupportedMediaType, "must be sent as application/x-www-form-urlencoded"},
		{"multipart body", "multipart/form-data; boundary=x", "--x\r\n", http.StatusUnsupportedMediaType, "must be sent as application/x-www-form-urlencoded"},
		{"no content type", "", "title=Lamp&description=x&price=1", http.StatusUnsupportedMediaType, "must be sent as"},
		{"malformed encoding", form, "title=%zz&description=x&price=1", http.StatusBadRequest, "The form could not be read"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, path := range []string{"/listings", "/listings/" + mine.ID + "/edit"} {
				r := sam.postRaw(path, tt.ct, tt.body)
				assertClearRefusal(t, r, tt.status, tt.msg, path)
				assert.Equal(t, 1, ta.count(`SELECT COUNT(*) FROM listings`), "nothing created")
				ta.requireUnchanged(mine, path)
			}
		})
	}

	// The form comes back with what was typed, so it can be corrected.
	r := sam.post("/listings", listingValues("Lamp <b>", "A fine lamp", "abc"))
	assert.Contains(t, r.Body, `value="Lamp &lt;b&gt;"`)
	assert.Contains(t, r.Body, "A fine lamp")
	assert.NotContains(t, r.Body, "<b>")

	// Edge prices that are fine.
	for price, cents := range map[string]int64{"0": 0, "0.5": 50, "7": 700, "1000000": 100_000_000, " 3.25 ": 325, "0012": 1200} {
		r := sam.post("/listings", listingValues("Price "+price, "x", price))
		require.Equal(t, http.StatusSeeOther, r.Status, "%q: %s", price, r.Body)
		l, ok := ta.listingRow(listingPathRE.FindStringSubmatch(r.Location)[1])
		require.True(t, ok)
		assert.Equal(t, cents, l.PriceCents, price)
	}
}

// TestListings_ForgedIDs: nobody can see the edit form of, change, delete
// or report with another user's listing IDs; malformed IDs never reach the
// database; the row stays exactly as it was.
func TestListings_ForgedIDs(t *testing.T) {
	t.Parallel()
	ta := newTestApp(t)
	sam := ta.createUser("sam@example.com", "Sam")
	mallory, malloryUser := ta.userClient("mallory@example.com", "Mallory")
	l := ta.addListing(sam.ID, "Sam's bicycle", 15000)
	good := listingValues("Mallory's bicycle now", "mine", "1")

	r := mallory.get("/listings/" + l.ID + "/edit")
	assertClearRefusal(t, r, http.StatusForbidden, "Only the seller can change this listing.")
	assert.NotContains(t, r.Body, `id="listing-form"`)
	r = mallory.post("/listings/"+l.ID+"/edit", good)
	assertClearRefusal(t, r, http.StatusForbidden, "Only the seller can change this listing.")
	// A bad form to someone else's listing: refused as not theirs, not
	// as a form to fix.
	r = mallory.post("/listings/"+l.ID+"/edit", listingValues("", "", "abc"))
	assertClearRefusal(t, r, http.StatusForbidden, "Only the seller can change this listing.")
	r = mallory.post("/listings/"+l.ID+"/delete", nil)
	assertClearRefusal(t, r, http.StatusForbidden, "Only the seller can change this listing.")
	ta.requireUnchanged(l)
	denied := ta.waitAuditRows("listing.update")
	require.NotEmpty(t, denied)
	assert.Equal(t, "denied", denied[0].Outcome)
	assert.Equal(t, malloryUser.ID, denied[0].ActorID)
	assert.Equal(t, l.ID, denied[0].TargetID)
	ta.waitAudit("listing.delete")
	ta.waitAudit("listing.edit")

	// IDs that do not exist, or are not IDs at all.
	for _, id := range []string{newID(), "1", "abc", strings.ToUpper(l.ID), l.ID + "0", "%27%20OR%201%3D1", "..%2F" + l.ID, strings.Repeat("9", 4000)} {
		for _, req := range []struct{ method, path string }{
			{http.MethodGet, "/listings/" + id},
			{http.MethodGet, "/listings/" + id + "/edit"},
			{http.MethodPost, "/listings/" + id + "/edit"},
			{http.MethodPost, "/listings/" + id + "/delete"},
			{http.MethodPost, "/listings/" + id + "/report"},
		} {
			var r resp
			if req.method == http.MethodGet {
				r = mallory.get(req.path)
			} else {
				r = mallory.post(req.path, url.Values{"title": {"Lamp"}, "description": {"x"}, "price": {"1"}, "reason": {"a reason"}})
			}
			assertClearRefusal(t, r, http.StatusNotFound, "There is nothing here", req.method+" "+req.path)
		}
	}
	// A bad report on a listing that does not exist: 404, not a form to fix.
	assertClearRefusal(t, mallory.post("/listings/"+newID()+"/report", url.Values{"reason": {""}}), http.StatusNotFound, "There is nothing here")
	ta.requireUnchanged(l)
	assert.Equal(t, 1, ta.count(`SELECT COUNT(*) FROM listings`))
	assert.Equal(t, 0, ta.count(`SELECT COUNT(*) FROM reports`))
	ta.assertNoErrorsLogged()
}

func TestListings_Report(t *testing.T) {
	t.Parallel()
	ta := newTestApp(t)
	sam, samUser := ta.userClient("sam@example.com", "Sam")
	bob, bobUser := ta.userClient("bob@example.com", "Bob")
	l := ta.addListing(samUser.ID, "Suspicious watch", 5000)

	r := bob.get("/listings/" + l.ID)
	require.Equal(t, http.StatusOK, r.Status)
	assert.Contains(t, r.Body, `id="report-form"`)

	tests := []struct {
		name   string
		c      *client
		reason string
		status int
		msg    string
	}{
		{"no reason", bob, "", http.StatusUnprocessableEntity, "Say in 3 to 1000 characters what is wrong"},
		{"too short", bob, "no", http.StatusUnprocessableEntity, "Say in 3 to 1000 characters"},
		{"too long", bob, strings.Repeat("x", 1001), http.StatusUnprocessableEntity, "Say in 3 to 1000 characters"},
		{"control characters", bob, "fake\x00watch", http.StatusUnprocessableEntity, "Say in 3 to 1000 characters"},
		{"own listing", sam, "I regret it", http.StatusUnprocessableEntity, "You cannot report your own listing"},
	}
	for _, tt := range tests {
		r := tt.c.post("/listings/"+l.ID+"/report", url.Values{"reason": {tt.reason}})
		assertClearRefusal(t, r, tt.status, tt.msg, tt.name)
		assert.Equal(t, 0, ta.count(`SELECT COUNT(*) FROM reports`), tt.name)
	}
	assertClearRefusal(t, bob.postRaw("/listings/"+l.ID+"/report", "text/plain", "reason=fake"), http.StatusUnsupportedMediaType, "must be sent as")

	r = bob.post("/listings/"+l.ID+"/report", url.Values{"reason": {"Looks like a counterfeit."}})
	require.Equal(t, http.StatusSeeOther, r.Status, r.Body)
	assert.Equal(t, "/listings/"+l.ID, r.Location)
	assert.Contains(t, bob.follow(r).Body, "a moderator will look at this listing")
	assert.Equal(t, 1, ta.count(`SELECT COUNT(*) FROM reports WHERE listing_id = ? AND reporter_id = ? AND resolved_at IS NULL`, l.ID, bobUser.ID))
	rows := ta.waitAuditRows("listing.reported")
	require.Len(t, rows, 1)
	assert.Equal(t, "moderation", rows[0].Category)
	assert.Equal(t, bobUser.ID, rows[0].ActorID)
	assert.Equal(t, l.ID, rows[0].TargetID)

	// Once per reporter while the report is open.
	r = bob.post("/listings/"+l.ID+"/report", url.Values{"reason": {"Again!"}})
	assertClearRefusal(t, r, http.StatusConflict, "You have reported this listing already")
	assert.Equal(t, 1, ta.count(`SELECT COUNT(*) FROM reports`))
	// Another user may report it too.
	carol, _ := ta.userClient("carol@example.com", "Carol")
	long := strings.Repeat("Same here.\r\n", 83) // 996 characters, the longest kind of reason
	require.Equal(t, http.StatusSeeOther, carol.post("/listings/"+l.ID+"/report", url.Values{"reason": {long}}).Status)
	assert.Equal(t, 2, ta.count(`SELECT COUNT(*) FROM reports`))
	ta.requireUnchanged(l, "reporting changes nothing on the listing")
	require.Eventually(t, func() bool {
		return ta.count(`SELECT COUNT(*) FROM audit_events WHERE action = 'listing.reported'`) == 2
	}, 10*time.Second, 5*time.Millisecond, "the long reason is audited too")

	// Hidden listings cannot be reported.
	_, err := ta.db.moderate(t.Context(), l.ID, "mod", modHide, "counterfeit")
	require.NoError(t, err)
	dave, _ := ta.userClient("dave@example.com", "Dave")
	r = dave.post("/listings/"+l.ID+"/report", url.Values{"reason": {"Still there?"}})
	assertClearRefusal(t, r, http.StatusNotFound, "There is nothing here")
	assert.Equal(t, 0, ta.count(`SELECT COUNT(*) FROM reports WHERE resolved_at IS NULL`))
	ta.assertNoErrorsLogged()
}

func TestListings_HiddenVisibility(t *testing.T) {
	t.Parallel()
	ta := newTestApp(t)
	sam, samUser := ta.userClient("sam@example.com", "Sam")
	bob, _ := ta.userClient("bob@example.com", "Bob")
	mod, _ := ta.moderatorClient("mod@example.com")
	public := ta.client()
	hidden := ta.addListing(samUser.ID, "Hidden counterfeit", 100)
	ta.addListing(samUser.ID, "Visible teapot", 100)
	_, err := ta.db.moderate(t.Context(), hidden.ID, "mod", modHide, "Counterfeit goods")
	require.NoError(t, err)

	for _, c := range []*client{public, bob} {
		for _, path := range []string{"/", "/listings", "/listings?q=counterfeit"} {
			r := c.get(path)
			require.Equal(t, http.StatusOK, r.Status, path)
			assert.NotContains(t, r.Body, "Hidden counterfeit", path)
		}
		assert.Contains(t, c.get("/listings").Body, "Visible teapot")
		assertClearRefusal(t, c.get("/listings/"+hidden.ID), http.StatusNotFound, "There is nothing here")
	}
	// The seller and moderators still see it, with the reason.
	for _, c := range []*client{sam, mod} {
		r := c.get("/listings/" + hidden.ID)
		require.Equal(t, http.StatusOK, r.Status)
		assert.Contains(t, r.Body, `id="hidden-notice"`)
		assert.Contains(t, r.Body, "Counterfeit goods")
		assert.NotContains(t, r.Body, `id="report-form"`)
	}
	r := sam.get("/my/listings")
	assert.Contains(t, r.Body, "Hidden counterfeit")
	assert.Contains(t, r.Body, "hidden by a moderator: Counterfeit goods")

	// The seller cannot delete it to erase the moderation record.
	before, ok := ta.listingRow(hidden.ID)
	require.True(t, ok)
	assertClearRefusal(t, sam.post("/listings/"+hidden.ID+"/delete", url.Values{}), http.StatusConflict, "cannot be deleted")
	ta.requireUnchanged(before)
	_, err = ta.db.moderate(t.Context(), hidden.ID, "mod", modRestore, "Receipt provided")
	require.NoError(t, err)
	assert.Equal(t, http.StatusSeeOther, sam.post("/listings/"+hidden.ID+"/delete", url.Values{}).Status, "restored: the seller may delete it")
	_, ok = ta.listingRow(hidden.ID)
	assert.False(t, ok)
}

func TestListings_BrowsePaging(t *testing.T) {
	t.Parallel()
	ta := newTestApp(t)
	sam := ta.createUser("sam@example.com", "Sam")
	for i := range 25 {
		ta.addListing(sam.ID, fmt.Sprintf("Item %02d", i), int64(i*100))
	}
	ta.addListing(sam.ID, "100% wool_scarf", 100)
	c := ta.client()

	r := c.get("/listings")
	require.Equal(t, http.StatusOK, r.Status)
	assert.Equal(t, pageSize, strings.Count(r.Body, `class="listing-link"`))
	assert.Contains(t, r.Body, `href="/listings?page=2"`)
	assert.NotContains(t, r.Body, `rel="prev"`)
	r = c.get("/listings?page=2")
	require.Equal(t, http.StatusOK, r.Status)
	assert.Equal(t, 6, strings.Count(r.Body, `class="listing-link"`))
	assert.Contains(t, r.Body, `href="/listings?page=1"`)
	assert.NotContains(t, r.Body, `rel="next"`)
	r = c.get("/listings?page=3")
	require.Equal(t, http.StatusOK, r.Status)
	assert.Contains(t, r.Body, `id="no-listings"`)
	// Search links keep the query.
	r = c.get("/listings?q=item")
	assert.Contains(t, r.Body, `href="/listings?page=2&amp;q=item"`)
	// LIKE wildcards are matched literally.
	r = c.get("/listings?q=" + url.QueryEscape("100%"))
	assert.Equal(t, 1, strings.Count(r.Body, `class="listing-link"`))
	r = c.get("/listings?q=" + url.QueryEscape("l_scarf"))
	assert.Equal(t, 1, strings.Count(r.Body, `class="listing-link"`))
	r = c.get("/listings?q=" + url.QueryEscape("_"))
	assert.Equal(t, 1, strings.Count(r.Body, `class="listing-link"`))
	r = c.get("/listings?q=" + url.QueryEscape("%"))
	assert.Equal(t, 1, strings.Count(r.Body, `class="listing-link"`))

	for _, q := range []string{"page=0", "page=-1", "page=abc", "page=1.5", "page=501", "page=99999999999999999999", "q=" + strings.Repeat("x", 101), "q=a%0Ab", "q=%FF"} {
		r := c.get("/listings?" + q)
		assert.Equal(t, http.StatusBadRequest, r.Status, q)
		assert.NotEmpty(t, errorText(r.Body), q)
		assertNoInternals(t, r, q)
	}
	assert.Contains(t, c.get("/listings?page=abc").Body, "The page must be a number from 1 to 500.")
	assert.Contains(t, c.get("/listings?q="+strings.Repeat("x", 101)).Body, "Search for at most 100 characters")
}

func TestParsePrice(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   string
		want int64
		ok   bool
	}{
		{"0", 0, true}, {"12", 1200, true}, {"12.5", 1250, true}, {"12.50", 1250, true}, {"0.01", 1, true},
		{"1000000", 100_000_000, true}, {"1000000.00", 100_000_000, true},
		{"", 0, false}, {".5", 0, false}, {"5.", 0, false}, {"-1", 0, false}, {"+1", 0, false}, {"1e2", 0, false},
		{"1.234", 0, false}, {"1,5", 0, false}, {"1 000", 0, false}, {"0x10", 0, false}, {"1000000.01", 0, false},
		{"12345678", 0, false}, {"１２", 0, false}, {"1..2", 0, false}, {"1.2.3", 0, false},
	}
	for _, tt := range tests {
		got, err := parsePrice(tt.in)
		if tt.ok {
			assert.NoError(t, err, tt.in)
			assert.Equal(t, tt.want, got, tt.in)
		} else {
			assert.Error(t, err, tt.in)
		}
	}
}

func FuzzParsePrice(f *testing.F) {
	for _, s := range []string{"12.50", "-1", "1e3", "1000000.01", "0.5", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		c, err := parsePrice(s)
		if err != nil {
			return
		}
		if c < 0 || c > maxPriceCents {
			t.Fatalf("parsePrice(%q) = %d, out of range", s, c)
		}
		// What is stored reads back as the same amount.
		back, err := parsePrice(formatCents(c))
		if err != nil || back != c {
			t.Fatalf("parsePrice(%q) = %d, formats as %q, which reads back as %d, %v", s, c, formatCents(c), back, err)
		}
	})
}
