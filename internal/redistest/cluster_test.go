package redistest

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

func TestCluster(t *testing.T) {
	t.Parallel()
	start := time.Now()
	c := NewCluster(t, 3)
	t.Logf("3-primary cluster ready in %v", time.Since(start).Round(time.Millisecond))
	if len(c.Addrs()) != 3 {
		t.Fatalf("Addrs = %v", c.Addrs())
	}
	for _, n := range c.Nodes {
		info, _ := n.Do(t, "CLUSTER", "INFO").(string)
		if !strings.Contains(info, "cluster_state:ok") || !strings.Contains(info, "cluster_known_nodes:3") {
			t.Fatalf("%s CLUSTER INFO:\n%s", n, info)
		}
	}

	// Every key is accepted by exactly one node; the others redirect to it.
	owners := map[*Node]int{}
	for i := range 30 {
		key := fmt.Sprintf("key-%d", i)
		var owner *Node
		var moved []string
		for _, n := range c.Nodes {
			switch got := n.Do(t, "SET", key, "v").(type) {
			case string:
				if owner != nil {
					t.Fatalf("%s accepted by %s and %s", key, owner, n)
				}
				owner = n
			case ReplyError:
				if !strings.HasPrefix(string(got), "MOVED ") {
					t.Fatalf("SET %s on %s = %v, want OK or MOVED", key, n, got)
				}
				moved = append(moved, string(got))
			}
		}
		if owner == nil {
			t.Fatalf("no node accepted %s: %v", key, moved)
		}
		for _, m := range moved {
			if !strings.HasSuffix(m, " "+owner.Addr) {
				t.Fatalf("%s redirected with %q, want to %s", key, m, owner.Addr)
			}
		}
		owners[owner]++
	}
	if len(owners) != 3 {
		t.Fatalf("30 keys landed on %d nodes, want all 3: %v", len(owners), owners)
	}

	// A node that restarts keeps its identity (nodes.conf) and rejoins.
	c.Nodes[1].Restart(t)
	c.WaitReady(t)
	if got := c.Nodes[1].Do(t, "DBSIZE"); got != int64(0) {
		t.Fatalf("DBSIZE after restart = %v", got)
	}
}

// A replicated cluster survives losing a primary: its replica takes the
// slots with the data it had, and writes land on it.
func TestReplicatedClusterFailover(t *testing.T) {
	t.Parallel()
	c := NewReplicatedCluster(t, 3)
	if len(c.Replicas) != 3 {
		t.Fatalf("Replicas = %v", c.Replicas)
	}
	// A key that Nodes[0] holds: the one about to be killed.
	owner := func(key string) int {
		for i, n := range c.Nodes {
			if got := n.Do(t, "SET", key, "before"); got == "OK" {
				return i
			}
		}
		t.Fatalf("no primary accepted %s", key)
		return -1
	}
	var key string
	for i := range 100 {
		key = fmt.Sprintf("key-%d", i)
		if owner(key) == 0 {
			break
		}
	}
	if got := c.Nodes[0].Do(t, "WAIT", "1", "5000"); got != int64(1) {
		t.Fatalf("WAIT 1 = %v", got)
	}
	killed := c.Nodes[0]
	promoted := c.Failover(t, 0)
	if c.Nodes[0] != promoted || c.Replicas[0] != killed || killed.Running() {
		t.Fatalf("after Failover: Nodes[0]=%s Replicas[0]=%s running=%v", c.Nodes[0], c.Replicas[0], killed.Running())
	}
	if got := promoted.Do(t, "GET", key); got != "before" {
		t.Fatalf("GET %s on the promoted replica = %v", key, got)
	}
	if got := promoted.Do(t, "SET", key, "after"); got != "OK" {
		t.Fatalf("SET on the promoted replica = %v", got)
	}
	for _, n := range c.Nodes[1:] {
		if got, ok := n.Do(t, "SET", key, "x").(ReplyError); !ok || !strings.HasSuffix(string(got), " "+promoted.Addr) {
			t.Fatalf("%s redirects %s with %v, want to %s", n, key, got, promoted.Addr)
		}
	}
}
