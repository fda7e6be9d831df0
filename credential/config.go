package credential

import (
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"strings"
	"time"
)

// Config says where one app registration's credential comes from: exactly
// one of its kinds is set. It is written in YAML as the `credential` block
// of a tenant (see docs/configuration.md).
type Config struct {
	// Certificate is a PEM file holding the certificate (chain) and its
	// RSA private key, or the certificate with the key in KeyFile.
	Certificate *CertificateFile `yaml:"certificate,omitempty"`
	// PFX is a PKCS#12 file, as exported from Windows or Key Vault.
	PFX *PFXFile `yaml:"pfx,omitempty"`
	// KeyVault is a certificate in Azure Key Vault, read through the secret
	// of the same name, which holds the certificate with its private key.
	KeyVault *KeyVault `yaml:"keyVault,omitempty"`
	// Secret is a client secret from the environment or a file.
	Secret *Secret `yaml:"secret,omitempty"`
	// FederatedToken is workload identity: a token file, written by the
	// platform (AKS, GitHub Actions), read afresh for each token request.
	FederatedToken *FederatedToken `yaml:"federatedToken,omitempty"`

	// PollInterval is how often files are checked for a change and Key
	// Vault for a new version. Default 30s for files, 5m for Key Vault; a
	// credential the IdP rejects is reloaded at once anyway.
	PollInterval time.Duration `yaml:"pollInterval,omitempty"`
}

// CertificateFile is a certificate in PEM.
type CertificateFile struct {
	// File holds CERTIFICATE blocks, leaf first or in any order, and,
	// unless KeyFile is set, the PRIVATE KEY or RSA PRIVATE KEY block.
	File    string `yaml:"file"`
	KeyFile string `yaml:"keyFile,omitempty"`
}

// PFXFile is a certificate with its key in PKCS#12. The password comes
// from PasswordEnv or PasswordFile; with neither, the PFX has none.
type PFXFile struct {
	File         string `yaml:"file"`
	PasswordEnv  string `yaml:"passwordEnv,omitempty"`
	PasswordFile string `yaml:"passwordFile,omitempty"`
}

// KeyVault is a Key Vault certificate. The app reads it with the
// azidentity default credential chain (managed identity in Azure, the
// developer's az login elsewhere) and needs "get" on the vault's secrets
// (Key Vault Secrets User).
type KeyVault struct {
	// Vault is the vault's URL, e.g. https://contoso-kv.vault.azure.net/.
	Vault string `yaml:"vault"`
	// Certificate is the certificate's name in the vault.
	Certificate string `yaml:"certificate"`
}

// Secret is a client secret. Prefer certificates or workload identity in
// production: a secret is a password sent with every token request.
type Secret struct {
	Env  string `yaml:"env,omitempty"`
	File string `yaml:"file,omitempty"`
}

// FederatedToken is a file holding a JWT that Entra accepts as the client
// assertion through a federated identity credential on the app.
type FederatedToken struct {
	// File defaults to $AZURE_FEDERATED_TOKEN_FILE, which the AKS workload
	// identity webhook sets.
	File string `yaml:"file,omitempty"`
}

// Kind names the kind of c that is set: "certificate", "pfx", "keyVault",
// "secret" or "federatedToken"; "" if none or several.
func (c Config) Kind() string {
	k := c.kinds()
	if len(k) != 1 {
		return ""
	}
	return k[0]
}

func (c Config) kinds() []string {
	var k []string
	if c.Certificate != nil {
		k = append(k, "certificate")
	}
	if c.PFX != nil {
		k = append(k, "pfx")
	}
	if c.KeyVault != nil {
		k = append(k, "keyVault")
	}
	if c.Secret != nil {
		k = append(k, "secret")
	}
	if c.FederatedToken != nil {
		k = append(k, "federatedToken")
	}
	return k
}

var vaultObjectName = regexp.MustCompile(`^[0-9A-Za-z-]{1,127}$`)

// Validate checks c's shape without touching files, the environment or the
// network; Open does the rest. Its errors are *Error.
func (c Config) Validate() error {
	switch k := c.kinds(); len(k) {
	case 0:
		return fieldErr("kind", errors.New("no credential: set one of certificate, pfx, keyVault, secret, federatedToken"))
	case 1:
	default:
		return fieldErr("kind", fmt.Errorf("more than one credential: %s; set exactly one", strings.Join(k, ", ")))
	}
	if c.PollInterval < 0 || (c.PollInterval > 0 && c.PollInterval < time.Second) {
		return fieldErr("pollInterval", fmt.Errorf("%v: use at least 1s, or leave it out for the default", c.PollInterval))
	}
	switch {
	case c.Certificate != nil:
		if c.Certificate.File == "" {
			return fieldErr("certificate.file", errors.New("missing: the PEM file's path"))
		}
	case c.PFX != nil:
		if c.PFX.File == "" {
			return fieldErr("pfx.file", errors.New("missing: the PFX file's path"))
		}
		if c.PFX.PasswordEnv != "" && c.PFX.PasswordFile != "" {
			return fieldErr("pfx.passwordEnv", errors.New("set passwordEnv or passwordFile, not both"))
		}
	case c.KeyVault != nil:
		u, err := url.Parse(c.KeyVault.Vault)
		if c.KeyVault.Vault == "" || err != nil || u.Scheme != "https" || u.Host == "" || (u.Path != "" && u.Path != "/") {
			return fieldErr("keyVault.vault", fmt.Errorf("%q is not a vault URL such as https://contoso-kv.vault.azure.net/", c.KeyVault.Vault))
		}
		if !vaultObjectName.MatchString(c.KeyVault.Certificate) {
			return fieldErr("keyVault.certificate", fmt.Errorf("%q is not a Key Vault certificate name (1-127 letters, digits and dashes)", c.KeyVault.Certificate))
		}
	case c.Secret != nil:
		if (c.Secret.Env == "") == (c.Secret.File == "") {
			return fieldErr("secret", errors.New("set exactly one of env (a variable's name) and file"))
		}
	}
	return nil
}
