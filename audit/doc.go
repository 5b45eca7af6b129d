// Package audit records security-relevant events: authentication, access
// changes, admin and moderation actions, errors, security alerts and
// suspicious activity (policy section 7).
package audit
