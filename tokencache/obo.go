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

// oboKey is {prefix}{tenant}:obo:{sha256 of the assertion}:{sha256 of the
// scopes}, tenant being the one the token is asked from: the assertion
// itself is a bearer token and never appears in a key.
func (cl *Client) oboKey(tenant, assertion string, scopes []string) string {
	a := sha256.Sum256([]byte(assertion))
	s := slices.Clone(scopes)
	slices.Sort(s)
	h := sha256.Sum256([]byte(strings.Join(s, " ")))
	enc := base64.RawURLEncoding
	return cl.prefix + tenant + ":obo:" + enc.EncodeToString(a[:]) + ":" + enc.EncodeToString(h[:12])
}

// AcquireTokenOnBehalfOf exchanges the user's assertion (the access token
// the caller received) for a token to a downstream API, from the cache
// while it is valid. It takes WithClaims (the identity provider is asked,
// as MSAL would, and the new token replaces the cached one) and
// WithTenantID (a token from that tenant, cached under its key). As for
// AcquireTokenSilent, only resource scopes reach MSAL.
func (cl *Client) AcquireTokenOnBehalfOf(ctx context.Context, assertion string, scopes []string, opts ...Option) (confidential.AuthResult, error) {
	o, err := collect("AcquireTokenOnBehalfOf", optClaims|optTenantID, opts)
	if err != nil {
		return confidential.AuthResult{}, err
	}
	if scopes = ResourceScopes(scopes); len(scopes) == 0 {
		return confidential.AuthResult{}, ErrNoResourceScope
	}
	tenant := cl.tenant
	var mo []confidential.AcquireOnBehalfOfOption
	if o.tenantID != "" && o.tenantID != cl.tenant {
		tenant = o.tenantID
		mo = append(mo, confidential.WithTenantID(o.tenantID))
	}
	if o.claims != "" {
		mo = append(mo, confidential.WithClaims(o.claims))
	}
	key := cl.oboKey(tenant, assertion, scopes)
	kv := cl.cache.kv
	if o.claims == "" {
		sealed, _, err := kv.Get(ctx, key)
		switch {
		case err == nil:
			if plain, err := cl.cache.open(key, sealed); err == nil {
				var e oboEntry
				if json.Unmarshal(plain, &e) == nil && cl.cache.o.Now().Add(expiryMargin).Before(e.ExpiresOn) {
					cl.cache.stats.oboHits.Add(1)
					return confidential.AuthResult{AccessToken: e.AccessToken, ExpiresOn: e.ExpiresOn, GrantedScopes: e.Scopes}, nil
				}
			}
		case !errors.Is(err, store.ErrNotFound):
			return confidential.AuthResult{}, fmt.Errorf("tokencache: read on-behalf-of entry: %w", err)
		}
	}
	c, _, err := cl.msal(nil)
	if err != nil {
		return confidential.AuthResult{}, err
	}
	res, err := c.AcquireTokenOnBehalfOf(ctx, assertion, scopes, mo...)
	if err != nil {
		return res, err
	}
	if err := cl.keepOBO(ctx, key, res); err != nil {
		cl.cache.o.Logger.Warn("tokencache: on-behalf-of result not cached", "key", key, "err", err)
	}
	return res, nil
}

// keepOBO stores res under key. The last writer wins: two fresh tokens
// for the same request are equally good, and the later one is the one a
// claims challenge asked for, so on a conflict it re-reads the version and
// writes over it.
func (cl *Client) keepOBO(ctx context.Context, key string, res confidential.AuthResult) error {
	ttl := res.ExpiresOn.Sub(cl.cache.o.Now())
	if ttl <= 0 {
		return nil
	}
	plain, err := json.Marshal(oboEntry{AccessToken: res.AccessToken, ExpiresOn: res.ExpiresOn, Scopes: res.GrantedScopes})
	if err != nil {
		return err
	}
	sealed, err := cl.cache.sealer.Seal(plain, key)
	if err != nil {
		return err
	}
	kv := cl.cache.kv
	for attempt := 0; attempt < maxCASAttempts; attempt++ {
		_, v, err := kv.Get(ctx, key)
		if errors.Is(err, store.ErrNotFound) {
			v = 0
		} else if err != nil {
			return err
		}
		if _, err = kv.CompareAndSet(ctx, key, v, sealed, ttl); !errors.Is(err, store.ErrConflict) {
			return err
		}
	}
	return store.ErrConflict
}
