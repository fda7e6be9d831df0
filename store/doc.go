// Package store defines the small storage contract that tenantgate's token
// cache, sessions and sign-in are written against: versioned values with
// compare-and-set, one-time values, sorted indexes, owner locks and
// publish/subscribe of small events.
//
// The contract is small so that it can be kept by Redis in every topology
// (package redisstore) and by a single process (package memstore), and so
// that one conformance suite (package storetest) proves both.
package store
