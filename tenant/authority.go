package tenant

import (
	"fmt"
	"net/url"
	"strings"
)

// defaultHost is the public cloud's authority host.
const defaultHost = "login.microsoftonline.com"

// microsoftHosts are the authority hosts MSAL Go knows: instance discovery
// may run for them. MSAL Go fails on any other host with discovery on, and
// CIAM authorities must have it off.
var microsoftHosts = map[string]bool{
	"login.microsoftonline.com": true,
	"login.microsoftonline.us":  true, // Azure US Government
	"login.chinacloudapi.cn":    true, // Azure operated by 21Vianet
}

// authorityFor is the MSAL authority of tenant tid (or "organizations")
// and whether instance discovery may run for it:
//
//	workforce  https://{host}/{tid}, host default login.microsoftonline.com
//	ciam       https://{tid}.ciamlogin.com/{tid}, or https://{host}/{tid}
//	dev IdP    {url}/{tid}
func authorityFor(kind Kind, host, tid string) (authority string, discovery bool, err error) {
	if host == "" {
		if kind == CIAM {
			return "https://" + tid + ".ciamlogin.com/" + tid, false, nil
		}
		host = defaultHost
	}
	base := host
	if !strings.Contains(host, "://") {
		base = "https://" + host
	}
	u, err := url.Parse(base)
	if err != nil || u.Scheme != "https" || u.Host == "" || strings.Trim(u.Path, "/") != "" || u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		return "", false, fmt.Errorf("%q is not an authority host: a host name such as login.microsoftonline.us, or an https URL without a path", host)
	}
	h := strings.ToLower(u.Host)
	return "https://" + h + "/" + tid, kind != CIAM && microsoftHosts[h], nil
}

// metadataURL is where an authority publishes its OpenID configuration.
func metadataURL(authority string) string {
	return authority + "/v2.0/.well-known/openid-configuration"
}
