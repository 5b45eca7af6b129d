package main

import (
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/deployedworks/rampart/audit"
	"github.com/deployedworks/rampart/audit/chain"
	"github.com/deployedworks/rampart/audit/sqlsink"
	"github.com/deployedworks/rampart/ratelimit"
)

// adminHomePage is the data of the admin dashboard.
type adminHomePage struct {
	Users, Admins, Moderators, Active, Hidden, OpenReports int
}

func (a *App) adminHome(w http.ResponseWriter, r *http.Request) {
	var p adminHomePage
	err := a.db.queryRow(r.Context(), `SELECT
		(SELECT COUNT(*) FROM users),
		(SELECT COUNT(*) FROM user_roles WHERE role = ?),
		(SELECT COUNT(*) FROM user_roles WHERE role = ?),
		(SELECT COUNT(*) FROM listings WHERE status = ?),
		(SELECT COUNT(*) FROM listings WHERE status = ?),
		(SELECT COUNT(*) FROM reports WHERE resolved_at IS NULL)`,
		roleAdmin, roleModerator, statusActive, statusHidden).
		Scan(&p.Users, &p.Admins, &p.Moderators, &p.Active, &p.Hidden, &p.OpenReports)
	if err != nil {
		a.serverError(w, r, err)
		return
	}
	a.render(w, r, http.StatusOK, "admin", page{Title: "Administration", Data: p})
}

// adminUsersPage is the data of the user list.
type adminUsersPage struct {
	Query, Role string
	Roles       []string
	Users       []user
	Page        int
	PrevURL     string
	NextURL     string
}

func (a *App) adminUsers(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	p := adminUsersPage{Roles: knownRoles, Page: 1}
	var ok bool
	if p.Query, ok = textOK(q.Get("q"), 0, 254, false); !ok {
		a.fail(w, r, http.StatusBadRequest, "Search for at most 254 characters, on one line.")
		return
	}
	if p.Role = q.Get("role"); p.Role != "" && !slices.Contains(knownRoles, p.Role) {
		a.fail(w, r, http.StatusBadRequest, "Unknown role: choose one from the list.")
		return
	}
	if s := q.Get("page"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > maxPage {
			a.fail(w, r, http.StatusBadRequest, fmt.Sprintf("The page must be a number from 1 to %d.", maxPage))
			return
		}
		p.Page = n
	}
	users, err := a.db.listUsers(r.Context(), userFilter{EmailContains: p.Query, Role: p.Role, Offset: (p.Page - 1) * 50, Limit: 51})
	if err != nil {
		a.serverError(w, r, err)
		return
	}
	link := func(n int) string {
		v := url.Values{"page": {strconv.Itoa(n)}}
		if p.Query != "" {
			v.Set("q", p.Query)
		}
		if p.Role != "" {
			v.Set("role", p.Role)
		}
		return "/admin/users?" + v.Encode()
	}
	if len(users) > 50 {
		users, p.NextURL = users[:50], link(p.Page+1)
	}
	if p.Page > 1 {
		p.PrevURL = link(p.Page - 1)
	}
	p.Users = users
	a.render(w, r, http.StatusOK, "admin_users", page{Title: "Users", Data: p})
}

// adminUserPage is the data of one user's admin page.
type adminUserPage struct {
	User     user
	Self     bool
	Grant    []string // roles the user does not hold
	Sessions int
	Factor   bool
}

// targetUser loads the user named in the path, or answers 404.
func (a *App) targetUser(w http.ResponseWriter, r *http.Request) (user, bool) {
	id := r.PathValue("id")
	if !validID(id) {
		a.fail(w, r, http.StatusNotFound, "There is no such user.")
		return user{}, false
	}
	u, err := a.db.userByID(r.Context(), id)
	if errors.Is(err, errNotFound) {
		a.fail(w, r, http.StatusNotFound, "There is no such user.")
		return user{}, false
	}
	if err != nil {
		a.serverError(w, r, err)
		return user{}, false
	}
	return u, true
}

func (a *App) adminUser(w http.ResponseWriter, r *http.Request) {
	u, ok := a.targetUser(w, r)
	if !ok {
		return
	}
	p := adminUserPage{User: u, Self: u.ID == currentUser(r)}
	for _, role := range knownRoles {
		if !u.HasRole(role) {
			p.Grant = append(p.Grant, role)
		}
	}
	ss, err := a.sessions.Sessions(r.Context(), u.ID)
	if err != nil {
		a.serverError(w, r, err)
		return
	}
	p.Sessions = len(ss)
	if p.Factor, err = a.db.hasFactor(r.Context(), u.ID); err != nil {
		a.serverError(w, r, err)
		return
	}
	a.render(w, r, http.StatusOK, "admin_user", page{Title: u.DisplayName, Data: p})
}

