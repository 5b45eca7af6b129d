// Package redisstore keeps Rampart sessions in Redis (go-redis v9), with a
// per-user index in a sorted set, so that revoking every session of a user
// reads one key instead of scanning the keyspace.
//
// Layout, under Config.Prefix:
//
//	<prefix>s:<token hash>  hash {d: session data, u: user ID, a: AuthAt (Unix µs)}, with a TTL
//	<prefix>u:<user ID>     sorted set of the user's token hashes, scored by expiry
//	<prefix>w:<user ID>     the user's revocation watermark (Unix µs), expiring at Revocation.Until
//	<prefix>c:<claim key>   "1", with a TTL: a challenge taken (Store.Claim)
//
// Keys hold the SHA-256 hash of each token, never the token, so a dump of
// the database cannot be replayed as cookies. session.New requires a
// session.Config.Keyring with this store, which encrypts session data at
// rest.
//
// Conditional writes, revocation and Find run as Lua scripts, so that a
// token renewal or a login cannot slip past a revocation, and Find checks
// the watermark in the same round trip. Their scripts touch keys they
// derive from what they read (DeleteUser the sessions in the index, Find
// the watermark of the session's user), which Redis Cluster does not
// allow: use a single Redis primary (with replicas or Sentinel if needed),
// not Cluster.
package redisstore
