package redistest

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestStandalone(t *testing.T) {
	t.Parallel()
	n := Standalone(t)
	if got := n.Do(t, "PING"); got != "PONG" {
		t.Fatalf("PING = %#v, want PONG", got)
	}
	if got := n.Do(t, "SET", "k", "v 1\r\n"); got != "OK" {
		t.Fatalf("SET = %#v, want OK", got)
	}
	if got := n.Do(t, "GET", "k"); got != "v 1\r\n" {
		t.Fatalf("GET = %#v, want the value set", got)
	}
	if got := n.Do(t, "GET", "missing"); got != nil {
		t.Fatalf("GET missing = %#v, want nil", got)
	}
	if got := n.Do(t, "INCRBY", "n", "41"); got != int64(41) {
		t.Fatalf("INCRBY = %#v, want int64(41)", got)
	}
	n.Do(t, "RPUSH", "l", "a", "b")
	if got := fmt.Sprint(n.Do(t, "LRANGE", "l", "0", "-1")); got != "[a b]" {
		t.Fatalf("LRANGE = %s, want [a b]", got)
	}
	if got, ok := n.Do(t, "NOSUCHCOMMAND").(ReplyError); !ok || !strings.HasPrefix(string(got), "ERR") {
		t.Fatalf("unknown command = %#v, want a ReplyError ERR ...", got)
	}
	// Never the shared server on 6379: its own port, and persistence off.
	if n.Port() == 6379 {
		t.Fatal("node runs on 6379")
	}
	if got := fmt.Sprint(n.Do(t, "CONFIG", "GET", "save")); got != "[save ]" {
		t.Fatalf("CONFIG GET save = %s, want it empty", got)
	}
}

func TestStopLeavesNoProcessAndFreesPort(t *testing.T) {
	t.Parallel()
	n := Standalone(t)
	pid := n.Pid()
	n.Stop(t)
	if n.Running() {
		t.Fatal("Running after Stop")
	}
	if err := syscall.Kill(pid, 0); !errors.Is(err, syscall.ESRCH) {
		t.Fatalf("kill(%d, 0) after Stop = %v, want ESRCH", pid, err)
	}
	l, err := net.Listen("tcp", n.Addr)
	if err != nil {
		t.Fatalf("port still taken after Stop: %v", err)
	}
	l.Close()
	n.Stop(t) // stopping again does nothing
}

func TestPauseResume(t *testing.T) {
	t.Parallel()
	n := Standalone(t)
	n.Pause(t)
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	reply, err := n.Exec(ctx, "PING")
	if err == nil {
		t.Fatalf("PING on a paused node answered %#v", reply)
	}
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("PING on a paused node: %v, want a deadline error", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("PING on a paused node took %v despite a 300ms deadline", d)
	}
	if !n.Running() {
		t.Fatal("a paused node must count as running")
	}
	n.Resume(t)
	if got := n.Do(t, "PING"); got != "PONG" {
		t.Fatalf("PING after Resume = %#v", got)
	}
}

func TestStopPausedNode(t *testing.T) {
	t.Parallel()
	n := Standalone(t)
	n.Pause(t)
	start := time.Now()
	n.Stop(t)
	if d := time.Since(start); d > 3*time.Second {
		t.Fatalf("Stop of a paused node took %v; it should resume it so SIGTERM acts", d)
	}
	if n.Running() {
		t.Fatal("Running after Stop")
	}
}

func TestRestart(t *testing.T) {
	t.Parallel()
	n := Standalone(t)
	addr, pid := n.Addr, n.Pid()
	n.Do(t, "SET", "k", "v")
	n.Restart(t)
	if n.Addr != addr {
		t.Fatalf("Addr after Restart = %s, want %s", n.Addr, addr)
	}
	if n.Pid() == pid {
		t.Fatal("Restart kept the same process")
	}
	if got := n.Do(t, "PING"); got != "PONG" {
		t.Fatalf("PING after Restart = %#v", got)
	}
	if got := n.Do(t, "GET", "k"); got != nil {
		t.Fatalf("GET after Restart = %#v; persistence should be off", got)
	}
	n.Kill(t)
	if n.Running() {
		t.Fatal("Running after Kill")
	}
	n.Restart(t) // from a killed node
	if got := n.Do(t, "PING"); got != "PONG" {
		t.Fatalf("PING after Kill and Restart = %#v", got)
	}
}

