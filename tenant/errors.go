package tenant

import (
	"errors"
	"fmt"
)

// ConfigError is a tenant whose configuration is wrong or whose credential
// or authority fails at start-up. Field is the path within the tenant's
// block, e.g. "credential.pfx.passwordFile".
type ConfigError struct {
	// Tenant is the tenant's key, "organizations" for the multi-tenant
	// app, or "" for the file as a whole.
	Tenant string
	Field  string
	Err    error
}

func (e *ConfigError) Error() string {
	if e.Tenant == "" {
		return fmt.Sprintf("tenant: configuration: %s: %v", e.Field, e.Err)
	}
	return fmt.Sprintf("tenant: %s: %s: %v", e.Tenant, e.Field, e.Err)
}

func (e *ConfigError) Unwrap() error { return e.Err }

func configErr(tenant, field string, format string, args ...any) error {
	return &ConfigError{Tenant: tenant, Field: field, Err: fmt.Errorf(format, args...)}
}

// ErrTenantNotAllowed is returned by ForTenantID for a tenant that is
// neither configured nor on the organizations allow-list: its users must
// not sign in.
var ErrTenantNotAllowed = errors.New("tenant: the tenant is not allowed to sign in here")
