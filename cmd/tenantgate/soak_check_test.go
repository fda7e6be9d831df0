package main

import (
	"encoding/csv"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"testing"
)

// trendGrowth is how much a series grew over its length by its
// least-squares line, as a fraction of the line's start: a leak is a
// trend, while counts that move with the requests in flight (goroutines:
// two or three per request) swing around a level. A peak over one sample
// would count those swings as growth.
func trendGrowth(ys []int64) float64 {
	n := float64(len(ys))
	if n < 2 {
		return 0
	}
	var mx, my float64
	for i, y := range ys {
		mx += float64(i)
		my += float64(y)
	}
	mx, my = mx/n, my/n
	var sxy, sxx float64
	for i, y := range ys {
		sxy += (float64(i) - mx) * (float64(y) - my)
		sxx += (float64(i) - mx) * (float64(i) - mx)
	}
	b := sxy / sxx
	start := my - b*mx
	if start <= 0 {
		return 0
	}
	return b * (n - 1) / start
}

// levelGrowth is how much the median of a series' last tenth exceeds
// the median of its first tenth, as a fraction: a leak that begins late,
// which the trend of the whole run dilutes, shows here; swings of a few
// do not.
func levelGrowth(ys []int64) float64 {
	k := max(1, len(ys)/10)
	med := func(xs []int64) float64 {
		s := slices.Clone(xs)
		slices.Sort(s)
		return float64(s[len(s)/2])
	}
	first, last := med(ys[:k]), med(ys[len(ys)-k:])
	if first <= 0 {
		return 0
	}
	return (last - first) / first
}

// flat is the soak's measure: neither the run's trend nor its late level
// grew by 10% or more.
func flatSeries(ys []int64) (trend, level float64, ok bool) {
	trend, level = trendGrowth(ys), levelGrowth(ys)
	return trend, level, trend < 0.10 && level < 0.10
}

func TestTrendGrowth(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	flat, leak := make([]int64, 300), make([]int64, 300)
	for i := range flat {
		flat[i] = 47 + int64(r.IntN(13)) - 6              // 41..53 around 47, as the soak's goroutines
		leak[i] = 47 + int64(i)*10/300 + int64(r.IntN(3)) // +10 over the run: about 20%
	}
	if g := trendGrowth(flat); g > 0.05 || g < -0.05 {
		t.Errorf("a flat, noisy series grew %.1f%%; want about 0", g*100)
	}
	if g := trendGrowth(leak); g < 0.15 {
		t.Errorf("a leaking series grew %.1f%%; want about 20%%", g*100)
	}
	late := slices.Clone(flat)
	for i := len(late) * 95 / 100; i < len(late); i++ {
		late[i] += 47 * 30 / 100 // +30% for the last 5% of the run
	}
	if _, _, ok := flatSeries(flat); !ok {
		t.Error("a flat, noisy series is judged to grow")
	}
	for name, ys := range map[string][]int64{"leaking": leak, "stepping up late": late} {
		if trend, level, ok := flatSeries(ys); ok {
			t.Errorf("a %s series is judged flat (trend %+.1f%%, level %+.1f%%)", name, trend*100, level*100)
		}
	}
}

// The soak figures checked in (docs/soak.csv, written by make soak) are
// flat after the warm-up by the soak's own measure, with no error: the
// document's claim stays tied to its data.
func TestSoakCSVIsFlat(t *testing.T) {
	f, err := os.Open(filepath.Join("..", "..", "docs", "soak.csv"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rows, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	head, rows := rows[0], rows[1:]
	col := map[string]int{}
	for i, h := range head {
		col[h] = i
	}
	num := func(row []string, name string) int64 {
		i, ok := col[name]
		if !ok {
			t.Fatalf("docs/soak.csv has no column %s", name)
		}
		v, err := strconv.ParseInt(row[i], 10, 64)
		if err != nil {
			t.Fatalf("docs/soak.csv: %s %q: %v", name, row[i], err)
		}
		return v
	}
	if n := num(rows[len(rows)-1], "errors"); n != 0 {
		t.Fatalf("docs/soak.csv: %d errors", n)
	}
	warm := len(rows) / 5
	for _, series := range []string{"rss_kib_r1", "rss_kib_r2", "rss_kib_r3", "goroutines_r1", "goroutines_r2", "goroutines_r3"} {
		var ys []int64
		for _, row := range rows[warm:] {
			ys = append(ys, num(row, series))
		}
		if trend, level, ok := flatSeries(ys); !ok {
			t.Errorf("docs/soak.csv: %s grew after the warm-up: trend %+.1f%%, level %+.1f%%", series, trend*100, level*100)
		}
	}
}
