package orders

import (
	"context"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/cloudcart/cloudcart/internal/cloudcart"
)

// Payments charges an order.
type Payments interface {
	Charge(ctx context.Context, orderID string, amount cloudcart.Money) error
}

// SimulatedPayments is the in-process payment provider: it takes Latency
// (plus up to Jitter) per charge and declines a FailureRate share of them.
// The chaos service drives these settings once it exists.
type SimulatedPayments struct {
	mu          sync.Mutex
	latency     time.Duration
	jitter      time.Duration
	failureRate float64
	rng         *rand.Rand
	chaos       func() float64
}

// WithChaos adds a failure rate read at every charge, e.g. the chaos
// service's payment-failure rate; the higher of the two applies.
func (p *SimulatedPayments) WithChaos(rate func() float64) *SimulatedPayments {
	p.chaos = rate
	return p
}

// NewSimulatedPayments returns a provider with the given behaviour.
func NewSimulatedPayments(latency, jitter time.Duration, failureRate float64, seed uint64) *SimulatedPayments {
	return &SimulatedPayments{latency: latency, jitter: jitter, failureRate: failureRate, rng: rand.New(rand.NewPCG(seed, seed+1))}
}

// Set changes the behaviour at run time.
func (p *SimulatedPayments) Set(latency, jitter time.Duration, failureRate float64) {
	p.mu.Lock()
	p.latency, p.jitter, p.failureRate = latency, jitter, failureRate
	p.mu.Unlock()
}

// Charge waits the provider's latency and approves or declines.
func (p *SimulatedPayments) Charge(ctx context.Context, orderID string, amount cloudcart.Money) error {
	p.mu.Lock()
	d := p.latency
	if p.jitter > 0 {
		d += time.Duration(p.rng.Int64N(int64(p.jitter)))
	}
	rate := p.failureRate
	if p.chaos != nil {
		rate = max(rate, p.chaos())
	}
	decline := p.rng.Float64() < rate
	p.mu.Unlock()
	if d > 0 {
		t := time.NewTimer(d)
		defer t.Stop()
		select {
		case <-t.C:
		case <-ctx.Done():
			return &cloudcart.Error{Code: cloudcart.EUNAVAILABLE, Message: "payment provider timed out", Err: ctx.Err()}
		}
	}
	if decline {
		return cloudcart.Errorf(cloudcart.EPAYMENT, "payment declined for order %s", orderID)
	}
	return nil
}
