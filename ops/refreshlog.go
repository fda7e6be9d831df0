package ops

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"github.com/tenantgate/tenantgate/store"
)

// RefreshRecord is the last refresh of an account's tokens that reached
// the identity provider.
type RefreshRecord struct {
	At      time.Time `json:"at"`
	Result  string    `json:"result"`
	Replica string    `json:"replica"`
}

// RefreshLog keeps the last refresh of each account in the store, in
// clear (it holds no token), under tg1:ops:r:{tenantID}:{homeAccountID},
// so every replica's ops page sees which replica refreshed last. It is
// written once per refresh, which the token cache already makes rare.
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

// Record notes a refresh. Failures are ignored: this is a display, never
// a reason to fail a refresh.
func (l *RefreshLog) Record(ctx context.Context, tenantID, home, result string) {
	if tenantID == "" || home == "" || len(tenantID)+len(home) > 512 {
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Second)
	defer cancel()
	b, _ := json.Marshal(RefreshRecord{At: l.now().UTC().Truncate(time.Second), Result: result, Replica: l.replica})
	key := l.key(tenantID, home)
	for range 3 {
		_, v, err := l.kv.Get(ctx, key)
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			return
		}
		if _, err = l.kv.CompareAndSet(ctx, key, v, b, l.ttl); !errors.Is(err, store.ErrConflict) {
			return
		}
	}
}

// Last returns the account's last refresh, if one is known.
func (l *RefreshLog) Last(ctx context.Context, tenantID, home string) (RefreshRecord, bool) {
	b, _, err := l.kv.Get(ctx, l.key(tenantID, home))
	if err != nil || len(b) > 1024 {
		return RefreshRecord{}, false
	}
	var r RefreshRecord
	if json.Unmarshal(b, &r) != nil {
		return RefreshRecord{}, false
	}
	return r, true
}
