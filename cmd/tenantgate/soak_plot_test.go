//go:build soak

package main

import (
	"fmt"
	"html"
	"math"
	"strings"
)

// plotSVG draws two panels over the same time axis (xs in seconds): RSS
// in MiB and goroutines, one line per replica. A plot of our own rather
// than gnuplot: one less program to install for make soak.
func plotSVG(title string, xs []float64, rss, goroutines [][]float64) string {
	const w, panelH, left, right, top, gap = 900, 220, 70, 20, 40, 60
	h := top + 2*panelH + gap + 40
	colors := []string{"#1f77b4", "#d62728", "#2ca02c"}
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" font-family="sans-serif" font-size="12">`+"\n", w, h)
	fmt.Fprintf(&b, `<rect width="100%%" height="100%%" fill="white"/><text x="%d" y="20" font-size="14">%s</text>`+"\n", left, html.EscapeString(title))
	xmax := 1.0
	if len(xs) > 0 {
		xmax = math.Max(xs[len(xs)-1], 1)
	}
	panel := func(y0 int, label string, series [][]float64) {
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
			fmt.Fprintf(&b, `<text x="%d" y="%d" fill="%s">replica %d</text>`+"\n", w-right-80*(len(series)-i), y0+16, colors[i%len(colors)], i+1)
		}
	}
	panel(top, "RSS (MiB, VmRSS)", rss)
	panel(top+panelH+gap, "goroutines", goroutines)
	y := top + 2*panelH + gap
	for i := 0; i <= 6; i++ {
		x := xmax * float64(i) / 6
		fmt.Fprintf(&b, `<text x="%.1f" y="%d" text-anchor="middle">%.0f s</text>`+"\n", float64(left)+x/xmax*float64(w-left-right), y+16, x)
	}
	b.WriteString("</svg>\n")
	return b.String()
}
