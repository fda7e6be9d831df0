package main

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"sort"
	"strings"

	"go.yaml.in/yaml/v3"
)

// settings are resolved from three sources with one set of names: the flag
// --redis-url, the variable TENANTGATE_REDIS_URL and the file key
// redis.url (or redis-url). A flag wins over the environment, which wins
// over the file.
type settings struct {
	fs *flag.FlagSet
	// cmdlineOnly names flags that only make sense on the command line.
	cmdlineOnly []string
}

// listFlag is a repeatable flag; from the command line and the
// environment each value is comma-separated, from the file a YAML list
// whose elements are taken whole.
type listFlag []string

func (l *listFlag) String() string { return strings.Join(*l, ",") }
func (l *listFlag) Set(v string) error {
	for _, s := range strings.Split(v, ",") {
		if s = strings.TrimSpace(s); s != "" {
			*l = append(*l, s)
		}
	}
	return nil
}

// envName is the variable of flag name: TENANTGATE_ + upper snake case.
func envName(name string) string {
	return "TENANTGATE_" + strings.ToUpper(strings.ReplaceAll(name, "-", "_"))
}

// resolve applies the environment and the file (path; "" for none) to the
// flags not set on the command line.
func (s *settings) resolve(path string, getenv func(string) string) error {
	set := map[string]bool{}
	s.fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	file := map[string][]string{}
	if path != "" {
		var err error
		if file, err = readConfigFile(path); err != nil {
			return err
		}
		for k := range file {
			if s.fs.Lookup(k) == nil || slices.Contains(s.cmdlineOnly, k) {
				return fmt.Errorf("config file %s: unknown setting %q (settings are the flags of tenantgate serve --help, e.g. redis.url)", path, strings.ReplaceAll(k, "-", "."))
			}
		}
	}
	var err error
	s.fs.VisitAll(func(f *flag.Flag) {
		if set[f.Name] || err != nil || slices.Contains(s.cmdlineOnly, f.Name) {
			return
		}
		if v := getenv(envName(f.Name)); v != "" {
			if e := f.Value.Set(v); e != nil {
				err = fmt.Errorf("%s=%q: %v", envName(f.Name), v, e)
			}
			return
		}
		for _, v := range file[f.Name] {
			if l, ok := f.Value.(*listFlag); ok {
				// A YAML list is already split: an element may hold a comma.
				if v = strings.TrimSpace(v); v != "" {
					*l = append(*l, v)
				}
				continue
			}
			if e := f.Value.Set(v); e != nil {
				err = fmt.Errorf("config file %s: %s: %v", path, strings.ReplaceAll(f.Name, "-", "."), e)
				return
			}
		}
	})
	return err
}

// readConfigFile reads a YAML settings file into flag names: nested keys
// join with "-" (redis: {url: …} is redis-url), lists stay lists.
func readConfigFile(path string) (map[string][]string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("config file: %w", err)
	}
	return parseConfig(b, path)
}

// parseConfig is readConfigFile's parser, for bytes named path in errors.
func parseConfig(b []byte, path string) (map[string][]string, error) {
	if len(b) > 1<<20 {
		return nil, fmt.Errorf("config file %s: larger than 1 MiB", path)
	}
	var root map[string]any
	if err := yaml.NewDecoder(bytes.NewReader(b)).Decode(&root); err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("config file %s: %v", path, err)
	}
	out := map[string][]string{}
	var walk func(prefix string, v any) error
	walk = func(prefix string, v any) error {
		switch v := v.(type) {
		case map[string]any:
			keys := make([]string, 0, len(v))
			for k := range v {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			for _, k := range keys {
				name := strings.ReplaceAll(k, ".", "-")
				if prefix != "" {
					name = prefix + "-" + name
				}
				if err := walk(name, v[k]); err != nil {
					return err
				}
			}
		case []any:
			for _, e := range v {
				if _, nested := e.(map[string]any); nested {
					return fmt.Errorf("config file %s: %s: a list of plain values is expected", path, prefix)
				}
				out[prefix] = append(out[prefix], fmt.Sprint(e))
			}
		case nil:
		default:
			out[prefix] = append(out[prefix], fmt.Sprint(v))
		}
		return nil
	}
	return out, walk("", root)
}
