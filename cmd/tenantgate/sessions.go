package main

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/user"
	"strings"
	"text/tabwriter"

	"github.com/tenantgate/tenantgate/ops"
	"github.com/tenantgate/tenantgate/session"
	"github.com/tenantgate/tenantgate/store/redisstore"
	"github.com/tenantgate/tenantgate/tenant"
	"github.com/tenantgate/tenantgate/tokencache"
)

const sessionsUsage = `usage: tenantgate sessions list   [--tenant KEY|ID] [--user USERNAME|HOMEACCOUNTID] [--limit N] [--cursor C] [--json]
       tenantgate sessions show   HANDLE [--json]
       tenantgate sessions revoke --session HANDLE | --tenant KEY --user HOMEACCOUNTID | --tenant KEY --all

Reads the sessions straight from Redis, with the configuration of
tenantgate serve (--redis-url, --keys, --tenants, or TENANTGATE_* or
--config). Tenant keys need --tenants; tenant IDs work without it.
`

type sessionsConfig struct {
	redisURL, keys, tenants, configFile string
	tenant, user, cursor, session       string
	limit                               int
	all, json                           bool
}

// runSessions is tenantgate sessions.
func runSessions(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	if len(args) == 0 || (args[0] != "list" && args[0] != "show" && args[0] != "revoke") {
		fmt.Fprint(stderr, sessionsUsage)
		return 2
	}
	verb, args := args[0], args[1:]
	var c sessionsConfig
	fs := flag.NewFlagSet("tenantgate sessions "+verb, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, sessionsUsage); fs.PrintDefaults() }
	fs.StringVar(&c.redisURL, "redis-url", "", "the Redis of the gateway (as tenantgate serve)")
	fs.StringVar(&c.keys, "keys", "", "the seal keyring `file` of the gateway")
	fs.StringVar(&c.tenants, "tenants", "", "the tenant `file` of the gateway, for tenant keys and token status")
	fs.StringVar(&c.configFile, "config", "", "YAML `file` of settings, as tenantgate serve's")
	fs.StringVar(&c.tenant, "tenant", "", "tenant key or ID")
	fs.StringVar(&c.user, "user", "", "username (list) or home account ID (list, revoke)")
	fs.StringVar(&c.cursor, "cursor", "", "continue a listing (the next cursor it printed)")
	fs.StringVar(&c.session, "session", "", "session handle (revoke)")
	fs.IntVar(&c.limit, "limit", 100, "sessions per page")
	fs.BoolVar(&c.all, "all", false, "revoke every session of --tenant")
	fs.BoolVar(&c.json, "json", false, "print JSON instead of a table")
	// Flags after the handle of show: parse twice.
	var positional []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return 0
			}
			return 2
		}
		if fs.NArg() == 0 {
			break
		}
		positional = append(positional, fs.Arg(0))
		args = fs.Args()[1:]
	}
	if c.configFile == "" {
		c.configFile = getenv("TENANTGATE_CONFIG")
	}
	// The gateway's own settings, so that its environment and file serve
	// here unchanged; a flag given here wins.
	var sc serveConfig
	ss := newServeFlags(&sc, io.Discard)
	_ = ss.fs.Parse(nil)
	if err := ss.resolve(c.configFile, getenv); err != nil {
		fmt.Fprintf(stderr, "tenantgate sessions: %v\n", err)
		return 2
	}
	c.redisURL = cmp.Or(c.redisURL, sc.redisURL)
	c.keys = cmp.Or(c.keys, sc.keys)
	c.tenants = cmp.Or(c.tenants, sc.tenants)
	con, closeFn, err := openConsole(ctx, c, stderr)
	if err != nil {
		fmt.Fprintf(stderr, "tenantgate sessions: %v\n", err)
		return 1
	}
	defer closeFn()
	switch verb {
	case "list":
		return sessionsList(ctx, con, c, stdout, stderr)
	case "show":
		if len(positional) != 1 {
			fmt.Fprint(stderr, "tenantgate sessions show: give one session handle (64 hex digits, from list)\n")
			return 2
		}
		v, err := con.Lookup(ctx, positional[0])
		if errors.Is(err, session.ErrNoSession) {
			fmt.Fprintf(stderr, "tenantgate sessions show: no such session (gone, or not a full handle)\n")
			return 1
		}
		if err != nil {
			fmt.Fprintf(stderr, "tenantgate sessions show: %v\n", err)
			return 1
		}
		if c.json {
			return printJSON(stdout, v)
		}
		printSession(stdout, v)
		return 0
	default:
		n, err := con.Revoke(ctx, ops.RevokeRequest{Session: c.session, Tenant: c.tenant, User: c.user, All: c.all})
		if err != nil {
			fmt.Fprintf(stderr, "tenantgate sessions revoke: %v\n", err)
			return 1
		}
		if c.json {
			return printJSON(stdout, map[string]int{"revoked": n})
		}
		fmt.Fprintf(stdout, "revoked %d session(s)\n", n)
		return 0
	}
}

