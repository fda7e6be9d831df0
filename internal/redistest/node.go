package redistest

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

const (
	// installHint is the whole failure message when redis-server is missing:
	// a test that cannot run must say how to make it run, never skip.
	installHint = "redistest: redis-server not found; install it with: apt-get update && apt-get install -y redis-server"

	readyTimeout = 10 * time.Second // start-up until PING answers
	stopTimeout  = 5 * time.Second  // SIGTERM until SIGKILL
	doTimeout    = 10 * time.Second // one Do
	logTailLines = 25
	portAttempts = 3 // fresh ports tried when another process took ours
)

// Node is one redis-server process (a data node or a sentinel) that this
// package started on a loopback port, in its own temporary directory. It is
// stopped when the test that created it ends.
//
// Methods that take a testing.TB fail the test on error and must be called
// from the test's goroutine; Running, Pid and Exec may be called from any.
type Node struct {
	// Addr is "127.0.0.1:port": the TLS port for a TLS node, else the plain one.
	Addr string
	// Dir holds the node's configuration, its log (redis.log; stdout.log has
	// what the process printed before opening the log) and its cluster state.
	Dir string
	// Username and Password are the ACL user that Do authenticates as; empty
	// when the node has no ACL (the default user, no password).
	Username, Password string

	name      string      // in messages: "standalone", "cluster node 2", "sentinel 1"
	conf      string      // path of the configuration file
	sentinel  bool        // run with --sentinel
	busPort   int         // cluster bus port; 0 unless a cluster node
	clientTLS *tls.Config // non-nil: Addr speaks TLS only
	lines     []string    // configuration after the lines this package owns

	mu   sync.Mutex
	proc *process // the last process started; nil before the first start
}

type process struct {
	cmd  *exec.Cmd
	done chan struct{} // closed once the process has been reaped
	err  error         // Wait's result, set before done is closed
}

func (p *process) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// Option changes how a node is configured.
type Option func(*options)

type options struct {
	config []string
	acl    []string // nil: no ACL user (Standalone) or the default rules (TLS)
}

// WithConfig appends lines to the node's redis.conf, after the ones this
// package writes, so they may override them: WithConfig("maxmemory 10mb").
func WithConfig(lines ...string) Option {
	return func(o *options) { o.config = append(o.config, lines...) }
}

// defaultACL is the rules of the ACL user unless WithACL replaces them.
var defaultACL = []string{"~*", "&*", "+@all"}

// WithACL replaces the rules of the node's ACL user "app" (default
// "~* &* +@all"); the user stays "on" with its generated password. To forbid
// one command keep the rest: WithACL("~*", "&*", "+@all", "-client").
//
// TLS nodes always have this user. On a Standalone node WithACL adds it and
// turns the default user off, as on TLS nodes; Node.Username and
// Node.Password then hold the credentials.
func WithACL(rules ...string) Option {
	return func(o *options) { o.acl = append([]string{}, rules...) }
}

func collect(opts []Option) options {
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	return o
}

// Standalone starts one redis-server without persistence and returns it
// once it answers PING.
func Standalone(t testing.TB, opts ...Option) *Node {
	t.Helper()
	o := collect(opts)
	n := newNode(t, "standalone", "redis.conf")
	if o.acl != nil {
		n.addACL(o.acl)
	}
	n.lines = append(n.lines, o.config...)
	n.start(t)
	return n
}

// newNode prepares a node in a fresh temporary directory with a free port and
// makes sure the test's cleanup kills its process. The caller fills in the
// configuration and calls start.
func newNode(t testing.TB, name, confName string) *Node {
	t.Helper()
	serverPath(t) // fail before creating anything
	dir := t.TempDir()
	n := &Node{name: name, Dir: dir, conf: filepath.Join(dir, confName)}
	n.Addr = loopback(FreePort(t))
	// Registered after TempDir, so it runs before the directory is removed.
	// SIGKILL, not Stop: the data is thrown away, and a primary's graceful
	// shutdown may wait for its replicas.
	t.Cleanup(n.kill)
	return n
}

func (n *Node) addACL(rules []string) {
	n.Username, n.Password = "app", randomHex(16)
	n.lines = append(n.lines,
		"user default off",
		"user "+n.Username+" on >"+n.Password+" "+strings.Join(rules, " "))
}

