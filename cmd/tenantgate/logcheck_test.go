package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tenantgate/tenantgate/devidp"
)

// The suite's log check: every tenantgate process a test starts leaves
// its whole output in a directory that TestMain makes, and tests note
// there every secret value they see (tokens from the IdP's answers, cookie
// values from the jars, authorization codes, client secrets). When the
// suite has passed, TestMain reads every log line and fails the run if any
// of those values appears in any line, raw, JSON-escaped or URL-escaped.
const logDirEnv = "TENANTGATE_E2E_LOG_DIR"

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "tenantgate-e2e-logs-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	os.Setenv(logDirEnv, dir)
	code := m.Run()
	if code == 0 {
		if err := checkLogs(dir); err != nil {
			fmt.Fprintf(os.Stderr, "FAIL: the log check over the suite's output: %v (logs kept in %s)\n", err, dir)
			os.Exit(1)
		}
	}
	os.RemoveAll(dir)
	os.Exit(code)
}

// noteSecret records values no log line may contain.
func noteSecret(t testing.TB, kind string, values ...string) {
	t.Helper()
	f, err := os.OpenFile(filepath.Join(os.Getenv(logDirEnv), "secrets.txt"), os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o600)
	if err != nil {
		t.Fatalf("noting a secret: %v", err)
	}
	defer f.Close()
	for _, v := range values {
		if len(v) >= 8 { // shorter values would match by chance
			fmt.Fprintf(f, "%s\t%s\n", kind, v)
		}
	}
}

// keepLog adds one process's output to the suite's logs.
func keepLog(name, out string) {
	dir := os.Getenv(logDirEnv)
	if dir == "" {
		return
	}
	f, err := os.CreateTemp(dir, "proc-*.log")
	if err != nil {
		return
	}
	defer f.Close()
	fmt.Fprintf(f, "# %s\n%s", name, out)
}

func checkLogs(dir string) error {
	secrets := map[string]string{devidp.DemoSecret: "client secret (demo)"}
	kinds := map[string]int{}
	if b, err := os.ReadFile(filepath.Join(dir, "secrets.txt")); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if kind, v, ok := strings.Cut(line, "\t"); ok {
				secrets[v] = kind
				kinds[kind]++
			}
		}
	}
	forms := map[string]string{}
	for v, kind := range secrets {
		j, _ := json.Marshal(v)
		for _, f := range []string{v, strings.Trim(string(j), `"`), url.QueryEscape(v)} {
			forms[f] = kind
		}
	}
	logs, _ := filepath.Glob(filepath.Join(dir, "proc-*.log"))
	lines := 0
	for _, path := range logs {
		f, err := os.Open(path)
		if err != nil {
			return err
		}
		sc := bufio.NewScanner(f)
		sc.Buffer(make([]byte, 1<<20), 16<<20)
		for n := 1; sc.Scan(); n++ {
			lines++
			line := sc.Text()
			for v, kind := range forms {
				if strings.Contains(line, v) {
					f.Close()
					return fmt.Errorf("%s line %d holds a %s: %.200s", filepath.Base(path), n, kind, line)
				}
			}
		}
		f.Close()
	}
	fmt.Fprintf(os.Stderr, "log check: %d lines from %d processes, none holds any of %d secret values (%v)\n", lines, len(logs), len(secrets), kinds)
	return nil
}

// The check finds a planted value in each of the forms it looks for, and
// passes clean logs.
func TestCheckLogsFindsALeak(t *testing.T) {
	const secret = "Qx8~planted&secret<value>=="
	escaped, _ := json.Marshal(secret) // \u0026, \u003c, \u003e
	for name, line := range map[string]string{
		"raw":          `{"msg":"x","v":"` + secret + `"}`,
		"url-escaped":  `{"msg":"x","url":"/cb?code=` + url.QueryEscape(secret) + `"}`,
		"json-escaped": `{"msg":"x","v":` + string(escaped) + `}`,
		"demo secret":  `{"msg":"x","v":"` + devidp.DemoSecret + `"}`,
	} {
		dir := t.TempDir()
		os.WriteFile(filepath.Join(dir, "secrets.txt"), []byte("access token\t"+secret+"\n"), 0o600)
		os.WriteFile(filepath.Join(dir, "proc-1.log"), []byte("# clean\n{\"msg\":\"fine\"}\n"), 0o600)
		if err := checkLogs(dir); err != nil {
			t.Fatalf("clean logs refused: %v", err)
		}
		os.WriteFile(filepath.Join(dir, "proc-2.log"), []byte("# leaky\n"+line+"\n"), 0o600)
		if err := checkLogs(dir); err == nil {
			t.Errorf("%s: a leaked value passed the check", name)
		}
	}
}
