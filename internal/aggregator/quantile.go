package aggregator

import (
	"math"
	"slices"
)

// Quantile is PromQL's histogram_quantile over one classic histogram, given
// as upper bound ("le") → cumulative count, the +Inf bucket included. It
// follows promql.BucketQuantile (the function the engine evaluates) case
// for case, without importing promql and its 130 packages; the tests
// compare the two on the same buckets.
//
// Within a bucket the observations are assumed to be spread evenly, so the
// quantile is interpolated linearly between the bucket's lower and upper
// bound. The lowest bucket starts at 0 if its upper bound is positive;
// if that bound is 0 or less, it is the answer whenever the rank falls in
// it. A rank that falls in the +Inf bucket gives the highest finite bound.
//
// Special cases, as in PromQL:
//   - q is NaN → NaN; q < 0 → -Inf; q > 1 → +Inf;
//   - no buckets, no +Inf bucket, no finite bucket, or no observations → NaN;
//   - counts that decrease with a higher bound (a scrape racing an
//     observation, counters summed across a restart) are raised to the
//     highest count below them, and differences smaller than one part in
//     10¹² (floating-point noise) are ignored, so the counts the search
//     runs on never decrease.
func Quantile(q float64, buckets map[float64]float64) float64 {
	if len(buckets) == 0 {
		return math.NaN()
	}
	switch {
	case math.IsNaN(q):
		return math.NaN()
	case q < 0:
		return math.Inf(-1)
	case q > 1:
		return math.Inf(+1)
	}
	bounds := make([]float64, 0, len(buckets))
	for le := range buckets {
		bounds = append(bounds, le)
	}
	slices.Sort(bounds)
	n := len(bounds)
	if !math.IsInf(bounds[n-1], +1) || n < 2 {
		return math.NaN()
	}
	counts := make([]float64, n)
	for i, le := range bounds {
		counts[i] = buckets[le]
	}
	monotonic(counts)
	total := counts[n-1]
	if total == 0 {
		return math.NaN()
	}
	rank := q * total
	// The first bucket whose count reaches the rank; the +Inf bucket if
	// no finite one does.
	b := 0
	for b < n-1 && counts[b] < rank {
		b++
	}
	switch {
	case b == n-1:
		return bounds[n-2]
	case b == 0 && bounds[0] <= 0:
		return bounds[0]
	}
	lower, upper, inBucket := 0.0, bounds[b], counts[b]
	if b > 0 {
		lower = bounds[b-1]
		inBucket -= counts[b-1]
		rank -= counts[b-1]
	}
	return lower + (upper-lower)*(rank/inBucket)
}

// deltaTolerance is the relative difference between two cumulative counts
// below which PromQL treats them as equal (promql's smallDeltaTolerance).
const deltaTolerance = 1e-12

// monotonic makes cumulative counts non-decreasing in place: a count
// nearly equal to the last one kept, or below it, becomes that one.
func monotonic(counts []float64) {
	prev := counts[0]
	for i := 1; i < len(counts); i++ {
		c := counts[i]
		switch {
		case c == prev:
		case nearlyEqual(prev, c) || c < prev:
			counts[i] = prev
		default:
			prev = c
		}
	}
}

// nearlyEqual compares relative to the magnitudes, and absolutely near
// zero, as Prometheus's util/almost.Equal does.
func nearlyEqual(a, b float64) bool {
	const minNormal = 0x1p-1022 // the smallest normal float64
	if a == b {
		return true
	}
	sum, diff := math.Abs(a)+math.Abs(b), math.Abs(a-b)
	if a == 0 || b == 0 || sum < minNormal {
		return diff < deltaTolerance*minNormal
	}
	return diff/math.Min(sum, math.MaxFloat64) < deltaTolerance
}
