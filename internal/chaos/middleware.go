package chaos

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"

	"github.com/cloudcart/cloudcart/internal/cloudcart"
	"github.com/cloudcart/cloudcart/internal/httpkit"
	"github.com/cloudcart/cloudcart/internal/telemetry"
)

// InjectedLatencyBuckets are the bounds of chaos_injected_latency_ms, in
// milliseconds, up to cloudcart.MaxChaosLatency.
var InjectedLatencyBuckets = []float64{1, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000}

// HeaderInjected is set on responses whose fault the middleware injected.
const HeaderInjected = "X-Chaos-Injected"

// CodeInjected is the error code of an injected error response.
const CodeInjected = "chaos_injected"

// MiddlewareOptions configure NewMiddleware.
type MiddlewareOptions struct {
	// Target is the `cloudcart serve` name of the service, e.g. "orders":
	// the key its faults are configured under.
	Target string
	Meter  metric.Meter
	Logger *slog.Logger
	// Rand returns a number in [0, 1); math/rand/v2 if nil. Tests pass a
	// deterministic one.
	Rand func() float64
	// Outage, when set, is called with true when an outage fault for
	// Target comes into force and with false when it ends (see
	// cloudcart.ChaosFaults.Outage); the caller takes its HTTP server off
	// the network and back (httpkit.Server.SetOutage).
	Outage func(down bool)
}

// Middleware injects the faults the chaos service configured for its
// service into real requests, and counts them where they happen
// (reference 002 "Verify Chaos Injection"):
//
//	chaos_injected_latency_ms      histogram, the delay added (ms)
//	chaos_injected_errors_total    requests answered with an injected 5xx
//	chaos_injected_timeouts_total  requests made to hang, then answered 504
//
// It reads the settings from an atomic pointer that Apply replaces, so the
// request path takes no lock; with chaos off a request costs one atomic
// load.
type Middleware struct {
	target   string
	log      *slog.Logger
	rnd      func() float64
	outage   func(bool)
	settings atomic.Pointer[cloudcart.ChaosSettings]
	down     atomic.Bool // the outage state last passed to outage

	latency  metric.Float64Histogram
	errors   metric.Int64Counter
	timeouts metric.Int64Counter
}

// NewMiddleware creates the middleware and its instruments. It injects
// nothing until the first Apply.
func NewMiddleware(o MiddlewareOptions) (*Middleware, error) {
	m := &Middleware{target: o.Target, log: o.Logger, rnd: o.Rand, outage: o.Outage}
	if m.log == nil {
		m.log = slog.New(slog.DiscardHandler)
	}
	m.log = m.log.With("component", "chaos middleware")
	if m.rnd == nil {
		m.rnd = rand.Float64
	}
	in := telemetry.NewInstruments(o.Meter)
	m.latency = in.Histogram("chaos.injected.latency_ms", "{ms}", "Latency the chaos middleware added to a request, in milliseconds.", InjectedLatencyBuckets)
	m.errors = in.Counter("chaos.injected.errors", "{request}", "Requests the chaos middleware answered with an injected 5xx error.")
	m.timeouts = in.Counter("chaos.injected.timeouts", "{request}", "Requests the chaos middleware made hang until the client gave up or the bound passed, then answered 504.")
	return m, in.Err()
}

// Apply makes s the settings in force. The bus watcher calls it on every
// change the chaos service publishes.
func (m *Middleware) Apply(s cloudcart.ChaosSettings) {
	old := m.settings.Swap(&s)
	if old == nil || old.Version != s.Version {
		f, on := s.FaultsFor(m.target, "")
		m.log.Info("chaos settings applied", "version", s.Version, "enabled", s.Enabled,
			"faults", fmt.Sprint(f.FaultTypes()), "applies", on)
	}
	if down := s.OutageFor(m.target); m.outage != nil && m.down.Swap(down) != down {
		if down {
			m.log.Warn("chaos outage: the HTTP server stops listening", "version", s.Version)
		} else {
			m.log.Info("chaos outage over: the HTTP server listens again", "version", s.Version)
		}
		m.outage(down)
	}
}

// ConsumeDelay draws the delay to add to the handling of one event this
// service consumes from the bus (cloudcart.ChaosFaults.ConsumeLatency): 0
// unless chaos is on and such a fault applies. The consumer's own
// processing-duration histogram measures it.
func (m *Middleware) ConsumeDelay() time.Duration {
	s := m.settings.Load()
	if s == nil || !s.Enabled {
		return 0
	}
	f, ok := s.FaultsFor(m.target, "")
	if !ok || f.ConsumeLatency == nil || f.ConsumeLatency.Probability <= 0 || m.rnd() >= f.ConsumeLatency.Probability {
		return 0
	}
	return m.delay(f.ConsumeLatency)
}

// Settings returns the settings in force, e.g. for the payment failure
// rate (PaymentFailureRate; 0 while chaos is disabled).
func (m *Middleware) Settings() cloudcart.ChaosSettings {
	if s := m.settings.Load(); s != nil {
		return *s
	}
	return cloudcart.ChaosSettings{}
}

// PaymentFailureRate is the configured probability that the payment
// provider declines a payment: 0 while chaos is disabled.
func (m *Middleware) PaymentFailureRate() float64 {
	if s := m.settings.Load(); s != nil && s.Enabled {
		return s.PaymentFailureRate
	}
	return 0
}

