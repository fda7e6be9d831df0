// Package storetest is the conformance suite every store.Store must pass:
// memstore, and redisstore in each Redis topology. One suite keeps the
// backends interchangeable; a behaviour the rest of tenantgate relies on
// belongs here, not in one backend's tests.
//
// A backend's test calls it with a constructor, under a subtest named for
// the backend:
//
//	func TestConformance(t *testing.T) {
//		t.Run("memstore", func(t *testing.T) {
//			storetest.Run(t, func(t *testing.T) store.Store {
//				s := memstore.New(memstore.Options{})
//				t.Cleanup(func() { s.Close() })
//				return s
//			})
//		})
//	}
//
// The suite uses only single-key operations on keys under "tg1:test:" plus
// a random part per run, with no hash tags, so it runs on a Redis Cluster
// and suites sharing one server do not collide. It takes about a second on
// a local backend; most of that is waiting for 200ms TTLs to lapse.
package storetest
