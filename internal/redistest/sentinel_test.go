package redistest

import (
	"testing"
	"time"
)

func TestSentinel(t *testing.T) {
	t.Parallel()
	start := time.Now()
	s := NewSentinel(t)
	t.Logf("primary, replica and 3 sentinels ready in %v", time.Since(start).Round(time.Millisecond))
	if len(s.SentinelAddrs()) != 3 {
		t.Fatalf("SentinelAddrs = %v", s.SentinelAddrs())
	}
	if got := s.MasterAddr(t); got != s.Primary.Addr {
		t.Fatalf("MasterAddr = %s, want the primary %s", got, s.Primary.Addr)
	}
	if got := s.Replica.Do(t, "SET", "k", "v"); !isReplyError(got, "READONLY") {
		t.Fatalf("SET on the replica = %#v, want READONLY", got)
	}
	oldPrimary, replica := s.Primary, s.Replica

	start = time.Now()
	p := s.Failover(t)
	t.Logf("failover took %v", time.Since(start).Round(time.Millisecond))
	if p != replica || s.Primary != replica || s.Replica != oldPrimary {
		t.Fatalf("after Failover: returned %s, Primary %s, Replica %s; want the former replica %s as primary",
			p, s.Primary, s.Replica, replica)
	}
	if oldPrimary.Running() {
		t.Fatal("the old primary still runs")
	}
	if got := s.MasterAddr(t); got != replica.Addr {
		t.Fatalf("MasterAddr after Failover = %s, want %s", got, replica.Addr)
	}
	if got := p.Do(t, "SET", "k", "v"); got != "OK" {
		t.Fatalf("SET on the new primary = %#v", got)
	}
}