// adminChange runs the common part of a change to another user: it loads
// the target, refuses changes to oneself, and after apply revokes the
// target's sessions so the change takes effect at once.
func (a *App) adminChange(w http.ResponseWriter, r *http.Request, apply func(u user) (changed bool, msg string, err error)) {
	u, ok := a.targetUser(w, r)
	if !ok {
		return
	}
	if u.ID == currentUser(r) {
		a.fail(w, r, http.StatusConflict, "You cannot change your own account here: ask another administrator, so that nobody locks themselves out.")
		return
	}
	changed, msg, err := apply(u)
	if err != nil {
		a.serverError(w, r, err)
		return
	}
	if changed {
		// After the change, so that a racing login cannot keep the old
		// state (see session.Manager.RevokeUser).
		if err := a.sessions.RevokeUser(r.Context(), u.ID); err != nil {
			a.serverError(w, r, err)
			return
		}
		msg += " Their sessions are signed out."
	}
	a.flash(r, msg)
	redirect(w, r, "/admin/users/"+u.ID)
}

func (a *App) adminRoles(w http.ResponseWriter, r *http.Request) {
	if !a.parseForm(w, r) {
		return
	}
	role, op := r.PostForm.Get("role"), r.PostForm.Get("op")
	if !slices.Contains(knownRoles, role) || (op != "grant" && op != "revoke") {
		if _, ok := a.targetUser(w, r); !ok {
			return
		}
		a.fail(w, r, http.StatusUnprocessableEntity, "Choose a role ("+strings.Join(knownRoles, " or ")+") and whether to grant or revoke it.")
		return
	}
	a.adminChange(w, r, func(u user) (bool, string, error) {
		var changed bool
		var err error
		action := ActionRoleGranted
		if op == "grant" {
			changed, err = a.db.grantRole(r.Context(), u.ID, role, currentUser(r))
		} else {
			action = ActionRoleRevoked
			changed, err = a.db.revokeRole(r.Context(), u.ID, role)
		}
		if err != nil || !changed {
			return false, fmt.Sprintf("Nothing to change: %s %s the %s role.", u.DisplayName, map[bool]string{true: "has", false: "does not have"}[op == "grant"], role), err
		}
		a.logAudit(r, audit.Event{Category: audit.CategoryAccess, Action: action, Outcome: audit.OutcomeSuccess,
			Target: audit.Target{Kind: audit.TargetKindUser, ID: u.ID}, Meta: map[string]string{"role": role}})
		verb := map[string]string{"grant": "now has", "revoke": "no longer has"}[op]
		return true, fmt.Sprintf("%s %s the %s role.", u.DisplayName, verb, role), nil
	})
}

func (a *App) adminDisable(w http.ResponseWriter, r *http.Request) { a.adminSetDisabled(w, r, true) }
func (a *App) adminEnable(w http.ResponseWriter, r *http.Request)  { a.adminSetDisabled(w, r, false) }

func (a *App) adminSetDisabled(w http.ResponseWriter, r *http.Request, disabled bool) {
	a.adminChange(w, r, func(u user) (bool, string, error) {
		changed, err := a.db.setDisabled(r.Context(), u.ID, disabled)
		if err != nil || !changed {
			return false, "Nothing to change.", err
		}
		action, msg := ActionAccountDisabled, u.DisplayName+"'s account is disabled."
		if !disabled {
			action, msg = ActionAccountEnabled, u.DisplayName+"'s account is enabled."
		}
		a.logAudit(r, audit.Event{Category: audit.CategoryAccess, Action: action, Outcome: audit.OutcomeSuccess,
			Target: audit.Target{Kind: "user", ID: u.ID}})
		return disabled, msg, nil // enabling needs no revocation
	})
}

// adminSendReset mails a user a password-reset link, as if they had asked
// on /forgot (the same link, limits and audit trail of package account),
// and records that an administrator asked.
func (a *App) adminSendReset(w http.ResponseWriter, r *http.Request) {
	u, ok := a.targetUser(w, r)
	if !ok {
		return
	}
	if u.Disabled {
		a.flash(r, "No link was sent: the account is disabled. Enable it first.")
		redirect(w, r, "/admin/users/"+u.ID)
		return
	}
	err := a.flows.RequestReset(r, u.Email)
	switch {
	case errors.Is(err, ratelimit.ErrLimited):
		a.rateLimited(w, r, err)
		return
	case err != nil:
		a.serverError(w, r, err)
		return
	}
	a.logAudit(r, audit.Event{Category: audit.CategoryAdmin, Action: ActionResetLinkSent, Outcome: audit.OutcomeSuccess,
		Target: audit.Target{Kind: audit.TargetKindUser, ID: u.ID}})
	a.flash(r, "A link to choose a new password is on its way to "+u.Email+"; it works once, for "+resetLinkLife+". Their password and sessions are unchanged until they use it.")
	redirect(w, r, "/admin/users/"+u.ID)
}

