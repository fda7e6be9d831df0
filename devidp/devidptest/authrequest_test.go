package devidptest_test

import (
	"crypto/sha256"
	"encoding/base64"
	"net/url"
	"testing"

	"github.com/tenantgate/tenantgate/devidp/devidptest"
)

func TestAuthRequest(t *testing.T) {
	a, b := devidptest.NewAuthRequest(), devidptest.NewAuthRequest()
	if a.Verifier == b.Verifier || a.State == b.State || a.Nonce == b.Nonce {
		t.Fatal("two requests share a secret")
	}
	sum := sha256.Sum256([]byte(a.Verifier))
	if a.Challenge != base64.RawURLEncoding.EncodeToString(sum[:]) {
		t.Fatal("the challenge is not S256 of the verifier")
	}
	raw, err := a.URL("https://idp.example/t/oauth2/v2.0/authorize?client_id=c&scope=openid", "form_post")
	if err != nil {
		t.Fatal(err)
	}
	u, _ := url.Parse(raw)
	q := u.Query()
	for k, want := range map[string]string{"client_id": "c", "state": a.State, "nonce": a.Nonce, "code_challenge": a.Challenge,
		"code_challenge_method": "S256", "response_mode": "form_post"} {
		if q.Get(k) != want {
			t.Errorf("%s = %q, want %q", k, q.Get(k), want)
		}
	}
	if _, err := a.URL("://bad", ""); err == nil {
		t.Error("a malformed URL was accepted")
	}
}
