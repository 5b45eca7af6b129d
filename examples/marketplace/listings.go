package main

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/deployedworks/rampart/audit"
)

// Listing limits.
const (
	maxTitle       = 100
	maxDescription = 5000
	maxPriceCents  = 100_000_000 // 1,000,000.00
	pageSize       = 20
	maxPage        = 500
)

// formatCents formats an amount in cents as "12.50".
func formatCents(c int64) string {
	return fmt.Sprintf("%d.%02d", c/100, c%100)
}

// parsePrice reads a price such as "12", "12.5" or "12.50" into cents.
// It accepts no sign, no exponent, no thousands separators and at most
// two decimals, so that what is stored is exactly what the seller typed.
func parsePrice(s string) (int64, error) {
	s = strings.TrimSpace(s)
	whole, frac, hasDot := strings.Cut(s, ".")
	if whole == "" || len(whole) > 7 || (hasDot && (frac == "" || len(frac) > 2)) {
		return 0, errors.New("bad price")
	}
	for _, part := range []string{whole, frac} {
		for i := 0; i < len(part); i++ {
			if part[i] < '0' || part[i] > '9' {
				return 0, errors.New("bad price")
			}
		}
	}
	w, err := strconv.ParseInt(whole, 10, 64)
	if err != nil {
		return 0, err
	}
	var f int64
	if frac != "" {
		if len(frac) == 1 {
			frac += "0"
		}
		f, _ = strconv.ParseInt(frac, 10, 64)
	}
	c := w*100 + f
	if c > maxPriceCents {
		return 0, errors.New("price too high")
	}
	return c, nil
}

// listingForm is the listing form as typed.
type listingForm struct {
	ID, Title, Description, Price string
}

// checkListing validates the form and returns the listing fields or a
// message for the user.
func checkListing(f url.Values) (listingForm, listing, string) {
	lf := listingForm{Title: f.Get("title"), Description: f.Get("description"), Price: f.Get("price")}
	title, titleOK := textOK(lf.Title, 3, maxTitle, false)
	desc, descOK := textOK(lf.Description, 1, maxDescription, true)
	lf.Title, lf.Description = title, desc
	switch {
	case title == "" || desc == "" || strings.TrimSpace(lf.Price) == "":
		return lf, listing{}, "Fill in the title, the description and the price."
	case !titleOK:
		return lf, listing{}, fmt.Sprintf("The title must be 3 to %d characters, on one line.", maxTitle)
	case !descOK:
		return lf, listing{}, fmt.Sprintf("The description must be at most %d characters, without control characters.", maxDescription)
	}
	cents, err := parsePrice(lf.Price)
	if err != nil {
		return lf, listing{}, "The price must be a number like 12 or 12.50, from 0 to 1000000."
	}
	return lf, listing{Title: title, Description: desc, PriceCents: cents}, ""
}

// browsePage is the data of the listing list pages.
type browsePage struct {
	Query    string
	Listings []listing
	Page     int
	PrevURL  string
	NextURL  string
}

func (a *App) home(w http.ResponseWriter, r *http.Request) {
	ls, err := a.db.listListings(r.Context(), listingFilter{Status: statusActive, Limit: 12})
	if err != nil {
		a.serverError(w, r, err)
		return
	}
	a.render(w, r, http.StatusOK, "home", page{Title: "Home", Data: browsePage{Listings: ls}})
}

func (a *App) browse(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	query, ok := textOK(q.Get("q"), 0, 100, false)
	if !ok {
		a.fail(w, r, http.StatusBadRequest, "Search for at most 100 characters, on one line.")
		return
	}
	n := 1
	if p := q.Get("page"); p != "" {
		v, err := strconv.Atoi(p)
		if err != nil || v < 1 || v > maxPage {
			a.fail(w, r, http.StatusBadRequest, fmt.Sprintf("The page must be a number from 1 to %d.", maxPage))
			return
		}
		n = v
	}
	ls, err := a.db.listListings(r.Context(), listingFilter{Status: statusActive, Query: query, Offset: (n - 1) * pageSize, Limit: pageSize + 1})
	if err != nil {
		a.serverError(w, r, err)
		return
	}
	bp := browsePage{Query: query, Page: n}
	link := func(p int) string {
		v := url.Values{"page": {strconv.Itoa(p)}}
		if query != "" {
			v.Set("q", query)
		}
		return "/listings?" + v.Encode()
	}
	if len(ls) > pageSize {
		ls, bp.NextURL = ls[:pageSize], link(n+1)
	}
	if n > 1 {
		bp.PrevURL = link(n - 1)
	}
	bp.Listings = ls
	a.render(w, r, http.StatusOK, "browse", page{Title: "Browse listings", Data: bp})
}

// showPage is the data of a listing's page.
type showPage struct {
	Listing   listing
	Owner     bool
	CanReport bool
	Moderator bool
	Reported  bool // has open reports: the seller may not change it (shown to the seller only)
}

