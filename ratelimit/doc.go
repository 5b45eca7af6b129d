// Package ratelimit throttles requests per client, user, route or any key,
// in memory or shared through Redis, and throttles logins.
package ratelimit
