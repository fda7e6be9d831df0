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

// Cluster is a Redis Cluster of primaries only, every slot assigned.
type Cluster struct {
	Nodes []*Node
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
		n := newNode(t, fmt.Sprintf("cluster node %d", i), "redis.conf")
		// An explicit bus port, not port+10000, which may be taken or above 65535.
		n.busPort = FreePort(t)
		n.lines = append(n.lines,
			"cluster-enabled yes",
			"cluster-config-file "+quote(filepath.Join(n.Dir, "nodes.conf")),
			"cluster-node-timeout 2000",
		)
		n.start(t)
		c.Nodes = append(c.Nodes, n)
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
	for _, n := range c.Nodes {
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
