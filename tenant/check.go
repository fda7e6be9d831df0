package tenant

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"regexp"
	"time"
)

var aadsts = regexp.MustCompile(`AADSTS\d+`)

// checkMetadata fetches the authority's OpenID configuration, as MSAL will
// at the first token request, so that an unknown tenant or an unreachable
// host stops start-up instead of the first sign-in. hostField is the
// field to blame when the host does not answer.
func checkMetadata(ctx context.Context, hc *http.Client, key, authority, hostField string) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	u := metadataURL(authority)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return configErr(key, hostField, "%v", err)
	}
	resp, err := hc.Do(req)
	if err != nil {
		return configErr(key, hostField, "the authority's metadata is unreachable: %v", err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	var doc struct {
		TokenEndpoint string `json:"token_endpoint"`
		Error         string `json:"error"`
		Description   string `json:"error_description"`
	}
	_ = json.Unmarshal(body, &doc)
	switch code := aadsts.FindString(doc.Description); {
	case code == "AADSTS90002":
		return configErr(key, "tenantId", "the identity provider does not know this tenant (%s at %s): check the tenant ID and the cloud (authorityHost)", code, u)
	case resp.StatusCode != http.StatusOK:
		if code == "" {
			code = doc.Error
		}
		return configErr(key, hostField, "the authority's metadata at %s answered %s %s", u, resp.Status, code)
	case doc.TokenEndpoint == "":
		return configErr(key, hostField, "%s is not OpenID configuration (no token_endpoint): is the host an Entra authority?", u)
	}
	return nil
}

func hostField(host string) string {
	if host == "" {
		return "tenantId"
	}
	return "authorityHost"
}
