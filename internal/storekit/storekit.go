// Package storekit holds what every store implementation shares but no
// store consumer needs: the version rule and the TTL check.
package storekit

import (
	"errors"
	"time"
)

// ValidTTL reports a ttl that no backend can honour.
func ValidTTL(ttl time.Duration) error {
	if ttl <= 0 {
		return errors.New("store: ttl must be positive: every value expires")
	}
	return nil
}

// NextVersion is the version a write after prev gets: greater than prev and,
// where the clock allows, the current time in microseconds. Tying versions
// to time keeps them increasing even when a key is deleted and written
// again, so a writer holding a version from before the delete cannot win a
// compare-and-set against the new value.
func NextVersion(prev uint64, now time.Time) uint64 {
	v := uint64(now.UnixMicro())
	if v <= prev {
		v = prev + 1
	}
	return v
}
