package load

import (
	"encoding/json"
	"errors"
	"math"
	"sync"
	"sync/atomic"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
)

// Latencies go into HDR histograms in microseconds, from 1 µs to 10 min,
// with three significant digits: a percentile is within 0.1% of the true
// value. Longer latencies count as 10 min.
const (
	histMin    = 1
	histMax    = int64(10 * time.Minute / time.Microsecond)
	histDigits = 3
	// recentWindow: Snapshot's Recent latency covers the last one to two
	// windows.
	recentWindow = 5 * time.Second
)

func newHistogram() *hdrhistogram.Histogram { return hdrhistogram.New(histMin, histMax, histDigits) }

// Latency are percentiles of a set of durations. In JSON they are
// milliseconds: {"p50_ms": 4.2, ...}.
type Latency struct {
	P50, P95, P99, Max, Mean time.Duration
}

type latencyJSON struct {
	P50  float64 `json:"p50_ms"`
	P95  float64 `json:"p95_ms"`
	P99  float64 `json:"p99_ms"`
	Max  float64 `json:"max_ms"`
	Mean float64 `json:"mean_ms"`
}

func ms(d time.Duration) float64 { return math.Round(float64(d)/1e3) / 1e3 } // µs precision

func fromMS(v float64) time.Duration { return time.Duration(math.Round(v * 1e6)) }

func (l Latency) MarshalJSON() ([]byte, error) {
	return json.Marshal(latencyJSON{P50: ms(l.P50), P95: ms(l.P95), P99: ms(l.P99), Max: ms(l.Max), Mean: ms(l.Mean)})
}

func (l *Latency) UnmarshalJSON(b []byte) error {
	var j latencyJSON
	if err := json.Unmarshal(b, &j); err != nil {
		return err
	}
	*l = Latency{P50: fromMS(j.P50), P95: fromMS(j.P95), P99: fromMS(j.P99), Max: fromMS(j.Max), Mean: fromMS(j.Mean)}
	return nil
}

// histogram is an HDR histogram with the exact maximum and sum beside it.
type histogram struct {
	h   *hdrhistogram.Histogram
	max time.Duration
	sum time.Duration
}

func newHist() histogram { return histogram{h: newHistogram()} }

func (h *histogram) record(d time.Duration) {
	d = max(d, 0)
	us := min(max(int64(d/time.Microsecond), histMin), histMax)
	_ = h.h.RecordValue(us) // in range by construction
	h.max = max(h.max, d)
	h.sum += d
}

func (h *histogram) reset() { h.h.Reset(); h.max, h.sum = 0, 0 }

func (h *histogram) merge(o histogram) {
	h.h.Merge(o.h)
	h.max = max(h.max, o.max)
	h.sum += o.sum
}

func (h *histogram) latency() Latency {
	n := h.h.TotalCount()
	if n == 0 {
		return Latency{}
	}
	at := func(q float64) time.Duration {
		return min(time.Duration(h.h.ValueAtQuantile(q))*time.Microsecond, h.max)
	}
	return Latency{P50: at(50), P95: at(95), P99: at(99), Max: h.max, Mean: h.sum / time.Duration(n)}
}

// Status classes of per-endpoint statistics.
const (
	class2xx       = "2xx"
	class3xx       = "3xx"
	class4xx       = "4xx"
	class5xx       = "5xx"
	classTransport = "transport" // no answer: connection refused, reset, timeout
)

func statusClass(status int) string {
	switch {
	case status == 0:
		return classTransport
	case status < 300:
		return class2xx
	case status < 400:
		return class3xx
	case status < 500:
		return class4xx
	}
	return class5xx
}

// isError: what counts as an error of the target. A 4xx is the client's
// business (and the generator counts the unexpected ones apart).
func isError(status int) bool { return status == 0 || status >= 500 }

// endpointStats are one endpoint's counters and latencies.
type endpointStats struct {
	mu       sync.Mutex
	requests int64
	classes  map[string]int64
	hist     histogram
}

type journeyStats struct {
	started, completed, failed, interrupted int64
	hist                                    histogram // journey durations, scheduled start to end
}

