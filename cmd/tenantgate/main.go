package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/tenantgate/tenantgate/seal"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stdout, os.Stderr))
}

const usage = `usage: tenantgate <command> [flags]

commands:
  serve    the gateway: sign-in, sessions and Easy Auth's headers in front of an app
           (with no flags: the whole system on embedded defaults)
  sessions list, show and revoke sessions, straight from Redis (docs/operations.md)
  keys     print a new seal key for --keys (id:base64)
  devidp   run the Entra ID–compatible identity provider for development and tests
`

// run dispatches a subcommand and returns the exit code.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	switch args[0] {
	case "serve":
		return runServe(ctx, args[1:], os.Getenv, stdout, stderr)
	case "sessions":
		return runSessions(ctx, args[1:], os.Getenv, stdout, stderr)
	case "keys":
		return runKeys(stdout, stderr)
	case "devidp":
		return runDevIDP(ctx, args[1:], os.Getenv, stdout, stderr, nil)
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return 0
	}
	fmt.Fprintf(stderr, "tenantgate: unknown command %q\n%s", args[0], usage)
	return 2
}

// runKeys prints a new seal key, for the --keys file every replica shares.
func runKeys(stdout, stderr io.Writer) int {
	k, err := seal.GenerateKey("k" + time.Now().UTC().Format("20060102"))
	if err != nil {
		fmt.Fprintf(stderr, "tenantgate keys: %v\n", err)
		return 1
	}
	fmt.Fprintln(stdout, k.Encode())
	return 0
}
