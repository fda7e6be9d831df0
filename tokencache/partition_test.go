package tokencache

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/AzureAD/microsoft-authentication-library-for-go/apps/cache"

	"github.com/tenantgate/tenantgate/seal"
	"github.com/tenantgate/tenantgate/store"
	"github.com/tenantgate/tenantgate/store/memstore"
)

// state stands in for MSAL's in-memory cache in these unit tests of the
// partition logic (the flows in client_test.go use the real MSAL Go): it
// holds the serialized bytes and counts how often it is parsed.
type state struct {
	data       []byte
	unmarshals int
}

func (s *state) Marshal() ([]byte, error) { return s.data, nil }
func (s *state) Unmarshal(b []byte) error {
	s.data = append([]byte(nil), b...)
	s.unmarshals++
	return nil
}

func userBlob(home string, scopes ...string) []byte {
	b := blob{secAccessToken: {}, secRefreshToken: {home + "-rt": json.RawMessage(fmt.Sprintf(`{"home_account_id":%q,"secret":"rt"}`, home))}}
	for i, s := range scopes {
		b[secAccessToken][home+"-"+s] = at(home, s, 1_700_000_000+int64(i))
	}
	out, _ := b.marshal()
	return out
}

func newTestCache(t *testing.T) (*Cache, store.KV) {
	t.Helper()
	k, err := seal.GenerateKey("k1")
	if err != nil {
		t.Fatal(err)
	}
	ring, err := seal.NewKeyring(k)
	if err != nil {
		t.Fatal(err)
	}
	kv := memstore.New(memstore.Options{})
	t.Cleanup(func() { kv.Close() })
	c := New(kv, ring, Options{})
	t.Cleanup(func() { c.Close() })
	return c, kv
}

// newPartition is a partition of tenant-a's users; scope is scopeA.
func newPartition(c *Cache, scope string) *partition {
	prefix, tenant := splitScope(scope)
	return &partition{c: c, prefix: prefix, tenant: tenant}
}

// splitScope splits tg1:tc:{clientID}:{tenant}: into its prefix and tenant.
func splitScope(scope string) (prefix, tenant string) {
	s := strings.TrimSuffix(scope, ":")
	i := strings.LastIndex(s, ":")
	return s[:i+1], s[i+1:]
}

const scopeA = "tg1:tc:app-1:tenant-a:"

func export(t *testing.T, p *partition, home string, data []byte) error {
	t.Helper()
	return p.Export(context.Background(), &state{data: data}, cache.ExportHints{PartitionKey: home})
}

func replace(t *testing.T, p *partition, home string) *state {
	t.Helper()
	s := &state{}
	if err := p.Replace(context.Background(), s, cache.ReplaceHints{PartitionKey: home}); err != nil {
		t.Fatal(err)
	}
	return s
}

func TestPartitionMissUnmarshalsEmpty(t *testing.T) {
	c, _ := newTestCache(t)
	s := &state{data: userBlob("alice.t", "a")} // the previous user's tokens
	if err := newPartition(c, scopeA).Replace(context.Background(), s, cache.ReplaceHints{PartitionKey: "bob.t"}); err != nil {
		t.Fatal(err)
	}
	if string(s.data) != "{}" {
		t.Fatalf("a missing partition left %q in the client; want {}", s.data)
	}
}

func TestPartitionSkipsUnchanged(t *testing.T) {
	c, _ := newTestCache(t)
	p := newPartition(c, scopeA)
	data := userBlob("alice.t", "a")
	if err := export(t, p, "alice.t", data); err != nil {
		t.Fatal(err)
	}
	if err := export(t, p, "alice.t", data); err != nil {
		t.Fatal(err)
	}
	if st := c.Stats(); st.Writes != 1 || st.SkippedWrites != 1 {
		t.Fatalf("two exports of the same bytes: %d writes, %d skipped; want 1 and 1", st.Writes, st.SkippedWrites)
	}
	// Another client of the same partition loads it once, then reuses it.
	q := newPartition(c, scopeA)
	s := &state{}
	for range 3 {
		if err := q.Replace(context.Background(), s, cache.ReplaceHints{PartitionKey: "alice.t"}); err != nil {
			t.Fatal(err)
		}
	}
	if s.unmarshals != 1 || string(s.data) != string(data) {
		t.Fatalf("3 replaces of an unchanged partition parsed it %d times; want 1", s.unmarshals)
	}
}

