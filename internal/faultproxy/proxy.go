package faultproxy

import (
	"net"
	"sync"
	"testing"
	"time"
)

// Proxy forwards every connection made to Addr to its target. Its methods
// are safe for concurrent use; faults apply to connections open now and
// to those made later.
type Proxy struct {
	// Addr is the loopback host:port to connect to instead of the target.
	Addr string

	target string
	ln     net.Listener

	mu      sync.Mutex
	latency time.Duration
	held    bool          // black hole: nothing is forwarded
	cut     bool          // connections are reset and refused
	changed chan struct{} // closed and replaced on every change of the above
	links   map[*link]struct{}
	closed  bool
	wg      sync.WaitGroup
}

// Start listens on a free loopback port and forwards to target until the
// test ends.
func Start(t testing.TB, target string) *Proxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("faultproxy: listen: %v", err)
	}
	p := &Proxy{Addr: ln.Addr().String(), target: target, ln: ln, changed: make(chan struct{}), links: map[*link]struct{}{}}
	p.wg.Add(1)
	go p.accept()
	t.Cleanup(p.Close)
	return p
}

// SetLatency delays every chunk of bytes by d in each direction; 0 ends it.
func (p *Proxy) SetLatency(d time.Duration) {
	p.change(func() { p.latency = d })
}

// BlackHole stops forwarding: connections stay open, new ones are
// accepted, bytes wait. Heal delivers what waited on connections that are
// still open, as TCP does when a partition heals before its timeouts.
func (p *Proxy) BlackHole() {
	p.change(func() { p.held = true })
}

// Cut closes every connection (both ends) and closes new ones as soon as
// they are accepted, until Heal.
func (p *Proxy) Cut() {
	var open []*link
	p.change(func() {
		p.cut = true
		for l := range p.links {
			open = append(open, l)
			// Gone now, not when its goroutines have wound down: Conns
			// counts what a cut left open.
			delete(p.links, l)
		}
	})
	for _, l := range open {
		l.close()
	}
}

// Heal ends every fault: no latency, no black hole, no cut.
func (p *Proxy) Heal() {
	p.change(func() { p.latency, p.held, p.cut = 0, false, false })
}

// Conns is the number of connections open through the proxy.
func (p *Proxy) Conns() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.links)
}

func (p *Proxy) change(f func()) {
	p.mu.Lock()
	f()
	close(p.changed)
	p.changed = make(chan struct{})
	p.mu.Unlock()
}

// Close stops listening and closes every connection.
func (p *Proxy) Close() {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return
	}
	p.closed = true
	open := make([]*link, 0, len(p.links))
	for l := range p.links {
		open = append(open, l)
	}
	p.mu.Unlock()
	p.ln.Close()
	for _, l := range open {
		l.close()
	}
	p.wg.Wait()
}

func (p *Proxy) accept() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		if p.cut || p.closed {
			p.mu.Unlock()
			reset(c)
			continue
		}
		l := &link{client: c, done: make(chan struct{})}
		p.links[l] = struct{}{}
		p.wg.Add(1)
		p.mu.Unlock()
		go p.serve(l)
	}
}

// reset closes c with a RST, as a refused or cut connection looks.
func reset(c net.Conn) {
	if tc, ok := c.(*net.TCPConn); ok {
		tc.SetLinger(0)
	}
	c.Close()
}

// link is one proxied connection.
type link struct {
	client net.Conn
	mu     sync.Mutex
	server net.Conn
	once   sync.Once
	done   chan struct{}
}

func (l *link) close() {
	l.once.Do(func() {
		close(l.done)
		reset(l.client)
		l.mu.Lock()
		if l.server != nil {
			reset(l.server)
		}
		l.mu.Unlock()
	})
}

func (p *Proxy) serve(l *link) {
	defer p.wg.Done()
	defer func() {
		l.close()
		p.mu.Lock()
		delete(p.links, l)
		p.mu.Unlock()
	}()
	// In a black hole the server is not even dialled: the client's
	// connection attempt succeeded (a listener's kernel accepts it), and
	// nothing more happens until Heal.
	if !p.wait(l) {
		return
	}
	s, err := net.DialTimeout("tcp", p.target, 5*time.Second)
	if err != nil {
		return
	}
	l.mu.Lock()
	l.server = s
	l.mu.Unlock()
	select {
	case <-l.done: // cut while dialling
		reset(s)
		return
	default:
	}
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); p.pipe(l, s, l.client) }()
	go func() { defer wg.Done(); p.pipe(l, l.client, s) }()
	wg.Wait()
}

// pipe copies src to dst through the faults until either side ends.
func (p *Proxy) pipe(l *link, dst, src net.Conn) {
	defer l.close()
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			if !p.wait(l) {
				return
			}
			if d := p.currentLatency(); d > 0 {
				select {
				case <-time.After(d):
				case <-l.done:
					return
				}
			}
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

// wait blocks while the proxy is a black hole; false if the link was
// closed or cut meanwhile.
func (p *Proxy) wait(l *link) bool {
	for {
		p.mu.Lock()
		held, cut, changed := p.held, p.cut, p.changed
		p.mu.Unlock()
		if cut {
			return false
		}
		if !held {
			select {
			case <-l.done:
				return false
			default:
				return true
			}
		}
		select {
		case <-changed:
		case <-l.done:
			return false
		}
	}
}

func (p *Proxy) currentLatency() time.Duration {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.latency
}
