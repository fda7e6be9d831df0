package tenant

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"slices"
	"strings"

	"github.com/tenantgate/tenantgate/credential"
	"go.yaml.in/yaml/v3"
)

// Config is the tenant file: the tenants by key, and optionally one
// multi-tenant app registration. See docs/configuration.md.
type Config struct {
	Tenants       map[string]TenantConfig `yaml:"tenants"`
	Organizations *Organizations          `yaml:"organizations,omitempty"`
}

// Kind is the kind of Entra tenant.
type Kind string

// The kinds: a workforce tenant (Entra ID), or a customer tenant (Entra
// External ID, "CIAM"), whose authority lives on ciamlogin.com.
const (
	Workforce Kind = "workforce"
	CIAM      Kind = "ciam"
)

// TenantConfig is one tenant: an app registration's client ID and
// credential in one directory.
type TenantConfig struct {
	// TenantID is the directory (tenant) ID, a GUID.
	TenantID string `yaml:"tenantId"`
	// Kind defaults to workforce.
	Kind Kind `yaml:"kind,omitempty"`
	// AuthorityHost is login.microsoftonline.com unless set: a sovereign
	// cloud's host (login.microsoftonline.us, login.chinacloudapi.cn), a
	// CIAM custom domain, or a dev IdP's URL (https://127.0.0.1:8443).
	AuthorityHost string            `yaml:"authorityHost,omitempty"`
	ClientID      string            `yaml:"clientId"`
	Credential    credential.Config `yaml:"credential"`
	// Scopes are what sign-in asks for when the caller names none.
	Scopes []string `yaml:"scopes,omitempty"`
}

// Organizations is one multi-tenant app registration that users of the
// listed tenants sign in with, through the "organizations" authority.
type Organizations struct {
	AuthorityHost  string            `yaml:"authorityHost,omitempty"`
	ClientID       string            `yaml:"clientId"`
	Credential     credential.Config `yaml:"credential"`
	Scopes         []string          `yaml:"scopes,omitempty"`
	AllowedTenants []string          `yaml:"allowedTenants"`
}

// OrganizationsKey names the multi-tenant app in errors and environment
// variables; no tenant may use it as its key.
const OrganizationsKey = "organizations"

var (
	guidRE = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)
	keyRE  = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$`)
)

// maxConfig bounds the tenant file: thousands of tenants fit in far less.
const maxConfig = 4 << 20

// Load reads and parses the tenant file at path.
func Load(path string) (Config, error) {
	f, err := os.Open(path)
	if err != nil {
		return Config{}, fmt.Errorf("tenant: %w", err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxConfig+1))
	if err != nil {
		return Config{}, fmt.Errorf("tenant: %w", err)
	}
	cfg, err := Parse(b)
	if err != nil {
		return Config{}, fmt.Errorf("%w (in %s)", err, path)
	}
	return cfg, nil
}

var notFound = regexp.MustCompile(`line (\d+): field (\S+) not found in type \S+`)

// Parse reads a tenant file and checks its shape. Unknown fields are
// errors naming the field and line: a misspelt `pollInterval` must not
// silently become the default. Credentials and authorities are checked by
// Open.
func Parse(b []byte) (Config, error) {
	if len(b) > maxConfig {
		return Config{}, configErr("", "file", "larger than %d bytes", maxConfig)
	}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	var cfg Config
	if err := dec.Decode(&cfg); err != nil {
		if errors.Is(err, io.EOF) {
			return Config{}, configErr("", "tenants", "the file is empty: configure at least one tenant")
		}
		msg := notFound.ReplaceAllString(err.Error(), `line $1: unknown field "$2"`)
		msg = strings.ReplaceAll(msg, "\n  ", " ")
		msg = strings.TrimPrefix(strings.TrimPrefix(msg, "yaml: "), "unmarshal errors: ")
		return Config{}, configErr("", "yaml", "%s", msg)
	}
	return cfg, cfg.Validate()
}

// Validate checks what can be checked without the environment, files or
// network: keys, GUIDs, kinds, hosts. Its errors are *ConfigError.
func (c Config) Validate() error {
	if len(c.Tenants) == 0 && c.Organizations == nil {
		return configErr("", "tenants", "no tenant configured")
	}
	byID := map[string]string{}
	for _, key := range sortedKeys(c.Tenants) {
		t := c.Tenants[key]
		if !keyRE.MatchString(key) || key == OrganizationsKey {
			return configErr(key, "key", "%q must be lower-case letters, digits and dashes (at most 63), and not %q", key, OrganizationsKey)
		}
		if !guidRE.MatchString(t.TenantID) {
			return configErr(key, "tenantId", "%q is not a tenant ID (a GUID, as the Entra admin center shows it)", t.TenantID)
		}
		tid := strings.ToLower(t.TenantID)
		if other, dup := byID[tid]; dup {
			return configErr(key, "tenantId", "%s is also the tenant ID of %q: one key per tenant", tid, other)
		}
		byID[tid] = key
		switch t.Kind {
		case "", Workforce, CIAM:
		default:
			return configErr(key, "kind", "%q is neither %q nor %q", t.Kind, Workforce, CIAM)
		}
		if _, _, err := authorityFor(t.Kind, t.AuthorityHost, tid); err != nil {
			return configErr(key, "authorityHost", "%v", err)
		}
		if err := checkCommon(key, t.ClientID, t.Scopes); err != nil {
			return err
		}
	}
	if o := c.Organizations; o != nil {
		if _, _, err := authorityFor(Workforce, o.AuthorityHost, OrganizationsKey); err != nil {
			return configErr(OrganizationsKey, "authorityHost", "%v", err)
		}
		if err := checkCommon(OrganizationsKey, o.ClientID, o.Scopes); err != nil {
			return err
		}
		if len(o.AllowedTenants) == 0 {
			return configErr(OrganizationsKey, "allowedTenants", "empty: list the tenant IDs whose users may sign in")
		}
		for i, tid := range o.AllowedTenants {
			if !guidRE.MatchString(tid) {
				return configErr(OrganizationsKey, fmt.Sprintf("allowedTenants[%d]", i), "%q is not a tenant ID (a GUID)", tid)
			}
		}
	}
	return nil
}

func checkCommon(key, clientID string, scopes []string) error {
	if !guidRE.MatchString(clientID) {
		return configErr(key, "clientId", "%q is not a client (application) ID, a GUID", clientID)
	}
	for i, s := range scopes {
		if s == "" || strings.ContainsAny(s, " \t\n") {
			return configErr(key, fmt.Sprintf("scopes[%d]", i), "%q is not a scope", s)
		}
	}
	return nil
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
