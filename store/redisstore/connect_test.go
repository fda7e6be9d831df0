package redisstore_test

import (
	"context"
	"crypto/tls"
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/tenantgate/tenantgate/internal/redistest"
	"github.com/tenantgate/tenantgate/store"
	"github.com/tenantgate/tenantgate/store/redisstore"
)

// Every way of failing to connect returns, within the dial timeout, an error
// that names the address and says what to check, and never the password.
func TestConnectErrors(t *testing.T) {
	srv := redistest.TLS(t)
	closed := func() string {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		return l.Addr().String()
	}()
	wrongPassword := strings.Replace(srv.URL(), srv.Password, "not-the-password", 1)
	for _, tc := range []struct {
		name string
		o    redisstore.Options
		want []string
	}{
		{"unreachable", redisstore.Options{URL: "redis://" + closed}, []string{closed, "cannot connect"}},
		{"wrong password", redisstore.Options{URL: wrongPassword, TLS: srv.ClientTLS()}, []string{srv.Addr, "credentials", "WRONGPASS"}},
		{"tls does not verify", redisstore.Options{URL: srv.URL(), TLS: &tls.Config{MinVersion: tls.VersionTLS12}}, []string{srv.Addr, "certificate"}},
		{"plain to a tls port", redisstore.Options{Addrs: []string{srv.Addr}, Username: srv.Username, Password: srv.Password, DialTimeout: time.Second, OpTimeout: time.Second}, []string{srv.Addr}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
			defer cancel()
			done := make(chan error, 1)
			go func() {
				s, err := redisstore.New(ctx, tc.o)
				if err == nil {
					s.Close()
				}
				done <- err
			}()
			var err error
			select {
			case err = <-done:
			case <-ctx.Done():
				t.Fatal("New did not return within 15s")
			}
			if err == nil {
				t.Fatal("connected")
			}
			if !errors.Is(err, store.ErrUnavailable) {
				t.Errorf("error is not store.ErrUnavailable: %v", err)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
			if strings.Contains(err.Error(), srv.Password) || strings.Contains(err.Error(), "not-the-password") {
				t.Errorf("error shows a password: %v", err)
			}
		})
	}
}

// An operation against a stopped server fails fast with ErrUnavailable,
// never ErrNotFound: "Redis is down" is not "signed out".
func TestDownIsUnavailableNotNotFound(t *testing.T) {
	srv := redistest.Standalone(t)
	s := open(t, redisstore.Options{Addrs: []string{srv.Addr}, L1: redisstore.ModeOff, OpTimeout: 300 * time.Millisecond})
	ctx := context.Background()
	srv.Pause(t)
	defer srv.Resume(t)
	start := time.Now()
	_, _, err := s.Get(ctx, "tg1:test:down")
	if !errors.Is(err, store.ErrUnavailable) || errors.Is(err, store.ErrNotFound) {
		t.Fatalf("Get on a paused server: %v; want ErrUnavailable", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("Get took %v past a 300ms operation timeout", d)
	}
}
