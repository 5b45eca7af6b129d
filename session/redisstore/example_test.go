package redisstore_test

import (
	"fmt"

	"github.com/redis/go-redis/v9"

	"github.com/deployedworks/rampart/secrets"
	"github.com/deployedworks/rampart/session"
	"github.com/deployedworks/rampart/session/redisstore"
)

// Example wires a Manager to Redis. Neither New connects: the first
// request does, and a Redis outage then fails requests closed (500).
func Example() {
	rdb := redis.NewClient(&redis.Options{Addr: "127.0.0.1:6379"})
	defer rdb.Close()
	store, err := redisstore.New(rdb, redisstore.Config{Prefix: "shop:session:"})
	if err != nil {
		panic(err)
	}
	// A shared store needs a keyring every instance shares: it encrypts
	// sessions at rest and seals the state of visitors not signed in,
	// which travels in the cookie. Load it with secrets.ParseKeyring.
	keys, err := secrets.NewKeyring(secrets.Key{ID: "2026-06", Secret: secrets.Random(32)})
	if err != nil {
		panic(err)
	}
	m, err := session.New(session.Config{Store: store, Keyring: keys})
	if err != nil {
		panic(err)
	}
	fmt.Println(m != nil)
	// Output: true
}
