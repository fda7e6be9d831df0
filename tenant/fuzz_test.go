package tenant_test

import (
	"errors"
	"reflect"
	"testing"

	"github.com/tenantgate/tenantgate/tenant"
	"go.yaml.in/yaml/v3"
)

// FuzzParse: any input either parses into a valid Config that survives a
// round trip through YAML, or fails with a *ConfigError; never a panic.
// The seed corpus is in testdata/fuzz/FuzzParse.
func FuzzParse(f *testing.F) {
	f.Fuzz(func(t *testing.T, b []byte) {
		cfg, err := tenant.Parse(b)
		if err != nil {
			var ce *tenant.ConfigError
			if !errors.As(err, &ce) {
				t.Fatalf("error %v is not a *ConfigError", err)
			}
			return
		}
		if err := cfg.Validate(); err != nil {
			t.Fatalf("Parse accepted what Validate refuses: %v", err)
		}
		out, err := yaml.Marshal(cfg)
		if err != nil {
			t.Fatalf("marshal: %v", err)
		}
		again, err := tenant.Parse(out)
		if err != nil {
			t.Fatalf("the marshalled config does not parse: %v\n%s", err, out)
		}
		if !reflect.DeepEqual(normalize(cfg), normalize(again)) {
			t.Fatalf("round trip changed the config:\n%#v\n%#v", cfg, again)
		}
	})
}

// normalize makes empty and nil slices equal, which YAML cannot tell apart.
func normalize(c tenant.Config) tenant.Config {
	out := tenant.Config{Organizations: c.Organizations, Tenants: map[string]tenant.TenantConfig{}}
	for k, t := range c.Tenants {
		if len(t.Scopes) == 0 {
			t.Scopes = nil
		}
		out.Tenants[k] = t
	}
	if o := c.Organizations; o != nil {
		oc := *o
		if len(oc.Scopes) == 0 {
			oc.Scopes = nil
		}
		out.Organizations = &oc
	}
	return out
}

// The example in docs/configuration.md parses: it is the same file as
// testdata/tenants.yaml.
func TestDocumentedExampleParses(t *testing.T) {
	cfg, err := tenant.Load("testdata/tenants.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.Tenants) != 5 || cfg.Organizations == nil || cfg.Tenants["woodgrove"].Kind != tenant.CIAM {
		t.Fatalf("parsed %d tenants", len(cfg.Tenants))
	}
}
