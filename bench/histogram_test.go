package bench

import (
	"math"
	"testing"
	"time"

	"pgregory.net/rapid"
)

func TestHistogramEmpty(t *testing.T) {
	h := NewHistogram()
	if h.Count() != 0 || h.Quantile(0.5) != 0 || h.Max() != 0 || h.Min() != 0 || h.Mean() != 0 {
		t.Fatalf("empty histogram: count %d p50 %v max %v min %v mean %v", h.Count(), h.Quantile(0.5), h.Max(), h.Min(), h.Mean())
	}
}

func TestHistogramSmallValuesAreExact(t *testing.T) {
	h := NewHistogram()
	for v := 1; v <= 100; v++ {
		h.Record(time.Duration(v))
	}
	for _, tc := range []struct {
		q    float64
		want time.Duration
	}{{0.01, 1}, {0.5, 50}, {0.99, 99}, {0.999, 100}, {1, 100}} {
		if got := h.Quantile(tc.q); got != tc.want {
			t.Errorf("Quantile(%v) = %v, want %v", tc.q, got, tc.want)
		}
	}
	if h.Min() != 1 || h.Max() != 100 || h.Mean() != 50 {
		t.Errorf("min %v max %v mean %v, want 1, 100, 50", h.Min(), h.Max(), h.Mean())
	}
}

func TestHistogramPercentilesOfUniformWithinOnePercent(t *testing.T) {
	h := NewHistogram()
	const n = 100_000
	for v := 1; v <= n; v++ {
		h.Record(time.Duration(v) * time.Microsecond)
	}
	for _, q := range []float64{0.5, 0.9, 0.99, 0.999} {
		want := q * n * float64(time.Microsecond)
		got := float64(h.Quantile(q))
		if got < want || (got-want)/want > 0.01 {
			t.Errorf("Quantile(%v) = %v, want within +1%% of %v", q, time.Duration(got), time.Duration(want))
		}
	}
	if h.Max() != n*time.Microsecond {
		t.Errorf("Max = %v, want exactly %v", h.Max(), n*time.Microsecond)
	}
}

func TestHistogramOutlierShowsInTail(t *testing.T) {
	h := NewHistogram()
	for range 999 {
		h.Record(time.Millisecond)
	}
	h.Record(time.Second)
	if p99 := h.Quantile(0.99); p99 > 2*time.Millisecond {
		t.Errorf("p99 = %v, want about 1ms", p99)
	}
	if p999 := h.Quantile(0.999); p999 > 2*time.Millisecond {
		t.Errorf("p99.9 = %v: 999 of 1000 values are 1ms", p999)
	}
	if h.Quantile(1) != time.Second {
		t.Errorf("max = %v, want 1s", h.Quantile(1))
	}
}

func TestHistogramMergeEqualsRecordingAll(t *testing.T) {
	a, b, all := NewHistogram(), NewHistogram(), NewHistogram()
	for v := range 5000 {
		d := time.Duration(v*v) * time.Nanosecond
		all.Record(d)
		if v%3 == 0 {
			a.Record(d)
		} else {
			b.Record(d)
		}
	}
	a.Merge(b)
	a.Merge(NewHistogram())
	if *a != *all {
		t.Fatalf("merged histogram differs from one that recorded everything: count %d vs %d, p99 %v vs %v", a.Count(), all.Count(), a.Quantile(0.99), all.Quantile(0.99))
	}
}

func TestHistogramNegativeCountsAsZero(t *testing.T) {
	h := NewHistogram()
	h.Record(-5 * time.Second)
	if h.Max() != 0 || h.Count() != 1 {
		t.Fatalf("negative value: max %v count %d, want 0 and 1", h.Max(), h.Count())
	}
}

// Every value lands in a bucket whose upper bound is at or above it and
// less than 1% above it; buckets are ordered like the values.
func TestHistogramBucketsProperty(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		v := rapid.Int64Range(0, math.MaxInt64).Draw(t, "v")
		w := rapid.Int64Range(0, math.MaxInt64).Draw(t, "w")
		i := bucketOf(v)
		if i < 0 || i >= bucketCount {
			t.Fatalf("bucketOf(%d) = %d, out of [0,%d)", v, i, bucketCount)
		}
		up := bucketUpper(i)
		if up < v {
			t.Fatalf("bucketUpper(bucketOf(%d)) = %d, below the value", v, up)
		}
		if v > 0 && float64(up-v)/float64(v) > 1.0/128 {
			t.Fatalf("bucket of %d reaches %d: more than 1/128 above", v, up)
		}
		if v < w && bucketOf(v) > bucketOf(w) {
			t.Fatalf("%d < %d but bucket %d > %d", v, w, bucketOf(v), bucketOf(w))
		}
	})
}
