// Package tenant turns configuration into ready MSAL confidential clients,
// one per tenant an app signs users in from.
//
// A service that serves several Entra tenants (workforce or CIAM, in the
// public cloud, a sovereign one, or devidp) needs, per tenant, the right
// authority, instance discovery on or off, the app's client ID and a
// credential that may rotate. Config says that in YAML; Open checks all of
// it at start-up (every credential loads, every authority answers), so that
// a mistake stops the process with the tenant and field named instead of
// failing the first user's sign-in. The Registry then hands out a Tenant,
// whose tokencache.Client follows credential rotations without a restart.
//
// One multi-tenant app registration ("organizations") may also serve any
// tenant on an allow-list: ForTenantID refuses every other tenant with
// ErrTenantNotAllowed.
package tenant
