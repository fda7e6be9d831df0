// Package redisstore keeps the store contract on Redis: standalone, TLS with
// an ACL user (Azure Cache for Redis on 6380), Sentinel and Cluster, through
// github.com/redis/rueidis.
//
// Reads go through a coherent in-process L1 so that a hot value costs no
// round trip. How the L1 learns of other replicas' writes depends on what the
// server offers, so the mode is chosen at start-up by a live self-test:
//
//   - tracking: RESP3 client-side caching (CLIENT TRACKING), the server
//     tells this process which keys it read have changed;
//   - bcast: broadcast tracking on the key prefix, for servers that track
//     but where per-key tracking tables are unwelcome;
//   - pubsub: every write publishes "key|version" on one channel and a
//     subscriber in each process evicts older copies; for servers with no
//     tracking (Azure Cache for Redis Basic/Standard/Premium does not
//     document it);
//   - off: every read goes to Redis.
//
// Values are stored as 16 hex digits of version followed by the data, so one
// GET returns both and a compare-and-set is one single-key Lua script, safe
// on a Cluster.
package redisstore