func TestPartitionRefusesForeignAccount(t *testing.T) {
	c, kv := newTestCache(t)
	p := newPartition(c, scopeA)
	var two blob
	two, _ = parseBlob(userBlob("alice.t", "a"))
	bob, _ := parseBlob(userBlob("bob.t", "a"))
	two = merge(two, bob)
	data, _ := two.marshal()
	if err := export(t, p, "alice.t", data); !errors.Is(err, errForeignAccount) {
		t.Fatalf("export of a cache holding two accounts: %v; want refusal", err)
	}
	if _, _, err := kv.Get(context.Background(), scopeA+"u:alice.t"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("refused blob was written: %v", err)
	}
	if c.Stats().RefusedForeign != 1 {
		t.Fatal("refusal not counted")
	}
}

// Isolation by attack: a sealed partition copied under another user's or
// another tenant's key, or corrupted, does not open and reads as absent.
func TestPartitionIsolationByAttack(t *testing.T) {
	c, kv := newTestCache(t)
	ctx := context.Background()
	if err := export(t, newPartition(c, scopeA), "alice.t", userBlob("alice.t", "a")); err != nil {
		t.Fatal(err)
	}
	sealed, _, err := kv.Get(ctx, scopeA+"u:alice.t")
	if err != nil {
		t.Fatal(err)
	}
	corrupt := append([]byte(nil), sealed...)
	corrupt[len(corrupt)/2] ^= 1
	for _, tc := range []struct {
		name, scope, home string
		value             []byte
	}{
		{"copied to another user", scopeA, "mallory.t", sealed},
		{"copied to another tenant", "tg1:tc:app-1:tenant-b:", "alice.t", sealed},
		{"corrupted", scopeA, "alice.t", corrupt},
	} {
		t.Run(tc.name, func(t *testing.T) {
			key := tc.scope + "u:" + tc.home
			_, v, err := kv.Get(ctx, key)
			if errors.Is(err, store.ErrNotFound) {
				v = 0
			}
			if _, err := kv.CompareAndSet(ctx, key, v, tc.value, time.Hour); err != nil {
				t.Fatal(err)
			}
			before := c.Stats().RefusedOpen
			if s := replace(t, newPartition(c, tc.scope), tc.home); string(s.data) != "{}" {
				t.Fatalf("the attacker's partition opened: %q", s.data)
			}
			if c.Stats().RefusedOpen != before+1 {
				t.Fatal("the refused value was not counted")
			}
		})
	}
}

// Two writers that loaded the same version: the second merges, and the
// partition holds both tokens.
func TestPartitionConcurrentWritersMerge(t *testing.T) {
	c, kv := newTestCache(t)
	ctx := context.Background()
	p, q := newPartition(c, scopeA), newPartition(c, scopeA)
	replace(t, p, "alice.t")
	replace(t, q, "alice.t")
	if err := export(t, p, "alice.t", userBlob("alice.t", "a")); err != nil {
		t.Fatal(err)
	}
	if err := export(t, q, "alice.t", userBlob("alice.t", "b")); err != nil {
		t.Fatal(err)
	}
	if st := c.Stats(); st.Conflicts != 1 || st.Merges != 1 {
		t.Fatalf("conflicts %d merges %d; want 1 and 1", st.Conflicts, st.Merges)
	}
	sealed, _, err := kv.Get(ctx, scopeA+"u:alice.t")
	if err != nil {
		t.Fatal(err)
	}
	plain, err := c.sealer.Open(sealed, scopeA+"u:alice.t")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := parseBlob(plain)
	if _, ok := b[secAccessToken]["alice.t-a"]; !ok {
		t.Fatal("the first writer's token was lost")
	}
	if _, ok := b[secAccessToken]["alice.t-b"]; !ok {
		t.Fatal("the second writer's token was lost")
	}
	// The second writer's client now holds less than is stored: it reloads.
	if s := replace(t, q, "alice.t"); s.unmarshals != 1 {
		t.Fatal("a merged partition was not reloaded")
	}
}

