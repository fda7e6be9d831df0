package signin_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/tenantgate/tenantgate/store/redisstore"
)

// Sign in through replica A, carry on through B: two store clients, two
// caches, two handlers on one Redis, as two containers would be.
func TestSignInOnOneReplicaWorksOnAnother(t *testing.T) {
	for _, tc := range []struct {
		name string
		env  func(*testing.T) *env
	}{{"redis-standalone", newEnv}, {"redis-cluster", newClusterEnv}} {
		t.Run(tc.name, func(t *testing.T) {
			e := tc.env(t)
			a, b := e.replica(redisstore.ModeAuto), e.replica(redisstore.ModeAuto)
			br := e.browser()
			if loc := e.signIn(t, br, a, "/.auth/login/contoso?post_login_redirect_uri=/tasks?x=1", "alice@contoso.onmicrosoft.com"); loc != "/tasks?x=1" {
				t.Fatalf("after sign-in the browser goes to %q, want /tasks?x=1", loc)
			}
			resp, body := api(t, br, b.URL+"/tasks")
			if resp.StatusCode != http.StatusOK || !strings.Contains(body, `"user":"alice@contoso.onmicrosoft.com"`) {
				t.Fatalf("replica B: %d %s", resp.StatusCode, body)
			}
			status, m := me(t, br, b)
			if status != http.StatusOK || len(m) != 1 || m[0]["user_id"] != "alice@contoso.onmicrosoft.com" {
				t.Fatalf("/.auth/me on B: %d %v", status, m)
			}
		})
	}
}
