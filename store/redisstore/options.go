package redisstore

import (
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/redis/rueidis"
)

// Mode is how the L1 is kept coherent with Redis.
type Mode string

// The L1 modes, in the order ModeAuto tries them.
const (
	ModeAuto     Mode = "auto"
	ModeTracking Mode = "tracking"
	ModeBcast    Mode = "bcast"
	ModePubSub   Mode = "pubsub"
	ModeOff      Mode = "off"
)

func parseMode(s string) (Mode, error) {
	switch m := Mode(s); m {
	case "":
		return ModeAuto, nil
	case ModeAuto, ModeTracking, ModeBcast, ModePubSub, ModeOff:
		return m, nil
	}
	return "", fmt.Errorf("redisstore: l1 mode %q is unknown: use auto, tracking, bcast, pubsub or off", s)
}

// Defaults for the zero values of Options.
const (
	DefaultPrefix      = "tg1:"
	DefaultL1MaxBytes  = 64 << 20
	DefaultL1MaxStale  = time.Minute
	DefaultOpTimeout   = 2 * time.Second
	DefaultDialTimeout = 5 * time.Second
)

// Options configure a Store. Either URL or Addrs names the server.
type Options struct {
	// URL is redis://[user:password@]host:port[/db][?option=value...] or
	// rediss:// for TLS (Azure Cache for Redis: rediss://:ACCESS_KEY@NAME.redis.cache.windows.net:6380).
	// Query options: addr (another seed address, repeatable: Cluster seeds
	// or Sentinel addresses), master_set (the Sentinel master name), db,
	// dial_timeout, op_timeout, l1 (a Mode), l1_max_bytes, l1_max_stale,
	// client_name. Any other option is an error.
	URL string

	// Addrs are host:port seeds, used when URL is empty: one server, the
	// Cluster seed nodes, or the Sentinels when SentinelMaster is set. A
	// Cluster is detected; it needs no flag.
	Addrs          []string
	Username       string
	Password       string
	DB             int
	SentinelMaster string
	// TLS enables TLS with this configuration (for example a private CA).
	// With a rediss:// URL it replaces the default one.
	TLS *tls.Config

	// Prefix starts every key the L1 may cache in the bcast and pubsub
	// modes, whose invalidations cover only it: bcast tracking asks the
	// server for the keys under it, and the pubsub channel is named after
	// it (Prefix + "l1:inv"), so every replica that writes these keys must
	// use the same Prefix. Keys outside it (a consumer's own key prefix,
	// say) are never cached in those modes and always read from Redis:
	// correct, but a round trip each. The tracking mode caches every key
	// it reads, since the server tracks each read. The start-up self-test
	// probes a key under it. Default "tg1:".
	Prefix string
	// L1 is the L1 coherence mode. Default ModeAuto.
	L1 Mode
	// L1MaxBytes bounds the L1's size. Default 64 MiB.
	L1MaxBytes int64
	// L1MaxStale bounds how long an L1 entry is served without asking Redis,
	// whatever the invalidation path says. Default one minute.
	L1MaxStale time.Duration

	// OpTimeout bounds each operation. Default 2s.
	OpTimeout time.Duration
	// DialTimeout bounds each connection attempt. Default 5s.
	DialTimeout time.Duration
	// ClientName is shown by CLIENT LIST.
	ClientName string

	Logger *slog.Logger
	Now    func() time.Time
}

var urlOptions = []string{"addr", "master_set", "db", "dial_timeout", "op_timeout", "l1", "l1_max_bytes", "l1_max_stale", "client_name"}

// redacted shows an address without its password, for errors and logs.
func (o *Options) redacted() string {
	if o.URL != "" {
		if u, err := url.Parse(o.URL); err == nil {
			return u.Redacted()
		}
		return "(unparsable redis URL)"
	}
	return strings.Join(o.Addrs, ",")
}

