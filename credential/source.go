package credential

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	"github.com/Azure/azure-sdk-for-go/sdk/security/keyvault/azsecrets"
	"github.com/AzureAD/microsoft-authentication-library-for-go/apps/confidential"
)

// Options are what a Source needs beyond its Config. The zero value is
// usable.
type Options struct {
	// Name says whose credential this is in logs, e.g. the tenant's key.
	Name string
	// Getenv reads the environment; default os.Getenv.
	Getenv func(string) string
	// TokenCredential authenticates to Key Vault. Default azidentity's
	// DefaultAzureCredential: managed identity in Container Apps and App
	// Service, workload identity in AKS, az login on a laptop.
	TokenCredential azcore.TokenCredential
	// KeyVault configures the Key Vault client (transport, retries, cloud).
	KeyVault *azsecrets.ClientOptions
	// RejectionBackoff is the least time between two reloads forced by
	// Rejected, so that a burst of failing requests reads the vault once.
	// Default 5s.
	RejectionBackoff time.Duration
	Logger           *slog.Logger
	Now              func() time.Time
}

func (o Options) withDefaults() Options {
	if o.Getenv == nil {
		o.Getenv = os.Getenv
	}
	if o.RejectionBackoff <= 0 {
		o.RejectionBackoff = 5 * time.Second
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return o
}

func (o Options) defaultAzureCredential() (azcore.TokenCredential, error) {
	var co *azidentity.DefaultAzureCredentialOptions
	if o.KeyVault != nil {
		co = &azidentity.DefaultAzureCredentialOptions{ClientOptions: o.KeyVault.ClientOptions}
	}
	return azidentity.NewDefaultAzureCredential(co)
}

// Source holds an app's current credential and replaces it when the
// credential rotates. It is safe for concurrent use; Close stops its
// polling.
type Source struct {
	name     string
	kind     string
	ld       loader
	interval time.Duration
	backoff  time.Duration
	log      *slog.Logger

	loadMu sync.Mutex // one load at a time

	mu      sync.Mutex
	cur     *loaded
	changed chan struct{}

	kick chan struct{}
	stop context.CancelFunc
	done chan struct{}
}

// Open loads the credential cfg describes, failing with an *Error naming
// the field when it does not load, and then watches it: files every
// PollInterval, Key Vault for a new version. ctx bounds the first load
// only; Close stops the watching.
func Open(ctx context.Context, cfg Config, o Options) (*Source, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	o = o.withDefaults()
	s := &Source{
		name: o.Name, kind: cfg.Kind(), backoff: o.RejectionBackoff, log: o.Logger,
		changed: make(chan struct{}), kick: make(chan struct{}, 1), done: make(chan struct{}),
	}
	s.interval = cfg.PollInterval
	switch {
	case cfg.Certificate != nil:
		s.ld = certificateLoader(cfg.Certificate, o.Now)
	case cfg.PFX != nil:
		var err error
		if s.ld, err = pfxLoader(cfg.PFX, o.Getenv, o.Now); err != nil {
			return nil, err
		}
	case cfg.KeyVault != nil:
		vl, err := newVaultLoader(cfg.KeyVault, o)
		if err != nil {
			return nil, err
		}
		s.ld = vl
		if s.interval == 0 {
			s.interval = 5 * time.Minute
		}
	case cfg.Secret != nil && cfg.Secret.Env != "":
		s.ld, s.interval = secretEnvLoader(cfg.Secret.Env, o.Getenv, o.Now), -1
	case cfg.Secret != nil:
		s.ld = secretFileLoader(cfg.Secret.File, o.Now)
	case cfg.FederatedToken != nil:
		s.ld, s.interval = federatedLoader(cfg.FederatedToken, o.Getenv, o.Now), -1
	}
	if s.interval == 0 {
		s.interval = 30 * time.Second
	}
	l, err := s.ld.load(ctx, "")
	if err != nil {
		return nil, err
	}
	s.cur = l
	s.logLoaded("credential: loaded", l.info)
	if s.interval < 0 {
		close(s.done)
		s.stop = func() {}
		return s, nil
	}
	runCtx, stop := context.WithCancel(context.Background())
	s.stop = stop
	go s.run(runCtx)
	return s, nil
}

// Credential returns the credential to use now.
func (s *Source) Credential() confidential.Credential {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.cur.cred
}

// Info describes the credential in use.
func (s *Source) Info() Info {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.cur.info
}

// Changed returns a channel that is closed when the credential next
// changes. Take the channel before reading Credential, so that a change in
// between is not missed:
//
//	for {
//		ch := src.Changed()
//		use(src.Credential())
//		<-ch
//	}
func (s *Source) Changed() <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.changed
}

