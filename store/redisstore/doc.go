// Package redisstore keeps the store contract on Redis: standalone, TLS with
// an ACL user (Azure Cache for Redis on 6380), Sentinel and Cluster, through
// github.com/redis/rueidis.
//
// Reads go through one coherent in-process L1 so that a hot value costs no
// round trip. The L1 is fed by one invalidation source, which depends on
// what the server offers, so the mode is chosen at start-up by a live
// self-test:
//
//   - tracking: CLIENT TRACKING in the default mode; reads are plain GETs
//     and the server tells the connection that read a key when it changes
//     (rueidis's own client-side cache is never used);
//   - bcast: broadcast tracking of Options.Prefix, for servers that track
//     but where per-key tracking tables are unwelcome;
//   - pubsub: every write publishes "key|version" on one channel and a
//     subscriber in each process evicts older copies; for servers with no
//     tracking (Azure Cache for Redis Basic/Standard/Premium does not
//     document it);
//   - off: no L1, every read goes to Redis.
//
// Why the L1 never serves a version older than one it has been told of,
// whatever order replies and invalidations arrive in, is argued once, in
// l1.go.
//
// Values are stored as 16 hex digits of version followed by the data, so one
// GET returns both and a compare-and-set is one single-key Lua script, safe
// on a Cluster.
package redisstore
