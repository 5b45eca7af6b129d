// Package redisstore keeps rate limits in Redis, so that every instance of
// an app shares them.
package redisstore
