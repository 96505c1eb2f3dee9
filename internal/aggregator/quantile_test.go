package aggregator_test

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/prometheus/prometheus/promql"

	"github.com/cloudcart/cloudcart/internal/aggregator"
)

// upstream is promql.BucketQuantile, the function PromQL evaluates, on the
// same buckets (only the test links promql; the aggregator does not).
func upstream(q float64, h map[float64]float64) float64 {
	if len(h) == 0 {
		return math.NaN()
	}
	bs := make(promql.Buckets, 0, len(h))
	for le, c := range h {
		bs = append(bs, promql.Bucket{UpperBound: le, Count: c})
	}
	v, _, _, _, _, _ := promql.BucketQuantile(q, bs)
	return v
}

// TestQuantileMatchesBucketQuantile: the aggregator's interpolation gives
// promql.BucketQuantile's result bit for bit, including its special cases
// (q out of range or NaN, no +Inf bucket, a single bucket, no
// observations, decreasing counts, floating-point noise between counts,
// bounds at or below zero) and on random histograms.
func TestQuantileMatchesBucketQuantile(t *testing.T) {
	inf := math.Inf(+1)
	cases := map[string]map[float64]float64{
		"empty":                        {},
		"only +Inf":                    {inf: 5},
		"no +Inf bucket":               {0.1: 1, 1: 3},
		"no observations":              {0.1: 0, 1: 0, inf: 0},
		"all in +Inf":                  {0.1: 0, 1: 0, inf: 7},
		"all in the first bucket":      {0.1: 10, 1: 10, inf: 10},
		"decreasing counts":            {0.1: 5, 0.5: 3, 1: 9, inf: 9},
		"decreasing +Inf":              {0.1: 5, 0.5: 8, 1: 9, inf: 4},
		"noise below 1e-12":            {0.1: 10, 0.5: 1e13, 1: 1e13 + 1, inf: 1e13 + 1},
		"noise either way":             {0.1: 1e13, 0.5: 1e13 + 1, 1: 1e13 - 1, inf: 2e13},
		"a difference above 1e-12":     {0.1: 10, 0.5: 1e10, 1: 1e10 + 1, inf: 1e10 + 1},
		"noise at zero":                {0.1: 0, 0.5: 1e-320, 1: 2, inf: 2},
		"negative bounds":              {-1: 1, 0: 2, 1: 4, inf: 4},
		"first bound zero":             {0: 3, 1: 4, inf: 4},
		"first bound negative, rank 0": {-2: 0, 1: 4, inf: 4},
		"one finite bound":             {0.25: 1, inf: 100},
		"rank at a bound":              {0.1: 50, 0.2: 95, 0.5: 100, inf: 100},
		"fractional counts":            {0.1: 0.3, 0.2: 1.7, 0.5: 2.25, inf: 2.5},
	}
	bounds := []float64{0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10}
	rng := rand.New(rand.NewPCG(3, 4))
	for i := range 500 {
		h := map[float64]float64{}
		c := 0.0
		for _, b := range bounds {
			if rng.IntN(4) == 0 {
				continue // a missing bucket
			}
			switch rng.IntN(10) {
			case 0:
				c -= float64(rng.IntN(5)) // a decrease
			case 1, 2:
			default:
				c += rng.Float64() * 40
			}
			h[b] = c
		}
		h[inf] = c + float64(rng.IntN(5))
		cases[fmt.Sprintf("random %d", i)] = h
	}
	qs := []float64{math.NaN(), -0.5, 0, 0.01, 0.25, 0.5, 0.9, 0.95, 0.99, 0.999, 1, 1.5}
	for name, h := range cases {
		for _, q := range qs {
			got, want := aggregator.Quantile(q, h), upstream(q, h)
			if !(got == want || math.IsNaN(got) && math.IsNaN(want)) {
				t.Errorf("%s, q=%g: Quantile %v, promql.BucketQuantile %v (buckets %v)", name, q, got, want, h)
			}
		}
	}
}