// Sign-out is final: a writer that read the partition before it cannot
// bring the tokens back, and the next sign-in writes over the tombstone.
func TestSignOutIsNotUndoneByStaleWriter(t *testing.T) {
	c, _ := newTestCache(t)
	ctx := context.Background()
	p, stale := newPartition(c, scopeA), newPartition(c, scopeA)
	if err := export(t, p, "alice.t", userBlob("alice.t", "a")); err != nil {
		t.Fatal(err)
	}
	replace(t, stale, "alice.t")
	if err := c.signOut(ctx, scopeA+"u:alice.t"); err != nil {
		t.Fatal(err)
	}
	if err := export(t, stale, "alice.t", userBlob("alice.t", "a", "b")); err != nil {
		t.Fatal(err)
	}
	if s := replace(t, newPartition(c, scopeA), "alice.t"); string(s.data) != "{}" {
		t.Fatalf("tokens came back after sign-out: %s", s.data)
	}
	if c.Stats().DroppedAfterSignOut != 1 {
		t.Fatal("the dropped write was not counted")
	}
	// A refresh that was at the IdP during the sign-out: MSAL re-reads the
	// partition (the tombstone, as {}) before writing its new tokens.
	refreshed := newPartition(c, scopeA)
	replace(t, refreshed, "alice.t")
	if err := export(t, refreshed, "alice.t", userBlob("alice.t", "a", "b")); err != nil {
		t.Fatal(err)
	}
	if s := replace(t, newPartition(c, scopeA), "alice.t"); string(s.data) != "{}" {
		t.Fatalf("a refresh wrote the tokens back over the sign-out: %s", s.data)
	}
	fresh := newPartition(c, scopeA)
	fresh.signIn = true // AcquireTokenByAuthCode's partition
	replace(t, fresh, "alice.t")
	if err := export(t, fresh, "alice.t", userBlob("alice.t", "c")); err != nil {
		t.Fatal(err)
	}
	if s := replace(t, newPartition(c, scopeA), "alice.t"); string(s.data) != string(userBlob("alice.t", "c")) {
		t.Fatalf("sign-in after sign-out not stored: %s", s.data)
	}
}

func TestPartitionBoundToOneKey(t *testing.T) {
	c, _ := newTestCache(t)
	p := newPartition(c, scopeA)
	replace(t, p, "alice.t")
	err := p.Replace(context.Background(), &state{}, cache.ReplaceHints{PartitionKey: "bob.t"})
	if err == nil {
		t.Fatal("a client bound to alice's partition was used for bob's")
	}
}

// Partition keys name the tenant the tokens belong to: the one given, or
// for a user of an authority that names none, the account's home tenant;
// for the app, the tenant MSAL was asked for.
func TestStoreKeys(t *testing.T) {
	const prefix = "tg1:tc:app-1:"
	for _, tc := range []struct{ tenant, pk, want string }{
		{"tenant-a", "uid.utid", prefix + "tenant-a:u:uid.utid"},
		{"", "uid.utid", prefix + "utid:u:uid.utid"},
		{"", "app-1_tenant-a_AppTokenCache", prefix + "tenant-a:app"},
		{"tenant-a", "app-1_tenant-b_AppTokenCache", prefix + "tenant-b:app"},
		{"tenant-a", "app-1_tenant-a_f00d_AppTokenCache", prefix + "tenant-a:app:f00d"},
	} {
		if got, _, _, err := storeKey(prefix, tc.tenant, tc.pk); err != nil || got != tc.want {
			t.Errorf("storeKey(%q, %q) = %q, %v; want %q", tc.tenant, tc.pk, got, err, tc.want)
		}
	}
	for _, pk := range []string{"", "uid", "a:b.c"} {
		if _, _, _, err := storeKey(prefix, "", pk); err == nil {
			t.Errorf("partition key %q was accepted", pk)
		}
	}
}