func TestWithConfig(t *testing.T) {
	t.Parallel()
	n := Standalone(t, WithConfig("maxmemory 12mb", "notify-keyspace-events KEA"))
	if got := fmt.Sprint(n.Do(t, "CONFIG", "GET", "maxmemory")); got != "[maxmemory 12582912]" {
		t.Fatalf("CONFIG GET maxmemory = %s", got)
	}
}

func TestBadConfigFailsWithLog(t *testing.T) {
	t.Parallel()
	msg := fatalMessage(t, func(tb testing.TB) { Standalone(tb, WithConfig("no-such-directive yes")) })
	for _, want := range []string{"did not start", "no-such-directive", "last lines of"} {
		if !strings.Contains(msg, want) {
			t.Errorf("failure message lacks %q:\n%s", want, msg)
		}
	}
}

func TestMissingServerSaysHowToInstall(t *testing.T) {
	t.Parallel()
	msg := fatalMessage(t, func(tb testing.TB) { lookServer(tb, "redis-server-that-is-not-installed") })
	if msg != installHint {
		t.Fatalf("message = %q, want %q", msg, installHint)
	}
}

// fatalTB records the first Fatalf instead of failing the real test.
type fatalTB struct {
	testing.TB
	msg string
}

func (f *fatalTB) Helper() {}
func (f *fatalTB) Fatalf(format string, args ...any) {
	f.msg = fmt.Sprintf(format, args...)
	runtime.Goexit()
}

func fatalMessage(t *testing.T, fn func(testing.TB)) string {
	t.Helper()
	f := &fatalTB{TB: t}
	done := make(chan struct{})
	go func() {
		defer close(done)
		fn(f)
	}()
	<-done
	if f.msg == "" {
		t.Fatal("expected the helper to fail the test")
	}
	return f.msg
}

// TestNoProcessLeft starts nodes in a subtest and checks that its cleanup
// ended every one of them, paused and killed ones included.
func TestNoProcessLeft(t *testing.T) {
	t.Parallel()
	var pids []int
	t.Run("nodes", func(t *testing.T) {
		a := Standalone(t)
		b := Standalone(t)
		b.Pause(t)
		c := TLS(t)
		d := Standalone(t)
		d.Kill(t)
		d.Restart(t)
		pids = append(pids, a.Pid(), b.Pid(), c.Pid(), d.Pid())
		for _, pid := range pids {
			if err := syscall.Kill(pid, 0); err != nil {
				t.Fatalf("pid %d not alive inside the subtest: %v", pid, err)
			}
		}
	})
	if len(pids) != 4 {
		t.Fatalf("subtest recorded %d pids", len(pids))
	}
	for _, pid := range pids {
		if err := syscall.Kill(pid, 0); !errors.Is(err, syscall.ESRCH) {
			t.Errorf("pid %d after the subtest's cleanup: kill(pid, 0) = %v, want ESRCH", pid, err)
		}
	}
}

// TestKilledTestBinaryLeavesNoServer runs this test binary as a child that
// starts a node, SIGKILLs the child (no cleanup can run) and checks that the
// kernel killed the server too.
func TestKilledTestBinaryLeavesNoServer(t *testing.T) {
	if os.Getenv("REDISTEST_CHILD") == "1" {
		n := Standalone(t)
		fmt.Printf("pid %d\n", n.Pid())
		select {} // until killed
	}
	t.Parallel()
	cmd := exec.Command(os.Args[0], "-test.run=^TestKilledTestBinaryLeavesNoServer$", "-test.timeout=60s")
	cmd.Env = append(os.Environ(), "REDISTEST_CHILD=1")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		t.Fatalf("child printed no pid: %v", err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(strings.TrimPrefix(line, "pid ")))
	if err != nil {
		t.Fatalf("child printed %q", line)
	}
	if !alive(pid) {
		t.Fatalf("server %d not running while the child lives", pid)
	}
	cmd.Process.Kill()
	cmd.Wait()
	deadline := time.Now().Add(5 * time.Second)
	for alive(pid) {
		if time.Now().After(deadline) {
			syscall.Kill(pid, syscall.SIGKILL)
			t.Fatalf("redis-server %d still runs 5s after its test binary was killed", pid)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// alive reports whether pid is a live process: not gone and not a zombie
// waiting for an adoptive parent to reap it.
func alive(pid int) bool {
	if syscall.Kill(pid, 0) != nil {
		return false
	}
	stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	_, rest, _ := strings.Cut(string(stat), ") ")
	return !strings.HasPrefix(rest, "Z")
}
