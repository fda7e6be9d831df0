package redistest

import (
	"context"
	"crypto/tls"
	"net"
	"strings"
	"testing"
	"time"
)

func TestTLS(t *testing.T) {
	t.Parallel()
	s := TLS(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()

	t.Run("plain TCP fails", func(t *testing.T) {
		c, err := net.DialTimeout("tcp", s.Addr, 2*time.Second)
		if err != nil {
			return // refused outright also counts
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(2 * time.Second))
		if reply, err := newConn(c).do("PING"); err == nil {
			t.Fatalf("plain PING to the TLS port answered %#v", reply)
		}
	})
	t.Run("TLS with the CA and the ACL user works", func(t *testing.T) {
		if got := s.Do(t, "SET", "k", "v"); got != "OK" {
			t.Fatalf("SET = %#v", got)
		}
		if got := s.Do(t, "ACL", "WHOAMI"); got != s.Username {
			t.Fatalf("ACL WHOAMI = %#v, want %s", got, s.Username)
		}
		// A plain crypto/tls client with only ClientTLS, as another library would use it.
		c, err := tls.Dial("tcp", s.Addr, s.ClientTLS())
		if err != nil {
			t.Fatalf("tls.Dial with ClientTLS: %v", err)
		}
		c.Close()
		if want := "rediss://app:" + s.Password + "@" + s.Addr; s.URL() != want {
			t.Fatalf("URL = %s, want %s", s.URL(), want)
		}
	})
	t.Run("unknown CA fails", func(t *testing.T) {
		c, err := tls.Dial("tcp", s.Addr, &tls.Config{ServerName: s.ServerName})
		if err == nil {
			c.Close()
			t.Fatal("TLS without the test CA verified")
		}
	})
	t.Run("default user refused", func(t *testing.T) {
		c, err := s.dial(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		defer withDeadline(ctx, c)()
		if reply, _ := c.do("PING"); !isReplyError(reply, "NOAUTH") {
			t.Fatalf("PING without AUTH = %#v, want NOAUTH", reply)
		}
		if reply, _ := c.do("AUTH", "anything"); !isReplyError(reply, "WRONGPASS") {
			t.Fatalf("AUTH as default = %#v, want WRONGPASS", reply)
		}
		if reply, _ := c.do("AUTH", s.Username, "wrong"); !isReplyError(reply, "WRONGPASS") {
			t.Fatalf("AUTH with a wrong password = %#v, want WRONGPASS", reply)
		}
	})
	t.Run("CLIENT allowed by default", func(t *testing.T) {
		if _, ok := s.Do(t, "CLIENT", "ID").(int64); !ok {
			t.Fatal("CLIENT ID refused for the default rules")
		}
	})
}

func TestTLSWithACL(t *testing.T) {
	t.Parallel()
	s := TLS(t, WithACL("~*", "&*", "+@all", "-client"))
	if got := s.Do(t, "SET", "k", "v"); got != "OK" {
		t.Fatalf("SET = %#v", got)
	}
	if got := s.Do(t, "CLIENT", "TRACKING", "on"); !isReplyError(got, "NOPERM") {
		t.Fatalf("CLIENT TRACKING = %#v, want NOPERM", got)
	}
}

func TestStandaloneWithACL(t *testing.T) {
	t.Parallel()
	n := Standalone(t, WithACL("~tg1:*", "+@all"))
	if n.Username == "" || n.Password == "" {
		t.Fatal("no credentials on a node with an ACL")
	}
	if got := n.Do(t, "SET", "tg1:k", "v"); got != "OK" {
		t.Fatalf("SET tg1:k = %#v", got)
	}
	if got := n.Do(t, "SET", "other", "v"); !isReplyError(got, "NOPERM") {
		t.Fatalf("SET other = %#v, want NOPERM", got)
	}
	if !strings.HasPrefix(n.URL(), "redis://app:") {
		t.Fatalf("URL = %s", n.URL())
	}
}
