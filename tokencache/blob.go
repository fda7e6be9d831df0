package tokencache

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
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
// belong to the app, not to an account (MSAL writes one with every token
// response, without home_account_id), so they pass in any partition.
func (b blob) checkAccounts(homeAccountID string) error {
	for _, sec := range []string{secAccessToken, secRefreshToken, secIDToken, secAccount} {
		for key, raw := range b[sec] {
			if id := fields(raw).HomeAccountID; id != homeAccountID {
				return fmt.Errorf("%w (section %s, entry %.40q)", errForeignAccount, sec, key)
			}
		}
	}
	return nil
}

// merge unites ours with theirs: every entry of either survives; where
// both hold an entry, ours wins, except access tokens, where the one
// cached later wins whichever side holds it. A fresh write passes what it
// just received from the identity provider as ours; a queued write, which
// is older than what is stored, passes the stored state as ours.
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

// rehome moves the entries MSAL wrote with realm from (an authority that
// names no tenant: organizations, common) to realm to, the tenant the
// account signed in to, re-keying them as MSAL keys them. MSAL files a
// token by the authority's tenant segment, so without this a client for
// the user's own tenant would not find what an organizations client
// stored. It reports whether anything moved.
func (b blob) rehome(from, to string) (bool, error) {
	from, to = strings.ToLower(from), strings.ToLower(to)
	moved := false
	for _, sec := range []string{secAccessToken, secIDToken, secAccount} {
		out := make(map[string]json.RawMessage, len(b[sec]))
		for key, raw := range b[sec] {
			var e map[string]json.RawMessage
			var realm string
			if json.Unmarshal(raw, &e) != nil || json.Unmarshal(e["realm"], &realm) != nil || !strings.EqualFold(realm, from) {
				out[key] = raw
				continue
			}
			var f struct {
				Home     string `json:"home_account_id"`
				Env      string `json:"environment"`
				ClientID string `json:"client_id"`
			}
			_ = json.Unmarshal(raw, &f)
			var old, next string
			if sec == secAccount {
				old = strings.ToLower(f.Home + "-" + f.Env + "-" + from)
				next = strings.ToLower(f.Home + "-" + f.Env + "-" + to)
			} else {
				old = strings.ToLower("-" + f.ClientID + "-" + from)
				next = strings.ToLower("-" + f.ClientID + "-" + to)
			}
			i := strings.Index(key, old)
			if i < 0 || (len(key) > i+len(old) && key[i+len(old)] != '-') {
				out[key] = raw // not keyed as MSAL keys it: leave it
				continue
			}
			e["realm"], _ = json.Marshal(to)
			nraw, err := json.Marshal(e)
			if err != nil {
				return false, fmt.Errorf("tokencache: re-key entry of section %s: %w", sec, err)
			}
			out[key[:i]+next+key[i+len(old):]] = nraw
			moved = true
		}
		if len(out) > 0 {
			b[sec] = out
		}
	}
	return moved, nil
}
