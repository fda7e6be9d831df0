package session_test

import (
	"context"
	"errors"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tenantgate/tenantgate/internal/redistest"
	"github.com/tenantgate/tenantgate/session"
	"github.com/tenantgate/tenantgate/store/memstore"
	"github.com/tenantgate/tenantgate/store/redisstore"
)

// Operators page through a tenant's or a user's sessions from the indexes,
// and gone sessions leave the indexes as they are listed.
func TestListPages(t *testing.T) {
	for _, be := range clockedBackends {
		t.Run(be.name, func(t *testing.T) {
			ctx := context.Background()
			clk := newClock()
			m, _ := be.open(t, clk)
			want := map[string]session.Identity{}
			for i := range 25 {
				id := alice
				if i%5 == 0 {
					id = bob
				}
				_, s := signIn(t, m, id, nil)
				want[s.Handle] = id
				if i%3 == 0 {
					clk.Advance(time.Millisecond) // some share an expiry score, some do not
				}
			}
			_, other := signIn(t, m, carol, nil)

			seen := map[string]bool{}
			cursor, pages := "", 0
			for {
				page, err := m.List(ctx, session.Query{TenantID: alice.TenantID, Cursor: cursor, Limit: 4})
				if err != nil {
					t.Fatal(err)
				}
				pages++
				for _, s := range page.Sessions {
					if seen[s.Handle] || want[s.Handle] != s.Identity {
						t.Fatalf("listed %s (%s) twice or wrongly", s.Short(), s.Username)
					}
					seen[s.Handle] = true
				}
				if page.Next == "" {
					break
				}
				cursor = page.Next
			}
			if len(seen) != 25 || seen[other.Handle] || pages != 7 {
				t.Fatalf("listed %d sessions in %d pages; want 25 in 7, none of the other tenant", len(seen), pages)
			}

			page, err := m.List(ctx, session.Query{TenantID: bob.TenantID, HomeAccountID: bob.HomeAccountID})
			if err != nil || len(page.Sessions) != 5 {
				t.Fatalf("bob's sessions: %d, %v; want 5", len(page.Sessions), err)
			}
			one := page.Sessions[0]
			if info, err := m.Lookup(ctx, one.Handle); err != nil || info.Identity != bob || info.Handle != one.Handle {
				t.Fatalf("Lookup: %+v, %v", info, err)
			}
			if err := m.Revoke(ctx, one.Handle); err != nil {
				t.Fatal(err)
			}
			if _, err := m.Lookup(ctx, one.Handle); !errors.Is(err, session.ErrNoSession) {
				t.Fatalf("Lookup after Revoke: %v", err)
			}
			for _, bad := range []string{"", "zz", one.Handle[:16], one.Handle + "0"} {
				if _, err := m.Lookup(ctx, bad); !errors.Is(err, session.ErrNoSession) {
					t.Fatalf("Lookup(%q): %v", bad, err)
				}
			}
			if _, err := m.List(ctx, session.Query{TenantID: alice.TenantID, Cursor: "not-a-cursor"}); err == nil {
				t.Fatal("a forged cursor was accepted")
			}

			// Past the idle timeout every session is gone; listing says so
			// and empties the index (memstore also drops it by TTL).
			clk.Advance(idle)
			page, err = m.List(ctx, session.Query{TenantID: alice.TenantID})
			if err != nil || len(page.Sessions) != 0 || page.Next != "" {
				t.Fatalf("after expiry: %d sessions, next %q, %v", len(page.Sessions), page.Next, err)
			}
		})
	}
}

// Index entries past their absolute expiry are trimmed on read, and those
// whose record is gone are dropped: the index does not grow without bound.
func TestIndexCleanedOnRead(t *testing.T) {
	ctx := context.Background()
	srv := redistest.Standalone(t)
	clk := newClock()
	st := openRedis(t, redisstore.Options{Addrs: []string{srv.Addr}})
	m := newManager(t, st, session.Options{Now: clk.Now})
	for range 3 {
		signIn(t, m, alice, nil)
	}
	ix := "tg1:s:t:" + alice.TenantID
	srv.Do(t, "ZADD", ix, "1", "0000000000000000000000000000000000000000000000000000000000000001") // expired long ago
	_, gone := signIn(t, m, alice, nil)
	srv.Do(t, "DEL", "tg1:s:"+gone.Handle) // record gone, member left
	page, err := m.List(ctx, session.Query{TenantID: alice.TenantID})
	if err != nil || len(page.Sessions) != 3 {
		t.Fatalf("listed %d, %v; want 3", len(page.Sessions), err)
	}
	// Within a minute of its creation a member without its record may be
	// a session being created (members first, record after): kept.
	if n, _ := srv.Do(t, "ZCARD", ix).(int64); n != 4 {
		t.Fatalf("index holds %d members after listing; want 4 (the fresh member kept)", n)
	}
	clk.Advance(2 * time.Minute)
	if page, err = m.List(ctx, session.Query{TenantID: alice.TenantID}); err != nil || len(page.Sessions) != 3 {
		t.Fatalf("listed %d, %v; want 3", len(page.Sessions), err)
	}
	if n, _ := srv.Do(t, "ZCARD", ix).(int64); n != 3 {
		t.Fatalf("index holds %d members after listing past the grace; want 3", n)
	}
}

