package mfa

import (
	"encoding/json"
	"errors"
	"net/http"
)

// WriteError is the default deny handler of [Policy]: it answers with a
// JSON body {"error": code} and a status that matches err, and never
// reveals err's text. Package mfa/passkey's default error handler falls
// back to it.
//
//	ErrUnauthenticated, ErrMFARequired, ErrStepUpRequired  401 unauthenticated / mfa_required / step_up_required
//	ErrReauthRequired                                      401 reauth_required
//	ErrEnrolmentRequired                                   403 mfa_enrolment_required
//	ErrNotEnrolled, ErrNotFound                            404 not_enrolled / not_found
//	ErrExists, ErrStoreFull, ErrLastFactor                 409 credential_exists / too_many_credentials / last_factor
//	anything else                                          500 internal_error
func WriteError(w http.ResponseWriter, _ *http.Request, err error) {
	status, code := errorStatus(err)
	writeJSON(w, status, map[string]string{"error": code})
}

func errorStatus(err error) (int, string) {
	switch {
	case errors.Is(err, ErrUnauthenticated):
		return http.StatusUnauthorized, "unauthenticated"
	case errors.Is(err, ErrMFARequired):
		return http.StatusUnauthorized, "mfa_required"
	case errors.Is(err, ErrStepUpRequired):
		return http.StatusUnauthorized, "step_up_required"
	case errors.Is(err, ErrReauthRequired):
		return http.StatusUnauthorized, "reauth_required"
	case errors.Is(err, ErrEnrolmentRequired):
		return http.StatusForbidden, "mfa_enrolment_required"
	case errors.Is(err, ErrNotEnrolled):
		return http.StatusNotFound, "not_enrolled"
	case errors.Is(err, ErrNotFound):
		return http.StatusNotFound, "not_found"
	case errors.Is(err, ErrExists):
		return http.StatusConflict, "credential_exists"
	case errors.Is(err, ErrStoreFull):
		return http.StatusConflict, "too_many_credentials"
	case errors.Is(err, ErrLastFactor):
		return http.StatusConflict, "last_factor"
	}
	return http.StatusInternalServerError, "internal_error"
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status, b = http.StatusInternalServerError, []byte(`{"error":"internal_error"}`)
	}
	h := w.Header()
	h.Set("Content-Type", "application/json; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n'))
}
