package credential

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/AzureAD/microsoft-authentication-library-for-go/apps/confidential"
)

// loaded is a credential with what identifies its content: a hash of its
// files, or its Key Vault version.
type loaded struct {
	cred confidential.Credential
	info Info
	fp   string
}

// loader reads a credential from where it lives. load returns nil, nil
// when the content's fingerprint is still current, so that an unchanged
// credential is not parsed again. Its errors are *Error.
type loader interface {
	load(ctx context.Context, current string) (*loaded, error)
}

// maxFile bounds what is read from a credential file: certificates and
// tokens are a few KB.
const maxFile = 1 << 20

func readFile(field, path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fieldErr(field, err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxFile+1))
	if err != nil {
		return nil, fieldErr(field, err)
	}
	if len(b) > maxFile {
		return nil, fieldErr(field, fmt.Errorf("%s is larger than %d bytes: not a credential file", path, maxFile))
	}
	return b, nil
}

type fileRef struct{ field, path string }

// fileLoader reads files and parses them when their bytes changed. Every
// file is read and hashed at each poll: they are small, and a hash sees a
// replacement that keeps the size and the modification time (coarse
// timestamps, a restored backup) where a stat would not. A file caught half
// written fails to parse; the current credential stays and the next poll
// tries again.
type fileLoader struct {
	files []fileRef
	parse func(contents [][]byte) (confidential.Credential, Info, error)
}

func (l *fileLoader) load(_ context.Context, current string) (*loaded, error) {
	h := sha256.New()
	contents := make([][]byte, len(l.files))
	for i, f := range l.files {
		b, err := readFile(f.field, f.path)
		if err != nil {
			return nil, err
		}
		contents[i] = b
		fmt.Fprintf(h, "%d:", len(b))
		h.Write(b)
	}
	fp := hex.EncodeToString(h.Sum(nil))
	if fp == current {
		return nil, nil
	}
	cred, info, err := l.parse(contents)
	if err != nil {
		return nil, err
	}
	return &loaded{cred: cred, info: info, fp: fp}, nil
}

func certificateLoader(c *CertificateFile, now func() time.Time) loader {
	files := []fileRef{{"certificate.file", c.File}}
	if c.KeyFile != "" {
		files = append(files, fileRef{"certificate.keyFile", c.KeyFile})
	}
	return &fileLoader{files: files, parse: func(b [][]byte) (confidential.Credential, Info, error) {
		certs, key, err := parsePEM(joinPEM(b))
		if err == nil {
			var cred confidential.Credential
			var info Info
			if cred, info, err = certCredential("certificate", certs, key, now()); err == nil {
				return cred, info, nil
			}
		}
		field := "certificate.file"
		if c.KeyFile != "" && isKeyProblem(err) {
			field = "certificate.keyFile"
		}
		return confidential.Credential{}, Info{}, fieldErr(field, err)
	}}
}

func isKeyProblem(err error) bool {
	for _, e := range []error{ErrNoPrivateKey, ErrNotRSA, ErrKeyMismatch, ErrEncryptedPEM} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

func joinPEM(b [][]byte) []byte {
	var all []byte
	for _, p := range b {
		all = append(append(all, p...), '\n')
	}
	return all
}

func pfxLoader(c *PFXFile, getenv func(string) string, now func() time.Time) (loader, error) {
	files := []fileRef{{"pfx.file", c.File}}
	var envPassword string
	pwField := "pfx.passwordEnv"
	switch {
	case c.PasswordFile != "":
		files = append(files, fileRef{"pfx.passwordFile", c.PasswordFile})
		pwField = "pfx.passwordFile"
	case c.PasswordEnv != "":
		envPassword = getenv(c.PasswordEnv)
		if envPassword == "" {
			return nil, fieldErr("pfx.passwordEnv", fmt.Errorf("the environment variable %s is not set", c.PasswordEnv))
		}
	}
	return &fileLoader{files: files, parse: func(b [][]byte) (confidential.Credential, Info, error) {
		password := envPassword
		if c.PasswordFile != "" {
			password = strings.TrimRight(string(b[1]), "\r\n")
		}
		certs, key, err := parsePFX(b[0], password)
		if errors.Is(err, ErrWrongPassword) {
			if c.PasswordFile == "" && c.PasswordEnv == "" {
				err = fmt.Errorf("%w: the file has a password; set passwordEnv or passwordFile", err)
			}
			return confidential.Credential{}, Info{}, fieldErr(pwField, err)
		}
		if err != nil {
			return confidential.Credential{}, Info{}, fieldErr("pfx.file", err)
		}
		cred, info, err := certCredential("pfx", certs, key, now())
		if err != nil {
			return cred, info, fieldErr("pfx.file", err)
		}
		return cred, info, nil
	}}, nil
}

func secretFileLoader(path string, now func() time.Time) loader {
	return &fileLoader{files: []fileRef{{"secret.file", path}}, parse: func(b [][]byte) (confidential.Credential, Info, error) {
		return secretCredential("secret.file", strings.TrimSpace(string(b[0])), now)
	}}
}

func secretCredential(field, secret string, now func() time.Time) (confidential.Credential, Info, error) {
	if secret == "" {
		return confidential.Credential{}, Info{}, fieldErr(field, errors.New("the secret is empty"))
	}
	cred, err := confidential.NewCredFromSecret(secret)
	if err != nil {
		return cred, Info{}, fieldErr(field, errors.New("MSAL refused the secret"))
	}
	return cred, Info{Kind: "secret", Loaded: now()}, nil
}

// staticLoader is a credential that cannot change while the process runs:
// a secret from the environment, or a federated token file (which is read
// at each use instead).
type staticLoader struct {
	l   *loaded
	err error
}

func (s *staticLoader) load(_ context.Context, current string) (*loaded, error) {
	if s.err != nil {
		return nil, s.err
	}
	if current == s.l.fp {
		return nil, nil
	}
	return s.l, nil
}

func secretEnvLoader(name string, getenv func(string) string, now func() time.Time) loader {
	v := getenv(name)
	if v == "" {
		return &staticLoader{err: fieldErr("secret.env", fmt.Errorf("the environment variable %s is not set", name))}
	}
	cred, info, err := secretCredential("secret.env", v, now)
	return &staticLoader{l: &loaded{cred: cred, info: info, fp: "env:" + name}, err: err}
}

// federatedLoader reads the token file at each token request: the platform
// rewrites it before the token in it expires (hourly on AKS), so a copy
// kept in memory would go stale.
func federatedLoader(c *FederatedToken, getenv func(string) string, now func() time.Time) loader {
	path := c.File
	if path == "" {
		path = getenv("AZURE_FEDERATED_TOKEN_FILE")
	}
	if path == "" {
		return &staticLoader{err: fieldErr("federatedToken.file", errors.New("missing, and AZURE_FEDERATED_TOKEN_FILE is not set"))}
	}
	read := func() (string, error) {
		b, err := readFile("federatedToken.file", path)
		if err != nil {
			return "", err
		}
		tok := strings.TrimSpace(string(b))
		if tok == "" {
			return "", fieldErr("federatedToken.file", fmt.Errorf("%s is empty", path))
		}
		return tok, nil
	}
	if _, err := read(); err != nil {
		return &staticLoader{err: err}
	}
	cred := confidential.NewCredFromAssertionCallback(func(context.Context, confidential.AssertionRequestOptions) (string, error) {
		return read()
	})
	return &staticLoader{l: &loaded{cred: cred, info: Info{Kind: "federatedToken", Loaded: now()}, fp: "federated:" + path}}
}
