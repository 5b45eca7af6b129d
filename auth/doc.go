// Package auth stores passwords as Argon2id hashes, applies a NIST SP
// 800-63B-4 password policy, runs an enumeration-resistant login flow, and
// guards handlers with RequireAuth and RequireRole (policy section 2).
package auth
