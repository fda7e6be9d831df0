package tokencache

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"
)

func at(home, scope string, cachedAt int64) json.RawMessage {
	return json.RawMessage(fmt.Sprintf(`{"home_account_id":%q,"target":%q,"cached_at":"%d","expires_on":"%d","secret":"at-%s-%d"}`,
		home, scope, cachedAt, cachedAt+3600, scope, cachedAt))
}

// randomBlob is a cache of one account with access tokens for some of a
// few scopes, cached at random times, and maybe a refresh token.
func randomBlob(r *rand.Rand, home string) blob {
	b := blob{secAccessToken: {}, secAccount: {home: json.RawMessage(fmt.Sprintf(`{"home_account_id":%q}`, home))}}
	for _, scope := range []string{"a", "b", "c", "d"} {
		if r.IntN(2) == 0 {
			b[secAccessToken][home+"-"+scope] = at(home, scope, 1_700_000_000+r.Int64N(1000))
		}
	}
	if r.IntN(2) == 0 {
		b[secRefreshToken] = map[string]json.RawMessage{home: json.RawMessage(fmt.Sprintf(`{"home_account_id":%q,"secret":"rt-%d"}`, home, r.Int()))}
	}
	return b
}

// The merge keeps every entry of both sides, and of two versions of one
// access token the newer: nothing another replica wrote is lost.
func TestMergeProperties(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for i := range 2000 {
		ours, theirs := randomBlob(r, "u.t"), randomBlob(r, "u.t")
		m := merge(ours, theirs)
		for _, side := range []blob{ours, theirs} {
			for _, sec := range sections {
				for k := range side[sec] {
					if _, ok := m[sec][k]; !ok {
						t.Fatalf("case %d: merge lost %s entry %s", i, sec, k)
					}
				}
			}
		}
		for k, v := range m[secAccessToken] {
			for _, side := range []blob{ours, theirs} {
				if o, ok := side[secAccessToken][k]; ok && newer(o, v) {
					t.Fatalf("case %d: merge kept an older access token for %s", i, k)
				}
			}
		}
		for k, v := range m[secRefreshToken] {
			if o, ok := ours[secRefreshToken][k]; ok && string(o) != string(v) {
				t.Fatalf("case %d: merge dropped our fresh refresh token", i)
			}
		}
		if err := m.checkAccounts("u.t"); err != nil {
			t.Fatalf("case %d: %v", i, err)
		}
		// Merging is idempotent and merging with nothing changes nothing.
		if a, b := mustMarshal(t, merge(m, m)), mustMarshal(t, m); a != b {
			t.Fatalf("case %d: merge(m, m) != m", i)
		}
		if a, b := mustMarshal(t, merge(ours, blob{})), mustMarshal(t, merge(blob{}, ours)); a != b {
			t.Fatalf("case %d: merging with an empty cache is not neutral", i)
		}
	}
}

func mustMarshal(t *testing.T, b blob) string {
	t.Helper()
	out, err := b.marshal()
	if err != nil {
		t.Fatal(err)
	}
	return string(out)
}

func TestCheckAccountsRefusesForeign(t *testing.T) {
	b := randomBlob(rand.New(rand.NewPCG(3, 4)), "alice.t")
	b[secAccessToken]["bob"] = at("bob.t", "a", 1)
	err := b.checkAccounts("alice.t")
	if err == nil || !strings.Contains(err.Error(), "other than its partition") {
		t.Fatalf("a cache holding bob's token passed as alice's: %v", err)
	}
	// MSAL writes an AppMetadata entry, which names no account, with every
	// token response: it belongs in a user's partition.
	meta := json.RawMessage(`{"client_id":"app-1","environment":"login.example"}`)
	b = randomBlob(rand.New(rand.NewPCG(3, 4)), "alice.t")
	b[secAppMetadata] = map[string]json.RawMessage{"appmetadata-login.example-app-1": meta}
	if err := b.checkAccounts("alice.t"); err != nil {
		t.Fatalf("a user's cache with MSAL's AppMetadata refused: %v", err)
	}
	if err := (blob{secAccessToken: {"app": at("", "x", 1)}}).checkAccounts(""); err != nil {
		t.Fatalf("app cache refused: %v", err)
	}
	if err := (blob{secAccessToken: {"app": at("alice.t", "x", 1)}}).checkAccounts(""); err == nil {
		t.Fatal("a user's token passed in the app partition")
	}
	// What MSAL Go exports after an auth-code redemption: the user's
	// entries and the app's metadata, which names no account.
	redeemed := randomBlob(rand.New(rand.NewPCG(5, 6)), "alice.t")
	redeemed[secAppMetadata] = map[string]json.RawMessage{
		"appmetadata-login.microsoftonline.com-cid": json.RawMessage(`{"environment":"login.microsoftonline.com","client_id":"cid","family_id":""}`),
	}
	if err := redeemed.checkAccounts("alice.t"); err != nil {
		t.Fatalf("a user's partition with the app's metadata was refused: %v", err)
	}
}

func TestTTLFromContent(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	withRT := blob{secRefreshToken: {"k": json.RawMessage(`{"secret":"x"}`)}}
	if got := withRT.ttl(now, 48*time.Hour); got != 48*time.Hour {
		t.Fatalf("user partition TTL %v, want the refresh token's 48h", got)
	}
	app := blob{secAccessToken: {"a": at("", "s", now.Unix()), "b": at("", "t", now.Unix()+600)}}
	if got := app.ttl(now, 48*time.Hour); got != 4200*time.Second {
		t.Fatalf("app partition TTL %v, want until the last token expires (4200s)", got)
	}
}

func FuzzParseBlob(f *testing.F) {
	f.Add([]byte(`{}`))
	f.Add([]byte(`{"AccessToken":{"k":{"home_account_id":"u.t","cached_at":"1"}},"RefreshToken":null}`))
	f.Add([]byte(`{"Account":[]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		b, err := parseBlob(data)
		if err != nil {
			return
		}
		_ = b.checkAccounts("u.t")
		_ = b.ttl(time.Unix(0, 0), time.Hour)
		if _, err := merge(b, b).marshal(); err != nil {
			t.Fatalf("a parsed cache does not marshal: %v", err)
		}
	})
}
