package tokencache

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/AzureAD/microsoft-authentication-library-for-go/apps/confidential"

	"github.com/tenantgate/tenantgate/store"
)

// expiryMargin is how early a cached token counts as expired, as in MSAL.
const expiryMargin = 5 * time.Minute

// oboEntry is what tenantgate keeps of an on-behalf-of result. MSAL Go
// cannot keep these in an external cache (it exports the wrong manager,
// upstream issue #455), so they are stored here, sealed like the rest.
type oboEntry struct {
	AccessToken string    `json:"access_token"`
	ExpiresOn   time.Time `json:"expires_on"`
	Scopes      []string  `json:"scopes"`
}

// oboKey is …:obo:{sha256 of the assertion}:{sha256 of the scopes}: the
// assertion itself is a bearer token and never appears in a key.
func (cl *Client) oboKey(assertion string, scopes []string) string {
	a := sha256.Sum256([]byte(assertion))
	s := slices.Clone(scopes)
	slices.Sort(s)
	h := sha256.Sum256([]byte(strings.Join(s, " ")))
	enc := base64.RawURLEncoding
	return cl.scope + "obo:" + enc.EncodeToString(a[:]) + ":" + enc.EncodeToString(h[:12])
}

// AcquireTokenOnBehalfOf exchanges the user's assertion (the access token
// the caller received) for a token to a downstream API, from the cache
// while it is valid.
func (cl *Client) AcquireTokenOnBehalfOf(ctx context.Context, assertion string, scopes []string, opts ...confidential.AcquireOnBehalfOfOption) (confidential.AuthResult, error) {
	key := cl.oboKey(assertion, scopes)
	kv := cl.cache.kv
	now := cl.cache.o.Now()
	sealed, version, err := kv.Get(ctx, key)
	switch {
	case err == nil:
		if plain, err := cl.cache.open(key, sealed); err == nil {
			var e oboEntry
			if json.Unmarshal(plain, &e) == nil && now.Add(expiryMargin).Before(e.ExpiresOn) {
				cl.cache.stats.oboHits.Add(1)
				return confidential.AuthResult{AccessToken: e.AccessToken, ExpiresOn: e.ExpiresOn, GrantedScopes: e.Scopes}, nil
			}
		}
	case !errors.Is(err, store.ErrNotFound):
		return confidential.AuthResult{}, fmt.Errorf("tokencache: read on-behalf-of entry: %w", err)
	}
	c, err := cl.msal(nil)
	if err != nil {
		return confidential.AuthResult{}, err
	}
	res, err := c.AcquireTokenOnBehalfOf(ctx, assertion, scopes, opts...)
	if err != nil {
		return res, err
	}
	plain, err := json.Marshal(oboEntry{AccessToken: res.AccessToken, ExpiresOn: res.ExpiresOn, Scopes: res.GrantedScopes})
	if err != nil {
		return res, nil
	}
	if sealed, err := cl.cache.sealer.Seal(plain, key); err == nil {
		ttl := res.ExpiresOn.Sub(now)
		if ttl > 0 {
			// Last writer wins: two fresh tokens for the same request are
			// equally good, so no merge is needed.
			if _, err := kv.CompareAndSet(ctx, key, version, sealed, ttl); err != nil && !errors.Is(err, store.ErrConflict) {
				cl.cache.o.Logger.Warn("tokencache: on-behalf-of result not cached", "key", key, "err", err)
			}
		}
	}
	return res, nil
}
