// Package session keeps signed-in sessions in the shared store, so that a
// user signed in on one replica is signed in on all of them, and so that
// operations can list and revoke sessions by tenant or user.
//
// The browser holds only an opaque 256-bit random ID in a cookie; the store
// holds the record under the ID's SHA-256, so reading Redis (a dump, a
// replica, RedisInsight) never yields a cookie that works. The record's
// metadata (tenant, user, times, client) is readable JSON for operators;
// the app's own values are sealed, and the seal also binds the metadata to
// the key it is stored under, so a record copied under another key or
// written by someone without the sealing key is refused.
//
// Reads go through the store's coherent L1, and last-seen is written at most
// once per tenth of the idle timeout, so a steady stream of requests costs
// no round trip to Redis. A store that cannot answer is an error
// (store.ErrUnavailable), never "signed out": Middleware answers 503.
//
// See docs/sessions.md for the keys, the expiry rules and the failure table.
package session
