package store

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"time"
)

// Errors a caller branches on. Implementations wrap them with %w, so test
// with errors.Is.
var (
	// ErrNotFound means the key holds no value (never written, deleted or expired).
	ErrNotFound = errors.New("store: not found")
	// ErrConflict means a compare-and-set lost to a concurrent writer, or a
	// lock is held by another owner: re-read and retry, or wait.
	ErrConflict = errors.New("store: conflict: the value changed since it was read; re-read and retry")
	// ErrUnavailable means the backing service could not answer (down,
	// unreachable, timed out, refused). It is transient: callers must not
	// treat it as "not found" (a user is not signed out because Redis is down).
	ErrUnavailable = errors.New("store: unavailable")
)

// Reader reads a value and the version it was written with.
//
// Version 0 is never returned with a value; it stands for "absent" in
// CompareAndSet. Callers must not modify the returned slice: it may be shared
// with an in-process cache. Implementations are safe for concurrent use.
type Reader interface {
	Get(ctx context.Context, key string) (data []byte, version uint64, err error)
}

// Writer writes versioned values.
//
// CompareAndSet stores data under key with the given time to live only if
// the key's current version is version (0: the key must be absent), and
// returns the new version. It returns ErrConflict when another writer got
// there first, so no update is ever lost. ttl must be positive.
//
// Delete removes the key; deleting an absent key is not an error.
// Implementations are safe for concurrent use.
type Writer interface {
	CompareAndSet(ctx context.Context, key string, version uint64, data []byte, ttl time.Duration) (newVersion uint64, err error)
	Delete(ctx context.Context, key string) error
}

// KV is a versioned key-value store.
type KV interface {
	Reader
	Writer
}

// Taker reads and deletes a value in one step, so that of many concurrent
// callers exactly one gets it: the contract one-time sign-in state needs.
// It returns ErrNotFound to every other caller.
type Taker interface {
	Take(ctx context.Context, key string) ([]byte, error)
}

// Member is one entry of a sorted index.
type Member struct {
	Name  string
	Score float64
}

// Index keeps sorted sets of small member names, for example the sessions of
// a tenant scored by their expiry time.
//
// IndexAdd adds or re-scores members and makes the index live at least ttl
// from now. IndexRange returns members with min <= score <= max in ascending
// score order, at most limit of them (limit <= 0: all). IndexRemove removes
// members; IndexTrim removes every member scored at or below max and returns
// how many it removed. Implementations are safe for concurrent use.
type Index interface {
	IndexAdd(ctx context.Context, index string, ttl time.Duration, members ...Member) error
	IndexRemove(ctx context.Context, index string, names ...string) error
	IndexRange(ctx context.Context, index string, min, max float64, limit int) ([]Member, error)
	IndexTrim(ctx context.Context, index string, max float64) (removed int, err error)
}

// Locker is a lease held by one owner at a time, for work that must happen
// once across all replicas (a token refresh).
//
// Acquire takes the lock for owner if it is free or already owner's, for ttl;
// it returns ErrConflict if another owner holds it. Renew extends it and
// Release frees it, both only for the owner: for anyone else they return
// ErrConflict and change nothing. A lock that is not renewed expires after
// its ttl, so a crashed owner never blocks the others for long. Owners are
// random strings from NewOwner.
type Locker interface {
	Acquire(ctx context.Context, key, owner string, ttl time.Duration) error
	Renew(ctx context.Context, key, owner string, ttl time.Duration) error
	Release(ctx context.Context, key, owner string) error
}

// Publisher sends a small message to every current subscriber of a channel,
// at most once; nothing is kept for subscribers that join later.
type Publisher interface {
	Publish(ctx context.Context, channel string, msg []byte) error
}

// Subscriber delivers a channel's messages to handle, one at a time, in the
// order they were published, from the moment Subscribe returns until the
// returned Subscription is closed or ctx ends. After a lost connection it
// resubscribes by itself; messages published meanwhile are lost, so handle
// must tolerate gaps. handle must not block for long.
type Subscriber interface {
	Subscribe(ctx context.Context, channel string, handle func(msg []byte)) (Subscription, error)
}

// Subscription is an active subscription.
type Subscription interface {
	// Close stops delivery; after it returns, handle is not called again.
	Close() error
}

// PubSub publishes and subscribes.
type PubSub interface {
	Publisher
	Subscriber
}

// Store is everything a backend offers: what memstore and redisstore
// implement and storetest checks. Consumers should ask for the smallest
// interface they need instead.
type Store interface {
	KV
	Taker
	Index
	Locker
	PubSub
	// Close releases connections and stops background work.
	Close() error
}

// NewOwner returns a random lock owner token.
func NewOwner() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go 1.24+).
	return hex.EncodeToString(b[:])
}
