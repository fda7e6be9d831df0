package devidp_test

import (
	"context"
	"strings"
	"sync"
	"testing"

	"github.com/tenantgate/tenantgate/devidp"
	"github.com/tenantgate/tenantgate/devidp/devidptest"
)

// OnClientAssertion hands a test each client assertion MSAL Go sent, as
// sent: a signed JWT, a new one per request.
func TestOnClientAssertionSeesWhatTheClientSent(t *testing.T) {
	var mu sync.Mutex
	var got []string
	srv := devidptest.Start(t, func(o *devidp.Options) {
		o.OnClientAssertion = func(a string) {
			mu.Lock()
			got = append(got, a)
			mu.Unlock()
		}
	})
	for range 2 { // two clients: the second's cache is empty too
		c := certClient(t, srv, srv.Authority("contoso"))
		if _, err := c.AcquireTokenByCredential(context.Background(), []string{apiScope(srv, ".default")}); err != nil {
			t.Fatal(err)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if len(got) != 2 || got[0] == got[1] || strings.Count(got[0], ".") != 2 || len(got[0]) < 200 {
		t.Fatalf("assertions seen: %q", got)
	}
}
