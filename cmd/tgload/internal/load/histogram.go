package load

import "math/bits"

// histogram counts latencies in nanoseconds in log-linear buckets, as
// HdrHistogram does: values below 256 ns are exact, above that each power
// of two is cut into 128 buckets, so a percentile is within 1/128 (0.8 %)
// of the true sample whatever the run's length, in a fixed 59 KiB. Each
// worker owns one (no sharing, no locks); merge adds them at the end.
type histogram struct {
	counts [57*subBuckets + subBuckets]uint64
	n      uint64
	max    uint64
	min    uint64
	sum    uint64
}

const (
	subBits    = 7
	subBuckets = 1 << subBits
)

func bucketOf(v uint64) int {
	e := bits.Len64(v) - (subBits + 1)
	if e <= 0 {
		return int(v)
	}
	return e*subBuckets + int(v>>e)
}

// highest is the largest value that falls in bucket i.
func highest(i int) uint64 {
	if i < 2*subBuckets {
		return uint64(i)
	}
	e := i/subBuckets - 1
	m := uint64(i - e*subBuckets)
	return (m+1)<<e - 1
}

func (h *histogram) record(v uint64) {
	h.counts[bucketOf(v)]++
	if h.n == 0 || v < h.min {
		h.min = v
	}
	if v > h.max {
		h.max = v
	}
	h.n++
	h.sum += v
}

func (h *histogram) merge(o *histogram) {
	if o.n == 0 {
		return
	}
	for i, c := range o.counts {
		h.counts[i] += c
	}
	if h.n == 0 || o.min < h.min {
		h.min = o.min
	}
	h.max = max(h.max, o.max)
	h.n += o.n
	h.sum += o.sum
}

// quantile is the smallest recorded value v (to the bucket's precision)
// such that at least q of the samples are ≤ v; it never exceeds the max.
func (h *histogram) quantile(q float64) uint64 {
	if h.n == 0 {
		return 0
	}
	rank := uint64(q*float64(h.n) + 0.5)
	rank = max(rank, 1)
	var seen uint64
	for i, c := range h.counts {
		seen += c
		if seen >= rank {
			return min(highest(i), h.max)
		}
	}
	return h.max
}
