package cloudcart

import (
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Bounds of chaos faults. An injected delay or hang must end well before
// the servers' 30 s write timeout, or the fault would be the server's
// timeout rather than the one configured.
const (
	MaxChaosLatency = 10 * time.Second // fixed + jitter
	MaxChaosTimeout = 25 * time.Second // how long a "timeout" hangs at most
	maxRouteLen     = 128
)

// Defaults used when a field is left zero, and by random mode for fault
// types that are not configured.
const (
	DefaultChaosErrorStatus = 500
	DefaultChaosLatency     = 500 * time.Millisecond
	DefaultChaosTimeout     = 5 * time.Second
)

// ChaosTargetAll is the target that applies to every service without a
// rule of its own. ChaosServiceTarget is the chaos service itself, which
// never injects faults into its own API: an error rate of 1 there would
// lock out the switch that turns chaos off.
const (
	ChaosTargetAll     = "*"
	ChaosServiceTarget = "chaos"
)

// ChaosNotifierTarget is the notification worker. An outage fault cannot
// take it down: the alerts about an outage reach people through it.
const ChaosNotifierTarget = "notifier"

// ChaosSettings is what the chaos service holds and every service's chaos
// middleware applies. Targets are keyed by the `cloudcart serve` name of a
// service (e.g. "orders") or ChaosTargetAll.
type ChaosSettings struct {
	Enabled bool                   `json:"enabled"`
	Targets map[string]ChaosFaults `json:"targets,omitempty"`
	// PaymentFailureRate is the probability that the payment provider
	// declines a payment; the order service reads it.
	PaymentFailureRate float64 `json:"payment_failure_rate"`

	// Set by the chaos service on every change.
	Version   int64     `json:"version"`
	UpdatedAt time.Time `json:"updated_at"`
}

// ChaosFaults are the faults injected into one target's requests. Routes
// overrides them for single route templates of the target (the `endpoint`
// label, e.g. "/orders/{id}"); a route's faults replace the target's
// faults entirely.
type ChaosFaults struct {
	Latency *LatencyFault `json:"latency,omitempty"`
	Error   *ErrorFault   `json:"error,omitempty"`
	Timeout *TimeoutFault `json:"timeout,omitempty"`
	Random  *RandomFault  `json:"random,omitempty"`
	// Outage takes the target's HTTP server off the network: it stops
	// listening (connections refused, scrapes fail, up == 0) until the
	// fault is removed or chaos is disabled, while the process and its
	// background work carry on. Only for one named service (not "*", not
	// on a route), and never the notification worker.
	Outage bool `json:"outage,omitempty"`
	// ConsumeLatency delays the handling of each event the target consumes
	// from the bus (the notification worker does), so a backlog builds up
	// when events arrive faster than the delay lets them through.
	ConsumeLatency *LatencyFault          `json:"consume_latency,omitempty"`
	Routes         map[string]ChaosFaults `json:"routes,omitempty"`
}

// LatencyFault delays a request by FixedMS plus a uniform jitter in
// [0, JitterMS) milliseconds, with the given probability.
type LatencyFault struct {
	Probability float64 `json:"probability"`
	FixedMS     int     `json:"fixed_ms"`
	JitterMS    int     `json:"jitter_ms"`
}

// Max is the longest delay the fault can add.
func (f *LatencyFault) Max() time.Duration {
	return time.Duration(f.FixedMS+max(f.JitterMS, 0)) * time.Millisecond
}

// ErrorFault answers a request with Status instead of serving it, with the
// given rate.
type ErrorFault struct {
	Rate   float64 `json:"rate"`
	Status int     `json:"status"` // 500-599; DefaultChaosErrorStatus if 0
}

// TimeoutFault makes a request hang until the client gives up or AfterMS
// passes, then answers 504, with the given rate.
type TimeoutFault struct {
	Rate    float64 `json:"rate"`
	AfterMS int     `json:"after_ms"` // DefaultChaosTimeout if 0
}

// RandomFault picks, with the given rate, one of latency, error and timeout
// at random for a request, using the target's configured parameters or the
// defaults.
type RandomFault struct {
	Rate float64 `json:"rate"`
}

// FaultTypes lists the fault types configured, in a fixed order.
func (f ChaosFaults) FaultTypes() []string {
	var out []string
	if f.Latency != nil && f.Latency.Probability > 0 {
		out = append(out, "latency")
	}
	if f.Error != nil && f.Error.Rate > 0 {
		out = append(out, "error")
	}
	if f.Timeout != nil && f.Timeout.Rate > 0 {
		out = append(out, "timeout")
	}
	if f.Random != nil && f.Random.Rate > 0 {
		out = append(out, "random")
	}
	if f.Outage {
		out = append(out, "outage")
	}
	if f.ConsumeLatency != nil && f.ConsumeLatency.Probability > 0 {
		out = append(out, "consume_latency")
	}
	return out
}

// Configured lists every fault the settings hold, one line per target
// (and per route override), sorted, e.g. "orders: error, latency", plus
// the payment failure rate when set. Faults stay configured while chaos is
// switched off, and apply again when it is switched on, so Configured
// ignores Enabled.
func (s ChaosSettings) Configured() []string {
	var out []string
	for _, target := range slices.Sorted(maps.Keys(s.Targets)) {
		f := s.Targets[target]
		if types := f.FaultTypes(); len(types) > 0 {
			out = append(out, target+": "+strings.Join(types, ", "))
		}
		for _, route := range slices.Sorted(maps.Keys(f.Routes)) {
			if types := f.Routes[route].FaultTypes(); len(types) > 0 {
				out = append(out, target+" "+route+": "+strings.Join(types, ", "))
			}
		}
	}
	if s.PaymentFailureRate > 0 {
		out = append(out, "payments: payment_failure_rate "+strconv.FormatFloat(s.PaymentFailureRate, 'g', -1, 64))
	}
	return out
}

var (
	targetPattern = regexp.MustCompile(`^[a-z][a-z0-9-]{0,31}$`)
	routePattern  = regexp.MustCompile(`^/[A-Za-z0-9_./{}-]*$`)
)

// Validate checks the settings. knownTargets, when not empty, is the set of
// services a target may name besides ChaosTargetAll. It returns an EINVALID
// error naming the first problem.
func (s *ChaosSettings) Validate(knownTargets []string) error {
	if err := rate("payment_failure_rate", s.PaymentFailureRate); err != nil {
		return err
	}
	for target, f := range s.Targets {
		switch {
		case target == ChaosTargetAll:
		case target == ChaosServiceTarget:
			return Errorf(EINVALID, "targets: the chaos service does not inject faults into itself")
		case !targetPattern.MatchString(target):
			return Errorf(EINVALID, "targets: %q is not a service name", truncate(target, 40))
		case len(knownTargets) > 0 && !slices.Contains(knownTargets, target):
			return Errorf(EINVALID, "targets: unknown service %q, want one of %s or %q", target, strings.Join(knownTargets, ", "), ChaosTargetAll)
		}
		if err := f.validate("targets." + target); err != nil {
			return err
		}
		if f.Outage && (target == ChaosTargetAll || target == ChaosNotifierTarget) {
			return Errorf(EINVALID, "targets.%s.outage: an outage takes down one named service, never %q (every service) nor %q (alerts about the outage travel through it)", target, ChaosTargetAll, ChaosNotifierTarget)
		}
		for route, rf := range f.Routes {
			if len(route) > maxRouteLen || !routePattern.MatchString(route) {
				return Errorf(EINVALID, "targets.%s.routes: %q is not a route template such as /orders/{id}", target, truncate(route, 40))
			}
			if len(rf.Routes) > 0 {
				return Errorf(EINVALID, "targets.%s.routes.%s: routes do not nest", target, route)
			}
			if err := rf.validate(fmt.Sprintf("targets.%s.routes.%s", target, route)); err != nil {
				return err
			}
			if rf.Outage || rf.ConsumeLatency != nil {
				return Errorf(EINVALID, "targets.%s.routes.%s: outage and consume_latency apply to a whole service, not a route", target, route)
			}
		}
	}
	return nil
}

func (f ChaosFaults) validate(at string) error {
	if err := f.Latency.validate(at + ".latency"); err != nil {
		return err
	}
	if err := f.ConsumeLatency.validate(at + ".consume_latency"); err != nil {
		return err
	}
	if e := f.Error; e != nil {
		if e.Status != 0 && (e.Status < 500 || e.Status > 599) {
			return Errorf(EINVALID, "%s.error.status must be a 5xx status code, got %d", at, e.Status)
		}
		if err := rate(at+".error.rate", e.Rate); err != nil {
			return err
		}
	}
	if t := f.Timeout; t != nil {
		if t.AfterMS < 0 || time.Duration(t.AfterMS)*time.Millisecond > MaxChaosTimeout {
			return Errorf(EINVALID, "%s.timeout.after_ms must be between 0 and %d, got %d", at, MaxChaosTimeout.Milliseconds(), t.AfterMS)
		}
		if err := rate(at+".timeout.rate", t.Rate); err != nil {
			return err
		}
	}
	if r := f.Random; r != nil {
		if err := rate(at+".random.rate", r.Rate); err != nil {
			return err
		}
	}
	if f.Error != nil && f.Timeout != nil && f.Error.Rate+f.Timeout.Rate > 1 {
		return Errorf(EINVALID, "%s: error.rate + timeout.rate must be at most 1 (a request fails at most one way)", at)
	}
	return nil
}

func (l *LatencyFault) validate(at string) error {
	if l == nil {
		return nil
	}
	switch {
	case l.FixedMS < 0 || l.JitterMS < 0:
		return Errorf(EINVALID, "%s: fixed_ms and jitter_ms must not be negative", at)
	case l.Max() > MaxChaosLatency:
		return Errorf(EINVALID, "%s: fixed_ms + jitter_ms must be at most %d, got %d", at, MaxChaosLatency.Milliseconds(), l.FixedMS+l.JitterMS)
	}
	return rate(at+".probability", l.Probability)
}

func rate(name string, v float64) error {
	if !(v >= 0 && v <= 1) { // also rejects NaN
		return Errorf(EINVALID, "%s must be between 0 and 1, got %v", name, v)
	}
	return nil
}

// FaultsFor returns the faults to inject into a request of target on route
// (a route template, or "" when unknown): the route's faults, else the
// target's, else those of ChaosTargetAll. ok is false when chaos is off or
// nothing applies.
func (s *ChaosSettings) FaultsFor(target, route string) (f ChaosFaults, ok bool) {
	if s == nil || !s.Enabled || target == ChaosServiceTarget {
		return ChaosFaults{}, false
	}
	for _, t := range []string{target, ChaosTargetAll} {
		tf, found := s.Targets[t]
		if !found {
			continue
		}
		if rf, found := tf.Routes[route]; found && route != "" {
			return rf, true
		}
		return tf, true
	}
	return ChaosFaults{}, false
}

// OutageFor reports whether target's HTTP server is to be down: chaos is
// on and an outage is configured for target itself (never through "*",
// never for the chaos service or the notification worker).
func (s *ChaosSettings) OutageFor(target string) bool {
	if s == nil || !s.Enabled || target == ChaosServiceTarget || target == ChaosNotifierTarget {
		return false
	}
	return s.Targets[target].Outage
}

// HasRoutes reports whether any rule for target is per route, i.e. whether
// the middleware needs a request's route to choose its faults.
func (s *ChaosSettings) HasRoutes(target string) bool {
	if s == nil {
		return false
	}
	return len(s.Targets[target].Routes) > 0 || len(s.Targets[ChaosTargetAll].Routes) > 0
}

// LatencyProbability is the probability that chaos latency is injected
// into a request, as configured: the highest over every target and route,
// and 0 while chaos is disabled. The ChaosLatencyNotInjected alert reads it.
func (s *ChaosSettings) LatencyProbability() float64 {
	if s == nil || !s.Enabled {
		return 0
	}
	p := 0.0
	var walk func(ChaosFaults)
	walk = func(f ChaosFaults) {
		p = max(p, f.latencyProbability())
		for _, rf := range f.Routes {
			walk(rf)
		}
	}
	for _, f := range s.Targets {
		walk(f)
	}
	return p
}

// latencyProbability follows the middleware's draw: random mode first (a
// third of its picks are latency), then the latency fault on the rest.
func (f ChaosFaults) latencyProbability() float64 {
	hasDelay := f.Latency == nil || f.Latency.Max() > 0 // random mode uses the default delay
	r := 0.0
	if f.Random != nil && hasDelay {
		r = f.Random.Rate
	}
	p := 0.0
	if f.Latency != nil && f.Latency.Max() > 0 {
		p = f.Latency.Probability
	}
	rest := 1.0
	if f.Random != nil {
		rest = 1 - f.Random.Rate
	}
	return r/3 + rest*p
}
