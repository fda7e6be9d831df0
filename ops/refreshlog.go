package ops

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"time"

	"github.com/tenantgate/tenantgate/store"
)

// RefreshRecord is one refresh of an account's tokens that reached the
// identity provider, whatever its result.
type RefreshRecord struct {
	At time.Time `json:"at"`
	// Result is ok, invalid_grant (the refresh token was refused: the
	// user must sign in), transient (the IdP failed, throttled or did not
	// answer) or other.
	Result string `json:"result"`
	// Error says what failed: the IdP's OAuth error code and AADSTS
	// number ("invalid_grant AADSTS700082"), "HTTP 503", or "no answer".
	// Never the error description, which may echo the request.
	Error string `json:"error,omitempty"`
	// Scopes are the resource scopes the refresh asked for, sorted, the
	// OIDC ones dropped: the access token row it belongs to.
	Scopes  string `json:"scopes,omitempty"`
	Replica string `json:"replica"`
}

// maxScopeRecords bounds the records kept per account: one per scope set
// refreshed, newest first. Apps ask for a handful of scope sets.
const maxScopeRecords = 8

// RefreshLog keeps the last refresh of each account and scope set in the
// store, in clear (it holds no token), under
// tg1:ops:r:{tenantID}:{homeAccountID}, so every replica's ops page sees
// which replica refreshed last and how it went. It is written once per
// refresh, which the token cache already makes rare.
type RefreshLog struct {
	kv      store.KV
	prefix  string
	replica string
	ttl     time.Duration
	now     func() time.Time
}

// NewRefreshLog returns a RefreshLog on kv for this replica.
func NewRefreshLog(kv store.KV, replica string) *RefreshLog {
	return &RefreshLog{kv: kv, prefix: "tg1:ops:r:", replica: replica, ttl: 90 * 24 * time.Hour, now: time.Now}
}

func (l *RefreshLog) key(tenantID, home string) string { return l.prefix + tenantID + ":" + home }

// Record notes a refresh; its At and Replica are set here. It replaces
// the record of the same scope set. Failures are ignored: this is a
// display, never a reason to fail a refresh.
func (l *RefreshLog) Record(ctx context.Context, tenantID, home string, r RefreshRecord) {
	if tenantID == "" || home == "" || len(tenantID)+len(home) > 512 || len(r.Scopes) > 2048 {
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Second)
	defer cancel()
	r.At, r.Replica = l.now().UTC().Truncate(time.Second), l.replica
	key := l.key(tenantID, home)
	for range 3 {
		old, v, err := l.kv.Get(ctx, key)
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			return
		}
		recs := []RefreshRecord{r}
		for _, o := range decodeRefreshes(old) {
			if o.Scopes != r.Scopes && len(recs) < maxScopeRecords {
				recs = append(recs, o)
			}
		}
		b, _ := json.Marshal(recs)
		if _, err = l.kv.CompareAndSet(ctx, key, v, b, l.ttl); !errors.Is(err, store.ErrConflict) {
			return
		}
	}
}

// Last returns the account's last refresh, of any scope set, if one is
// known.
func (l *RefreshLog) Last(ctx context.Context, tenantID, home string) (RefreshRecord, bool) {
	recs := l.All(ctx, tenantID, home)
	if len(recs) == 0 {
		return RefreshRecord{}, false
	}
	return recs[0], true
}

// All returns the account's last refresh of each scope set, newest first.
func (l *RefreshLog) All(ctx context.Context, tenantID, home string) []RefreshRecord {
	b, _, err := l.kv.Get(ctx, l.key(tenantID, home))
	if err != nil {
		return nil
	}
	return decodeRefreshes(b)
}

// decodeRefreshes reads a stored value: a list of records, or the single
// record (no scopes) that earlier releases wrote, so a rolling deploy
// shows both. Anything else reads as none.
func decodeRefreshes(b []byte) []RefreshRecord {
	if len(b) == 0 || len(b) > 16<<10 {
		return nil
	}
	var recs []RefreshRecord
	if json.Unmarshal(b, &recs) == nil {
		slices.SortStableFunc(recs, func(a, b RefreshRecord) int { return b.At.Compare(a.At) })
		return recs
	}
	var one RefreshRecord
	if json.Unmarshal(b, &one) == nil && one.Result != "" {
		return []RefreshRecord{one}
	}
	return nil
}

// oidcScopes are what MSAL adds to every request; they name no access
// token.
var oidcScopes = map[string]bool{"openid": true, "profile": true, "offline_access": true, "email": true}

// scopeSet is scopes (space-separated, as in a token request or an access
// token's target) as one comparable string: lower case, sorted, without
// the OIDC scopes.
func scopeSet(scopes string) string {
	var out []string
	for _, s := range strings.Fields(strings.ToLower(scopes)) {
		if !oidcScopes[s] {
			out = append(out, s)
		}
	}
	slices.Sort(out)
	return strings.Join(slices.Compact(out), " ")
}
