package redisstore_test

import (
	"strings"
	"testing"
	"time"
)

// The checker of TestCoherenceHistory must itself catch what it is for:
// each bad history here is flagged, each good one is not.
func TestCheckHistoryFlagsBadHistories(t *testing.T) {
	ms := func(n int64) int64 { return n * int64(time.Millisecond) }
	w := func(proc int, v uint64, start, end int64) histOp {
		return histOp{proc: proc, op: "cas", key: "k", version: v, start: ms(start), end: ms(end)}
	}
	del := func(proc int, start, end int64) histOp {
		return histOp{proc: proc, op: "del", key: "k", start: ms(start), end: ms(end)}
	}
	get := func(proc int, v uint64, start, end int64) histOp {
		return histOp{proc: proc, op: "get", key: "k", version: v, start: ms(start), end: ms(end)}
	}
	for _, c := range []struct {
		name string
		ops  []histOp
		bad  string // a substring of the violation; "" for a good history
	}{
		{"stale value long after a newer write", []histOp{w(0, 1, 0, 1), w(0, 2, 10, 11), get(1, 1, 500, 501)}, "returned version 1"},
		{"absent long after a write, no delete", []histOp{w(0, 1, 0, 1), get(1, 0, 500, 501)}, "returned absent"},
		{"value written before a delete, long after it", []histOp{w(0, 1, 0, 1), del(0, 10, 11), get(1, 1, 500, 501)}, "written before"},
		{"own write not read at once", []histOp{w(0, 1, 0, 1), w(0, 2, 10, 11), get(0, 1, 20, 21)}, "returned version 1"},
		{"own delete not read at once", []histOp{w(0, 1, 0, 1), del(0, 10, 11), get(0, 1, 20, 21)}, "written before"},
		{"version never written", []histOp{w(0, 1, 0, 1), get(1, 7, 20, 21)}, "no write produced"},
		{"stale within delta", []histOp{w(0, 1, 0, 1), w(0, 2, 10, 11), get(1, 1, 50, 51)}, ""},
		{"fresh", []histOp{w(0, 1, 0, 1), w(0, 2, 10, 11), get(1, 2, 500, 501)}, ""},
		{"absent after a delete", []histOp{w(0, 1, 0, 1), del(1, 10, 11), get(2, 0, 500, 501)}, ""},
		{"rewritten after a delete", []histOp{w(0, 5, 0, 1), del(1, 10, 11), w(2, 9, 20, 21), get(0, 9, 500, 501)}, ""},
		{"concurrent write may come last", []histOp{w(0, 1, 0, 300), w(1, 2, 10, 11), get(2, 2, 500, 501)}, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			rep := checkHistory(c.ops, 100*time.Millisecond)
			switch {
			case c.bad == "" && len(rep.violations) > 0:
				t.Fatalf("a good history flagged: %q", rep.violations)
			case c.bad != "" && len(rep.violations) == 0:
				t.Fatal("a bad history passed")
			case c.bad != "" && !strings.Contains(strings.Join(rep.violations, "\n"), c.bad):
				t.Fatalf("violations %q do not mention %q", rep.violations, c.bad)
			}
		})
	}
}
