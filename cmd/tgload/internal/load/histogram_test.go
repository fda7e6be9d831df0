package load

import (
	"math"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"testing"
)

// The percentiles of the histogram are within its stated precision of the
// exact percentiles of the samples, over latencies from 1 µs to 10 s.
func TestHistogramQuantilesWithinPrecision(t *testing.T) {
	seed := uint64(rand.Int64())
	if s, err := strconv.ParseUint(os.Getenv("TGLOAD_SEED"), 10, 64); err == nil {
		seed = s
	}
	t.Logf("seed %d (TGLOAD_SEED replays)", seed)
	rng := rand.New(rand.NewPCG(seed, 1))
	var h histogram
	samples := make([]uint64, 200_000)
	for i := range samples {
		// log-uniform: every decade as likely, the hard case for buckets
		v := uint64(1e3 * math.Pow(10, rng.Float64()*7))
		samples[i] = v
		h.record(v)
	}
	slices.Sort(samples)
	for _, q := range []float64{0.5, 0.9, 0.99, 0.999} {
		exact := samples[int(q*float64(len(samples))+0.5)-1]
		got := h.quantile(q)
		if got < exact || float64(got-exact) > float64(exact)/subBuckets+1 {
			t.Errorf("q%.3f: histogram %d, exact %d", q, got, exact)
		}
	}
	if h.quantile(1) != samples[len(samples)-1] || h.max != samples[len(samples)-1] || h.n != uint64(len(samples)) {
		t.Errorf("max %d / q1 %d, want %d; n %d", h.max, h.quantile(1), samples[len(samples)-1], h.n)
	}
}

// Every value lands in a bucket whose range holds it, across the whole
// uint64 range, and bucket indexes are monotonic.
func TestHistogramBucketsCoverValues(t *testing.T) {
	prev := -1
	for _, v := range []uint64{0, 1, 127, 128, 255, 256, 257, 511, 512, 1000, 1 << 20, 1<<40 + 12345, 1<<63 - 1, 1 << 63, ^uint64(0)} {
		i := bucketOf(v)
		if i < prev || i >= len(histogram{}.counts) || highest(i) < v || (i > 0 && highest(i-1) >= v) {
			t.Errorf("value %d: bucket %d [%d, %d]", v, i, highest(i-1)+1, highest(i))
		}
		prev = i
	}
}
