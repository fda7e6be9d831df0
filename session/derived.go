package session

// derivedValue is one entry of a record's derived values: an immutable
// list, replaced whole (copy on write), so that readers take no lock.
type derivedValue struct {
	key  any
	val  any
	next *derivedValue
}

// Derived returns what make computes from s, computed once per stored
// version of the session in this process rather than once per request:
// the gateway's encoded identity headers, for example, which depend only
// on the session's claims. The value lives as long as the decoded record
// the session was read from (see Options.DecodedRecords), so it needs no
// cache, no bound and no invalidation of its own: a changed session is a
// new record, and a new record computes again.
//
// key tells callers apart, as a context key does (use a value of an
// unexported type). make must be a pure function of s, cheap enough to
// run twice, since two requests may race to compute it; the value is
// shared by concurrent requests, so it changes only through its own
// synchronization (an atomic, as signin keeps when a session's token is
// next checked). A session made by Create, or read while
// the decoded cache is off, computes on each call.
func (s *Session) Derived(key any, make func(*Session) any) any {
	rec := s.rec
	if rec == nil {
		return make(s)
	}
	head := rec.derived.Load()
	for d := head; d != nil; d = d.next {
		if d.key == key {
			return d.val
		}
	}
	v := make(s)
	// Losing the race leaves another caller's equal value in place.
	rec.derived.CompareAndSwap(head, &derivedValue{key: key, val: v, next: head})
	return v
}
