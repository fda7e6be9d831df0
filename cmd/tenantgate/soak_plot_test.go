//go:build soak

package main

import (
	"encoding/csv"
	"fmt"
	"html"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// soakPlot is docs/soak.svg's content for the samples of docs/soak.csv:
// RSS and goroutines per replica, req/s of all three between samples.
func soakPlot(title string, rows [][]string) string {
	head, rows := rows[0], rows[1:]
	col := map[string]int{}
	for i, h := range head {
		col[h] = i
	}
	num := func(row []string, name string) float64 {
		v, _ := strconv.ParseFloat(row[col[name]], 64)
		return v
	}
	var xs []float64
	var rss, gor [3][]float64
	var rps []float64
	for i, row := range rows {
		xs = append(xs, num(row, "seconds"))
		for r := range 3 {
			rss[r] = append(rss[r], num(row, fmt.Sprintf("rss_kib_r%d", r+1))/1024)
			gor[r] = append(gor[r], num(row, fmt.Sprintf("goroutines_r%d", r+1)))
		}
		v := 0.0
		if i > 0 {
			if dt := xs[i] - xs[i-1]; dt > 0 {
				v = (num(row, "requests") - num(rows[i-1], "requests")) / dt
			}
		} else if xs[0] > 0 {
			v = num(row, "requests") / xs[0]
		}
		rps = append(rps, v)
	}
	return plotSVG(title, xs,
		plotPanel{label: "RSS (MiB, VmRSS)", series: rss[:]},
		plotPanel{label: "goroutines", series: gor[:]},
		plotPanel{label: "requests/s (all three)", series: [][]float64{rps}, names: []string{"req/s"}})
}

// TestSoakReplot redraws docs/soak.svg from docs/soak.csv (go test -tags
// soak -run TestSoakReplot ./cmd/tenantgate), as TestSoak draws it.
func TestSoakReplot(t *testing.T) {
	dir := filepath.Join("..", "..", "docs")
	f, err := os.Open(filepath.Join(dir, "soak.csv"))
	if err != nil {
		t.Fatal(err)
	}
	rows, err := csv.NewReader(f).ReadAll()
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	title := os.Getenv("TENANTGATE_SOAK_TITLE")
	if title == "" {
		title = "tenantgate soak (docs/soak.csv)"
	}
	if err := os.WriteFile(filepath.Join(dir, "soak.svg"), []byte(soakPlot(title, rows)), 0o644); err != nil {
		t.Fatal(err)
	}
}

// plotPanel is one panel of the soak's plot: lines over the time axis.
type plotPanel struct {
	label  string
	series [][]float64 // one line each (one per replica, or one in all)
	names  []string
}

// plotSVG draws panels over the same time axis (xs in seconds): RSS in
// MiB and goroutines per replica, and the requests per second of all. A
// plot of our own rather than gnuplot: one less program to install for
// make soak.
func plotSVG(title string, xs []float64, panels ...plotPanel) string {
	const w, panelH, left, right, top, gap = 900, 200, 70, 20, 40, 50
	h := top + len(panels)*panelH + (len(panels)-1)*gap + 40
	colors := []string{"#1f77b4", "#d62728", "#2ca02c"}
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" font-family="sans-serif" font-size="12">`+"\n", w, h)
	fmt.Fprintf(&b, `<rect width="100%%" height="100%%" fill="white"/><text x="%d" y="20" font-size="14">%s</text>`+"\n", left, html.EscapeString(title))
	xmax := 1.0
	if len(xs) > 0 {
		xmax = math.Max(xs[len(xs)-1], 1)
	}
	panel := func(y0 int, label string, series [][]float64, names []string) {
		ymax := 0.0
		for _, s := range series {
			for _, v := range s {
				ymax = math.Max(ymax, v)
			}
		}
		ymax = math.Max(ymax*1.15, 1)
		pw := float64(w - left - right)
		px := func(x float64) float64 { return float64(left) + x/xmax*pw }
		py := func(y float64) float64 { return float64(y0+panelH) - y/ymax*float64(panelH) }
		fmt.Fprintf(&b, `<rect x="%d" y="%d" width="%d" height="%d" fill="none" stroke="#999"/>`+"\n", left, y0, w-left-right, panelH)
		for i := 0; i <= 4; i++ {
			v := ymax * float64(i) / 4
			fmt.Fprintf(&b, `<line x1="%d" x2="%d" y1="%.1f" y2="%.1f" stroke="#eee"/><text x="%d" y="%.1f" text-anchor="end">%.0f</text>`+"\n",
				left, w-right, py(v), py(v), left-6, py(v)+4, v)
		}
		fmt.Fprintf(&b, `<text x="12" y="%d" transform="rotate(-90 12 %d)" text-anchor="middle">%s</text>`+"\n", y0+panelH/2, y0+panelH/2, html.EscapeString(label))
		for i, s := range series {
			var pts []string
			for j, v := range s {
				pts = append(pts, fmt.Sprintf("%.1f,%.1f", px(xs[j]), py(v)))
			}
			fmt.Fprintf(&b, `<polyline fill="none" stroke="%s" stroke-width="1.5" points="%s"/>`+"\n", colors[i%len(colors)], strings.Join(pts, " "))
			name := fmt.Sprintf("replica %d", i+1)
			if i < len(names) {
				name = names[i]
			}
			fmt.Fprintf(&b, `<text x="%d" y="%d" fill="%s">%s</text>`+"\n", w-right-80*(len(series)-i), y0+16, colors[i%len(colors)], html.EscapeString(name))
		}
	}
	for i, p := range panels {
		panel(top+i*(panelH+gap), p.label, p.series, p.names)
	}
	y := top + len(panels)*panelH + (len(panels)-1)*gap
	for i := 0; i <= 6; i++ {
		x := xmax * float64(i) / 6
		fmt.Fprintf(&b, `<text x="%.1f" y="%d" text-anchor="middle">%.0f s</text>`+"\n", float64(left)+x/xmax*float64(w-left-right), y+16, x)
	}
	b.WriteString("</svg>\n")
	return b.String()
}