func (a *App) adminRevokeSessions(w http.ResponseWriter, r *http.Request) {
	a.adminChange(w, r, func(u user) (bool, string, error) {
		// Revoke first, so that the event records what happened.
		if err := a.sessions.RevokeUser(r.Context(), u.ID); err != nil {
			return false, "", err
		}
		a.logAudit(r, audit.Event{Category: audit.CategoryAccess, Action: ActionSessionsRevoked, Outcome: audit.OutcomeSuccess,
			Target: audit.Target{Kind: "user", ID: u.ID}})
		return false, "Their sessions are signed out.", nil
	})
}

// auditFilter is the audit-log filter form.
type auditFilter struct {
	Category, Action, Actor, Target, Outcome, Since, Until string
}

// auditPage is the data of the audit-log page.
type auditPage struct {
	Filter     auditFilter
	Categories []audit.Category
	Outcomes   []string
	Records    []sqlsink.Record
	NextURL    string
	Total      int64
}

// parseAuditFilter turns the query string into a sqlsink.Query, or a
// message for the user, or an error (a failed lookup).
func (a *App) parseAuditFilter(r *http.Request) (auditFilter, sqlsink.Query, string, error) {
	v := r.URL.Query()
	f := auditFilter{Category: v.Get("category"), Action: strings.TrimSpace(v.Get("action")), Actor: strings.TrimSpace(v.Get("actor")),
		Target: strings.TrimSpace(v.Get("target")), Outcome: v.Get("outcome"), Since: v.Get("since"), Until: v.Get("until")}
	q := sqlsink.Query{Limit: 50, Cursor: v.Get("cursor")}
	if f.Category != "" {
		if !slices.Contains(auditCategories(), audit.Category(f.Category)) {
			return f, q, "Unknown category: choose one from the list.", nil
		}
		q.Categories = []audit.Category{audit.Category(f.Category)}
	}
	if f.Action != "" {
		if len(f.Action) > 100 || strings.IndexFunc(f.Action, func(c rune) bool {
			return !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-')
		}) >= 0 {
			return f, q, "An action is lower-case letters, digits, dots, '_' and '-', like login. or role.granted.", nil
		}
		q.ActionPrefix = f.Action
	}
	if f.Actor != "" {
		switch {
		case strings.Contains(f.Actor, "@"):
			u, err := a.db.userByEmail(r.Context(), f.Actor)
			if errors.Is(err, errNotFound) {
				return f, q, "No user has that e-mail address.", nil
			}
			if err != nil {
				return f, q, "", err
			}
			q.ActorID = u.ID
		case validID(f.Actor) || f.Actor == "system":
			q.ActorID = f.Actor
		default:
			return f, q, "Give the actor as an e-mail address or a user ID.", nil
		}
	}
	if f.Target != "" {
		if len(f.Target) > audit.MaxField {
			return f, q, "The target is too long.", nil
		}
		q.TargetID = f.Target
	}
	switch f.Outcome {
	case "", string(audit.OutcomeSuccess), string(audit.OutcomeFailure), string(audit.OutcomeDenied):
		q.Outcome = audit.Outcome(f.Outcome)
	default:
		return f, q, "The outcome must be success, failure or denied.", nil
	}
	for _, d := range []struct {
		s   string
		t   *time.Time
		add time.Duration
	}{{f.Since, &q.Since, 0}, {f.Until, &q.Until, 24 * time.Hour}} {
		if d.s == "" {
			continue
		}
		t, err := time.Parse("2006-01-02", d.s)
		if err != nil {
			return f, q, "Dates must be written YYYY-MM-DD.", nil
		}
		// The audit table keeps times in Unix nanoseconds, which cover
		// the years 1678 to 2262 only: outside them a filter would
		// silently match nothing.
		if t.Year() < minAuditYear || t.Year() > maxAuditYear {
			return f, q, fmt.Sprintf("Dates must be between %d-01-01 and %d-12-31.", minAuditYear, maxAuditYear), nil
		}
		*d.t = t.Add(d.add)
	}
	if !q.Since.IsZero() && !q.Until.IsZero() && !q.Since.Before(q.Until) {
		return f, q, "The start date is after the end date.", nil
	}
	if v.Get("ip") != "" {
		ip, err := netip.ParseAddr(v.Get("ip"))
		if err != nil || ip.Zone() != "" {
			return f, q, "The IP address is not valid.", nil
		}
		q.ClientIP = ip.Unmap() // addresses are stored unmapped
	}
	return f, q, "", nil
}

