package main

import (
	"encoding/csv"
	"math/rand/v2"
	"os"
	"path/filepath"
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
		if g := trendGrowth(ys); g >= 0.10 {
			t.Errorf("docs/soak.csv: %s grew %.1f%% after the warm-up", series, g*100)
		}
	}
}