// recorder accumulates a run's statistics. Counters that need no lock are
// atomics; histograms and status maps are under mutexes, one per endpoint
// and one for the totals.
type recorder struct {
	arrivals, dropped                            atomic.Int64
	conflicts, declined, clientErrors, retries   atomic.Int64
	ordersPlaced, ordersCancelled, ordersSkipped atomic.Int64
	endpoints                                    [numEndpoints]*endpointStats

	mu       sync.Mutex // guards what follows
	requests int64
	errors   int64
	statuses map[int]int64
	all      histogram
	cur      histogram // the current recent window
	prev     histogram // the window before
	rotated  time.Time
	maxLag   time.Duration
	journeys map[string]*journeyStats
	now      func() time.Time
}

func newRecorder() *recorder {
	r := &recorder{statuses: map[int]int64{}, all: newHist(), cur: newHist(), prev: newHist(),
		journeys: map[string]*journeyStats{}, now: time.Now}
	for i := range r.endpoints {
		r.endpoints[i] = &endpointStats{classes: map[string]int64{}, hist: newHist()}
	}
	for _, name := range JourneyNames() {
		r.journeys[name] = &journeyStats{hist: newHist()}
	}
	return r
}

func (r *recorder) begin(t time.Time) {
	r.mu.Lock()
	r.rotated = t
	r.mu.Unlock()
}

// record counts one request: its endpoint, status (0: no answer) and
// latency from its intended start.
func (r *recorder) record(ep endpoint, status int, latency time.Duration) {
	e := r.endpoints[ep]
	e.mu.Lock()
	e.requests++
	e.classes[statusClass(status)]++
	e.hist.record(latency)
	e.mu.Unlock()

	r.mu.Lock()
	r.requests++
	if isError(status) {
		r.errors++
	}
	r.statuses[status]++
	r.all.record(latency)
	r.rotate()
	r.cur.record(latency)
	r.mu.Unlock()
}

// rotate starts a new recent window when the current one is full. Call
// with r.mu held.
func (r *recorder) rotate() {
	now := r.now()
	if now.Sub(r.rotated) < recentWindow {
		return
	}
	r.prev, r.cur = r.cur, r.prev
	r.cur.reset()
	if now.Sub(r.rotated) >= 2*recentWindow {
		r.prev.reset() // nothing recorded in the last full window
	}
	r.rotated = now
}

// launched notes that a journey started lag after its scheduled time.
func (r *recorder) launched(lag time.Duration) {
	r.mu.Lock()
	r.maxLag = max(r.maxLag, lag)
	r.mu.Unlock()
}

// started counts a journey of the named kind.
func (r *recorder) started(name string) {
	r.mu.Lock()
	r.journeys[name].started++
	r.mu.Unlock()
}

// finished counts a journey's outcome: err nil is completed,
// errInterrupted interrupted, anything else failed.
func (r *recorder) finished(name string, err error, took time.Duration) {
	r.mu.Lock()
	defer r.mu.Unlock()
	j := r.journeys[name]
	switch {
	case err == nil:
		j.completed++
	case errors.Is(err, errInterrupted):
		j.interrupted++
		return // its duration says nothing
	default:
		j.failed++
	}
	j.hist.record(took)
}

// Snapshot is a running generator's state; see Generator.Snapshot.
type Snapshot struct {
	Running   bool          `json:"running"`
	Elapsed   time.Duration `json:"-"` // elapsed_seconds in JSON
	Remaining time.Duration `json:"-"` // remaining_seconds in JSON; 0 when Duration is 0
	// Arrivals are the journeys scheduled so far, Dropped those that found
	// every slot taken; JourneysStarted = Arrivals - Dropped.
	Arrivals          int64 `json:"arrivals"`
	Dropped           int64 `json:"dropped"`
	InFlight          int64 `json:"in_flight"`
	JourneysStarted   int64 `json:"journeys_started"`
	JourneysCompleted int64 `json:"journeys_completed"`
	JourneysFailed    int64 `json:"journeys_failed"`
	Requests          int64 `json:"requests"`
	Errors            int64 `json:"errors"` // 5xx and no answer
	// ErrorsByStatus breaks Errors down by status, 0 for no answer;
	// Statuses counts every answer by status.
	ErrorsByStatus map[int]int64 `json:"errors_by_status"`
	Statuses       map[int]int64 `json:"statuses"`
	AchievedRate   float64       `json:"achieved_rate"` // journeys started per second
	RequestRate    float64       `json:"request_rate"`
	Latency        Latency       `json:"latency"` // every request so far
	Recent         Latency       `json:"recent"`  // the last 5 to 10 seconds
}

