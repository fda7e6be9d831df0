package signin_test

import (
	"context"
	"errors"
	"flag"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/tenantgate/tenantgate/signin"
	"github.com/tenantgate/tenantgate/store/redisstore"
)

var update = flag.Bool("update", false, "rewrite the golden files")

// /.auth/me keeps Easy Auth's shape: an array of one object with these
// field names and JSON types; tokens only when the app opts in, and never
// a refresh token. The golden file holds the shape (names and types), not
// the values, which change with every sign-in.
func TestMeIsEasyAuthShaped(t *testing.T) {
	e := newEnv(t)
	for _, tc := range []struct {
		name   string
		expose bool
	}{{"me", false}, {"me-with-tokens", true}} {
		t.Run(tc.name, func(t *testing.T) {
			r := e.replica(redisstore.ModeAuto, func(o *signin.Options) { o.ExposeTokens = tc.expose })
			b := e.browser()
			e.signIn(t, b, r, "/.auth/login/contoso", alice)
			status, m := me(t, b, r)
			if status != http.StatusOK || len(m) != 1 {
				t.Fatalf("/.auth/me: %d %v", status, m)
			}
			got := shape(m)
			golden := filepath.Join("testdata", tc.name+".golden")
			if *update {
				if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test -run TestMeIsEasyAuthShaped -update ./signin/ to write it)", err)
			}
			if got != string(want) {
				t.Errorf("/.auth/me shape changed:\n got %s\nwant %s", got, want)
			}
			entry := m[0]
			if entry["provider_name"] != "aad" || entry["user_id"] != alice {
				t.Errorf("provider_name %v, user_id %v", entry["provider_name"], entry["user_id"])
			}
			if exp, err := time.Parse(time.RFC3339Nano, entry["expires_on"].(string)); err != nil || time.Until(exp) < 10*time.Minute {
				t.Errorf("expires_on %v: %v", entry["expires_on"], err)
			}
			if !regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{7}Z$`).MatchString(entry["expires_on"].(string)) {
				t.Errorf("expires_on %q is not in Easy Auth's form", entry["expires_on"])
			}
			for _, c := range []struct{ typ, val string }{{"preferred_username", alice}, {"name", "Alice Adams"}, {"roles", "Tasks.Approver"}} {
				if !hasClaim(entry, c.typ, c.val) {
					t.Errorf("user_claims lack %s=%s: %v", c.typ, c.val, entry["user_claims"])
				}
			}
			if hasClaim(entry, "nonce", "") || strings.Contains(got, "refresh_token") {
				t.Error("/.auth/me shows the nonce or a refresh token")
			}
		})
	}
}

// shape renders a JSON value's structure: object keys in order with the
// shape of their values, the first element of arrays.
func shape(v any) string {
	switch v := v.(type) {
	case map[string]any:
		keys := make([]string, 0, len(v))
		for k := range v {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		var b strings.Builder
		b.WriteString("{")
		for i, k := range keys {
			if i > 0 {
				b.WriteString(", ")
			}
			b.WriteString(k + ": " + shape(v[k]))
		}
		b.WriteString("}")
		return b.String()
	case []map[string]any:
		if len(v) == 0 {
			return "[]"
		}
		return "[" + shape(v[0]) + "]"
	case []any:
		if len(v) == 0 {
			return "[]"
		}
		return "[" + shape(v[0]) + "]"
	case string:
		return "string"
	case float64:
		return "number"
	case bool:
		return "bool"
	case nil:
		return "null"
	}
	return "?"
}

// A scope the user has not consented to (Tasks.Admin in the demo
// directory) is a typed error that sends the browser through
// incremental consent, not a sign-out.
func TestTokenForUnconsentedScopeAsksForConsent(t *testing.T) {
	e := newEnv(t)
	r := e.replica(redisstore.ModeAuto)
	b := e.browser()
	e.signIn(t, b, r, "/.auth/login/contoso", alice)
	req, _ := http.NewRequest(http.MethodGet, r.URL+"/", nil)
	for _, c := range b.Jar.Cookies(req.URL) {
		req.AddCookie(c)
	}
	scope := apiScope(e.idp, "Tasks.Admin")
	_, err := r.Handler.Token(context.Background(), req, []string{scope})
	var consent *signin.ConsentRequiredError
	if !errors.As(err, &consent) || len(consent.Scopes) != 1 || consent.Scopes[0] != scope {
		t.Fatalf("Token for an unconsented scope: %v, want *ConsentRequiredError", err)
	}
	tok, err := r.Handler.Token(context.Background(), req, nil)
	if err != nil || tok.AccessToken == "" {
		t.Fatalf("the session did not survive the consent error: %v", err)
	}
}