func (a *App) showListing(w http.ResponseWriter, r *http.Request) {
	l, ok := a.pathListing(w, r)
	if !ok {
		return
	}
	uid, roles, signed := a.signedIn(r)
	sp := showPage{Listing: l, Owner: signed && uid == l.SellerID,
		Moderator: signed && (slices.Contains(roles, roleModerator) || slices.Contains(roles, roleAdmin))}
	sp.CanReport = signed && !sp.Owner && !l.Hidden()
	if l.Hidden() && !sp.Owner && !sp.Moderator {
		a.notFound(w, r) // hidden listings are gone for everyone else
		return
	}
	if sp.Owner && !l.Hidden() {
		switch err := a.db.checkEditable(r.Context(), l); {
		case errors.Is(err, errOpenReports):
			sp.Reported = true
		case err != nil:
			a.serverError(w, r, err)
			return
		}
	}
	a.render(w, r, http.StatusOK, "listing", page{Title: l.Title, Data: sp})
}

func (a *App) myListings(w http.ResponseWriter, r *http.Request) {
	ls, err := a.db.listListings(r.Context(), listingFilter{SellerID: currentUser(r), Limit: 1000})
	if err != nil {
		a.serverError(w, r, err)
		return
	}
	a.render(w, r, http.StatusOK, "my_listings", page{Title: "My listings", Data: ls})
}

func (a *App) newListingForm(w http.ResponseWriter, r *http.Request) {
	a.render(w, r, http.StatusOK, "listing_form", page{Title: "Sell something", Data: listingForm{}})
}

func (a *App) createListing(w http.ResponseWriter, r *http.Request) {
	if !a.parseForm(w, r) {
		return
	}
	lf, l, msg := checkListing(r.PostForm)
	if msg != "" {
		a.render(w, r, http.StatusUnprocessableEntity, "listing_form", page{Title: "Sell something", Error: msg, Data: lf})
		return
	}
	l.SellerID = currentUser(r)
	l, err := a.db.createListing(r.Context(), l)
	if err != nil {
		a.serverError(w, r, err)
		return
	}
	a.logAudit(r, audit.Event{Category: "marketplace", Action: ActionListingCreated, Outcome: audit.OutcomeSuccess,
		Target: audit.Target{Kind: "listing", ID: l.ID}})
	a.flash(r, "Your listing is online.")
	redirect(w, r, "/listings/"+l.ID)
}

// pathID returns the listing ID in the path, or answers 404 for one that
// newID cannot have made, before any query.
func (a *App) pathID(w http.ResponseWriter, r *http.Request) (string, bool) {
	id := r.PathValue("id")
	if !validID(id) {
		a.notFound(w, r)
		return "", false
	}
	return id, true
}

// pathListing loads the listing whose ID is in the path, or answers 404
// (a malformed or unknown ID) or 500 itself.
func (a *App) pathListing(w http.ResponseWriter, r *http.Request) (listing, bool) {
	id, ok := a.pathID(w, r)
	if !ok {
		return listing{}, false
	}
	l, err := a.db.listingByID(r.Context(), id)
	switch {
	case errors.Is(err, errNotFound):
		a.notFound(w, r)
		return listing{}, false
	case err != nil:
		a.serverError(w, r, err)
		return listing{}, false
	}
	return l, true
}

// ownListing loads the listing named in the path for its seller, or
// answers 404 (no such listing) or 403 (someone else's), with an audit
// event for the latter.
func (a *App) ownListing(w http.ResponseWriter, r *http.Request, action audit.Action) (listing, bool) {
	l, ok := a.pathListing(w, r)
	if ok && l.SellerID != currentUser(r) {
		a.denyNotOwner(w, r, l.ID, action)
		return listing{}, false
	}
	return l, ok
}

func (a *App) denyNotOwner(w http.ResponseWriter, r *http.Request, id string, action audit.Action) {
	a.logAudit(r, audit.Event{Category: audit.CategoryAccess, Action: action, Outcome: audit.OutcomeDenied,
		Target: audit.Target{Kind: "listing", ID: id}, Reason: "not the seller"})
	a.fail(w, r, http.StatusForbidden, "Only the seller can change this listing.")
}

// refuseUnderModeration answers 409 for a change (verb "changed" or
// "deleted") to a listing that a moderator hid or that has open reports
// (err from the store), with an audit event: the seller may be trying to
// rewrite what was reported.
func (a *App) refuseUnderModeration(w http.ResponseWriter, r *http.Request, id string, action audit.Action, verb string, err error) {
	reason, msg := "hidden by a moderator", "A moderator has hidden this listing, so it cannot be "+verb+
		": its reports and the moderator's decision are kept with what it said until it is restored. Ask the moderators if you think this is a mistake."
	if errors.Is(err, errOpenReports) {
		reason, msg = "open reports", "This listing has been reported and a moderator has yet to decide, so it cannot be "+verb+
			": what was reported is kept as it is until then. You can change or delete it once a moderator has looked at it."
	}
	a.logAudit(r, audit.Event{Category: audit.CategoryModeration, Action: action, Outcome: audit.OutcomeDenied,
		Target: audit.Target{Kind: "listing", ID: id}, Reason: reason})
	a.fail(w, r, http.StatusConflict, msg)
}

