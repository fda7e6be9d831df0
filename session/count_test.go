package session_test

import (
	"context"
	"testing"

	"github.com/tenantgate/tenantgate/session"
)

// Count follows sign-ins, revocations and the absolute expiry, per tenant.
func TestCount(t *testing.T) {
	for _, be := range clockedBackends {
		t.Run(be.name, func(t *testing.T) {
			ctx := context.Background()
			clk := newClock()
			m, _ := be.open(t, clk)
			count := func(tid string) int {
				t.Helper()
				n, err := m.Count(ctx, tid)
				if err != nil {
					t.Fatal(err)
				}
				return n
			}
			var last *session.Session
			for range 3 {
				_, last = signIn(t, m, alice, nil)
			}
			signIn(t, m, carol, nil)
			if a, c := count(alice.TenantID), count(carol.TenantID); a != 3 || c != 1 {
				t.Fatalf("counts %d and %d; want 3 and 1", a, c)
			}
			if err := m.Revoke(ctx, last.Handle); err != nil {
				t.Fatal(err)
			}
			if a := count(alice.TenantID); a != 2 {
				t.Fatalf("after a revocation: %d; want 2", a)
			}
			clk.Advance(session.DefaultAbsoluteTimeout + 1)
			if a := count(alice.TenantID); a != 0 {
				t.Fatalf("past the absolute expiry: %d; want 0", a)
			}
			if n := count("no-such-tenant"); n != 0 {
				t.Fatalf("an unknown tenant: %d", n)
			}
		})
	}
}
