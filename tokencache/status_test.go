package tokencache_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/tenantgate/tenantgate/devidp/devidptest"
	"github.com/tenantgate/tenantgate/tokencache"
)

// Status tells operators expiries and flags of a real MSAL partition, and
// nothing that could be used as a token.
func TestStatusShowsExpiriesNeverTokens(t *testing.T) {
	ctx := context.Background()
	idp := devidptest.Start(t)
	c := newCache(t, openMem(t), tokencache.Options{})
	cl := newClient(t, c, idp, "contoso")
	scopes := []string{apiScope(idp, "access_as_user")}
	res := signIn(t, idp, cl, "alice@contoso.onmicrosoft.com", scopes)
	home := res.Account.HomeAccountID

	st, err := cl.Status(ctx, home)
	if err != nil {
		t.Fatal(err)
	}
	if !st.Found || st.SignedOut || !st.RefreshToken || len(st.AccessTokens) != 1 {
		t.Fatalf("status after sign-in: %+v", st)
	}
	at := st.AccessTokens[0]
	if !strings.Contains(at.Scopes, "access_as_user") || at.ExpiresOn.Sub(res.ExpiresOn).Abs() > time.Second || at.CachedAt.IsZero() || st.LastAcquired() != at.CachedAt {
		t.Fatalf("access token status %+v; the token expires %s", at, res.ExpiresOn)
	}
	if dump := fmt.Sprintf("%#v", st); strings.Contains(dump, res.AccessToken) || strings.Contains(dump, res.IDToken.RawToken) {
		t.Fatal("Status carries a token")
	}
	if err := cl.SignOut(ctx, home); err != nil {
		t.Fatal(err)
	}
	if st, err = cl.Status(ctx, home); err != nil || !st.Found || !st.SignedOut || st.RefreshToken {
		t.Fatalf("status after sign-out: %+v %v", st, err)
	}
	if st, err = cl.Status(ctx, "nobody.nowhere"); err != nil || st.Found {
		t.Fatalf("status of an unknown account: %+v %v", st, err)
	}
	if _, err = cl.Status(ctx, ""); err == nil {
		t.Fatal("status of an empty account ID: no error")
	}
}