// underModeration reports whether err is the store refusing a change to a
// hidden or reported listing.
func underModeration(err error) bool {
	return errors.Is(err, errUnderModeration) || errors.Is(err, errOpenReports)
}

// ownEditableListing is ownListing that also answers 409 for a listing the
// seller may not change now (hidden, or reported).
func (a *App) ownEditableListing(w http.ResponseWriter, r *http.Request, action audit.Action) (listing, bool) {
	l, ok := a.ownListing(w, r, action)
	if !ok {
		return listing{}, false
	}
	switch err := a.db.checkEditable(r.Context(), l); {
	case underModeration(err):
		a.refuseUnderModeration(w, r, l.ID, action, "changed", err)
		return listing{}, false
	case err != nil:
		a.serverError(w, r, err)
		return listing{}, false
	}
	return l, true
}

func (a *App) editListingForm(w http.ResponseWriter, r *http.Request) {
	l, ok := a.ownEditableListing(w, r, ActionListingEditDenied)
	if !ok {
		return
	}
	lf := listingForm{ID: l.ID, Title: l.Title, Description: l.Description, Price: l.Price()}
	a.render(w, r, http.StatusOK, "listing_form", page{Title: "Edit listing", Data: lf})
}

func (a *App) updateListing(w http.ResponseWriter, r *http.Request) {
	id, ok := a.pathID(w, r)
	if !ok {
		return
	}
	if !a.parseForm(w, r) {
		return
	}
	lf, l, msg := checkListing(r.PostForm)
	lf.ID = id
	if msg != "" {
		// Check ownership and state first, so a forged ID gets 403/404
		// and a listing under moderation 409, not a form to correct.
		if _, ok := a.ownEditableListing(w, r, ActionListingUpdateDenied); !ok {
			return
		}
		a.render(w, r, http.StatusUnprocessableEntity, "listing_form", page{Title: "Edit listing", Error: msg, Data: lf})
		return
	}
	l.ID, l.SellerID = id, currentUser(r)
	err := a.db.updateListing(r.Context(), l) // WHERE id AND seller_id: nothing changes for others
	switch {
	case errors.Is(err, errNotFound):
		a.notFound(w, r)
	case errors.Is(err, errNotOwner):
		a.denyNotOwner(w, r, id, ActionListingUpdateDenied)
	case underModeration(err):
		a.refuseUnderModeration(w, r, id, ActionListingUpdateDenied, "changed", err)
	case err != nil:
		a.serverError(w, r, err)
	default:
		a.logAudit(r, audit.Event{Category: "marketplace", Action: ActionListingUpdated, Outcome: audit.OutcomeSuccess,
			Target: audit.Target{Kind: "listing", ID: id}})
		a.flash(r, "Your listing is updated.")
		redirect(w, r, "/listings/"+id)
	}
}

func (a *App) deleteListing(w http.ResponseWriter, r *http.Request) {
	id, ok := a.pathID(w, r)
	if !ok {
		return
	}
	err := a.db.deleteListing(r.Context(), id, currentUser(r))
	switch {
	case errors.Is(err, errNotFound):
		a.notFound(w, r)
	case errors.Is(err, errNotOwner):
		a.denyNotOwner(w, r, id, ActionListingDeleteDenied)
	case underModeration(err):
		a.refuseUnderModeration(w, r, id, ActionListingDeleteDenied, "deleted", err)
	case err != nil:
		a.serverError(w, r, err)
	default:
		a.logAudit(r, audit.Event{Category: "marketplace", Action: ActionListingDeleted, Outcome: audit.OutcomeSuccess,
			Target: audit.Target{Kind: "listing", ID: id}})
		a.flash(r, "Your listing is deleted.")
		redirect(w, r, "/my/listings")
	}
}

func (a *App) reportListing(w http.ResponseWriter, r *http.Request) {
	l, ok := a.pathListing(w, r)
	if !ok || !a.parseForm(w, r) {
		return
	}
	reason, ok := textOK(r.PostForm.Get("reason"), 3, 1000, true)
	if !ok {
		a.fail(w, r, http.StatusUnprocessableEntity, "Say in 3 to 1000 characters what is wrong with this listing.")
		return
	}
	if l.SellerID == currentUser(r) {
		a.fail(w, r, http.StatusUnprocessableEntity, "You cannot report your own listing: edit or delete it instead.")
		return
	}
	err := a.db.createReport(r.Context(), l.ID, currentUser(r), reason)
	switch {
	case errors.Is(err, errNotFound):
		a.notFound(w, r)
	case errors.Is(err, errAlreadyReported):
		a.fail(w, r, http.StatusConflict, "You have reported this listing already; a moderator will look at it.")
	case err != nil:
		a.serverError(w, r, err)
	default:
		a.logAudit(r, audit.Event{Category: audit.CategoryModeration, Action: ActionListingReported, Outcome: audit.OutcomeSuccess,
			Target: audit.Target{Kind: "listing", ID: l.ID}, Reason: reason})
		a.flash(r, "Thank you: a moderator will look at this listing.")
		redirect(w, r, "/listings/"+l.ID)
	}
}