func randomHex(nbytes int) string {
	b := make([]byte, nbytes)
	rand.Read(b)
	return fmt.Sprintf("%x", b)
}

func loopback(port int) string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(port)) }

// Port is the node's port, the number in Addr.
func (n *Node) Port() int {
	_, p, _ := net.SplitHostPort(n.Addr)
	port, _ := strconv.Atoi(p)
	return port
}

// URL is "redis://[user:password@]127.0.0.1:port" ("rediss://" for a TLS node).
func (n *Node) URL() string {
	u := url.URL{Scheme: "redis", Host: n.Addr}
	if n.clientTLS != nil {
		u.Scheme = "rediss"
	}
	if n.Username != "" {
		u.User = url.UserPassword(n.Username, n.Password)
	}
	return u.String()
}

func (n *Node) String() string { return n.name + " " + n.Addr }

// config renders the configuration file. Ports are rendered here, not stored
// in lines, so that start can move the node to other ports.
func (n *Node) config() string {
	var b strings.Builder
	line := func(parts ...string) { b.WriteString(strings.Join(parts, " ") + "\n") }
	port := strconv.Itoa(n.Port())
	line("# written by tenantgate internal/redistest")
	line("bind 127.0.0.1")
	if n.clientTLS != nil {
		line("port 0")
		line("tls-port", port)
	} else {
		line("port", port)
	}
	line("dir", quote(n.Dir))
	line("logfile", quote(filepath.Join(n.Dir, "redis.log")))
	line("daemonize no")
	if !n.sentinel {
		line(`save ""`)
		line("appendonly no")
	}
	if n.busPort != 0 {
		line("cluster-port", strconv.Itoa(n.busPort))
	}
	for _, l := range n.lines {
		line(l)
	}
	return b.String()
}

