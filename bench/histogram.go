package bench

import (
	"math"
	"math/bits"
	"time"
)

// subBucketBits sets the histogram's precision: values below 2^subBucketBits
// nanoseconds are counted exactly, larger ones in buckets whose width is
// 1/2^(subBucketBits-1) of their magnitude (under 1% relative error for 8).
const subBucketBits = 8

const (
	subBuckets     = 1 << subBucketBits
	halfSubBuckets = subBuckets / 2
	bucketCount    = subBuckets + (64-subBucketBits)*halfSubBuckets
)

// Histogram counts durations in log-linear buckets, like HdrHistogram: exact
// below 256 ns, then 128 linear buckets per power of two. It is not safe for
// concurrent use; give each goroutine its own and Merge them.
type Histogram struct {
	counts [bucketCount]uint64
	total  uint64
	min    int64
	max    int64
	sum    float64
}

// NewHistogram returns an empty histogram.
func NewHistogram() *Histogram { return &Histogram{min: math.MaxInt64} }

// bucketOf returns the bucket index of a non-negative value.
func bucketOf(v int64) int {
	u := uint64(v)
	if u < subBuckets {
		return int(u)
	}
	shift := bits.Len64(u) - subBucketBits // >= 1
	mantissa := u >> shift                 // in [halfSubBuckets, subBuckets)
	return subBuckets + (shift-1)*halfSubBuckets + int(mantissa-halfSubBuckets)
}

// bucketUpper is the largest value that falls into bucket i: quantiles report
// it, so they never understate a latency.
func bucketUpper(i int) int64 {
	if i < subBuckets {
		return int64(i)
	}
	j := i - subBuckets
	shift := j/halfSubBuckets + 1
	mantissa := uint64(j%halfSubBuckets + halfSubBuckets)
	upper := (mantissa+1)<<shift - 1
	if upper > math.MaxInt64 {
		return math.MaxInt64
	}
	return int64(upper)
}

// Record counts one duration; negative durations (a clock step) count as 0.
func (h *Histogram) Record(d time.Duration) {
	v := int64(d)
	if v < 0 {
		v = 0
	}
	h.counts[bucketOf(v)]++
	h.total++
	h.sum += float64(v)
	if v < h.min {
		h.min = v
	}
	if v > h.max {
		h.max = v
	}
}

// Merge adds every count of o to h.
func (h *Histogram) Merge(o *Histogram) {
	if o.total == 0 {
		return
	}
	for i, c := range o.counts {
		h.counts[i] += c
	}
	h.total += o.total
	h.sum += o.sum
	h.min = min(h.min, o.min)
	h.max = max(h.max, o.max)
}

// Count is the number of recorded values.
func (h *Histogram) Count() uint64 { return h.total }

// Max is the largest recorded value (exact), 0 when empty.
func (h *Histogram) Max() time.Duration {
	if h.total == 0 {
		return 0
	}
	return time.Duration(h.max)
}

// Min is the smallest recorded value (exact), 0 when empty.
func (h *Histogram) Min() time.Duration {
	if h.total == 0 {
		return 0
	}
	return time.Duration(h.min)
}

// Mean is the average of the recorded values, 0 when empty.
func (h *Histogram) Mean() time.Duration {
	if h.total == 0 {
		return 0
	}
	return time.Duration(h.sum / float64(h.total))
}

// Quantile returns the value at or below which a fraction q (0..1] of the
// recorded values lie, rounded up to its bucket's upper bound and capped at
// the exact maximum. It returns 0 when empty.
func (h *Histogram) Quantile(q float64) time.Duration {
	if h.total == 0 {
		return 0
	}
	if q >= 1 {
		return time.Duration(h.max)
	}
	rank := uint64(math.Ceil(q * float64(h.total)))
	if rank == 0 {
		rank = 1
	}
	var seen uint64
	for i, c := range h.counts {
		seen += c
		if seen >= rank {
			return time.Duration(min(bucketUpper(i), h.max))
		}
	}
	return time.Duration(h.max)
}
