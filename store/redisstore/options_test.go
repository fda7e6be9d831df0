package redisstore

import (
	"strings"
	"testing"
	"time"
)

func TestOptionsFromURL(t *testing.T) {
	o, err := Options{URL: "rediss://app:s3cret@cache.example.net:6380/2?addr=b:6380&master_set=mymaster&op_timeout=750ms&l1=pubsub&l1_max_bytes=1024&l1_max_stale=5s"}.resolve()
	if err != nil {
		t.Fatal(err)
	}
	want := Options{Addrs: []string{"cache.example.net:6380", "b:6380"}, Username: "app", Password: "s3cret", DB: 2,
		SentinelMaster: "mymaster", OpTimeout: 750 * time.Millisecond, L1: ModePubSub, L1MaxBytes: 1024, L1MaxStale: 5 * time.Second}
	if strings.Join(o.Addrs, ",") != strings.Join(want.Addrs, ",") || o.Username != want.Username || o.Password != want.Password ||
		o.DB != want.DB || o.SentinelMaster != want.SentinelMaster || o.OpTimeout != want.OpTimeout || o.L1 != want.L1 ||
		o.L1MaxBytes != want.L1MaxBytes || o.L1MaxStale != want.L1MaxStale {
		t.Fatalf("resolved %+v", o)
	}
	if o.TLS == nil {
		t.Fatal("rediss:// did not enable TLS")
	}
	if o.Prefix != DefaultPrefix || o.DialTimeout != DefaultDialTimeout {
		t.Fatalf("defaults not filled: %+v", o)
	}
}

func TestOptionsBadInput(t *testing.T) {
	for _, tc := range []struct {
		url, want string
	}{
		{"redis://:pw@[::1", "does not parse"},
		{"http://host:6379", `scheme "http" is not supported`},
		{"redis://", "no host"},
		{"redis://host:6379/x", `database "x" is not a number`},
		{"redis://host:6379?timeout=1s", `unknown option "timeout"`},
		{"redis://host:6379?op_timeout=soon", `op_timeout="soon" is not a positive duration`},
		{"redis://host:6379?l1=magic", `l1 mode "magic" is unknown`},
		{"redis://host:6379?l1_max_bytes=-1", `l1_max_bytes="-1"`},
		{"", "no Redis address"},
	} {
		_, err := Options{URL: tc.url}.resolve()
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: error %v, want it to contain %q", tc.url, err, tc.want)
			continue
		}
		if strings.Contains(err.Error(), "pw") {
			t.Errorf("%q: error shows the password: %v", tc.url, err)
		}
	}
}

func FuzzOptionsURL(f *testing.F) {
	for _, s := range []string{"redis://h:1", "rediss://u:p@h:6380/0?addr=x:1&l1=off", "redis://h?db=-3", "redis://%zz"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, u string) {
		o, err := Options{URL: u}.resolve()
		if err == nil && len(o.Addrs) == 0 {
			t.Fatalf("%q resolved with no address", u)
		}
	})
}
