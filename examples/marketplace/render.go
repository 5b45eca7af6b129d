package main

import (
	"bytes"
	"context"
	"embed"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/deployedworks/rampart/audit"
	"github.com/deployedworks/rampart/auth"
	"github.com/deployedworks/rampart/headers"
	"github.com/deployedworks/rampart/identity"
	"github.com/deployedworks/rampart/mfa"
)

//go:embed templates static
var assetsFS embed.FS

// maxFormBytes bounds every form body. The largest form, a listing, holds
// at most about 20 KB of text, percent-encoded up to three times that.
const maxFormBytes = 64 << 10

// page is what every template receives.
type page struct {
	Title     string
	Nonce     string // CSP nonce: write it on every <script> and <style>
	Viewer    *viewer
	Flash     string
	Error     string
	Scripts   bool // load static/webauthn.js
	RequestID string
	Data      any
}

// viewer is the signed-in user as the layout shows them.
type viewer struct {
	ID          string
	Email       string
	Name        string
	IsAdmin     bool
	IsModerator bool
	// Pending is set while a second factor is still to be verified (or,
	// for roles that need one, enrolled): PendingURL finishes sign-in.
	Pending    bool
	PendingURL string
}

// parseTemplates parses each page template together with the layout.
func parseTemplates() (map[string]*template.Template, error) {
	funcs := template.FuncMap{
		"date": func(t time.Time) string {
			if t.IsZero() {
				return "never"
			}
			return t.UTC().Format("2 Jan 2006 15:04 UTC")
		},
		"join":    strings.Join,
		"methods": methodNames,
	}
	names, err := fs.Glob(assetsFS, "templates/*.html")
	if err != nil {
		return nil, err
	}
	out := map[string]*template.Template{}
	for _, n := range names {
		base := strings.TrimPrefix(n, "templates/")
		if base == "layout.html" {
			continue
		}
		t, err := template.New(base).Funcs(funcs).ParseFS(assetsFS, "templates/layout.html", n)
		if err != nil {
			return nil, fmt.Errorf("templates: %s: %w", base, err)
		}
		out[strings.TrimSuffix(base, ".html")] = t
	}
	return out, nil
}