// A listing or a revocation that runs while a session is being created
// (its index members written, its record not yet) does not unindex it: the
// session is listed once it exists, and a revocation run again ends it.
func TestRevocationDuringCreation(t *testing.T) {
	ctx := context.Background()
	st := &pausingStore{Store: openMem(t, nil), paused: make(chan struct{}), release: make(chan struct{})}
	m := newManager(t, st, session.Options{})
	done := make(chan error, 1)
	go func() {
		w := httptest.NewRecorder()
		_, err := m.Create(ctx, w, request(nil), alice)
		done <- err
	}()
	<-st.paused // members written, record not yet
	if page, err := m.List(ctx, session.Query{TenantID: alice.TenantID}); err != nil || len(page.Sessions) != 0 {
		t.Fatalf("listing during the creation: %d, %v", len(page.Sessions), err)
	}
	if n, err := m.RevokeTenant(ctx, alice.TenantID); err != nil || n != 0 {
		t.Fatalf("revoking during the creation: %d, %v", n, err)
	}
	close(st.release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if page, err := m.List(ctx, session.Query{TenantID: alice.TenantID}); err != nil || len(page.Sessions) != 1 {
		t.Fatalf("after the creation: listed %d, %v; want the new session", len(page.Sessions), err)
	}
	if n, err := m.RevokeTenant(ctx, alice.TenantID); err != nil || n != 1 {
		t.Fatalf("revoking again: %d, %v; want the new session revoked", n, err)
	}
}

// pausingStore holds the first session record's write until released,
// after signalling that Create got there.
type pausingStore struct {
	*memstore.Store
	once            sync.Once
	paused, release chan struct{}
}

func (p *pausingStore) CompareAndSet(ctx context.Context, key string, version uint64, value []byte, ttl time.Duration) (uint64, error) {
	if strings.HasPrefix(key, "tg1:s:") && !strings.HasPrefix(key, "tg1:s:t:") && !strings.HasPrefix(key, "tg1:s:u:") {
		p.once.Do(func() { close(p.paused); <-p.release })
	}
	return p.Store.CompareAndSet(ctx, key, version, value, ttl)
}

func TestSetValues(t *testing.T) {
	ctx := context.Background()
	st := openMem(t, nil)
	m := newManager(t, st, session.Options{MaxRecordBytes: 4096})
	cookie, s := signIn(t, m, alice, nil)
	if err := m.SetValues(ctx, s, map[string]string{"a": "1", "b": "2"}); err != nil {
		t.Fatal(err)
	}
	if err := m.SetValues(ctx, s, map[string]string{"c": "3"}, "a"); err != nil {
		t.Fatal(err)
	}
	got, err := m.Load(ctx, request(cookie))
	if err != nil {
		t.Fatal(err)
	}
	if v := got.Values(); len(v) != 2 || v["b"] != "2" || v["c"] != "3" {
		t.Fatalf("values %v; want b=2 c=3", v)
	}
	if err := m.SetValues(ctx, got, map[string]string{"big": string(make([]byte, 5000))}); !errors.Is(err, session.ErrTooLarge) {
		t.Fatalf("oversized values: %v; want ErrTooLarge", err)
	}
	if err := m.Revoke(ctx, got.Handle); err != nil {
		t.Fatal(err)
	}
	if err := m.SetValues(ctx, got, map[string]string{"d": "4"}); !errors.Is(err, session.ErrNoSession) {
		t.Fatalf("writing a revoked session: %v; want ErrNoSession", err)
	}
}

// Index members this package did not write (an operator's mistake, an
// attacker with write access) never become keys: listing drops them and
// revoking a tenant deletes nothing else.
func TestForeignIndexMembers(t *testing.T) {
	ctx := context.Background()
	srv := redistest.Standalone(t)
	st := openRedis(t, redisstore.Options{Addrs: []string{srv.Addr}})
	m := newManager(t, st, session.Options{})
	_, s := signIn(t, m, alice, nil)
	cCookie, _ := signIn(t, m, carol, nil)
	ix := "tg1:s:t:" + alice.TenantID
	far := "99999999999999"
	srv.Do(t, "ZADD", ix, far, "", far, "t:"+carol.TenantID, far, "u:"+carol.TenantID+":"+carol.HomeAccountID, far, "x")
	page, err := m.List(ctx, session.Query{TenantID: alice.TenantID})
	if err != nil || len(page.Sessions) != 1 || page.Sessions[0].Handle != s.Handle {
		t.Fatalf("listed %v, %v; want alice's only", page.Sessions, err)
	}
	srv.Do(t, "ZADD", ix, far, "t:"+carol.TenantID)
	if n, err := m.RevokeTenant(ctx, alice.TenantID); err != nil || n != 1 {
		t.Fatalf("RevokeTenant: %d, %v; want 1", n, err)
	}
	if _, err := m.Load(ctx, request(cCookie)); err != nil {
		t.Fatalf("carol's session, in another tenant: %v", err)
	}
	if n, _ := srv.Do(t, "EXISTS", "tg1:s:t:"+carol.TenantID).(int64); n != 1 {
		t.Fatal("revoking one tenant deleted another tenant's index")
	}
}
