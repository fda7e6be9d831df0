package signin_test

import (
	"context"
	"net/http"
	"testing"

	"github.com/tenantgate/tenantgate/store/redisstore"
)

// BenchmarkToken is Handler.Token for a signed-in user whose access token
// is cached: a session read from the L1 and a silent hit of the token
// cache. It is what --pass-access-token adds to each request.
//
//	go test -run '^$' -bench Token -benchmem -count 6 ./signin/
func BenchmarkToken(b *testing.B) {
	e := newEnvB(b)
	r := e.replica(redisstore.ModeAuto)
	br := e.browser()
	e.signIn(e.t, br, r, "/.auth/login/contoso", alice)
	req, _ := http.NewRequest(http.MethodGet, r.URL+"/", nil)
	for _, c := range br.Jar.Cookies(req.URL) {
		req.AddCookie(c)
	}
	ctx := context.Background()
	if _, err := r.Handler.Token(ctx, req, nil); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if _, err := r.Handler.Token(ctx, req, nil); err != nil {
			b.Fatal(err)
		}
	}
}
