// Package load is CloudCart's load generator: simulated shoppers drive the
// fleet through the API gateway the way people do (register and log in
// once, browse, search, view products, order, sometimes cancel, look at
// their account), with think time between steps.
//
// Journeys arrive on an open-model schedule: the clock decides when the
// next journey starts, not the completion of the last one, so a slow fleet
// meets the same arrival rate a real one would, and the latency of a
// request is measured from when it was meant to start (no coordinated
// omission). A cap on journeys in flight protects the generator; an arrival
// beyond it is dropped and counted, never delayed.
//
// Everything the generator chooses (journeys, users, categories, products,
// quantities, think times) comes from Config.Seed, one random stream per
// journey, so two runs with the same seed against the same catalog make the
// same requests.
package load

import (
	"context"
	crand "crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Journey names: the values of Config.Journeys' keys.
const (
	// Browse: categories, a category page, one to three product pages.
	Browse = "browse"
	// Search: a catalog search, then a look at a result.
	Search = "search"
	// Order: a category page (one of the category's pages at random, so
	// orders spread over the whole catalog), a product with stock to
	// spare, the order (with an Idempotency-Key), then its status.
	Order = "order"
	// OrderCancel: an order as above, cancelled straight after.
	OrderCancel = "order-cancel"
	// Account: the user's profile and their recent orders.
	Account = "account"
)

// JourneyNames lists every journey, in the order summaries show them.
func JourneyNames() []string { return []string{Browse, Search, Order, OrderCancel, Account} }

// DefaultMix is the journey mix when Config.Journeys is nil: mostly
// looking, one journey in four buying.
func DefaultMix() map[string]float64 {
	return map[string]float64{Browse: 40, Search: 20, Order: 20, OrderCancel: 5, Account: 15}
}

// Defaults for Config's zero values.
const (
	DefaultTarget  = "http://localhost:8080"
	DefaultUsers   = 10
	DefaultTimeout = 15 * time.Second // per request, of the default client
	DefaultGrace   = 10 * time.Second
	// MinConcurrency is the least default cap on journeys in flight; the
	// default is enough for journeys that last 30 s on average at Rate.
	MinConcurrency = 64
)

// Config configures a Generator. Zero values mean the defaults.
type Config struct {
	Target      string        // the API gateway's base URL; DefaultTarget if ""
	Rate        float64       // journeys started per second (after RampUp); required
	Duration    time.Duration // how long journeys arrive; 0 = until Run's ctx is done
	Concurrency int           // most journeys in flight; an arrival beyond it is dropped. 0 = max(MinConcurrency, Rate × 30 s)
	RampUp      time.Duration // the arrival rate climbs linearly from 0 to Rate over this long
	Seed        int64         // every choice the generator makes derives from it
	Users       int           // simulated users, each with its own account and token; DefaultUsers if 0
	ThinkTime   time.Duration // mean pause between a journey's steps (exponential, at most 5× the mean); 0 = none
	// Journeys weighs the journeys by name (Browse, ...); nil = DefaultMix.
	Journeys map[string]float64
	// Client sends the requests; nil = one with DefaultTimeout and a
	// connection pool sized for Concurrency.
	Client *http.Client
	Logger *slog.Logger
	// Grace is how long journeys in flight may go on once arrivals stop
	// (Duration over or ctx done); then their requests are cancelled and
	// they count as interrupted. 0 = DefaultGrace; negative = none.
	Grace time.Duration
}

// Generator runs simulated shoppers against a CloudCart gateway. Build it
// with New; Run it once.
type Generator struct {
	cfg    Config
	base   string // Target without a trailing slash
	client *http.Client
	log    *slog.Logger
	mix    mix
	users  []*user
	stats  *recorder
	nonce  string // makes this run's idempotency keys unique across runs
	now    func() time.Time

	ran       atomic.Bool
	abort     chan struct{} // closed by Abort
	abortOnce sync.Once
	mu        sync.Mutex // guards started, stopped
	started   time.Time
	stopped   time.Time
	inFlight  atomic.Int64
}

// New validates cfg and builds a Generator.
func New(cfg Config) (*Generator, error) {
	if cfg.Target == "" {
		cfg.Target = DefaultTarget
	}
	u, err := url.Parse(cfg.Target)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" {
		return nil, fmt.Errorf("load: target %q must be http(s)://host[:port][/path]", cfg.Target)
	}
	switch {
	case !(cfg.Rate > 0) || math.IsInf(cfg.Rate, 0):
		return nil, fmt.Errorf("load: rate must be a positive number of journeys per second, got %v", cfg.Rate)
	case cfg.Duration < 0:
		return nil, fmt.Errorf("load: duration must not be negative, got %s", cfg.Duration)
	case cfg.Concurrency < 0:
		return nil, fmt.Errorf("load: concurrency must not be negative, got %d", cfg.Concurrency)
	case cfg.RampUp < 0:
		return nil, fmt.Errorf("load: ramp-up must not be negative, got %s", cfg.RampUp)
	case cfg.Users < 0:
		return nil, fmt.Errorf("load: users must not be negative, got %d", cfg.Users)
	case cfg.ThinkTime < 0:
		return nil, fmt.Errorf("load: think time must not be negative, got %s", cfg.ThinkTime)
	}
	m, err := newMix(cfg.Journeys)
	if err != nil {
		return nil, err
	}
	if cfg.Users == 0 {
		cfg.Users = DefaultUsers
	}
	if cfg.Concurrency == 0 {
		cfg.Concurrency = DefaultConcurrency(cfg.Rate)
	}
	if cfg.Grace == 0 {
		cfg.Grace = DefaultGrace
	}
	g := &Generator{
		cfg: cfg, base: strings.TrimSuffix(cfg.Target, "/"), client: cfg.Client, log: cfg.Logger,
		mix: m, stats: newRecorder(), nonce: randomNonce(), now: time.Now, abort: make(chan struct{}),
	}
	if g.log == nil {
		g.log = slog.New(slog.DiscardHandler)
	}
	if g.client == nil {
		g.client = newClient(cfg.Concurrency)
	}
	for i := range cfg.Users {
		g.users = append(g.users, newUser(i))
	}
	return g, nil
}