// fault is what one request gets.
type fault struct {
	delay   time.Duration
	fail    int           // an error status to answer with, 0 for none
	hangFor time.Duration // > 0: hang, then 504
}

// decide draws the request's fault: random mode first (one of latency,
// error, timeout at random), otherwise latency and, independently, an
// error or a timeout.
func (m *Middleware) decide(f cloudcart.ChaosFaults) (out fault) {
	if f.Random != nil && f.Random.Rate > 0 && m.rnd() < f.Random.Rate {
		switch min(int(m.rnd()*3), 2) {
		case 0:
			out.delay = cloudcart.DefaultChaosLatency
			if f.Latency != nil {
				out.delay = m.delay(f.Latency)
			}
		case 1:
			out.fail = cloudcart.DefaultChaosErrorStatus
			if f.Error != nil && f.Error.Status != 0 {
				out.fail = f.Error.Status
			}
		default:
			out.hangFor = cloudcart.DefaultChaosTimeout
			if f.Timeout != nil && f.Timeout.AfterMS > 0 {
				out.hangFor = time.Duration(f.Timeout.AfterMS) * time.Millisecond
			}
		}
		return out
	}
	if l := f.Latency; l != nil && l.Probability > 0 && m.rnd() < l.Probability {
		out.delay = m.delay(l)
	}
	u := m.rnd()
	errRate := 0.0
	if e := f.Error; e != nil {
		errRate = e.Rate
		if u < e.Rate {
			out.fail = e.Status
			if out.fail == 0 {
				out.fail = cloudcart.DefaultChaosErrorStatus
			}
			return out
		}
	}
	if t := f.Timeout; t != nil && u < errRate+t.Rate {
		out.hangFor = cloudcart.DefaultChaosTimeout
		if t.AfterMS > 0 {
			out.hangFor = time.Duration(t.AfterMS) * time.Millisecond
		}
	}
	return out
}

func (m *Middleware) delay(l *cloudcart.LatencyFault) time.Duration {
	d := time.Duration(l.FixedMS) * time.Millisecond
	if l.JitterMS > 0 {
		d += time.Duration(m.rnd() * float64(time.Duration(l.JitterMS)*time.Millisecond))
	}
	return d
}

// RouteFinder finds the route pattern a request will be served by;
// *http.ServeMux is one.
type RouteFinder = httpkit.RouteFinder

// Wrap injects faults into next's requests. Put it inside the HTTP metrics
// middleware, so injected errors and delays are measured like real ones.
// next should be a RouteFinder (an *http.ServeMux is; httpkit.WithRoutes
// makes one): per-route rules need the route template before the request
// is served, and an injected answer carries the route the mux would have
// matched in r.Pattern, so the metrics middleware labels it by its
// template as the mux would have (an unmatched path stays unmatched). For
// any other handler only the target's rules apply, and injected answers
// are labelled unmatched.
func (m *Middleware) Wrap(next http.Handler) http.Handler {
	ctx := context.Background()
	m.errors.Add(ctx, 0)
	m.timeouts.Add(ctx, 0)
	mux, _ := next.(RouteFinder)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s := m.settings.Load()
		if s == nil || !s.Enabled {
			next.ServeHTTP(w, r)
			return
		}
		pattern, found := "", false
		route := ""
		if mux != nil && s.HasRoutes(m.target) {
			_, pattern = mux.Handler(r)
			route, found = httpkit.RouteLabel(pattern), true
		}
		f, ok := s.FaultsFor(m.target, route)
		if !ok {
			next.ServeHTTP(w, r)
			return
		}
		ft := m.decide(f)
		if ft.fail != 0 || ft.hangFor > 0 {
			// The answer is ours: label it as the mux would have.
			if !found && mux != nil {
				_, pattern = mux.Handler(r)
			}
			r.Pattern = pattern
		}
		ctx := r.Context()
		span := trace.SpanFromContext(ctx)
		if ft.delay > 0 {
			start := time.Now()
			sleep(ctx, ft.delay)
			slept := time.Since(start)
			m.latency.Record(ctx, float64(slept)/float64(time.Millisecond))
			span.AddEvent("chaos.latency", trace.WithAttributes(attribute.Int64("chaos.delay_ms", slept.Milliseconds())))
		}
		switch {
		case ft.fail != 0:
			m.errors.Add(ctx, 1)
			span.AddEvent("chaos.error", trace.WithAttributes(attribute.Int("chaos.status", ft.fail)))
			w.Header().Set(HeaderInjected, "error")
			httpkit.WriteJSON(w, ft.fail, httpkit.ErrorResponse{Error: httpkit.ErrorBody{
				Code: CodeInjected, Message: fmt.Sprintf("fault injected by chaos-service (settings version %d)", s.Version)}})
		case ft.hangFor > 0:
			m.timeouts.Add(ctx, 1)
			span.AddEvent("chaos.timeout", trace.WithAttributes(attribute.Int64("chaos.hang_ms", ft.hangFor.Milliseconds())))
			sleep(ctx, ft.hangFor)
			w.Header().Set(HeaderInjected, "timeout")
			httpkit.WriteJSON(w, http.StatusGatewayTimeout, httpkit.ErrorResponse{Error: httpkit.ErrorBody{
				Code: CodeInjected, Message: "timeout injected by chaos-service"}})
		default:
			next.ServeHTTP(w, r)
		}
	})
}

// sleep waits d or until the client goes away.
func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}
