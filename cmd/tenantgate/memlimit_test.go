package main

import "testing"

func TestAutoLimitLeavesCachesNoSlack(t *testing.T) {
	const MiB = 1 << 20
	for _, c := range []struct {
		name                        string
		nonHeap, live, cached, want int64
	}{
		{"a small heap: the floor", 8 * MiB, 10 * MiB, 1 * MiB, minMemoryLimit},
		{"a small heap with its slack", 8 * MiB, 40 * MiB, 1 * MiB, 8*MiB + 40*MiB + 39*MiB},
		{"caches full, little else", 12 * MiB, 110 * MiB, 95 * MiB, 12*MiB + 110*MiB + minSlack},
		{"much that is not cache: as much again", 12 * MiB, 300 * MiB, 100 * MiB, 12*MiB + 300*MiB + 200*MiB},
		{"caches estimated above the live heap", 12 * MiB, 50 * MiB, 80 * MiB, 12*MiB + 50*MiB + minSlack},
		{"never below the minimum", 0, 1, 0, minMemoryLimit},
	} {
		if got := autoLimit(c.nonHeap, c.live, c.cached); got != c.want {
			t.Errorf("%s: autoLimit = %d MiB; want %d MiB", c.name, got/MiB, c.want/MiB)
		}
	}
}

func TestMemoryLimitFlag(t *testing.T) {
	for in, want := range map[string]memoryLimit{
		"auto": {mode: "auto"}, "OFF": {mode: "off"}, "512MiB": {mode: "fixed", bytes: 512 << 20},
		"1GiB": {mode: "fixed", bytes: 1 << 30}, "100000000": {mode: "fixed", bytes: 100000000},
	} {
		var m memoryLimit
		if err := m.Set(in); err != nil || m != want {
			t.Errorf("Set(%q) = %+v, %v; want %+v", in, m, err, want)
		}
	}
	for _, in := range []string{"1MiB", "lots", "-5GiB", "12TB", "0"} {
		var m memoryLimit
		if err := m.Set(in); err == nil {
			t.Errorf("Set(%q) accepted: %+v", in, m)
		}
	}
}