// DefaultConcurrency is the cap on journeys in flight when
// Config.Concurrency is 0: enough for journeys lasting 30 s on average.
func DefaultConcurrency(rate float64) int {
	return max(MinConcurrency, int(math.Ceil(math.Min(rate*30, 1e6))))
}

// newClient is the default client: a pool with a connection per journey in
// flight (up to a point), no proxy, DefaultTimeout per request.
func newClient(concurrency int) *http.Client {
	conns := min(concurrency, 1024)
	return &http.Client{
		Timeout: DefaultTimeout,
		Transport: &http.Transport{
			DialContext:           (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
			MaxIdleConns:          conns,
			MaxIdleConnsPerHost:   conns,
			IdleConnTimeout:       90 * time.Second,
			ResponseHeaderTimeout: DefaultTimeout,
		},
	}
}

func randomNonce() string {
	b := make([]byte, 6)
	_, _ = crand.Read(b)
	return hex.EncodeToString(b)
}

// Config returns the configuration the generator runs with, defaults
// filled in.
func (g *Generator) Config() Config { return g.cfg }

// Arrival is one planned journey start.
type Arrival struct {
	Index   int           // 0, 1, ...
	At      time.Duration // intended start, from the start of Run
	Journey string
}

// Plan returns the first n arrivals the generator schedules (fewer when
// Duration ends earlier): the same for the same Rate, RampUp, Journeys and
// Seed.
func (g *Generator) Plan(n int) []Arrival {
	var out []Arrival
	for i := range n {
		at := arrivalAt(i, g.cfg.Rate, g.cfg.RampUp)
		if g.cfg.Duration > 0 && at >= g.cfg.Duration {
			break
		}
		out = append(out, Arrival{Index: i, At: at, Journey: g.mix.pick(journeyRand(g.cfg.Seed, i))})
	}
	return out
}

// arrivalAt is when the i-th journey (from 0) is meant to start: evenly
// spaced at rate per second, after a linear ramp from 0 to rate over rampUp
// (the count of arrivals by time t is the integral of the rate).
func arrivalAt(i int, rate float64, rampUp time.Duration) time.Duration {
	r := rampUp.Seconds()
	inRamp := rate * r / 2 // arrivals during the ramp
	var s float64
	if float64(i) < inRamp {
		s = math.Sqrt(2 * r * float64(i) / rate)
	} else {
		s = r + (float64(i)-inRamp)/rate
	}
	return time.Duration(s * float64(time.Second))
}

// errRunTwice: a Generator's counters belong to one run.
var errRunTwice = errors.New("load: a Generator runs once; build another with New")

// Run starts journeys on schedule until Duration has passed or ctx is done,
// lets journeys in flight finish within Grace, and returns the summary of
// what ran. Its error is only for misuse; failed requests are in the
// summary.
func (g *Generator) Run(ctx context.Context) (Summary, error) {
	return g.run(ctx, g.journey, -1)
}

// run is Run with the journey to start and, for benchmarks, a number of
// arrivals to stop after (-1: no limit).
func (g *Generator) run(ctx context.Context, journey func(context.Context, int, time.Time), limit int) (Summary, error) {
	if !g.ran.CompareAndSwap(false, true) {
		return Summary{}, errRunTwice
	}
	start := g.now()
	g.mu.Lock()
	g.started = start
	g.mu.Unlock()
	g.stats.begin(start)
	g.log.DebugContext(ctx, "load started", "target", g.base, "rate", g.cfg.Rate, "duration", g.cfg.Duration,
		"users", g.cfg.Users, "concurrency", g.cfg.Concurrency, "seed", g.cfg.Seed)

	// Journeys outlive ctx by the grace period: they get their own context.
	work, cancelWork := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelWork()
	var (
		wg    sync.WaitGroup
		slots = make(chan struct{}, g.cfg.Concurrency)
		timer = time.NewTimer(time.Hour)
		end   time.Time
	)
	timer.Stop()
	if g.cfg.Duration > 0 {
		end = start.Add(g.cfg.Duration)
	}
	wait := func(until time.Time) bool { // false when ctx ended first
		d := until.Sub(g.now())
		if d <= 0 {
			return ctx.Err() == nil && !g.aborted()
		}
		timer.Reset(d)
		select {
		case <-ctx.Done():
		case <-g.abort:
		case <-timer.C:
			return true
		}
		timer.Stop()
		return false
	}
	for i := 0; limit < 0 || i < limit; i++ {
		due := start.Add(arrivalAt(i, g.cfg.Rate, g.cfg.RampUp))
		if !end.IsZero() && !due.Before(end) {
			wait(end)
			break
		}
		if !wait(due) {
			break
		}
		g.stats.arrivals.Add(1)
		select {
		case slots <- struct{}{}:
			g.inFlight.Add(1)
			wg.Go(func() {
				defer func() { <-slots; g.inFlight.Add(-1) }()
				g.stats.launched(g.now().Sub(due))
				journey(work, i, due)
			})
		default:
			g.stats.dropped.Add(1)
		}
	}
	stopped := g.now()
	g.mu.Lock()
	g.stopped = stopped
	g.mu.Unlock()

	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	if g.cfg.Grace > 0 {
		t := time.NewTimer(g.cfg.Grace)
		select {
		case <-done:
		case <-t.C:
		case <-g.abort:
		}
		t.Stop()
	}
	cancelWork()
	<-done
	s := g.stats.summary(stopped.Sub(start))
	s.Target, s.Seed, s.TargetRate, s.Started = g.base, g.cfg.Seed, g.cfg.Rate, start
	g.log.DebugContext(ctx, "load finished", "duration", s.Duration.Round(time.Millisecond), "journeys", s.JourneysStarted,
		"requests", s.Requests, "errors", s.Errors, "dropped", s.Dropped, "p99", s.Latency.P99)
	return s, nil
}

// Abort ends a run at once: no more journeys start, and those in flight
// are cancelled without waiting for Grace (a second Ctrl-C). Run still
// returns the summary of what ran.
func (g *Generator) Abort() { g.abortOnce.Do(func() { close(g.abort) }) }

func (g *Generator) aborted() bool {
	select {
	case <-g.abort:
		return true
	default:
		return false
	}
}

// Snapshot is the state of a run so far. It is safe to call at any time,
// from any goroutine, also before Run starts and after it returns.
func (g *Generator) Snapshot() Snapshot {
	g.mu.Lock()
	started, stopped := g.started, g.stopped
	g.mu.Unlock()
	var elapsed time.Duration
	switch {
	case started.IsZero():
	case !stopped.IsZero():
		elapsed = stopped.Sub(started)
	default:
		elapsed = g.now().Sub(started)
	}
	s := g.stats.snapshot(elapsed)
	s.Running = !started.IsZero() && stopped.IsZero()
	s.InFlight = g.inFlight.Load()
	if g.cfg.Duration > 0 {
		s.Remaining = max(g.cfg.Duration-elapsed, 0)
	}
	return s
}

// mix picks journeys by weight.
type mix struct {
	names []string
	cum   []float64 // cumulative weights, in JourneyNames order
}

func newMix(weights map[string]float64) (mix, error) {
	if weights == nil {
		weights = DefaultMix()
	}
	var m mix
	var total float64
	for name, w := range weights {
		if !slices.Contains(JourneyNames(), name) {
			return m, fmt.Errorf("load: unknown journey %q (known: %s)", name, strings.Join(JourneyNames(), ", "))
		}
		if !(w >= 0) || math.IsInf(w, 0) {
			return m, fmt.Errorf("load: weight of journey %q must be a non-negative number, got %v", name, w)
		}
	}
	for _, name := range JourneyNames() { // a fixed order, so the seed decides
		if w := weights[name]; w > 0 {
			total += w
			m.names = append(m.names, name)
			m.cum = append(m.cum, total)
		}
	}
	if total == 0 {
		return m, errors.New("load: at least one journey needs a positive weight")
	}
	return m, nil
}

func (m mix) pick(r *rand.Rand) string {
	x := r.Float64() * m.cum[len(m.cum)-1]
	for i, c := range m.cum {
		if x < c {
			return m.names[i]
		}
	}
	return m.names[len(m.names)-1]
}

// ParseMix parses journey weights written as "browse=4,order=1" (the
// --journeys flag).
func ParseMix(s string) (map[string]float64, error) {
	out := map[string]float64{}
	for part := range strings.SplitSeq(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		name, w, ok := strings.Cut(part, "=")
		weight, err := strconv.ParseFloat(strings.TrimSpace(w), 64)
		if !ok || err != nil {
			return nil, fmt.Errorf("journey weight %q must be NAME=WEIGHT, e.g. browse=4", part)
		}
		out[strings.TrimSpace(name)] = weight
	}
	if _, err := newMix(out); err != nil {
		return nil, errors.New(strings.TrimPrefix(err.Error(), "load: "))
	}
	return out, nil
}
