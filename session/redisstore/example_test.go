package redisstore_test

import (
	"fmt"

	"github.com/redis/go-redis/v9"

	"github.com/deployedworks/rampart/clientip"
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
	m, err := session.New(clientip.MustNew(nil, clientip.Config{}), session.Config{Store: store})
	if err != nil {
		panic(err)
	}
	fmt.Println(m != nil)
	// Output: true
}
