package tokencache

import (
	"context"
	"encoding/json"
	"maps"
	"slices"
	"sync/atomic"
	"time"

	"github.com/AzureAD/microsoft-authentication-library-for-go/apps/confidential"
)

// answers are a partition's last silent results, one per scope set, all
// from one stored version. They answer a repeated call without MSAL: what
// MSAL would return, minus re-reading its maps and decoding the ID token.
//
// They are immutable once published in the pool, and read without locks.
// Each hit checks them against the stored version with one store Get: the
// store's L1 answers it from memory (about 0.1 µs), which costs less than
// keeping a second coherence mechanism beside the L1's, and is exactly as
// fresh as the L1 (with the L1 off, it is a round trip).
type answers struct {
	used    atomic.Bool // set on a hit, cleared by the pool's clock hand
	key     string      // the partition's store key
	version uint64
	first   scoped
	more    []scoped
}

// scoped is one scope set's result.
type scoped struct {
	key   string    // the scopes, joined by spaces
	until time.Time // when MSAL would refresh it: 5 minutes before expiry, or refresh_in
	res   confidential.AuthResult
	// granted holds res.GrantedScopes when they are few, as they usually
	// are: a hit copies them from here instead of from a slice elsewhere in
	// memory, one cache miss less at 10,000 users.
	granted  [inlineScopes]string
	ngranted int // -1: they are in res.GrantedScopes
}

const inlineScopes = 4

// newScoped keeps a copy of res: the caller that got res owns it.
func newScoped(key string, until time.Time, res confidential.AuthResult) scoped {
	r := scoped{key: key, until: until, ngranted: -1}
	r.res = (&scoped{res: res, ngranted: -1}).result()
	if len(res.GrantedScopes) <= inlineScopes {
		r.ngranted = copy(r.granted[:], res.GrantedScopes)
		r.res.GrantedScopes = nil
	}
	return r
}

// result returns a copy of the answer the caller owns: its slices and
// maps are the caller's to change, since the answer is shared.
func (r *scoped) result() confidential.AuthResult {
	res := r.res
	switch {
	case r.ngranted < 0:
		res.GrantedScopes = slices.Clone(r.res.GrantedScopes)
	case r.ngranted == 0:
		res.GrantedScopes = []string{}
	default:
		res.GrantedScopes = append([]string(nil), r.granted[:r.ngranted]...)
	}
	if res.DeclinedScopes != nil {
		res.DeclinedScopes = slices.Clone(res.DeclinedScopes)
	}
	if res.IDToken.AdditionalFields != nil {
		res.IDToken.AdditionalFields = deepCopy(res.IDToken.AdditionalFields)
	}
	if res.Account.AdditionalFields != nil {
		res.Account.AdditionalFields = deepCopy(res.Account.AdditionalFields)
	}
	res.Metadata.TokenSource = confidential.TokenSourceCache
	return res
}

// deepCopy copies a decoded JSON object: its values may be arrays,
// objects or raw JSON (MSAL keeps a cache entry's unknown fields as
// json.RawMessage), which a shallow copy would still share.
func deepCopy(m map[string]any) map[string]any {
	out := maps.Clone(m)
	for k, v := range out {
		out[k] = copyJSON(v)
	}
	return out
}

func copyJSON(v any) any {
	switch v := v.(type) {
	case map[string]any:
		return deepCopy(v)
	case json.RawMessage:
		return slices.Clone(v)
	case []any:
		s := slices.Clone(v)
		for i := range s {
			s[i] = copyJSON(s[i])
		}
		return s
	}
	return v
}

// maxAnswers bounds the scope sets remembered per partition.
const maxAnswers = 8

// answer answers a silent call from a partition's answers (nil: none)
// when they still hold: the token is not due for refresh, and the stored
// partition is still the version they came from.
func (cl *Client) answer(ctx context.Context, a *answers, key string) (confidential.AuthResult, bool) {
	if a == nil {
		return confidential.AuthResult{}, false
	}
	r := &a.first
	if r.key != key {
		if r = a.find(key); r == nil {
			return confidential.AuthResult{}, false
		}
	}
	if !cl.cache.o.Now().Before(r.until) {
		return confidential.AuthResult{}, false
	}
	if _, v, err := cl.cache.kv.Get(ctx, a.key); err != nil || v != a.version {
		return confidential.AuthResult{}, false
	}
	cl.cache.stats.answerHits.Add(1)
	return r.result(), true
}

func (a *answers) find(key string) *scoped {
	for i := range a.more {
		if a.more[i].key == key {
			return &a.more[i]
		}
	}
	return nil
}

// remember publishes res as the answer for key, beside the entry's other
// answers that still hold. e is locked.
func (cl *Client) remember(e *entry, key string, res confidential.AuthResult) {
	p := e.part
	if !p.loaded || !p.base.live {
		// Merged, refused or not stored: what is stored differs from what
		// MSAL holds.
		cl.pool.publish(e, nil)
		return
	}
	until := res.ExpiresOn.Add(-expiryMargin)
	if r := res.Metadata.RefreshOn; !r.IsZero() && r.Before(until) {
		until = r
	}
	n := &answers{key: p.key, version: p.base.version, first: newScoped(key, until, res)}
	if old := cl.pool.current(e); old != nil && old.version == p.base.version {
		for _, r := range append([]scoped{old.first}, old.more...) {
			if r.key != key && len(n.more) < maxAnswers-1 {
				n.more = append(n.more, r)
			}
		}
	}
	cl.pool.publish(e, n)
}
