package credentialtest

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/security/keyvault/azsecrets"
)

// Content types of certificate-backed secrets.
const (
	PKCS12 = "application/x-pkcs12"
	PEM    = "application/x-pem-file"
)

// Challenge is the WWW-Authenticate header Key Vault sends to a request
// without a token: it names the tenant to get a token from and the
// resource to get it for.
const Challenge = `Bearer authorization="https://login.microsoftonline.com/72f988bf-86f1-41af-91ab-2d7cd011db47", resource="https://vault.azure.net"`

// token is the one bearer token the vault accepts; TokenCredential hands it out.
const token = "credentialtest-vault-token"

// Vault is a Key Vault secrets endpoint on an httptest TLS server. It is
// safe for concurrent use.
type Vault struct {
	// URL is the vault's URL, https://127.0.0.1:PORT.
	URL string
	srv *httptest.Server

	mu       sync.Mutex
	secrets  map[string][]version // by lower-case name, oldest first
	gets     map[string]int
	requests []string // method and path of every request, for assertions
	down     bool
}

type version struct {
	id, contentType, value string
	created                time.Time
}

// StartVault serves a new, empty vault for the duration of the test.
func StartVault(t testing.TB) *Vault {
	t.Helper()
	v := &Vault{secrets: map[string][]version{}, gets: map[string]int{}}
	v.srv = httptest.NewTLSServer(http.HandlerFunc(v.serve))
	v.URL = v.srv.URL
	t.Cleanup(v.srv.Close)
	return v
}

// SetPEM imports a certificate with its key in PEM as a new version of the
// secret name, as Key Vault does for a certificate whose policy says PEM,
// and returns the version.
func (v *Vault) SetPEM(name string, pem []byte) string { return v.SetSecret(name, PEM, string(pem)) }

// SetPKCS12 is SetPEM for a PKCS#12 certificate (Key Vault's default): the
// secret's value is the PFX, without password, in base64.
func (v *Vault) SetPKCS12(name string, pfx []byte) string {
	return v.SetSecret(name, PKCS12, base64.StdEncoding.EncodeToString(pfx))
}

// SetSecret adds a version of secret name and returns its version ID.
func (v *Vault) SetSecret(name, contentType, value string) string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	id := hex.EncodeToString(b[:])
	v.mu.Lock()
	defer v.mu.Unlock()
	k := strings.ToLower(name)
	v.secrets[k] = append(v.secrets[k], version{id: id, contentType: contentType, value: value, created: time.Now()})
	return id
}

// Close stops the server: the vault becomes unreachable.
func (v *Vault) Close() { v.srv.Close() }

// SetDown makes every request fail with 503 (true) or be served (false).
func (v *Vault) SetDown(down bool) {
	v.mu.Lock()
	v.down = down
	v.mu.Unlock()
}

// Gets is how many times secret name was served (any version).
func (v *Vault) Gets(name string) int {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.gets[strings.ToLower(name)]
}

// Requests lists "METHOD /path" of every request received, challenges included.
func (v *Vault) Requests() []string {
	v.mu.Lock()
	defer v.mu.Unlock()
	return slices.Clone(v.requests)
}

// ClientOptions are azsecrets options for this vault: a transport that
// trusts its test certificate, no retries (tests fail fast), and no check
// that the challenge's resource matches the vault's host, which is
// 127.0.0.1 and not *.vault.azure.net.
func (v *Vault) ClientOptions() *azsecrets.ClientOptions {
	return &azsecrets.ClientOptions{
		ClientOptions: azcore.ClientOptions{
			Transport: v.srv.Client(),
			Retry:     policy.RetryOptions{MaxRetries: -1},
		},
		DisableChallengeResourceVerification: true,
	}
}

// TokenCredential returns a credential that hands out the vault's token
// for the Key Vault scope and refuses any other, as Entra would.
func (v *Vault) TokenCredential() azcore.TokenCredential { return staticCredential{} }

type staticCredential struct{}

func (staticCredential) GetToken(_ context.Context, o policy.TokenRequestOptions) (azcore.AccessToken, error) {
	if len(o.Scopes) != 1 || o.Scopes[0] != "https://vault.azure.net/.default" {
		return azcore.AccessToken{}, fmt.Errorf("credentialtest: token requested for scopes %v, want the Key Vault scope", o.Scopes)
	}
	return azcore.AccessToken{Token: token, ExpiresOn: time.Now().Add(time.Hour)}, nil
}

func (v *Vault) serve(w http.ResponseWriter, r *http.Request) {
	v.mu.Lock()
	v.requests = append(v.requests, r.Method+" "+r.URL.Path)
	down := v.down
	v.mu.Unlock()
	switch {
	case down:
		kvError(w, http.StatusServiceUnavailable, "ServiceUnavailable", "The service is unavailable.")
		return
	case r.URL.Query().Get("api-version") == "":
		kvError(w, http.StatusBadRequest, "BadParameter", "The request URI contains an invalid parameter: api-version is required.")
		return
	}
	// Key Vault answers every request without a valid token with the
	// challenge, whatever it asks for.
	switch auth := r.Header.Get("Authorization"); {
	case auth == "":
		w.Header().Set("WWW-Authenticate", Challenge)
		kvError(w, http.StatusUnauthorized, "Unauthorized", "AKV10000: Request is missing a Bearer or PoP token.")
		return
	case auth != "Bearer "+token:
		w.Header().Set("WWW-Authenticate", Challenge)
		kvError(w, http.StatusUnauthorized, "Unauthorized", "AKV10032: Invalid issuer.")
		return
	}
	parts := strings.Split(strings.Trim(r.URL.Path, "/"), "/")
	if r.Method != http.MethodGet || len(parts) < 2 || len(parts) > 3 || parts[0] != "secrets" {
		kvError(w, http.StatusBadRequest, "BadParameter", "credentialtest serves only GET /secrets/{name}[/{version}].")
		return
	}
	name, ver := parts[1], ""
	if len(parts) == 3 {
		ver = parts[2]
	}
	s, err := v.get(name, ver)
	if err != nil {
		kvError(w, http.StatusNotFound, "SecretNotFound", err.Error())
		return
	}
	id := v.URL + "/secrets/" + name + "/" + s.id
	body := map[string]any{
		"value":       s.value,
		"contentType": s.contentType,
		"id":          id,
		"managed":     true,
		"kid":         v.URL + "/keys/" + name + "/" + s.id,
		"attributes": map[string]any{
			"enabled": true, "created": s.created.Unix(), "updated": s.created.Unix(),
			"recoveryLevel": "Recoverable+Purgeable", "recoverableDays": 90,
		},
		"tags": map[string]string{},
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	_ = json.NewEncoder(w).Encode(body)
}

func (v *Vault) get(name, ver string) (version, error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	versions := v.secrets[strings.ToLower(name)]
	for i := len(versions) - 1; i >= 0; i-- {
		if ver == "" || versions[i].id == ver {
			v.gets[strings.ToLower(name)]++
			return versions[i], nil
		}
	}
	if ver != "" {
		return version{}, fmt.Errorf("A secret with (name/id) %s/%s was not found in this key vault. If you recently deleted this secret you may be able to recover it using the correct recovery command. For help resolving this issue, please see https://go.microsoft.com/fwlink/?linkid=2125182", name, ver)
	}
	return version{}, errors.New("A secret with (name/id) " + name + " was not found in this key vault. If you recently deleted this secret you may be able to recover it using the correct recovery command. For help resolving this issue, please see https://go.microsoft.com/fwlink/?linkid=2125182")
}

func kvError(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{"error": map[string]string{"code": code, "message": msg}})
}