// resolve merges URL options into o and fills the defaults.
func (o Options) resolve() (Options, error) {
	if o.URL != "" {
		if err := o.applyURL(); err != nil {
			return o, err
		}
	}
	if len(o.Addrs) == 0 {
		return o, errors.New("redisstore: no Redis address: set the URL (redis://host:6379 or rediss://host:6380) or Addrs")
	}
	if o.L1 == "" {
		o.L1 = ModeAuto
	}
	if _, err := parseMode(string(o.L1)); err != nil {
		return o, err
	}
	if o.Prefix == "" {
		o.Prefix = DefaultPrefix
	}
	if o.L1MaxBytes <= 0 {
		o.L1MaxBytes = DefaultL1MaxBytes
	}
	if o.L1MaxStale <= 0 {
		o.L1MaxStale = DefaultL1MaxStale
	}
	if o.OpTimeout <= 0 {
		o.OpTimeout = DefaultOpTimeout
	}
	if o.DialTimeout <= 0 {
		o.DialTimeout = DefaultDialTimeout
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return o, nil
}

func (o *Options) applyURL() error {
	u, err := url.Parse(o.URL)
	if err != nil {
		// url.Parse's error repeats the URL, password included.
		return errors.New("redisstore: the redis URL does not parse: expected redis://[user:password@]host:port[/db] or rediss://…")
	}
	bad := func(format string, args ...any) error {
		return fmt.Errorf("redisstore: redis URL %s: %s", u.Redacted(), fmt.Sprintf(format, args...))
	}
	switch u.Scheme {
	case "redis":
	case "rediss":
		if o.TLS == nil {
			o.TLS = &tls.Config{MinVersion: tls.VersionTLS12}
		}
	default:
		return bad("scheme %q is not supported: use redis:// or rediss://", u.Scheme)
	}
	if u.Host == "" {
		return bad("no host: expected redis://host:port")
	}
	host := u.Host
	if u.Port() == "" {
		host += ":6379"
	}
	o.Addrs = append([]string{host}, o.Addrs...)
	if u.User != nil {
		o.Username = u.User.Username()
		o.Password, _ = u.User.Password()
	}
	if p := strings.Trim(u.Path, "/"); p != "" {
		if o.DB, err = strconv.Atoi(p); err != nil || o.DB < 0 {
			return bad("database %q is not a number", p)
		}
	}
	q := u.Query()
	for k := range q {
		if !slices.Contains(urlOptions, k) {
			return bad("unknown option %q: known options are %s", k, strings.Join(urlOptions, ", "))
		}
	}
	o.Addrs = append(o.Addrs, q["addr"]...)
	if v := q.Get("master_set"); v != "" {
		o.SentinelMaster = v
	}
	if v := q.Get("client_name"); v != "" {
		o.ClientName = v
	}
	if v := q.Get("db"); v != "" {
		if o.DB, err = strconv.Atoi(v); err != nil || o.DB < 0 {
			return bad("db=%q is not a number", v)
		}
	}
	durations := map[string]*time.Duration{"dial_timeout": &o.DialTimeout, "op_timeout": &o.OpTimeout, "l1_max_stale": &o.L1MaxStale}
	for name, dst := range durations {
		if v := q.Get(name); v != "" {
			d, err := time.ParseDuration(v)
			if err != nil || d <= 0 {
				return bad("%s=%q is not a positive duration such as 2s", name, v)
			}
			*dst = d
		}
	}
	if v := q.Get("l1_max_bytes"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n <= 0 {
			return bad("l1_max_bytes=%q is not a positive number of bytes", v)
		}
		o.L1MaxBytes = n
	}
	if v := q.Get("l1"); v != "" {
		m, err := parseMode(v)
		if err != nil {
			return err
		}
		o.L1 = m
	}
	return nil
}

// unusedCacheBytes sizes rueidis's own client-side cache, which the store
// never fills (see clientOption).
const unusedCacheBytes = 1 << 16

// clientOption is the rueidis configuration for one mode.
func (o *Options) clientOption(mode Mode) rueidis.ClientOption {
	opt := rueidis.ClientOption{
		InitAddress:       o.Addrs,
		Username:          o.Username,
		Password:          o.Password,
		SelectDB:          o.DB,
		ClientName:        o.ClientName,
		ConnWriteTimeout:  o.OpTimeout + time.Second,
		DisableCache:      true,
		CacheSizeEachConn: unusedCacheBytes,
	}
	opt.Dialer.Timeout = o.DialTimeout
	if o.TLS != nil {
		// Without a ServerName, crypto/tls verifies each node against the
		// host it dials, which is right for every node of a Cluster.
		opt.TLSConfig = o.TLS.Clone()
	}
	if o.SentinelMaster != "" {
		opt.Sentinel = rueidis.SentinelOption{MasterSet: o.SentinelMaster, TopologyRefreshInterval: 5 * time.Second}
		opt.Sentinel.Dialer.Timeout = o.DialTimeout
	}
	// rueidis turns tracking on per connection only with its cache
	// enabled; the store never calls DoCache, so that cache stays empty
	// and small. A non-nil ClientTrackingOptions without OPTIN gives the
	// default mode, in which the server tracks every key a connection
	// reads with a plain GET. NOLOOP: this process learns of its own
	// writes from CompareAndSet, not from the server.
	switch mode {
	case ModeTracking:
		opt.DisableCache = false
		opt.ClientTrackingOptions = []string{"NOLOOP"}
	case ModeBcast:
		opt.DisableCache = false
		opt.ClientTrackingOptions = []string{"BCAST", "PREFIX", o.Prefix, "NOLOOP"}
	}
	return opt
}