// render writes the named page with status. It renders into a buffer first
// so that a template error becomes a clean 500, never half a page.
func (a *App) render(w http.ResponseWriter, r *http.Request, status int, name string, p page) {
	t, ok := a.tmpl[name]
	if !ok {
		a.serverError(w, r, fmt.Errorf("render: no template %q", name))
		return
	}
	ctx := r.Context()
	p.Nonce = headers.Nonce(ctx)
	p.RequestID = audit.RequestID(ctx)
	if p.Viewer == nil {
		p.Viewer = a.viewer(r)
	}
	if p.Flash == "" {
		p.Flash, _ = a.sessions.Pop(ctx, "flash")
	}
	var buf bytes.Buffer
	if err := t.ExecuteTemplate(&buf, "layout", p); err != nil {
		a.log.ErrorContext(ctx, "render", "template", name, "err", err)
		http.Error(w, "Internal Server Error", http.StatusInternalServerError)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store") // every page carries a nonce
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

// viewer returns the signed-in user of r, nil when signed out.
func (a *App) viewer(r *http.Request) *viewer {
	id, ok := identity.FromContext(r.Context())
	if !ok {
		return nil
	}
	u, err := a.db.userRowByID(r.Context(), id.UserID) // the roles come from the session
	if err != nil {
		return nil
	}
	v := &viewer{ID: u.ID, Email: u.Email, Name: u.DisplayName,
		IsAdmin: id.HasRole(roleAdmin), IsModerator: id.HasRole(roleModerator) || id.HasRole(roleAdmin)}
	switch err := a.mfaPending(r); {
	case err == nil:
	case errors.Is(err, mfa.ErrEnrolmentRequired):
		v.Pending, v.PendingURL = true, "/account/mfa"
	default:
		v.Pending, v.PendingURL = true, "/mfa"
	}
	return v
}

// mfaPending is the MFA policy's decision for the user of r as it applies
// to the rest of the site (the routes registered with Require), also on
// the challenge and enrolment pages, which the policy lets through.
func (a *App) mfaPending(r *http.Request) error {
	return a.policy.Check(r)
}

// signedIn returns the identity of a signed-in user whose second factor,
// if any, is verified; ok is false otherwise. Public pages use it to decide
// what to show.
func (a *App) signedIn(r *http.Request) (uid string, roles []string, ok bool) {
	id, ok := identity.FromContext(r.Context())
	if !ok || a.policy.Check(r) != nil {
		return "", nil, false
	}
	return id.UserID, id.Roles, true
}

// currentUser returns the user ID of a request that passed the guard.
func currentUser(r *http.Request) string {
	p, _ := identity.FromContext(r.Context())
	return p.UserID
}

// fail renders the error page with status and a message for the user.
func (a *App) fail(w http.ResponseWriter, r *http.Request, status int, msg string) {
	a.render(w, r, status, "error", page{Title: http.StatusText(status), Error: msg,
		Data: struct{ Status int }{status}})
}

// notFound answers 404 with a clear page.
func (a *App) notFound(w http.ResponseWriter, r *http.Request) {
	a.fail(w, r, http.StatusNotFound, "There is nothing here. The page or listing may have been removed.")
}

// serverError logs err and answers 500 without details; the request ID
// on the page finds the log entry.
//
// A request that ran out of time (its deadline ended while it waited for
// the database or Redis: a hung or overloaded dependency) is answered 503,
// like the other outages, so that clients and load balancers retry.
func (a *App) serverError(w http.ResponseWriter, r *http.Request, err error) {
	a.log.ErrorContext(r.Context(), "request failed", "method", r.Method, "path", r.URL.Path,
		"request_id", audit.RequestID(r.Context()), "err", err)
	if errors.Is(err, context.DeadlineExceeded) {
		a.fail(w, r, http.StatusServiceUnavailable, "The service cannot take this request right now. Please try again shortly.")
		return
	}
	a.fail(w, r, http.StatusInternalServerError, "Something went wrong on our side. Please try again; if it keeps happening, quote the request ID below.")
}

// redirect answers 303 See Other to a local path; anything else (a
// caller's mistake) goes to the home page rather than off-site.
func redirect(w http.ResponseWriter, r *http.Request, to string) {
	to = localNext(to, "/")
	http.Redirect(w, r, to, http.StatusSeeOther) // #nosec G710 -- to is checked to be a local path first (localNext)
}

// flash stores a one-time message shown on the next page.
func (a *App) flash(r *http.Request, msg string) {
	if err := a.sessions.Put(r.Context(), "flash", msg); err != nil {
		a.log.WarnContext(r.Context(), "flash", "err", err)
	}
}

// parseForm reads a URL-encoded form body of at most maxFormBytes into
// r.PostForm. On failure it has answered: 415 for another media type, 413
// for an oversized body, 400 for a malformed one.
func (a *App) parseForm(w http.ResponseWriter, r *http.Request) bool {
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "application/x-www-form-urlencoded" {
		a.fail(w, r, http.StatusUnsupportedMediaType, "This form must be sent as application/x-www-form-urlencoded, as a browser does.")
		return false
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
	if err := r.ParseForm(); err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			a.fail(w, r, http.StatusRequestEntityTooLarge, fmt.Sprintf("The form is too large: at most %d KB may be sent.", maxFormBytes>>10))
			return false
		}
		a.fail(w, r, http.StatusBadRequest, "The form could not be read. Please reload the page and try again.")
		return false
	}
	return true
}

// localNext returns the "next" value if it is a safe local path, else def.
func localNext(v, def string) string {
	if v != "" && auth.IsLocalPath(v) {
		return v
	}
	return def
}

// refererPath returns the path of a same-origin Referer, or def.
func refererPath(r *http.Request, def string) string {
	u, err := url.Parse(r.Referer())
	if err != nil || u.Host != r.Host {
		return def
	}
	return localNext(u.RequestURI(), def)
}

// wantsHTML reports whether the client navigates (a browser page) rather
// than calls an API (fetch from webauthn.js).
func wantsHTML(r *http.Request) bool {
	return strings.Contains(r.Header.Get("Accept"), "text/html")
}

// retryText says how long to wait, for people.
func retryText(d time.Duration) string {
	s := int64((d + time.Second - 1) / time.Second)
	switch {
	case s <= 1:
		return "a second"
	case s < 120:
		return strconv.FormatInt(s, 10) + " seconds"
	default:
		return strconv.FormatInt((s+59)/60, 10) + " minutes"
	}
}

// setRetryAfter sets Retry-After in whole seconds.
func setRetryAfter(w http.ResponseWriter, d time.Duration) {
	s := max(int64((d+time.Second-1)/time.Second), 1)
	w.Header().Set("Retry-After", strconv.FormatInt(s, 10))
}

// logAudit records e with the request's context; the Logger reports a
// sink failure to its own error log.
func (a *App) logAudit(r *http.Request, e audit.Event) {
	a.audit.Log(r.Context(), e)
}

// textOK checks a user-supplied line of text: trimmed, 1 to max
// characters, no control characters. It returns the trimmed text.
func textOK(s string, minLen, maxLen int, multiline bool) (string, bool) {
	s = strings.TrimSpace(s)
	if multiline {
		s = strings.ReplaceAll(s, "\r\n", "\n")
	}
	n := 0
	for _, c := range s {
		n++
		if c == '\uFFFD' || (c < 0x20 && !(multiline && (c == '\n' || c == '\t'))) || c == 0x7f {
			return s, false
		}
	}
	return s, n >= minLen && n <= maxLen
}

// discardLogger returns a logger that drops everything.
func discardLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }

// methodNames names authentication methods for people.
func methodNames(ms []identity.Method) string {
	names := make([]string, len(ms))
	for i, m := range ms {
		switch m {
		case identity.MethodPassword:
			names[i] = "password"
		case identity.MethodOTP:
			names[i] = "one-time code"
		case identity.MethodHardwareKey, identity.MethodSoftwareKey:
			names[i] = "passkey"
		case identity.MethodPIN:
			names[i] = "PIN or biometric"
		default:
			names[i] = string(m)
		}
	}
	return strings.Join(names, ", ")
}
