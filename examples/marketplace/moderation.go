package main

import (
	"errors"
	"net/http"
	"strconv"

	"github.com/deployedworks/rampart/audit"
)

// moderationPage is the data of the moderation queue.
type moderationPage struct {
	Reported []queueItem
	Hidden   []hiddenItem
	Recent   []modAction
}

func (a *App) moderationQueue(w http.ResponseWriter, r *http.Request) {
	reported, hidden, err := a.db.moderationQueue(r.Context(), 100)
	if err != nil {
		a.serverError(w, r, err)
		return
	}
	recent, err := a.db.recentModeration(r.Context(), 20)
	if err != nil {
		a.serverError(w, r, err)
		return
	}
	a.render(w, r, http.StatusOK, "moderation", page{Title: "Moderation", Data: moderationPage{reported, hidden, recent}})
}

// modActions maps the action in the path to the audit action.
var modActions = map[string]audit.Action{
	modHide:    ActionListingHidden,
	modRestore: ActionListingRestored,
	modDismiss: ActionReportsDismissed,
}

func (a *App) moderate(w http.ResponseWriter, r *http.Request) {
	id, action := r.PathValue("id"), r.PathValue("action")
	auditAction, known := modActions[action]
	if !known {
		a.notFound(w, r)
		return
	}
	// Nobody judges their own listing: a moderator whose listing was
	// hidden could otherwise restore it, or dismiss the reports on it.
	l, ok := a.pathListing(w, r) // 404 for a malformed ID, before any query
	switch {
	case !ok:
		return
	case l.SellerID == currentUser(r):
		a.logAudit(r, audit.Event{Category: audit.CategoryModeration, Action: auditAction, Outcome: audit.OutcomeDenied,
			Target: audit.Target{Kind: "listing", ID: id}, Reason: "own listing"})
		a.fail(w, r, http.StatusForbidden, "You cannot moderate your own listing: another moderator must decide.")
		return
	}
	if !a.parseForm(w, r) {
		return
	}
	reason, ok := textOK(r.PostForm.Get("reason"), 3, 500, true)
	if !ok {
		a.fail(w, r, http.StatusUnprocessableEntity, "Give a reason of 3 to 500 characters: it is recorded and shown to the seller.")
		return
	}
	resolved, err := a.db.moderate(r.Context(), id, currentUser(r), action, reason)
	switch {
	case errors.Is(err, errNotFound):
		a.notFound(w, r)
		return
	case errors.Is(err, errWrongState):
		msg := map[string]string{
			modHide:    "This listing is hidden already.",
			modRestore: "This listing is not hidden.",
			modDismiss: "This listing has no open reports, or is hidden.",
		}[action]
		a.fail(w, r, http.StatusConflict, msg)
		return
	case err != nil:
		a.serverError(w, r, err)
		return
	}
	a.logAudit(r, audit.Event{Category: audit.CategoryModeration, Action: auditAction, Outcome: audit.OutcomeSuccess,
		Target: audit.Target{Kind: "listing", ID: id}, Reason: reason,
		Meta: map[string]string{"reports_resolved": strconv.FormatInt(resolved, 10)}})
	a.flash(r, map[string]string{
		modHide:    "The listing is hidden.",
		modRestore: "The listing is visible again.",
		modDismiss: "The reports are dismissed.",
	}[action])
	redirect(w, r, "/moderation")
}
