package session_test

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tenantgate/tenantgate/internal/redistest"
	"github.com/tenantgate/tenantgate/seal"
	"github.com/tenantgate/tenantgate/session"
	"github.com/tenantgate/tenantgate/store/redisstore"
)

// Concurrent writers of one session's values, as several requests on
// several replicas would be, lose nothing: six writers (three processes of
// two), each writing again after at most 2 ms, far more than one browser
// sends.
//
// Each writer owns fields no one else writes: "own" (a counter it sets to
// its iteration) and "tmp" (which it sets or removes at random), and all
// share "shared". Each writer checks that every Load shows its own fields
// as it last wrote them; at the end the checker reads the record and
// requires every writer's fields to be exactly as acknowledged last, and
// "shared" to hold one of the values acknowledged for it. Conflicts must
// have happened, or the run proves nothing.
//
// The replicas are processes (this test binary re-executed), each with
// several goroutines and random pauses from the printed seed
// (TG_SESSION_SEED replays it).
func TestConcurrentValuesLoseNothing(t *testing.T) {
	if os.Getenv("TG_SESSION_CHILD") != "" {
		valuesChild(t)
		return
	}
	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv("TG_SESSION_SEED"); s != "" {
		seed, _ = strconv.ParseUint(s, 10, 64)
	}
	t.Logf("seed %d", seed)
	srv := redistest.Standalone(t)
	for _, mode := range []redisstore.Mode{redisstore.ModeTracking, redisstore.ModePubSub} {
		t.Run(string(mode), func(t *testing.T) {
			o := redisstore.Options{Addrs: []string{srv.Addr}, L1: mode}
			m := newManager(t, openRedis(t, o), session.Options{})
			cookie, _ := signIn(t, m, alice, nil)
			const procs = 3
			cmds := make([]*exec.Cmd, procs)
			outs := make([]*bytes.Buffer, procs)
			for p := range procs {
				cmd := exec.Command(os.Args[0], "-test.run=^TestConcurrentValuesLoseNothing$", "-test.count=1")
				cmd.Env = append(os.Environ(), "TG_SESSION_CHILD="+strconv.Itoa(p), "TG_REDIS="+srv.Addr, "TG_L1="+string(mode),
					"TG_KEY="+testKey.Encode(), "TG_COOKIE="+cookie.Value, "TG_SESSION_SEED="+strconv.FormatUint(seed, 10))
				outs[p] = new(bytes.Buffer)
				cmd.Stdout, cmd.Stderr = outs[p], outs[p]
				if err := cmd.Start(); err != nil {
					t.Fatal(err)
				}
				cmds[p] = cmd
			}
			var all []writerLog
			merged, stale := 0, 0
			for p, cmd := range cmds {
				if err := cmd.Wait(); err != nil {
					t.Fatalf("replica %d (seed %d): %v\n%s", p, seed, err, outs[p])
				}
				logs, n, st := parseWriterLogs(t, outs[p].String())
				all = append(all, logs...)
				merged += n
				stale += st
			}
			s, err := m.Load(context.Background(), request(cookie))
			if err != nil {
				t.Fatal(err)
			}
			checkValues(t, seed, s.Values(), all)
			if merged == 0 {
				t.Fatalf("no write conflicted (seed %d): the run proves nothing", seed)
			}
			t.Logf("%d writers, %d merges after conflicts, %d reads that missed the reader's own last write", len(all), merged, stale)
		})
	}
}

// In one process on memstore: two managers, many goroutines.
func TestConcurrentValuesLoseNothingMemstore(t *testing.T) {
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	st := openMem(t, nil)
	a, b := newManager(t, st, session.Options{}), newManager(t, st, session.Options{})
	cookie, _ := signIn(t, a, alice, nil)
	var mu sync.Mutex
	var all []writerLog
	var wg sync.WaitGroup
	for w := range 8 {
		m := a
		if w%2 == 1 {
			m = b
		}
		wg.Go(func() {
			l, err := runWriter(m, cookie, fmt.Sprintf("m%d", w), rand.New(rand.NewPCG(seed, uint64(w))), 50)
			if err != nil {
				t.Errorf("seed %d: %v", seed, err)
			}
			mu.Lock()
			all = append(all, l)
			mu.Unlock()
		})
	}
	wg.Wait()
	s, err := a.Load(context.Background(), request(cookie))
	if err != nil {
		t.Fatal(err)
	}
	checkValues(t, seed, s.Values(), all)
	if a.Stats().Merged+b.Stats().Merged == 0 {
		t.Fatalf("no write conflicted (seed %d): the run proves nothing", seed)
	}
}

// writerLog is what one writer had acknowledged, last value first.
type writerLog struct {
	name   string
	own    string   // last acknowledged "own"
	tmp    string   // last acknowledged "tmp", "" if last removed
	shared []string // every acknowledged "shared"
}

