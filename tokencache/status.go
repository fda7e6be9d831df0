package tokencache

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/tenantgate/tenantgate/store"
)

// PartitionStatus is what operators may know of a user's token partition:
// expiries and flags, never a token. It is read-only: Status neither
// refreshes nor writes.
type PartitionStatus struct {
	// Found reports a stored partition (it may be a sign-out tombstone).
	Found bool
	// SignedOut reports the tombstone sign-out leaves.
	SignedOut bool
	// Unreadable reports a value that does not open or parse (treated as
	// absent by the cache, and counted there).
	Unreadable bool
	// RefreshToken reports whether a refresh token is held.
	RefreshToken bool
	// AccessTokens are the access tokens held, one per scope set.
	AccessTokens []AccessTokenStatus
}

// AccessTokenStatus describes one cached access token.
type AccessTokenStatus struct {
	Scopes    string    // the token's target, space-separated
	ExpiresOn time.Time // when the IdP says it expires
	CachedAt  time.Time // when it was acquired: the sign-in or the last refresh
	RefreshOn time.Time // when MSAL refreshes it early (refresh_in), if the IdP said
}

// LastAcquired is the newest CachedAt: the last sign-in or refresh that
// reached the IdP for this partition.
func (s PartitionStatus) LastAcquired() time.Time {
	var t time.Time
	for _, a := range s.AccessTokens {
		if a.CachedAt.After(t) {
			t = a.CachedAt
		}
	}
	return t
}

// Status opens the user's partition and reports expiries and flags.
func (cl *Client) Status(ctx context.Context, homeAccountID string) (PartitionStatus, error) {
	key, _, _, err := storeKey(cl.prefix, cl.userTenant(""), homeAccountID)
	if err != nil {
		return PartitionStatus{}, err
	}
	sealed, _, err := cl.cache.kv.Get(ctx, key)
	if errors.Is(err, store.ErrNotFound) {
		return PartitionStatus{}, nil
	}
	if err != nil {
		return PartitionStatus{}, fmt.Errorf("tokencache: status of %s: %w", key, err)
	}
	st := PartitionStatus{Found: true}
	plain, err := cl.cache.sealer.Open(sealed, key)
	if err != nil {
		st.Unreadable = true
		return st, nil
	}
	if isTombstone(plain) {
		st.SignedOut = true
		return st, nil
	}
	b, err := parseBlob(plain)
	if err != nil {
		st.Unreadable = true
		return st, nil
	}
	st.RefreshToken = len(b[secRefreshToken]) > 0
	for _, raw := range b[secAccessToken] {
		var f struct {
			Target    string `json:"target"`
			ExpiresOn string `json:"expires_on"`
			CachedAt  string `json:"cached_at"`
			RefreshOn string `json:"refresh_on"`
		}
		_ = json.Unmarshal(raw, &f) // a malformed entry reads as having no fields
		st.AccessTokens = append(st.AccessTokens, AccessTokenStatus{Scopes: f.Target,
			ExpiresOn: unixTime(f.ExpiresOn), CachedAt: unixTime(f.CachedAt), RefreshOn: unixTime(f.RefreshOn)})
	}
	slices.SortFunc(st.AccessTokens, func(a, b AccessTokenStatus) int { return a.ExpiresOn.Compare(b.ExpiresOn) })
	return st, nil
}

func unixTime(s string) time.Time {
	if n := unixField(s); n > 0 {
		return time.Unix(n, 0).UTC()
	}
	return time.Time{}
}