func openConsole(ctx context.Context, c sessionsConfig, stderr io.Writer) (*ops.Console, func(), error) {
	if c.redisURL == "" || c.keys == "" {
		return nil, nil, errors.New("--redis-url and --keys are required (the gateway's; or TENANTGATE_REDIS_URL and TENANTGATE_KEYS)")
	}
	logger := slog.New(slog.NewJSONHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	audit := slog.New(slog.NewJSONHandler(stderr, nil))
	st, err := redisstore.New(ctx, redisstore.Options{URL: c.redisURL, Logger: logger, ClientName: "tenantgate-sessions-cli"})
	if err != nil {
		return nil, nil, fmt.Errorf("--redis-url: %w", err)
	}
	keys, err := loadKeys(c.keys, true)
	if err != nil {
		st.Close()
		return nil, nil, err
	}
	sessions, err := session.New(st, keys, session.Options{Logger: logger})
	if err != nil {
		st.Close()
		return nil, nil, err
	}
	var list []ops.Tenant
	var apps opsApps
	if c.tenants != "" {
		cfg, err := tenant.Load(c.tenants)
		if err != nil {
			st.Close()
			return nil, nil, fmt.Errorf("--tenants: %w", err)
		}
		cache := tokencache.New(st, keys, tokencache.Options{Logger: logger})
		apps = configApps(cfg, cache)
		list = apps.tenants()
		defer cache.Close()
	}
	if c.tenant != "" && !slicesHasTenant(list, c.tenant) {
		// A tenant ID without --tenants: sessions only, no token status.
		list = append(list, ops.Tenant{Key: c.tenant, TenantID: c.tenant})
	}
	who := "cli"
	if u, err := user.Current(); err == nil {
		who = "cli:" + u.Username
	}
	con, err := ops.NewConsole(ops.Options{Sessions: sessions, Tenants: func() []ops.Tenant { return list }, Owner: apps.owner, Refreshes: ops.NewRefreshLog(st, ""), Logger: audit}, who)
	if err != nil {
		st.Close()
		return nil, nil, err
	}
	return con, func() { st.Close() }, nil
}

func slicesHasTenant(ts []ops.Tenant, keyOrID string) bool {
	for _, t := range ts {
		if t.Key == keyOrID || strings.EqualFold(t.TenantID, keyOrID) {
			return true
		}
	}
	return false
}

func sessionsList(ctx context.Context, con *ops.Console, c sessionsConfig, stdout, stderr io.Writer) int {
	p, err := con.List(ctx, ops.Filter{Tenant: c.tenant, User: c.user, Cursor: c.cursor, Limit: c.limit})
	if err != nil {
		fmt.Fprintf(stderr, "tenantgate sessions list: %v\n", err)
		return 1
	}
	if c.json {
		return printJSON(stdout, p)
	}
	tw := tabwriter.NewWriter(stdout, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "HANDLE\tTENANT\tUSER\tSIGNED IN\tLAST SEEN\tTOKENS\tREPLICA")
	for _, s := range p.Sessions {
		tokens := "-"
		if s.Tokens != nil {
			tokens = s.Tokens.State
			if s.Tokens.RefreshToken {
				tokens += ",rt"
			}
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", s.Handle, s.TenantKey, s.Username, s.Created.UTC().Format("2006-01-02 15:04Z"),
			s.LastSeen.UTC().Format("2006-01-02 15:04Z"), tokens, s.Replica)
	}
	tw.Flush()
	if p.Next != "" {
		fmt.Fprintf(stdout, "more: --cursor %s\n", p.Next)
	}
	return 0
}

func printSession(w io.Writer, v ops.SessionView) {
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	row := func(k, v string) { fmt.Fprintf(tw, "%s\t%s\n", k, v) }
	row("handle", v.Handle)
	row("tenant", v.TenantKey+" "+v.TenantID)
	row("user", v.Username+" ("+v.DisplayName+") "+v.HomeAccountID)
	row("signed in", v.Created.UTC().String())
	row("last seen", v.LastSeen.UTC().String())
	row("idle expiry", v.IdleExpires.UTC().String())
	row("absolute expiry", v.AbsoluteExpires.UTC().String())
	row("client", v.ClientIP+" "+v.UserAgent)
	row("created on", v.Replica)
	if t := v.Tokens; t != nil {
		row("token cache", fmt.Sprintf("%s, refresh token held: %v", t.State, t.RefreshToken))
		for _, a := range t.AccessTokens {
			row("access token", a.Scopes+" until "+a.ExpiresOn.UTC().String())
		}
		if r := t.LastRefresh; r != nil {
			row("last refresh", strings.TrimSpace(r.At.UTC().String()+" "+r.Result+" "+r.Error)+" on "+r.Replica+" ("+r.Scopes+")")
		}
	}
	tw.Flush()
}

func printJSON(w io.Writer, v any) int {
	e := json.NewEncoder(w)
	e.SetIndent("", "  ")
	if err := e.Encode(v); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}