// Rejected reports whether err is the identity provider refusing the
// app's credential (see IsRejection). If it is, the Source reloads at
// once, in the background, so that a certificate rotated in Key Vault
// before the next poll is picked up; the caller may wait on Changed and
// retry. Forced reloads are at least Options.RejectionBackoff apart.
func (s *Source) Rejected(err error) bool {
	if !IsRejection(err) {
		return false
	}
	s.log.Warn("credential: the identity provider rejected the credential; reloading",
		slog.String("name", s.name), slog.String("kind", s.kind), slog.String("thumbprint", s.Info().Thumbprint))
	select {
	case s.kick <- struct{}{}:
	default:
	}
	return true
}

// Reload loads the credential now and reports whether it changed. A
// credential that fails to load leaves the current one in use.
func (s *Source) Reload(ctx context.Context) (bool, error) {
	s.loadMu.Lock()
	defer s.loadMu.Unlock()
	s.mu.Lock()
	fp := s.cur.fp
	s.mu.Unlock()
	l, err := s.ld.load(ctx, fp)
	if err != nil || l == nil {
		return false, err
	}
	s.mu.Lock()
	old := s.cur.info
	s.cur = l
	close(s.changed)
	s.changed = make(chan struct{})
	s.mu.Unlock()
	s.logLoaded("credential: rotated", l.info, slog.String("previous_thumbprint", old.Thumbprint), slog.String("previous_version", old.Version))
	return true, nil
}

// Close stops watching. The last credential stays usable.
func (s *Source) Close() error {
	s.stop()
	<-s.done
	return nil
}

func (s *Source) run(ctx context.Context) {
	defer close(s.done)
	tick := time.NewTicker(s.interval)
	defer tick.Stop()
	var lastForced time.Time
	var deferred <-chan time.Time
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		case <-s.kick:
			if wait := s.backoff - time.Since(lastForced); wait > 0 {
				if deferred == nil {
					deferred = time.After(wait)
				}
				continue
			}
			lastForced = time.Now()
		case <-deferred:
			deferred, lastForced = nil, time.Now()
		}
		lctx, cancel := context.WithTimeout(ctx, min(s.interval, time.Minute))
		_, err := s.Reload(lctx)
		cancel()
		if err != nil && ctx.Err() == nil {
			s.log.Error("credential: reload failed; keeping the current credential",
				slog.String("name", s.name), slog.String("kind", s.kind), slog.Any("err", err))
		}
	}
}

// expiryWarning is how long before a certificate expires the Source starts
// to warn, at each load, that nothing has replaced it yet.
const expiryWarning = 14 * 24 * time.Hour

func (s *Source) logLoaded(msg string, info Info, extra ...any) {
	attrs := append([]any{slog.String("name", s.name), slog.String("kind", info.Kind)}, extra...)
	if info.Thumbprint != "" {
		attrs = append(attrs, slog.String("thumbprint", info.Thumbprint), slog.Time("not_after", info.NotAfter))
	}
	if info.Version != "" {
		attrs = append(attrs, slog.String("version", info.Version))
	}
	s.log.Info(msg, attrs...)
	if !info.NotAfter.IsZero() && info.NotAfter.Sub(info.Loaded) < expiryWarning {
		s.log.Warn(fmt.Sprintf("credential: the certificate expires in less than %v; rotate it", expiryWarning),
			slog.String("name", s.name), slog.String("thumbprint", info.Thumbprint), slog.Time("not_after", info.NotAfter))
	}
}
