package faultproxy

import (
	"bufio"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/tenantgate/tenantgate/internal/redistest"
)

// ping sends PING on c and reads the answer within d.
func ping(c net.Conn, r *bufio.Reader, d time.Duration) (string, error) {
	c.SetDeadline(time.Now().Add(d))
	if _, err := c.Write([]byte("PING\r\n")); err != nil {
		return "", err
	}
	line, err := r.ReadString('\n')
	return strings.TrimSpace(line), err
}

func dial(t *testing.T, addr string) (net.Conn, *bufio.Reader) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c, bufio.NewReader(c)
}

// Each fault in front of a real redis-server, and the same connection or
// a new one once it heals.
func TestFaults(t *testing.T) {
	srv := redistest.Standalone(t)
	p := Start(t, srv.Addr)
	c, r := dial(t, p.Addr)
	if got, err := ping(c, r, 5*time.Second); err != nil || got != "+PONG" {
		t.Fatalf("through the proxy: %q %v", got, err)
	}

	t.Run("latency", func(t *testing.T) {
		p.SetLatency(200 * time.Millisecond)
		start := time.Now()
		got, err := ping(c, r, 10*time.Second)
		// Each direction waits 200ms: a lower bound, whatever the load.
		if err != nil || got != "+PONG" || time.Since(start) < 400*time.Millisecond {
			t.Fatalf("with latency: %q %v after %v", got, err, time.Since(start))
		}
		p.Heal()
	})

	t.Run("black hole holds, then delivers", func(t *testing.T) {
		p.BlackHole()
		if got, err := ping(c, r, 300*time.Millisecond); err == nil {
			t.Fatalf("a black hole answered %q", got)
		}
		fresh, fr := dial(t, p.Addr)
		if got, err := ping(fresh, fr, 300*time.Millisecond); err == nil {
			t.Fatalf("a new connection through a black hole answered %q", got)
		}
		p.Heal()
		// The held PING is answered first, then the new one.
		c.SetDeadline(time.Now().Add(10 * time.Second))
		if line, err := r.ReadString('\n'); err != nil || strings.TrimSpace(line) != "+PONG" {
			t.Fatalf("held PING after heal: %q %v", line, err)
		}
		if got, err := ping(c, r, 10*time.Second); err != nil || got != "+PONG" {
			t.Fatalf("after heal: %q %v", got, err)
		}
		fresh.SetDeadline(time.Now().Add(10 * time.Second))
		if line, err := fr.ReadString('\n'); err != nil || strings.TrimSpace(line) != "+PONG" {
			t.Fatalf("connection made in the black hole, after heal: %q %v", line, err)
		}
	})

	t.Run("cut resets and refuses", func(t *testing.T) {
		p.Cut()
		if got, err := ping(c, r, 5*time.Second); err == nil {
			t.Fatalf("a cut connection answered %q", got)
		}
		// The reset may come before the dial returns, or after.
		if fresh, err := net.Dial("tcp", p.Addr); err == nil {
			defer fresh.Close()
			if got, err := ping(fresh, bufio.NewReader(fresh), 5*time.Second); err == nil {
				t.Fatalf("a connection made during the cut answered %q", got)
			}
		}
		if n := p.Conns(); n != 0 {
			t.Fatalf("%d connections open through a cut", n)
		}
		p.Heal()
		again, ar := dial(t, p.Addr)
		if got, err := ping(again, ar, 10*time.Second); err != nil || got != "+PONG" {
			t.Fatalf("after heal: %q %v", got, err)
		}
	})
}