func (s Snapshot) MarshalJSON() ([]byte, error) {
	type plain Snapshot
	return json.Marshal(struct {
		plain
		ElapsedSeconds   float64 `json:"elapsed_seconds"`
		RemainingSeconds float64 `json:"remaining_seconds"`
	}{plain(s), seconds(s.Elapsed), seconds(s.Remaining)})
}

// round keeps digits decimals, so JSON shows 19.987, not 19.98765432101.
func round(v float64, digits int) float64 {
	p := math.Pow10(digits)
	return math.Round(v*p) / p
}

func seconds(d time.Duration) float64 { return math.Round(d.Seconds()*1e3) / 1e3 } // ms precision

func (r *recorder) snapshot(elapsed time.Duration) Snapshot {
	s := Snapshot{Elapsed: elapsed, Arrivals: r.arrivals.Load(), Dropped: r.dropped.Load(),
		ErrorsByStatus: map[int]int64{}, Statuses: map[int]int64{}}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.rotate()
	s.Requests, s.Errors = r.requests, r.errors
	for st, n := range r.statuses {
		s.Statuses[st] = n
		if isError(st) {
			s.ErrorsByStatus[st] = n
		}
	}
	for _, j := range r.journeys {
		s.JourneysStarted += j.started
		s.JourneysCompleted += j.completed
		s.JourneysFailed += j.failed
	}
	if secs := elapsed.Seconds(); secs > 0 {
		s.AchievedRate = round(float64(s.JourneysStarted)/secs, 3)
		s.RequestRate = round(float64(s.Requests)/secs, 3)
	}
	s.Latency = r.all.latency()
	recent := newHist()
	recent.merge(r.prev)
	recent.merge(r.cur)
	s.Recent = recent.latency()
	return s
}

// Summary is what a run did. Durations are time.Duration in Go and
// seconds or milliseconds (named so) in JSON.
type Summary struct {
	Target     string    `json:"target"`
	Seed       int64     `json:"seed"`
	TargetRate float64   `json:"target_rate"` // Config.Rate
	Started    time.Time `json:"started"`
	// Duration is how long journeys arrived: Config.Duration, or until
	// the context ended.
	Duration time.Duration `json:"-"`

	// Arrivals are the journeys the schedule called for; Dropped found the
	// concurrency cap reached and did not run.
	Arrivals            int64   `json:"arrivals"`
	Dropped             int64   `json:"dropped"`
	JourneysStarted     int64   `json:"journeys_started"`
	JourneysCompleted   int64   `json:"journeys_completed"`
	JourneysFailed      int64   `json:"journeys_failed"`
	JourneysInterrupted int64   `json:"journeys_interrupted"` // cut off at the end of the grace period
	AchievedRate        float64 `json:"achieved_rate"`        // journeys started per second of Duration
	// MaxLag is the longest a journey started after its scheduled time: a
	// generator short of CPU falls behind, and its latencies (measured from
	// the schedule) say so.
	MaxLag   time.Duration           `json:"-"`
	Journeys map[string]JourneyStats `json:"journeys"`

	Requests    int64   `json:"requests"`
	RequestRate float64 `json:"request_rate"`
	// Errors are answers that count against the target: 5xx and no answer
	// (connection refused or reset, timeout). ErrorRate = Errors/Requests.
	Errors    int64   `json:"errors"`
	ErrorRate float64 `json:"error_rate"`
	// ErrorsByStatus breaks Errors down by status, 0 for no answer.
	ErrorsByStatus map[int]int64 `json:"errors_by_status"`
	// Statuses counts every answer by status, 0 for no answer.
	Statuses map[int]int64 `json:"statuses"`
	// Conflicts are 409s a journey expects now and then: an order that
	// lost the race for the last items, a cancellation after shipping, a
	// registration of an email an earlier run registered. Every 409 in
	// Statuses is either here or in ClientErrors.
	Conflicts int64 `json:"conflicts"`
	// Declined are orders the payment provider declined (402).
	Declined int64 `json:"declined"`
	// RateLimited are 429s from the gateway's per-client rate limit.
	RateLimited int64 `json:"rate_limited"`
	// ClientErrors are 4xx answers no journey expects (neither 402, 409
	// nor 429): a sign of a bug in the generator or the API.
	ClientErrors int64 `json:"client_errors"`
	// Retries are orders sent again with the same Idempotency-Key after no
	// answer, a 502, 503 or 504.
	Retries int64 `json:"retries"`

	OrdersPlaced    int64 `json:"orders_placed"`
	OrdersCancelled int64 `json:"orders_cancelled"`
	// OrdersSkipped are order journeys that found no product with stock to
	// spare and bought nothing.
	OrdersSkipped int64 `json:"orders_skipped"`

	// Latency of every request, from its intended start.
	Latency   Latency         `json:"latency"`
	Endpoints []EndpointStats `json:"endpoints"`
}

