package ratelimit

import "github.com/deployedworks/rampart/audit"

// Actions of the audit events written by this package and its backends.
const (
	// ActionExceeded ([audit.CategorySuspicious]) records a request that
	// [Middleware] refused because its key was over the limit.
	ActionExceeded audit.Action = "ratelimit.exceeded"

	// ActionError ([audit.CategoryError]) records a request that
	// [Middleware] refused because it could not decide: the KeyFunc
	// failed (no client address in the context, say) or the limiter is
	// closed.
	ActionError audit.Action = "ratelimit.error"

	// ActionBackendError ([audit.CategoryError]) records a backend (Redis)
	// failure, with the failure policy applied in Meta["policy"].
	ActionBackendError audit.Action = "ratelimit.backend_error"

	// ActionLoginThrottled ([audit.CategorySuspicious]) records a login
	// attempt that [LoginThrottle] refused.
	ActionLoginThrottled audit.Action = "ratelimit.login.throttled"

	// ActionLoginLocked ([audit.CategorySuspicious]) records a failed
	// login that used up one of [LoginThrottle]'s limits.
	ActionLoginLocked audit.Action = "ratelimit.login.locked"

	// ActionLoginUnavailable ([audit.CategoryError]) records a
	// [LoginThrottle] store failure.
	ActionLoginUnavailable audit.Action = "ratelimit.login.unavailable"
)
