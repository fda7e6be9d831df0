package redistest

import (
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

const (
	clusterSlots   = 16384
	clusterTimeout = 30 * time.Second // MEET until every node sees every slot
)

// Cluster is a Redis Cluster, every slot assigned to Nodes, the primaries.
type Cluster struct {
	Nodes []*Node
	// Replicas[i] replicates Nodes[i] in a cluster from
	// NewReplicatedCluster; empty otherwise. Failover swaps the two.
	Replicas []*Node
}

// Addrs are the nodes' addresses, as seeds for a cluster client.
func (c *Cluster) Addrs() []string {
	addrs := make([]string, len(c.Nodes))
	for i, n := range c.Nodes {
		addrs[i] = n.Addr
	}
	return addrs
}

// NewCluster starts a cluster of the given number of primaries, splits the
// 16384 slots evenly between them, and returns once every node reports
// cluster_state:ok and its CLUSTER SLOTS covers every slot.
func NewCluster(t testing.TB, primaries int) *Cluster {
	t.Helper()
	if primaries < 1 {
		t.Fatalf("redistest: NewCluster needs at least one primary, got %d", primaries)
	}
	c := &Cluster{}
	for i := range primaries {
		c.Nodes = append(c.Nodes, newClusterNode(t, fmt.Sprintf("cluster node %d", i)))
	}
	for i, n := range c.Nodes {
		// Distinct epochs up front, as redis-cli --cluster create does, so
		// the nodes need not resolve an epoch collision before agreeing.
		mustOK(t, n, "CLUSTER", "SET-CONFIG-EPOCH", strconv.Itoa(i+1))
		first, last := i*clusterSlots/primaries, (i+1)*clusterSlots/primaries-1
		mustOK(t, n, "CLUSTER", "ADDSLOTSRANGE", strconv.Itoa(first), strconv.Itoa(last))
	}
	// Every pair meets directly: meeting only the first node leaves the
	// others to learn of each other by gossip, which adds seconds.
	for i, n := range c.Nodes {
		for _, m := range c.Nodes[:i] {
			mustOK(t, n, "CLUSTER", "MEET", "127.0.0.1", strconv.Itoa(m.Port()), strconv.Itoa(m.busPort))
		}
	}
	c.WaitReady(t)
	return c
}

func newClusterNode(t testing.TB, name string) *Node {
	t.Helper()
	n := newNode(t, name, "redis.conf")
	// An explicit bus port, not port+10000, which may be taken or above 65535.
	n.busPort = FreePort(t)
	n.lines = append(n.lines,
		"cluster-enabled yes",
		"cluster-config-file "+quote(filepath.Join(n.Dir, "nodes.conf")),
		"cluster-node-timeout 2000",
		// A replica takes over however long it was cut from its primary:
		// in a test, availability over the last writes.
		"cluster-replica-validity-factor 0",
		"repl-diskless-sync-delay 0",
	)
	n.start(t)
	return n
}

// NewReplicatedCluster is NewCluster with one replica per primary, in
// sync, known to every node, so that Failover can promote it.
func NewReplicatedCluster(t testing.TB, primaries int) *Cluster {
	t.Helper()
	c := NewCluster(t, primaries)
	for i, p := range c.Nodes {
		r := newClusterNode(t, fmt.Sprintf("cluster replica %d", i))
		for _, m := range c.Nodes {
			mustOK(t, r, "CLUSTER", "MEET", "127.0.0.1", strconv.Itoa(m.Port()), strconv.Itoa(m.busPort))
		}
		id, _ := p.Do(t, "CLUSTER", "MYID").(string)
		// REPLICATE fails until the replica has heard of the primary.
		waitUntil(t, clusterTimeout, func() string {
			got := r.Do(t, "CLUSTER", "REPLICATE", id)
			if got != "OK" {
				return fmt.Sprintf("%s: CLUSTER REPLICATE %s: %v", r, id, got)
			}
			return ""
		})
		c.Replicas = append(c.Replicas, r)
	}
	waitUntil(t, clusterTimeout, func() string {
		for i, r := range c.Replicas {
			if st := r.Info(t, "replication", "master_link_status"); st != "up" {
				return fmt.Sprintf("%s: master_link_status:%s", r, st)
			}
			if n := c.Nodes[i].Info(t, "replication", "connected_slaves"); n != "1" {
				return fmt.Sprintf("%s: connected_slaves:%s", c.Nodes[i], n)
			}
		}
		// Every node must know every replica, or a failover vote stalls.
		for _, n := range c.all() {
			info, _ := n.Do(t, "CLUSTER", "INFO").(string)
			if known := infoField(info, "cluster_known_nodes"); known != strconv.Itoa(2*len(c.Nodes)) {
				return fmt.Sprintf("%s: cluster_known_nodes:%s", n, known)
			}
		}
		return c.notReady(t)
	})
	return c
}

// all is every node, primaries first.
func (c *Cluster) all() []*Node { return append(append([]*Node{}, c.Nodes...), c.Replicas...) }

// Failover kills primary i with SIGKILL, as a crash would, and waits (30 s
// at most) until its replica reports role:master and every running node
// reports cluster_state:ok with every slot covered. Nodes[i] and
// Replicas[i] are swapped: Replicas[i] is then the killed node.
func (c *Cluster) Failover(t testing.TB, i int) (newPrimary *Node) {
	t.Helper()
	if i < 0 || i >= len(c.Replicas) {
		t.Fatalf("redistest: Failover(%d): the cluster has %d replicas (use NewReplicatedCluster)", i, len(c.Replicas))
	}
	old, next := c.Nodes[i], c.Replicas[i]
	old.Kill(t)
	c.Nodes[i], c.Replicas[i] = next, old
	waitUntil(t, clusterTimeout, func() string {
		if role := next.Info(t, "replication", "role"); role != "master" {
			return next.String() + " reports role:" + role
		}
		return c.notReady(t)
	})
	return next
}

// waitUntil polls notReady until it returns "" and fails the test with its
// last answer if that takes longer than timeout.
func waitUntil(t testing.TB, timeout time.Duration, notReady func() string) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		why := notReady()
		if why == "" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("redistest: not ready after %v: %s", timeout, why)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func mustOK(t testing.TB, n *Node, args ...string) {
	t.Helper()
	if got := n.Do(t, args...); got != "OK" {
		t.Fatalf("redistest: %s on %s: %v", strings.Join(args, " "), n, got)
	}
}

// WaitReady waits (30 s at most) until every node reports cluster_state:ok
// and its CLUSTER SLOTS covers every slot, e.g. after restarting a node.
func (c *Cluster) WaitReady(t testing.TB) {
	t.Helper()
	deadline := time.Now().Add(clusterTimeout)
	for {
		why := c.notReady(t)
		if why == "" {
			return
		}
		if time.Now().After(deadline) {
			var logs strings.Builder
			for _, n := range c.Nodes {
				logs.WriteString(n.logTail())
			}
			t.Fatalf("redistest: cluster not ready after %v: %s\n%s", clusterTimeout, why, logs.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// notReady says why the cluster is not ready yet, "" once it is.
func (c *Cluster) notReady(t testing.TB) string {
	t.Helper()
	for _, n := range c.all() {
		if !n.Running() {
			continue
		}
		info, _ := n.Do(t, "CLUSTER", "INFO").(string)
		if state := infoField(info, "cluster_state"); state != "ok" {
			return fmt.Sprintf("%s: cluster_state:%s", n, state)
		}
		if covered := slotsCovered(n.Do(t, "CLUSTER", "SLOTS")); covered != clusterSlots {
			return fmt.Sprintf("%s: CLUSTER SLOTS covers %d of %d slots", n, covered, clusterSlots)
		}
	}
	return ""
}

// slotsCovered counts the slots in a CLUSTER SLOTS reply that have a primary
// with an address.
func slotsCovered(reply any) int {
	ranges, _ := reply.([]any)
	covered := 0
	for _, r := range ranges {
		r, _ := r.([]any)
		if len(r) < 3 {
			continue
		}
		first, _ := r[0].(int64)
		last, _ := r[1].(int64)
		primary, _ := r[2].([]any)
		if len(primary) < 2 || primary[0] == "" || primary[1] == int64(0) {
			continue
		}
		covered += int(last - first + 1)
	}
	return covered
}