// JourneyStats are one journey's counts and durations (scheduled start to
// end, think time included; completed and failed journeys only).
type JourneyStats struct {
	Started     int64   `json:"started"`
	Completed   int64   `json:"completed"`
	Failed      int64   `json:"failed"`
	Interrupted int64   `json:"interrupted"`
	Duration    Latency `json:"duration"`
}

// EndpointStats are one endpoint's requests.
type EndpointStats struct {
	Endpoint string           `json:"endpoint"` // method and route template
	Requests int64            `json:"requests"`
	Errors   int64            `json:"errors"`   // 5xx and no answer
	ByClass  map[string]int64 `json:"by_class"` // "2xx", "3xx", "4xx", "5xx", "transport"
	Latency  Latency          `json:"latency"`
}

type summaryJSON struct {
	DurationSeconds float64 `json:"duration_seconds"`
	MaxLagMS        float64 `json:"max_lag_ms"`
}

func (s Summary) MarshalJSON() ([]byte, error) {
	type plain Summary // without the methods
	return json.Marshal(struct {
		plain
		summaryJSON
	}{plain(s), summaryJSON{DurationSeconds: seconds(s.Duration), MaxLagMS: ms(s.MaxLag)}})
}

func (s *Summary) UnmarshalJSON(b []byte) error {
	type plain Summary
	var v struct {
		plain
		summaryJSON
	}
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	*s = Summary(v.plain)
	s.Duration = time.Duration(v.DurationSeconds * float64(time.Second))
	s.MaxLag = fromMS(v.MaxLagMS)
	return nil
}

// summary is the run's Summary, journeys having arrived for d.
func (r *recorder) summary(d time.Duration) Summary {
	snap := r.snapshot(d)
	s := Summary{
		Duration: d, Arrivals: snap.Arrivals, Dropped: snap.Dropped,
		JourneysStarted: snap.JourneysStarted, JourneysCompleted: snap.JourneysCompleted, JourneysFailed: snap.JourneysFailed,
		AchievedRate: snap.AchievedRate, Requests: snap.Requests, RequestRate: snap.RequestRate,
		Errors: snap.Errors, ErrorsByStatus: snap.ErrorsByStatus, Statuses: snap.Statuses,
		Conflicts: r.conflicts.Load(), Declined: r.declined.Load(), RateLimited: snap.Statuses[429],
		ClientErrors: r.clientErrors.Load(), Retries: r.retries.Load(),
		OrdersPlaced: r.ordersPlaced.Load(), OrdersCancelled: r.ordersCancelled.Load(), OrdersSkipped: r.ordersSkipped.Load(),
		Latency: snap.Latency, Journeys: map[string]JourneyStats{},
	}
	if s.Requests > 0 {
		s.ErrorRate = round(float64(s.Errors)/float64(s.Requests), 6)
	}
	r.mu.Lock()
	s.MaxLag = r.maxLag
	for name, j := range r.journeys {
		s.JourneysInterrupted += j.interrupted
		if j.started > 0 {
			s.Journeys[name] = JourneyStats{Started: j.started, Completed: j.completed, Failed: j.failed,
				Interrupted: j.interrupted, Duration: j.hist.latency()}
		}
	}
	r.mu.Unlock()
	for ep, e := range r.endpoints {
		e.mu.Lock()
		if e.requests > 0 {
			es := EndpointStats{Endpoint: endpoint(ep).String(), Requests: e.requests, ByClass: map[string]int64{}, Latency: e.hist.latency()}
			for c, n := range e.classes {
				es.ByClass[c] = n
			}
			es.Errors = es.ByClass[class5xx] + es.ByClass[classTransport]
			s.Endpoints = append(s.Endpoints, es)
		}
		e.mu.Unlock()
	}
	return s
}
