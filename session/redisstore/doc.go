// Package redisstore keeps Rampart sessions in Redis (go-redis v9), with a
// per-user index in a sorted set, so that revoking every session of a user
// reads one key instead of scanning the keyspace.
//
// Layout, under Config.Prefix:
//
//	<prefix>s:<token hash>  hash {d: session data, u: user ID, a: AuthAt (Unix µs)}, with a TTL
//	<prefix>u:<user ID>     sorted set of the user's token hashes, scored by expiry
//	<prefix>w:<user ID>     the user's revocation watermark (Unix µs), expiring at Revocation.Until
//
// Keys hold the SHA-256 hash of each token, never the token, so a dump of
// the database cannot be replayed as cookies. Session data is in clear
// unless session.Config.Keyring is set.
//
// Conditional writes, revocation and Find run as Lua scripts, so that a
// token renewal or a login cannot slip past a revocation, and Find checks
// the watermark in the same round trip. DeleteUser's script touches keys
// it reads from the index, which Redis Cluster does not allow: use a
// single Redis primary (with replicas or Sentinel if needed), not Cluster.
package redisstore
