package tokencache

import "sync/atomic"

// Stats are the cache's counters since New. Two kinds of hit are counted
// apart because they cost differently: an answer hit skips MSAL entirely,
// a state hit runs MSAL on a partition already parsed in memory.
//
// The write-behind counters balance: every state queued is, in the end,
// landed, superseded, signed out, expired or dropped, or still pending.
type Stats struct {
	AnswerHits           uint64 // silent calls answered from a remembered result: one version check, no MSAL
	StateHits            uint64 // MSAL ran on a partition already in memory at the stored version: no parsing
	Loads                uint64 // partitions read and parsed
	Misses               uint64 // partitions absent
	Writes               uint64 // partitions written
	SkippedWrites        uint64 // exports that changed nothing
	Conflicts            uint64 // compare-and-set conflicts with another writer
	Merges               uint64 // merges after a conflict
	RefusedForeign       uint64 // writes refused: the cache held another account or was malformed
	RefusedOpen          uint64 // stored values that failed to open or parse, treated as absent
	DroppedAfterSignOut  uint64 // writes dropped because the user signed out meanwhile (tombstone, or gone since read)
	ServedLocal          uint64 // calls served from memory while the store was unavailable
	WriteBehindQueued    uint64 // states kept because the store was unavailable
	WriteBehindLanded    uint64 // of those, written later
	WriteBehindReplaced  uint64 // of those, replaced by a newer state of the same partition before landing
	WriteBehindSignedOut uint64 // of those, dropped: cancelled by SignOut, or the partition was signed out or gone
	WriteBehindExpired   uint64 // of those, dropped: older than TombstoneTTL, past what a tombstone can guard
	WriteBehindDropped   uint64 // of those, lost otherwise: queue full, write refused, still waiting at Close
	WriteBehindPending   int    // waiting now
	WriteBehindRetries   uint64 // flush rounds that found the store still unavailable
	OBOHits              uint64 // on-behalf-of results served from tenantgate's own entries
	RefreshLocks         uint64 // refresh locks taken in the store
	RefreshWaits         uint64 // refreshes that waited for another call's or replica's
	RefreshedElsewhere   uint64 // refreshes not sent: the partition was refreshed meanwhile, and reloaded
	RefreshLockFailures  uint64 // refreshes sent without the lock: the store could not lock
	RefreshLockLost      uint64 // locks that lapsed while held (the store was unreachable longer than RefreshLockTTL)
	PoolEntries          int    // partitions held in memory now
	PoolBytes            int64  // the estimate of what they hold (Options.PoolBytes bounds each Client's)
}

type counters struct {
	answerHits, stateHits, loads, misses, writes, skippedWrites, conflicts, merges atomic.Uint64
	refusedForeign, refusedOpen, droppedAfterSignOut, servedLocal, oboHits         atomic.Uint64
	wbQueued, wbLanded, wbReplaced, wbSignedOut, wbExpired, wbDropped, wbRetries   atomic.Uint64
}

// Stats returns the counters. The metrics code registers a Cache through
// this one method.
func (c *Cache) Stats() Stats {
	s := &c.stats
	var entries int
	var bytes int64
	c.poolsMu.Lock()
	for _, p := range c.pools {
		n, b := p.size()
		entries, bytes = entries+n, bytes+b
	}
	c.poolsMu.Unlock()
	return Stats{PoolEntries: entries, PoolBytes: bytes,
		AnswerHits: s.answerHits.Load(), StateHits: s.stateHits.Load(),
		Loads: s.loads.Load(), Misses: s.misses.Load(), Writes: s.writes.Load(),
		SkippedWrites: s.skippedWrites.Load(), Conflicts: s.conflicts.Load(), Merges: s.merges.Load(),
		RefusedForeign: s.refusedForeign.Load(), RefusedOpen: s.refusedOpen.Load(),
		DroppedAfterSignOut: s.droppedAfterSignOut.Load(), ServedLocal: s.servedLocal.Load(),
		WriteBehindQueued: s.wbQueued.Load(), WriteBehindLanded: s.wbLanded.Load(),
		WriteBehindReplaced: s.wbReplaced.Load(), WriteBehindSignedOut: s.wbSignedOut.Load(),
		WriteBehindExpired: s.wbExpired.Load(), WriteBehindDropped: s.wbDropped.Load(),
		WriteBehindPending: c.wb.pending(), WriteBehindRetries: s.wbRetries.Load(), OBOHits: s.oboHits.Load(),
		RefreshLocks: c.rf.locks.Load(), RefreshWaits: c.rf.waits.Load(), RefreshedElsewhere: c.rf.elsewhere.Load(),
		RefreshLockFailures: c.rf.failures.Load(), RefreshLockLost: c.rf.lost.Load(),
	}
}
