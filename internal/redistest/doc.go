// Package redistest starts real redis-server processes for tests: a
// standalone node, a TLS node with an ACL user, a Cluster, and a primary with
// a replica under three Sentinels, each on free loopback ports in its own
// t.TempDir, never the Redis that may already listen on 6379.
//
//	n := redistest.Standalone(t)          // n.Addr is "127.0.0.1:port"
//	s := redistest.TLS(t)                 // s.URL(), s.ClientTLS()
//	c := redistest.NewCluster(t, 3)       // c.Addrs()
//	sn := redistest.NewSentinel(t)        // sn.SentinelAddrs(), sn.Failover(t)
//	n.Pause(t); n.Resume(t); n.Restart(t) // faults
//
// Every constructor returns once the servers answer (and the cluster or the
// sentinels agree), and the test's cleanup kills them; the kernel kills them
// too if the test binary dies. If redis-server is not installed the test
// fails with the command that installs it: these tests are never skipped.
//
// Node.Do runs a command through a small RESP client of this package, so the
// harness does not depend on the Redis client library that tests check.
// Servers keep no data across restarts (no RDB, no AOF) unless WithConfig
// says otherwise.
package redistest
