package redistest

import (
	"context"
	"fmt"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"
)

const (
	sentinelReadyTimeout = 30 * time.Second // until sentinels know everything
	failoverTimeout      = 30 * time.Second // primary killed until the replica rules
)

// Sentinel is a primary, one replica and three sentinels watching them under
// the name Master with a quorum of 2.
type Sentinel struct {
	// Master is the monitored name: "mymaster".
	Master string
	// Primary is the node the sentinels report as master, Replica the other;
	// Failover swaps them.
	Primary, Replica *Node
	Sentinels        []*Node
}

// SentinelAddrs are the sentinels' addresses.
func (s *Sentinel) SentinelAddrs() []string {
	addrs := make([]string, len(s.Sentinels))
	for i, n := range s.Sentinels {
		addrs[i] = n.Addr
	}
	return addrs
}

// NewSentinel starts a primary, a replica of it and three sentinels, and
// returns once the replica is in sync and every sentinel knows the replica
// (and has heard from it) and the two other sentinels, so that a failover
// can start at once.
func NewSentinel(t testing.TB) *Sentinel {
	t.Helper()
	s := &Sentinel{Master: "mymaster"}
	// Without a delay, a full sync starts at once instead of after 5 s
	// waiting for more replicas; on both nodes, as either may be primary.
	const noSyncDelay = "repl-diskless-sync-delay 0"
	s.Primary = newNode(t, "primary", "redis.conf")
	s.Primary.lines = append(s.Primary.lines, noSyncDelay)
	s.Primary.start(t)
	s.Replica = newNode(t, "replica", "redis.conf")
	s.Replica.lines = append(s.Replica.lines, noSyncDelay, "replicaof 127.0.0.1 "+strconv.Itoa(s.Primary.Port()))
	s.Replica.start(t)
	// Sentinels learn of replicas from the primary's INFO, which they ask
	// for at once and then only every 10 s: the replica must be attached
	// before they start.
	s.waitFor(t, sentinelReadyTimeout, func() string {
		if st := s.Replica.Info(t, "replication", "master_link_status"); st != "up" {
			return "replica master_link_status:" + st
		}
		if n := s.Primary.Info(t, "replication", "connected_slaves"); n != "1" {
			return "primary connected_slaves:" + n
		}
		return ""
	})
	for i := range 3 {
		n := newNode(t, fmt.Sprintf("sentinel %d", i), "sentinel.conf")
		n.sentinel = true
		n.lines = append(n.lines,
			"sentinel monitor "+s.Master+" 127.0.0.1 "+strconv.Itoa(s.Primary.Port())+" 2",
			"sentinel down-after-milliseconds "+s.Master+" 1000",
			"sentinel failover-timeout "+s.Master+" 5000",
		)
		n.start(t)
		s.Sentinels = append(s.Sentinels, n)
	}
	s.waitFor(t, sentinelReadyTimeout, func() string {
		for _, n := range s.Sentinels {
			if why := s.sentinelNotReady(t, n); why != "" {
				return n.String() + ": " + why
			}
		}
		return ""
	})
	return s
}

// sentinelNotReady says what sentinel n does not know yet, "" if nothing.
func (s *Sentinel) sentinelNotReady(t testing.TB, n *Node) string {
	t.Helper()
	master := fields(n.Do(t, "SENTINEL", "MASTER", s.Master))
	if master["num-other-sentinels"] != "2" {
		return "knows " + master["num-other-sentinels"] + " other sentinels"
	}
	replicas, _ := n.Do(t, "SENTINEL", "REPLICAS", s.Master).([]any)
	if len(replicas) != 1 {
		return fmt.Sprintf("knows %d replicas", len(replicas))
	}
	r := fields(replicas[0])
	if addr := net.JoinHostPort(r["ip"], r["port"]); addr != s.Replica.Addr {
		return "knows replica " + addr
	}
	if r["flags"] != "slave" || r["master-link-status"] != "ok" {
		return "replica flags " + r["flags"] + ", master-link-status " + r["master-link-status"]
	}
	return ""
}

// fields turns a flat [name, value, ...] reply into a map.
func fields(reply any) map[string]string {
	m := map[string]string{}
	arr, _ := reply.([]any)
	for i := 0; i+1 < len(arr); i += 2 {
		k, _ := arr[i].(string)
		m[k] = fmt.Sprint(arr[i+1])
	}
	return m
}

// MasterAddr asks a running sentinel for the master's address
// (SENTINEL get-master-addr-by-name).
func (s *Sentinel) MasterAddr(t testing.TB) string {
	t.Helper()
	for _, n := range s.Sentinels {
		if !n.Running() {
			continue
		}
		addr, err := s.masterAddr(n)
		if err != nil {
			t.Fatalf("redistest: %v", err)
		}
		return addr
	}
	t.Fatalf("redistest: no sentinel is running")
	return ""
}

func (s *Sentinel) masterAddr(n *Node) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), doTimeout)
	defer cancel()
	reply, err := n.Exec(ctx, "SENTINEL", "get-master-addr-by-name", s.Master)
	if err != nil {
		return "", err
	}
	arr, _ := reply.([]any)
	if len(arr) != 2 {
		return "", fmt.Errorf("SENTINEL get-master-addr-by-name on %s = %v", n, reply)
	}
	return net.JoinHostPort(fmt.Sprint(arr[0]), fmt.Sprint(arr[1])), nil
}

// Failover kills the current primary with SIGKILL and waits (30 s at most)
// until every running sentinel reports the replica as master and the replica
// reports role:master. Primary and Replica are swapped: Replica is then the
// killed node. Restart brings it back as a primary; the sentinels make it a
// replica only on their next 10 s INFO round, so a test in a hurry sends it
// REPLICAOF itself.
func (s *Sentinel) Failover(t testing.TB) (newPrimary *Node) {
	t.Helper()
	old, next := s.Primary, s.Replica
	if addr := s.MasterAddr(t); addr != old.Addr {
		old, next = next, old
		if addr != old.Addr {
			t.Fatalf("redistest: sentinels report master %s, neither the primary nor the replica", addr)
		}
	}
	old.Kill(t)
	s.waitFor(t, failoverTimeout, func() string {
		for _, n := range s.Sentinels {
			if !n.Running() {
				continue
			}
			addr, err := s.masterAddr(n)
			if err != nil {
				t.Fatalf("redistest: %v", err)
			}
			if addr != next.Addr {
				return n.String() + " reports master " + addr
			}
		}
		if role := next.Info(t, "replication", "role"); role != "master" {
			return next.String() + " reports role:" + role
		}
		return ""
	})
	s.Primary, s.Replica = next, old
	return next
}

// waitFor polls notReady until it returns "" and fails the test with its
// last answer and the logs if that takes longer than timeout.
func (s *Sentinel) waitFor(t testing.TB, timeout time.Duration, notReady func() string) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		why := notReady()
		if why == "" {
			return
		}
		if time.Now().After(deadline) {
			var logs strings.Builder
			for _, n := range append([]*Node{s.Primary, s.Replica}, s.Sentinels...) {
				logs.WriteString(n.logTail())
			}
			t.Fatalf("redistest: sentinel setup not ready after %v: %s\n%s", timeout, why, logs.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}
