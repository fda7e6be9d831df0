package tokencache

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"
)

// blob is MSAL's cache serialization (the "Contract" shared by every MSAL
// language), kept as raw entries: tenantgate reads only the few fields it
// needs (accounts, times) and writes entries back byte for byte.
type blob map[string]map[string]json.RawMessage

// The sections of the serialization that hold entries.
const (
	secAccessToken  = "AccessToken"
	secRefreshToken = "RefreshToken"
	secIDToken      = "IdToken"
	secAccount      = "Account"
	secAppMetadata  = "AppMetadata"
)

var sections = []string{secAccessToken, secRefreshToken, secIDToken, secAccount, secAppMetadata}

// entryFields are the fields of any entry that tenantgate reads.
type entryFields struct {
	HomeAccountID string `json:"home_account_id"`
	CachedAt      string `json:"cached_at"`
	ExpiresOn     string `json:"expires_on"`
}

func parseBlob(data []byte) (blob, error) {
	var top map[string]json.RawMessage
	if err := json.Unmarshal(data, &top); err != nil {
		return nil, fmt.Errorf("tokencache: not an MSAL cache serialization: %w", err)
	}
	b := blob{}
	for _, sec := range sections {
		raw, ok := top[sec]
		if !ok || string(raw) == "null" {
			continue
		}
		var m map[string]json.RawMessage
		if err := json.Unmarshal(raw, &m); err != nil {
			return nil, fmt.Errorf("tokencache: MSAL cache section %s is malformed: %w", sec, err)
		}
		b[sec] = m
	}
	return b, nil
}

func (b blob) marshal() ([]byte, error) {
	return json.Marshal(map[string]map[string]json.RawMessage(b))
}

func fields(raw json.RawMessage) entryFields {
	var f entryFields
	_ = json.Unmarshal(raw, &f) // a malformed entry reads as having no fields
	return f
}

func unixField(s string) int64 {
	n, _ := strconv.ParseInt(s, 10, 64)
	return n
}

// errForeignAccount refuses a blob that holds another account than its
// partition's: writing it would put one user's tokens under another's key.
var errForeignAccount = errors.New("tokencache: the MSAL cache holds an account other than its partition's; refused")

// checkAccounts reports whether every entry belongs to homeAccountID ("" for
// the app partition, whose entries carry no account). AppMetadata entries
// (the client's family ID per environment) belong to no account, and MSAL
// writes one beside every user's tokens: they are not checked.
func (b blob) checkAccounts(homeAccountID string) error {
	for _, sec := range sections {
		if sec == secAppMetadata {
			continue
		}
		for key, raw := range b[sec] {
			if id := fields(raw).HomeAccountID; id != homeAccountID {
				return fmt.Errorf("%w (section %s, entry %.40q)", errForeignAccount, sec, key)
			}
		}
	}
	return nil
}

// merge unites ours (what this process is writing) with theirs (what
// another writer stored since we read): every entry of either survives;
// where both hold an entry, the newer wins. Access tokens carry cached_at;
// for other entries (refresh tokens, accounts) ours is the one just
// received from the identity provider, so ours wins.
func merge(ours, theirs blob) blob {
	out := blob{}
	for _, sec := range sections {
		if len(ours[sec]) == 0 && len(theirs[sec]) == 0 {
			continue
		}
		m := make(map[string]json.RawMessage, len(ours[sec])+len(theirs[sec]))
		for k, v := range theirs[sec] {
			m[k] = v
		}
		for k, v := range ours[sec] {
			if t, ok := m[k]; ok && sec == secAccessToken && newer(t, v) {
				continue
			}
			m[k] = v
		}
		out[sec] = m
	}
	return out
}

// newer reports whether access token a is newer than b.
func newer(a, b json.RawMessage) bool {
	fa, fb := fields(a), fields(b)
	ca, cb := unixField(fa.CachedAt), unixField(fb.CachedAt)
	if ca != cb {
		return ca > cb
	}
	return unixField(fa.ExpiresOn) > unixField(fb.ExpiresOn)
}

// ttl is how long a partition is worth keeping: a user partition as long as
// its refresh token may live; an app partition until its last access token
// expires.
func (b blob) ttl(now time.Time, refreshTokenTTL time.Duration) time.Duration {
	if len(b[secRefreshToken]) > 0 {
		return refreshTokenTTL
	}
	var last int64
	for _, raw := range b[secAccessToken] {
		last = max(last, unixField(fields(raw).ExpiresOn))
	}
	return max(time.Unix(last, 0).Sub(now), time.Minute)
}