// The range of dates the audit-log filter accepts.
const (
	minAuditYear = 1970
	maxAuditYear = 2261
)

// auditCategories are the categories the filter offers.
func auditCategories() []audit.Category {
	return append(audit.Categories(), "marketplace")
}

func (a *App) adminAudit(w http.ResponseWriter, r *http.Request) {
	f, q, msg, err := a.parseAuditFilter(r)
	if err != nil {
		a.serverError(w, r, err)
		return
	}
	p := auditPage{Filter: f, Categories: auditCategories(), Outcomes: []string{"success", "failure", "denied"}}
	if msg != "" {
		a.render(w, r, http.StatusBadRequest, "admin_audit", page{Title: "Audit log", Error: msg, Data: p})
		return
	}
	res, err := a.auditSQL.Query(r.Context(), q)
	if errors.Is(err, sqlsink.ErrBadCursor) {
		a.render(w, r, http.StatusBadRequest, "admin_audit", page{Title: "Audit log", Data: p,
			Error: "That page link is not valid: start from the first page."})
		return
	}
	if err != nil {
		a.serverError(w, r, err)
		return
	}
	if p.Total, err = a.auditSQL.Count(r.Context(), q); err != nil {
		a.serverError(w, r, err)
		return
	}
	p.Records = res.Records
	if res.Next != "" {
		v := r.URL.Query()
		v.Set("cursor", res.Next)
		p.NextURL = "/admin/audit?" + v.Encode()
	}
	a.render(w, r, http.StatusOK, "admin_audit", page{Title: "Audit log", Data: p})
}

// chainResult is the outcome of verifying one audit chain.
type chainResult struct {
	Name   string
	Report chain.Report
	Err    string
}

// cliChainPrefix is the chain the command-line tools (create-admin, backup,
// restore) write to, beside the server's own.
const cliChainPrefix = "audit-cli"

func (a *App) adminVerifyAudit(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	dir := os.DirFS(a.auditDir)
	key := a.keys.AuditKey.Reveal()
	var results []chainResult
	// The server's chain, which must still hold the newest record written
	// and the checkpoints shipped to the database.
	shipped, err := a.auditStore.checkpointsOf(ctx, a.instance)
	if err != nil {
		a.serverError(w, r, err)
		return
	}
	rep, err := verifyServerChain(ctx, dir, key, shipped, []chain.Checkpoint{a.auditFile.Checkpoint()}, a.cfg.Now())
	var errs []error
	add := func(name string, rep chain.Report, err error) {
		if err != nil {
			// The details, with the directory, go to the log and the
			// audit event; the page says what and where, in words.
			a.log.ErrorContext(ctx, "audit chain verification failed", "chain", name, "dir", a.auditDir,
				"request_id", audit.RequestID(ctx), "err", err)
			errs = append(errs, err)
		}
		results = append(results, chainResult{Name: name, Report: rep, Err: chainProblem(err)})
	}
	add("Server", rep, err)
	// The create-admin chain, if any, which must be sealed.
	if names, _ := fs.Glob(dir, cliChainPrefix+"-*.jsonl"); len(names) > 0 {
		rep, err := chain.Verify(ctx, dir, key, chain.VerifyConfig{Prefix: cliChainPrefix, RequireSealed: true})
		add("command-line tools (create-admin, backup, restore)", rep, err)
	}
	outcome, status := audit.OutcomeSuccess, http.StatusOK
	e := audit.Event{Category: audit.CategoryAdmin, Action: ActionChainVerified, Outcome: outcome}
	if len(errs) > 0 {
		e.Outcome, status = audit.OutcomeFailure, http.StatusConflict
		e.Category = audit.CategorySecurityAlert
		e.Reason = "audit chain verification failed: " + errors.Join(errs...).Error()
	}
	a.logAudit(r, e)
	a.render(w, r, status, "admin_verify", page{Title: "Audit chain", Data: results})
}

// chainProblem describes a verification failure for the page: what was
// found and where (a file of the audit directory, a line, a sequence
// number), never the server's paths or error chain.
func chainProblem(err error) string {
	var te *chain.TamperError
	switch {
	case err == nil:
		return ""
	case errors.As(err, &te):
		where := te.File
		if te.Line > 0 {
			where += fmt.Sprintf(", line %d", te.Line)
		}
		return fmt.Sprintf("a record was %s in %s (sequence number %d).", te.Problem, where, te.Seq)
	}
	return "the chain could not be read. The server log has the details: search it for the request ID below."
}
