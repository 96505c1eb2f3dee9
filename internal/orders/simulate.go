package orders

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"time"

	"github.com/cloudcart/cloudcart/internal/cloudcart"
)

// MaxSimulate bounds one /simulate call.
const MaxSimulate = 10_000

// SimulateResult is the outcome of a Simulate call. Succeeded and Failed
// are stored orders (confirmed, failed with their reason) and move
// orders_processed_total{status="success"|"failure"} by as much; Rejected
// orders were refused before they were recorded (a product out of stock by
// the time its order reached a worker, the product service unreachable)
// and are counted only in order_errors_total.
type SimulateResult struct {
	Requested int     `json:"requested"`
	Succeeded int     `json:"succeeded"`
	Failed    int     `json:"failed"`
	Rejected  int     `json:"rejected"`
	Seconds   float64 `json:"duration_seconds"`
}

// catalog is the synthetic shop /simulate orders from when the order
// service runs without a product service.
var catalog = func() []cloudcart.Item {
	items := make([]cloudcart.Item, 20)
	for i := range items {
		items[i] = cloudcart.Item{SKU: fmt.Sprintf("SIM-%03d", i+1), Price: cloudcart.Money(499 + 250*i)}
	}
	return items
}()

// Simulate places count synthetic orders through the same queue and
// workers as real ones; each fails with probability errorRate. It waits for
// queue room rather than refusing, and returns when all have finished.
func (s *Service) Simulate(ctx context.Context, count int, errorRate float64, rng *rand.Rand) (SimulateResult, error) {
	if count < 1 || count > MaxSimulate {
		return SimulateResult{}, cloudcart.Errorf(cloudcart.EINVALID, "count must be between 1 and %d, got %d", MaxSimulate, count)
	}
	if !(errorRate >= 0 && errorRate <= 1) {
		return SimulateResult{}, cloudcart.Errorf(cloudcart.EINVALID, "error_rate must be between 0 and 1, got %v", errorRate)
	}
	start := s.now()
	items, err := s.inv.Sample(ctx, 50, rng)
	if err != nil {
		return SimulateResult{}, err
	}
	jobs := make([]*job, 0, count)
	var enqueueErr error
	for i := 0; i < count; i++ {
		o := syntheticOrder(rng, items)
		if err := o.ValidateRequest(); err != nil {
			return SimulateResult{}, err
		}
		j := s.newJob(ctx, o, rng.Float64() < errorRate, "/simulate")
		if enqueueErr = s.enqueue(ctx, j, true); enqueueErr != nil {
			break
		}
		jobs = append(jobs, j)
	}
	res := SimulateResult{Requested: count}
	for _, j := range jobs {
		switch err := <-j.done; {
		case err == nil:
			res.Succeeded++
		case j.recorded:
			res.Failed++
		default:
			res.Rejected++
		}
	}
	res.Seconds = math.Round(time.Since(start).Seconds()*1000) / 1000
	if enqueueErr != nil && len(jobs) == 0 {
		return res, enqueueErr
	}
	return res, nil
}

func syntheticOrder(rng *rand.Rand, from []cloudcart.Item) *cloudcart.Order {
	n := 1 + rng.IntN(3)
	o := &cloudcart.Order{Customer: fmt.Sprintf("sim-customer-%02d", rng.IntN(50))}
	seen := map[string]bool{}
	for range n {
		it := from[rng.IntN(len(from))]
		if seen[it.SKU] {
			continue
		}
		seen[it.SKU] = true
		it.Qty = 1 + rng.IntN(2)
		o.Items = append(o.Items, it)
	}
	return o
}