// quote makes s one argument in redis.conf (temporary directories may hold
// spaces, from the test's name).
func quote(s string) string {
	r := strings.NewReplacer(`\`, `\\`, `"`, `\"`)
	return `"` + r.Replace(s) + `"`
}

// start writes the configuration and starts the process until it answers
// PING. If the process could not bind its port (another process took it
// after FreePort released it), it tries again on fresh ports.
func (n *Node) start(t testing.TB) {
	t.Helper()
	for attempt := 1; ; attempt++ {
		os.Remove(filepath.Join(n.Dir, "redis.log"))
		os.Remove(filepath.Join(n.Dir, "stdout.log"))
		if err := os.WriteFile(n.conf, []byte(n.config()), 0o600); err != nil {
			t.Fatalf("redistest: write %s config: %v", n.name, err)
		}
		err := n.launch(t)
		if err == nil {
			return
		}
		n.kill()
		if attempt < portAttempts && strings.Contains(n.logTail(), "Address already in use") {
			n.Addr = loopback(FreePort(t))
			if n.busPort != 0 {
				n.busPort = FreePort(t)
			}
			continue
		}
		t.Fatalf("redistest: %s on %s did not start: %v\n%s", n.name, n.Addr, err, n.logTail())
	}
}

// launch starts the process with the configuration on disk and waits until
// it answers PING; it fails the test only if the process cannot be run.
func (n *Node) launch(t testing.TB) error {
	t.Helper()
	args := []string{n.conf}
	if n.sentinel {
		args = append(args, "--sentinel")
	}
	cmd := exec.Command(serverPath(t), args...)
	cmd.Dir = n.Dir
	cmd.SysProcAttr = sysProcAttr()
	out, err := os.OpenFile(filepath.Join(n.Dir, "stdout.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		t.Fatalf("redistest: %v", err)
	}
	cmd.Stdout, cmd.Stderr = out, out
	err = cmd.Start()
	out.Close() // the child has its own descriptor
	if err != nil {
		t.Fatalf("redistest: start %s: %v", n.name, err)
	}
	p := &process{cmd: cmd, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	n.mu.Lock()
	n.proc = p
	n.mu.Unlock()
	return n.waitReady(p)
}

func (n *Node) waitReady(p *process) error {
	deadline := time.Now().Add(readyTimeout)
	var last error
	for time.Now().Before(deadline) {
		if p.exited() {
			return fmt.Errorf("redis-server exited: %v", p.err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		reply, err := n.Exec(ctx, "PING")
		cancel()
		switch {
		case err != nil:
			last = err
		case reply == "PONG":
			return nil
		case isReplyError(reply, "NOPERM"):
			return nil // answering; WithACL forbade PING
		default:
			last = fmt.Errorf("PING answered %v", reply)
		}
		time.Sleep(20 * time.Millisecond)
	}
	return fmt.Errorf("no answer to PING within %v (last: %v)", readyTimeout, last)
}

func isReplyError(reply any, prefix string) bool {
	e, ok := reply.(ReplyError)
	return ok && strings.HasPrefix(string(e), prefix)
}

// logTail is the end of what the process printed and logged, for failure
// messages.
func (n *Node) logTail() string {
	var b strings.Builder
	for _, name := range []string{"stdout.log", "redis.log"} {
		data, err := os.ReadFile(filepath.Join(n.Dir, name))
		if err != nil || len(data) == 0 {
			continue
		}
		lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
		if len(lines) > logTailLines {
			lines = lines[len(lines)-logTailLines:]
		}
		fmt.Fprintf(&b, "--- last lines of %s:\n%s\n", filepath.Join(n.Dir, name), strings.Join(lines, "\n"))
	}
	if b.Len() == 0 {
		return "(redis-server printed and logged nothing)"
	}
	return b.String()
}

func (n *Node) current() *process {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.proc
}

// Running reports whether the node's process is alive (paused counts as alive).
func (n *Node) Running() bool {
	p := n.current()
	return p != nil && !p.exited()
}

// Pid is the process ID of the last process started for this node; it stays
// after the process exits, so a test can check that it is gone.
func (n *Node) Pid() int {
	if p := n.current(); p != nil {
		return p.cmd.Process.Pid
	}
	return 0
}

// Stop shuts the node down with SIGTERM (resuming it first if paused) and
// waits for it to exit; SIGKILL after 5 s. Stopping a stopped node does nothing.
func (n *Node) Stop(t testing.TB) {
	t.Helper()
	p := n.current()
	if p == nil || p.exited() {
		return
	}
	p.cmd.Process.Signal(syscall.SIGTERM)
	p.cmd.Process.Signal(syscall.SIGCONT) // a stopped process acts on SIGTERM only once continued
	select {
	case <-p.done:
	case <-time.After(stopTimeout):
		t.Logf("redistest: %s did not exit within %v of SIGTERM; killing it", n.name, stopTimeout)
		n.kill()
	}
}

// Kill ends the node with SIGKILL, as a crash would, and waits for it to exit.
func (n *Node) Kill(t testing.TB) {
	t.Helper()
	n.kill()
}

func (n *Node) kill() {
	p := n.current()
	if p == nil {
		return
	}
	p.cmd.Process.Signal(syscall.SIGKILL) // an error means it has exited already
	<-p.done
}

// Pause freezes the node with SIGSTOP: connections open, nothing answers.
func (n *Node) Pause(t testing.TB) {
	t.Helper()
	n.signal(t, syscall.SIGSTOP)
}

// Resume continues a paused node with SIGCONT.
func (n *Node) Resume(t testing.TB) {
	t.Helper()
	n.signal(t, syscall.SIGCONT)
}

func (n *Node) signal(t testing.TB, sig syscall.Signal) {
	t.Helper()
	p := n.current()
	if p == nil || p.exited() {
		t.Fatalf("redistest: %s on %s: cannot send %v, it is not running", n.name, n.Addr, sig)
	}
	if err := p.cmd.Process.Signal(sig); err != nil {
		t.Fatalf("redistest: %s on %s: %v: %v", n.name, n.Addr, sig, err)
	}
}

// Restart stops the node if it runs, then starts it again on the same port
// with the same configuration file (as Redis may have rewritten it, e.g. after
// a Sentinel failover) and waits until it answers PING. Data is not kept
// unless the configuration enables persistence.
func (n *Node) Restart(t testing.TB) {
	t.Helper()
	n.Stop(t)
	if err := n.launch(t); err != nil {
		n.kill()
		t.Fatalf("redistest: restart %s on %s: %v\n%s", n.name, n.Addr, err, n.logTail())
	}
}

// Exec runs one command on the node (authenticating as Username over TLS for
// TLS nodes) on a new connection, bounded by ctx. The reply is a string,
// int64, []any, nil, or a ReplyError; err is for everything else (refused,
// timed out, failed TLS or AUTH). Safe for concurrent use.
func (n *Node) Exec(ctx context.Context, args ...string) (reply any, err error) {
	reply, err = n.exec(ctx, args)
	if err != nil {
		// The connection's deadline is ctx's, and may fire a moment before
		// ctx's own timer does: report both as ctx's error.
		if ctx.Err() != nil {
			err = fmt.Errorf("%w (%w)", ctx.Err(), err)
		} else if errors.Is(err, os.ErrDeadlineExceeded) {
			err = fmt.Errorf("%w (%w)", context.DeadlineExceeded, err)
		}
	}
	return reply, err
}

func (n *Node) exec(ctx context.Context, args []string) (any, error) {
	c, err := n.dial(ctx)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	defer withDeadline(ctx, c)()
	if n.Username != "" {
		r, err := c.do("AUTH", n.Username, n.Password)
		if err != nil {
			return nil, fmt.Errorf("redistest: AUTH on %s: %w", n.Addr, err)
		}
		if e, ok := r.(ReplyError); ok {
			return nil, fmt.Errorf("redistest: AUTH as %q on %s: %w", n.Username, n.Addr, e)
		}
	}
	return c.do(args...)
}

// dial connects without authenticating: TLS for TLS nodes.
func (n *Node) dial(ctx context.Context) (*conn, error) {
	var d interface {
		DialContext(ctx context.Context, network, addr string) (net.Conn, error)
	} = &net.Dialer{}
	if n.clientTLS != nil {
		d = &tls.Dialer{Config: n.clientTLS}
	}
	c, err := d.DialContext(ctx, "tcp", n.Addr)
	if err != nil {
		return nil, err
	}
	return newConn(c), nil
}

// Do runs one command on the node and returns its reply: string, int64,
// []any, nil, or a ReplyError for an error reply ("-ERR ..."), which does not
// fail the test. A connection failure or a 10 s timeout fails the test.
func (n *Node) Do(t testing.TB, args ...string) any {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), doTimeout)
	defer cancel()
	reply, err := n.Exec(ctx, args...)
	if err != nil {
		t.Fatalf("redistest: %s on %s %s: %v", strings.Join(args, " "), n.name, n.Addr, err)
	}
	return reply
}

// Info returns one field of the server's INFO section, "" if absent: the
// server's own counters, so a test can prove what a client did not send.
func (n *Node) Info(t testing.TB, section, field string) string {
	t.Helper()
	s, _ := n.Do(t, "INFO", section).(string)
	return infoField(s, field)
}

func infoField(info, field string) string {
	for line := range strings.Lines(info) {
		if v, ok := strings.CutPrefix(strings.TrimRight(line, "\r\n"), field+":"); ok {
			return v
		}
	}
	return ""
}

var (
	portsMu sync.Mutex
	given   = map[int]bool{}
)

// FreePort returns a loopback TCP port that is free now and that no earlier
// call in this process returned. Another process may still take it before
// it is used; the starters here retry on other ports when that happens.
func FreePort(t testing.TB) int {
	t.Helper()
	portsMu.Lock()
	defer portsMu.Unlock()
	for range 100 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatalf("redistest: find a free port: %v", err)
		}
		port := l.Addr().(*net.TCPAddr).Port
		l.Close()
		if !given[port] {
			given[port] = true
			return port
		}
	}
	t.Fatalf("redistest: no fresh free loopback port after 100 tries")
	return 0
}

// serverPath finds redis-server on PATH, or fails the test saying how to
// install it.
func serverPath(t testing.TB) string {
	t.Helper()
	return lookServer(t, "redis-server")
}

func lookServer(t testing.TB, name string) string {
	t.Helper()
	path, err := exec.LookPath(name)
	if err != nil {
		if !errors.Is(err, exec.ErrNotFound) {
			t.Logf("redistest: look up %s: %v", name, err)
		}
		t.Fatalf("%s", installHint)
	}
	return path
}