func runWriter(m *session.Manager, cookie *http.Cookie, name string, rng *rand.Rand, iters int) (writerLog, error) {
	ctx := context.Background()
	l := writerLog{name: name}
	own, tmp := name+".own", name+".tmp"
	for i := range iters {
		time.Sleep(time.Duration(rng.IntN(2000)) * time.Microsecond)
		s, err := m.Load(ctx, request(cookie))
		if err != nil {
			return l, fmt.Errorf("%s iteration %d: Load: %w", name, i, err)
		}
		gotOwn, _ := s.Value(own)
		gotTmp, _ := s.Value(tmp)
		if gotOwn != l.own || gotTmp != l.tmp {
			fmt.Printf("STALE %s iteration %d: own=%q tmp=%q after writing %q %q\n", name, i, gotOwn, gotTmp, l.own, l.tmp)
		}
		set := map[string]string{own: strconv.Itoa(i)}
		var remove []string
		nextTmp := l.tmp
		if rng.IntN(2) == 0 {
			nextTmp = "t" + strconv.Itoa(i)
			set[tmp] = nextTmp
		} else {
			nextTmp = ""
			remove = append(remove, tmp)
		}
		shared := ""
		if rng.IntN(3) == 0 {
			shared = name + "#" + strconv.Itoa(i)
			set["shared"] = shared
		}
		if err := m.SetValues(ctx, s, set, remove...); err != nil {
			return l, fmt.Errorf("%s iteration %d: SetValues: %w", name, i, err)
		}
		l.own, l.tmp = strconv.Itoa(i), nextTmp
		if shared != "" {
			l.shared = append(l.shared, shared)
		}
	}
	return l, nil
}

func checkValues(t *testing.T, seed uint64, got map[string]string, logs []writerLog) {
	t.Helper()
	sharedOK := map[string]bool{}
	for _, l := range logs {
		if v := got[l.name+".own"]; v != l.own {
			t.Errorf("seed %d: %s.own = %q, last acknowledged %q: a write was lost", seed, l.name, v, l.own)
		}
		if v := got[l.name+".tmp"]; v != l.tmp {
			t.Errorf("seed %d: %s.tmp = %q, last acknowledged %q", seed, l.name, v, l.tmp)
		}
		for _, s := range l.shared {
			sharedOK[s] = true
		}
	}
	if v, ok := got["shared"]; ok && !sharedOK[v] || !ok && len(sharedOK) > 0 {
		t.Errorf("seed %d: shared = %q, not a value any writer wrote", seed, v)
	}
}

// valuesChild is one replica: two writers on its own store client,
// printing what each had acknowledged.
func valuesChild(t *testing.T) {
	p, _ := strconv.Atoi(os.Getenv("TG_SESSION_CHILD"))
	seed, _ := strconv.ParseUint(os.Getenv("TG_SESSION_SEED"), 10, 64)
	ring, err := seal.ParseKeys(os.Getenv("TG_KEY"))
	if err != nil {
		t.Fatal(err)
	}
	st := openRedis(t, redisstore.Options{Addrs: []string{os.Getenv("TG_REDIS")}, L1: redisstore.Mode(os.Getenv("TG_L1"))})
	m, err := session.New(st, ring, session.Options{Logger: quiet, Replica: "child" + strconv.Itoa(p)})
	if err != nil {
		t.Fatal(err)
	}
	cookie := &http.Cookie{Name: m.CookieName(), Value: os.Getenv("TG_COOKIE")}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for g := range 2 {
		wg.Go(func() {
			name := fmt.Sprintf("p%dg%d", p, g)
			l, err := runWriter(m, cookie, name, rand.New(rand.NewPCG(seed, uint64(p*16+g))), 40)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				t.Errorf("seed %d: %v", seed, err)
			}
			fmt.Printf("WRITER %s own=%s tmp=%s shared=%s\n", l.name, l.own, l.tmp, strings.Join(l.shared, ","))
		})
	}
	wg.Wait()
	fmt.Printf("MERGED %d\n", m.Stats().Merged)
}

func parseWriterLogs(t *testing.T, out string) (logs []writerLog, merged, stale int) {
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		switch {
		case len(f) == 5 && f[0] == "WRITER":
			l := writerLog{name: f[1], own: strings.TrimPrefix(f[2], "own="), tmp: strings.TrimPrefix(f[3], "tmp=")}
			if sh := strings.TrimPrefix(f[4], "shared="); sh != "" {
				l.shared = strings.Split(sh, ",")
			}
			logs = append(logs, l)
		case len(f) > 0 && f[0] == "STALE":
			stale++
			t.Log(sc.Text())
		case len(f) == 2 && f[0] == "MERGED":
			merged, _ = strconv.Atoi(f[1])
		}
	}
	if len(logs) != 2 {
		t.Fatalf("a replica reported %d writers, want 2:\n%s", len(logs), out)
	}
	return logs, merged, stale
}
