// Package tokencache is MSAL Go's token cache kept in a shared store
// (Redis), so that every replica of a service sees the tokens any of them
// acquired, sealed at rest and safe under concurrent writers.
//
// MSAL Go's cache.ExportReplace swaps a client's whole in-memory cache on
// every call, which makes a naive shared cache wrong in several measured
// ways (see docs/token-cache.md). This package avoids them by construction:
// callers never hold a raw MSAL client. A Client hands each MSAL call a
// confidential client bound to exactly one partition (one user, the app, or
// none for on-behalf-of) under that partition's lock, and each partition
// remembers which stored version its in-memory state came from, so an
// unchanged partition is neither fetched from Redis (the store's L1 answers)
// nor parsed again.
package tokencache
