// Package memstore keeps the store contract in one process: the embedded
// default when tenantgate runs without Redis (development, tests, a single
// replica). Nothing is shared with other processes and nothing survives a
// restart.
//
// Values, indexes and locks live in separate namespaces here, whereas in
// Redis they share one: callers keep their names distinct anyway.
package memstore
