package redisstore_test

import (
	"cmp"
	"fmt"
	"slices"
	"time"
)

// histOp is one operation a process of TestCoherenceHistory observed.
// Times are time.Now().UnixNano() on one machine, so comparable across
// processes.
type histOp struct {
	proc    int
	op      string // "get", "cas" (succeeded), "del", "amb" (a write whose outcome is unknown)
	key     string
	version uint64 // get: what it returned (0: absent); cas: the new version
	start   int64
	end     int64
}

// histReport is what checkHistory found.
type histReport struct {
	violations []string
	gets       int
	// staleness is, for each Get that returned an outdated value, how long
	// after the earliest superseding write (or delete) completed it
	// started.
	staleness []time.Duration
}

// checkHistory checks bounded staleness: no Get that starts more than
// delta after a write of version v completed returns a version below v,
// or absent unless a delete may have come after that write; no Get that
// starts more than delta after a delete completed returns a value whose
// write completed before the delete started. A process reads its own
// writes at once: for Gets after the same process's write or delete
// completed, delta is 0.
func checkHistory(ops []histOp, delta time.Duration) histReport {
	var rep histReport
	type keyOps struct{ writes, dels, ambs, gets []histOp }
	byKey := map[string]*keyOps{}
	for _, o := range ops {
		k := byKey[o.key]
		if k == nil {
			k = &keyOps{}
			byKey[o.key] = k
		}
		switch o.op {
		case "cas":
			k.writes = append(k.writes, o)
		case "del":
			k.dels = append(k.dels, o)
		case "get":
			k.gets = append(k.gets, o)
		case "amb":
			k.ambs = append(k.ambs, o)
		}
	}
	keys := make([]string, 0, len(byKey))
	for k := range byKey {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	d := delta.Nanoseconds()
	for _, key := range keys {
		k := byKey[key]
		written := map[uint64]histOp{}
		for _, w := range k.writes {
			written[w.version] = w
		}
		slices.SortFunc(k.writes, func(a, b histOp) int { return cmp.Compare(a.end, b.end) })
		// deleteBetween: a delete (or a write of unknown outcome, which
		// may have been one) that may have taken effect after w and before
		// g ended.
		maybeDels := slices.Concat(k.dels, k.ambs)
		deleteBetween := func(w, g histOp) bool {
			for _, del := range maybeDels {
				if del.end > w.start && del.start < g.end {
					return true
				}
			}
			return false
		}
		for _, g := range k.gets {
			rep.gets++
			bound := func(o histOp) int64 {
				if o.proc == g.proc {
					return o.end
				}
				return o.end + d
			}
			var wr histOp
			if g.version != 0 {
				var ok bool
				if wr, ok = written[g.version]; !ok {
					if len(k.ambs) == 0 {
						rep.violations = append(rep.violations, fmt.Sprintf("%s: %s returned version %d, which no write produced", key, describe(g), g.version))
					}
					continue
				}
			}
			stalest := int64(-1) // the earliest end of what supersedes g's answer
			// Writes that completed before g started, latest first. For a
			// value, a write that completed before its own write started
			// cannot supersede it (its write's compare-and-set came after,
			// on that version or a later one, or after a delete). For
			// absent, a write that started before the last delete that may
			// precede g ended is covered by that delete, and so is every
			// write that ended before it.
			lastDel := int64(-1)
			if g.version == 0 {
				for _, del := range maybeDels {
					if del.start < g.end {
						lastDel = max(lastDel, del.end)
					}
				}
			}
			i, _ := slices.BinarySearchFunc(k.writes, g.start, func(w histOp, t int64) int { return cmp.Compare(w.end, t) })
			for i--; i >= 0; i-- {
				w := k.writes[i]
				if (g.version != 0 && w.end < wr.start) || (g.version == 0 && w.end < lastDel) {
					break
				}
				outdated := false
				switch {
				case g.version == 0:
					outdated = w.start >= lastDel
				case g.version < w.version:
					outdated = wr.end < w.start || !deleteBetween(w, g)
				}
				if !outdated {
					continue
				}
				if stalest < 0 || w.end < stalest {
					stalest = w.end
				}
				if g.start > bound(w) {
					rep.violations = append(rep.violations, fmt.Sprintf("%s: %s returned %s, %v after %s completed",
						key, describe(g), versionString(g.version), time.Duration(g.start-w.end), describe(w)))
				}
			}
			if g.version != 0 {
				for _, del := range k.dels {
					if wr.end >= del.start || del.end >= g.start {
						continue
					}
					if stalest < 0 || del.end < stalest {
						stalest = del.end
					}
					if g.start > bound(del) {
						rep.violations = append(rep.violations, fmt.Sprintf("%s: %s returned version %d, written before %s, %v after the delete completed",
							key, describe(g), g.version, describe(del), time.Duration(g.start-del.end)))
					}
				}
			}
			if stalest >= 0 {
				rep.staleness = append(rep.staleness, time.Duration(g.start-stalest))
			}
		}
	}
	return rep
}

func describe(o histOp) string {
	s := fmt.Sprintf("process %d's %s", o.proc, o.op)
	if o.op == "cas" {
		s += fmt.Sprintf(" of version %d", o.version)
	}
	return s
}

func versionString(v uint64) string {
	if v == 0 {
		return "absent"
	}
	return fmt.Sprintf("version %d", v)
}

// quantiles returns the p50, p99 and max of ds (zeros if empty).
func quantiles(ds []time.Duration) (p50, p99, maxd time.Duration) {
	if len(ds) == 0 {
		return 0, 0, 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	at := func(q float64) time.Duration { return s[min(len(s)-1, int(q*float64(len(s))))] }
	return at(0.50), at(0.99), s[len(s)-1]
}
