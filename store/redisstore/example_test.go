package redisstore_test

import (
	"context"
	"fmt"
	"log"

	"github.com/tenantgate/tenantgate/store/redisstore"
)

// Connect to Azure Cache for Redis with its access key over TLS. The L1
// mode is picked by a live self-test; the chosen one is logged and
// returned by Mode.
func ExampleNew() {
	s, err := redisstore.New(context.Background(), redisstore.Options{
		URL: "rediss://:ACCESS_KEY@contoso.redis.cache.windows.net:6380?op_timeout=1s",
	})
	if err != nil {
		log.Fatal(err) // names the address, never the key
	}
	defer s.Close()
	fmt.Println(s.Mode())
}
