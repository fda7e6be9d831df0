// Package storetest is the conformance suite every store.Store must pass:
// memstore, and redisstore in each Redis topology. One suite keeps the
// backends interchangeable; a behaviour the rest of tenantgate relies on
// belongs here, not in one backend's tests.
//
// The suite uses only single-key operations on keys under "tg1:test:" plus
// a random part per run, with no hash tags, so it runs on a Redis Cluster
// and suites sharing one server do not collide.
package storetest
