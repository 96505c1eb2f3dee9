package load_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cloudcart/cloudcart/internal/fleet/fleettest"
	"github.com/cloudcart/cloudcart/internal/load"
)

func mustGenerator(tb testing.TB, cfg load.Config) *load.Generator {
	tb.Helper()
	g, err := load.New(cfg)
	if err != nil {
		tb.Fatal(err)
	}
	return g
}

func mustRun(tb testing.TB, g *load.Generator) load.Summary {
	tb.Helper()
	s, err := g.Run(context.Background())
	if err != nil {
		tb.Fatal(err)
	}
	return s
}

func TestNewRejectsBadConfig(t *testing.T) {
	for _, tc := range []struct {
		name     string
		cfg      load.Config
		mentions string
	}{
		{"no rate", load.Config{}, "rate must be a positive"},
		{"negative rate", load.Config{Rate: -1}, "rate must be a positive"},
		{"target without scheme", load.Config{Rate: 1, Target: "localhost:8080"}, "target"},
		{"target with a query", load.Config{Rate: 1, Target: "http://localhost:8080/?x=1"}, "target"},
		{"negative duration", load.Config{Rate: 1, Duration: -time.Second}, "duration"},
		{"negative concurrency", load.Config{Rate: 1, Concurrency: -1}, "concurrency"},
		{"negative ramp-up", load.Config{Rate: 1, RampUp: -time.Second}, "ramp-up"},
		{"negative users", load.Config{Rate: 1, Users: -2}, "users"},
		{"negative think time", load.Config{Rate: 1, ThinkTime: -time.Second}, "think time"},
		{"unknown journey", load.Config{Rate: 1, Journeys: map[string]float64{"checkout": 1}}, `unknown journey "checkout"`},
		{"negative weight", load.Config{Rate: 1, Journeys: map[string]float64{load.Browse: -1}}, "non-negative"},
		{"no positive weight", load.Config{Rate: 1, Journeys: map[string]float64{load.Browse: 0}}, "positive weight"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := load.New(tc.cfg)
			if err == nil || !strings.Contains(err.Error(), tc.mentions) {
				t.Fatalf("New(%+v) = %v, want an error mentioning %q", tc.cfg, err, tc.mentions)
			}
		})
	}
	g := mustGenerator(t, load.Config{Rate: 2})
	if c := g.Config(); c.Target != load.DefaultTarget || c.Users != load.DefaultUsers || c.Concurrency != load.MinConcurrency || c.Grace != load.DefaultGrace {
		t.Fatalf("defaults not filled in: %+v", c)
	}
	if c := mustGenerator(t, load.Config{Rate: 100}).Config(); c.Concurrency != 3000 {
		t.Fatalf("default concurrency at 100/s = %d, want 100 × 30", c.Concurrency)
	}
}

func TestParseMix(t *testing.T) {
	m, err := load.ParseMix("browse=4, order=1,account=0.5")
	if err != nil || len(m) != 3 || m[load.Browse] != 4 || m[load.Order] != 1 || m[load.Account] != 0.5 {
		t.Fatalf("ParseMix = %v, %v", m, err)
	}
	for _, bad := range []string{"browse", "browse=x", "browse=4abc", "fly=1", "browse=0", "browse=-1"} {
		if _, err := load.ParseMix(bad); err == nil {
			t.Errorf("ParseMix(%q) accepted", bad)
		}
	}
}

// TestOpenModelArrivals: journeys arrive on the clock, Rate × Duration of
// them, each journey runs, and the summary's accounting adds up.
func TestOpenModelArrivals(t *testing.T) {
	s := mustShop(t)
	g := mustGenerator(t, load.Config{Target: s.srv.URL, Rate: 100, Duration: 500 * time.Millisecond,
		Journeys: map[string]float64{load.Browse: 1}})
	sum := mustRun(t, g)
	if sum.Arrivals != 50 || sum.Dropped != 0 || sum.JourneysStarted != 50 || sum.JourneysCompleted != 50 || sum.JourneysFailed != 0 {
		t.Fatalf("arrivals %d dropped %d started %d completed %d failed %d; want 50 arrivals, all completed",
			sum.Arrivals, sum.Dropped, sum.JourneysStarted, sum.JourneysCompleted, sum.JourneysFailed)
	}
	if got := s.hitsOf("GET /api/categories"); got != 50 {
		t.Fatalf("the shop saw %d category lists, want one per browse journey", got)
	}
	if sum.Journeys[load.Browse].Completed != 50 || len(sum.Journeys) != 1 {
		t.Fatalf("journeys %+v", sum.Journeys)
	}
	if sum.Duration < 500*time.Millisecond || sum.AchievedRate <= 0 || sum.AchievedRate > 100 {
		t.Fatalf("duration %s, achieved rate %v", sum.Duration, sum.AchievedRate)
	}
}

// TestDroppedAtConcurrencyCap: with every slot held by a journey waiting
// for an answer, the schedule goes on and each further arrival is dropped,
// not queued; the journeys cut off at the end of the grace period count as
// interrupted and their requests not at all.
func TestDroppedAtConcurrencyCap(t *testing.T) {
	release := make(chan struct{})
	defer close(release)
	srv := mustServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	g := mustGenerator(t, load.Config{Target: srv, Rate: 100, Duration: 300 * time.Millisecond, Concurrency: 2,
		Grace: 50 * time.Millisecond, Journeys: map[string]float64{load.Browse: 1}})
	sum := mustRun(t, g)
	if sum.Arrivals != 30 || sum.JourneysStarted != 2 || sum.Dropped != 28 || sum.JourneysInterrupted != 2 || sum.Requests != 0 {
		t.Fatalf("arrivals %d started %d dropped %d interrupted %d requests %d; want 30, 2, 28, 2, 0",
			sum.Arrivals, sum.JourneysStarted, sum.Dropped, sum.JourneysInterrupted, sum.Requests)
	}
}

func mustServer(tb testing.TB, h http.Handler) string {
	tb.Helper()
	s := &http.Server{Handler: h}
	ln := mustListen(tb)
	go func() { _ = s.Serve(ln) }()
	tb.Cleanup(func() { _ = s.Close() })
	return "http://" + ln.Addr().String()
}

// TestLatencyFromIntendedStart: when the generator falls behind its
// schedule (here its clock jumps 200 ms, as after a stall), the late
// arrivals still start, at once, and their latency counts from when they
// were due: the stall shows in the percentiles instead of hiding
// (coordinated omission).
func TestLatencyFromIntendedStart(t *testing.T) {
	g := mustGenerator(t, load.Config{Rate: 1000, Concurrency: 1000})
	var (
		arrived atomic.Int64
		skew    atomic.Int64
	)
	g.SetClock(func() time.Time { return time.Now().Add(time.Duration(skew.Load())) })
	sum, err := g.RunJourneys(context.Background(), 100, func(ctx context.Context, i int, due time.Time) {
		if arrived.Add(1) == 10 {
			skew.Store(int64(200 * time.Millisecond))
		}
		g.Record(200, g.Now().Sub(due))
	})
	if err != nil {
		t.Fatal(err)
	}
	if sum.Arrivals != 100 || sum.Dropped != 0 || sum.Requests != 100 {
		t.Fatalf("arrivals %d dropped %d requests %d, want every arrival run", sum.Arrivals, sum.Dropped, sum.Requests)
	}
	if sum.MaxLag < 100*time.Millisecond || sum.Latency.P50 < 100*time.Millisecond {
		t.Fatalf("max lag %s, p50 %s: the 200 ms stall is missing", sum.MaxLag, sum.Latency.P50)
	}
}

func TestRampUpSchedule(t *testing.T) {
	g := mustGenerator(t, load.Config{Rate: 100, RampUp: time.Second, Duration: 2 * time.Second})
	plan := g.Plan(1000)
	// Half of Rate × RampUp during the ramp, then Rate per second.
	if len(plan) != 50+100 {
		t.Fatalf("%d arrivals in 2 s with a 1 s ramp to 100/s, want 150", len(plan))
	}
	if plan[0].At != 0 || plan[50].At != time.Second || plan[149].At >= 2*time.Second {
		t.Fatalf("arrivals at %s, %s, %s", plan[0].At, plan[50].At, plan[149].At)
	}
	for i := 1; i < len(plan); i++ {
		if plan[i].At <= plan[i-1].At {
			t.Fatalf("arrival %d at %s, not after %s", i, plan[i].At, plan[i-1].At)
		}
	}
	// The gaps shrink during the ramp and are 10 ms after it.
	if gap := plan[2].At - plan[1].At; gap <= 10*time.Millisecond {
		t.Fatalf("early ramp gap %s, want more than 10 ms", gap)
	}
	if gap := plan[100].At - plan[99].At; gap < 9999*time.Microsecond || gap > 10001*time.Microsecond {
		t.Fatalf("gap after the ramp %s, want 10 ms", gap)
	}
}

// TestConflictsAddUp: a second run against the same shop registers
// emails the first registered (a shop of the older 201/409 kind); those
// 409s are expected conflicts, so every
// 409 the summary lists is a conflict or an unexpected 4xx, in the JSON and
// in the text.
func TestConflictsAddUp(t *testing.T) {
	s := mustShop(t)
	s.legacyRegister = true // the second run's registrations are 409s
	cfg := load.Config{Target: s.srv.URL, Rate: 200, Duration: 100 * time.Millisecond, Seed: 3, Users: 2}
	mustRun(t, mustGenerator(t, cfg))
	sum := mustRun(t, mustGenerator(t, cfg))
	if sum.Statuses[409] == 0 {
		t.Fatalf("no 409 on the second run: statuses %v", sum.Statuses)
	}
	if sum.Conflicts+sum.ClientErrors < sum.Statuses[409] || sum.Conflicts > sum.Statuses[409] {
		t.Fatalf("statuses list %d×409, summary counts %d conflicts and %d unexpected 4xx", sum.Statuses[409], sum.Conflicts, sum.ClientErrors)
	}
	var b strings.Builder
	if err := load.WriteSummary(&b, sum); err != nil {
		t.Fatal(err)
	}
	if want := fmt.Sprintf("expected conflicts (409) %d,", sum.Conflicts); !strings.Contains(b.String(), want) {
		t.Fatalf("summary text lacks %q:\n%s", want, b.String())
	}
}

// TestSeedDecides: the same seed plans the same journeys and makes the
// same requests (in some interleaving); another seed does not.
func TestSeedDecides(t *testing.T) {
	run := func(seed int64) ([]load.Arrival, []string, load.Summary) {
		s := mustShop(t)
		g := mustGenerator(t, load.Config{Target: s.srv.URL, Rate: 200, Duration: 250 * time.Millisecond, Seed: seed, Users: 4})
		sum := mustRun(t, g)
		return g.Plan(50), s.requests(), sum
	}
	plan1, reqs1, sum1 := run(7)
	plan2, reqs2, _ := run(7)
	plan3, reqs3, _ := run(8)
	if sum1.JourneysCompleted != 50 || sum1.ClientErrors != 0 {
		t.Fatalf("completed %d, client errors %d", sum1.JourneysCompleted, sum1.ClientErrors)
	}
	if !slices.Equal(plan1, plan2) || !slices.Equal(reqs1, reqs2) {
		t.Fatalf("seed 7 twice: plans equal %v, requests equal %v", slices.Equal(plan1, plan2), slices.Equal(reqs1, reqs2))
	}
	if slices.Equal(plan1, plan3) || slices.Equal(reqs1, reqs3) {
		t.Fatal("seeds 7 and 8 made the same journeys")
	}
	seen := map[string]bool{}
	for _, a := range plan1 {
		seen[a.Journey] = true
	}
	if len(seen) != len(load.JourneyNames()) {
		t.Fatalf("50 journeys of the default mix cover %v", seen)
	}
}

// TestJourneysAgainstTheShop runs every journey against the fake shop:
// accounts are registered and logged in once per user, orders carry an
// Idempotency-Key and never take a product below its threshold (the shop
// checks), and an expired token costs one login, not the journey.
func TestJourneysAgainstTheShop(t *testing.T) {
	s := mustShop(t)
	s.refuseFirstToken = true
	g := mustGenerator(t, load.Config{Target: s.srv.URL, Rate: 400, Duration: 500 * time.Millisecond, Users: 3, Seed: 3})
	sum := mustRun(t, g)
	if sum.JourneysCompleted != 200 || sum.JourneysFailed != 0 || sum.Errors != 0 || sum.ClientErrors != 0 {
		t.Fatalf("completed %d failed %d errors %d client errors %d; summary %+v",
			sum.JourneysCompleted, sum.JourneysFailed, sum.Errors, sum.ClientErrors, sum)
	}
	for _, name := range load.JourneyNames() {
		if sum.Journeys[name].Completed == 0 {
			t.Errorf("no %s journey completed: %+v", name, sum.Journeys)
		}
	}
	if n := s.hitsOf("POST /api/auth/register"); n != 3 {
		t.Errorf("%d registrations for 3 users", n)
	}
	if n := s.hitsOf("POST /api/auth/login"); n != 6 {
		t.Errorf("%d logins for 3 users whose first token expires, want 6", n)
	}
	if sum.Statuses[401] < 3 {
		t.Errorf("%d answers 401, want at least one per user", sum.Statuses[401])
	}
	if sum.OrdersPlaced == 0 || sum.OrdersCancelled == 0 || int(sum.OrdersPlaced) != s.placed() {
		t.Errorf("orders placed %d, cancelled %d; the shop took %d", sum.OrdersPlaced, sum.OrdersCancelled, s.placed())
	}
	var endpoints []string
	for _, e := range sum.Endpoints {
		endpoints = append(endpoints, e.Endpoint)
		if e.Requests == 0 || e.Requests != e.ByClass["2xx"]+e.ByClass["4xx"] {
			t.Errorf("endpoint %+v", e)
		}
	}
	if len(endpoints) != 11 {
		t.Errorf("endpoints %v, want all 11", endpoints)
	}
}

// TestErrorsCount: 5xx answers and no answer at all are errors, by
// status (0 for no answer); a journey stops at its first error.
func TestErrorsCount(t *testing.T) {
	srv := mustServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/api/products/search") {
			panic(http.ErrAbortHandler) // no answer
		}
		w.WriteHeader(503)
	}))
	g := mustGenerator(t, load.Config{Target: srv, Rate: 100, Duration: 200 * time.Millisecond,
		Journeys: map[string]float64{load.Browse: 1, load.Search: 1}})
	sum := mustRun(t, g)
	if sum.Requests != 20 || sum.Errors != 20 || sum.ErrorRate != 1 || sum.JourneysFailed != 20 {
		t.Fatalf("requests %d errors %d rate %v failed %d", sum.Requests, sum.Errors, sum.ErrorRate, sum.JourneysFailed)
	}
	if sum.ErrorsByStatus[503]+sum.ErrorsByStatus[0] != 20 || sum.ErrorsByStatus[503] == 0 || sum.ErrorsByStatus[0] == 0 {
		t.Fatalf("errors by status %v", sum.ErrorsByStatus)
	}
	if sum.ClientErrors != 0 {
		t.Fatalf("client errors %d", sum.ClientErrors)
	}
}

// TestPercentiles: the summary's percentiles from the HDR histogram are
// within its precision (0.1%) of the exact ones; max and mean are exact.
func TestPercentiles(t *testing.T) {
	r := load.NewRecorder()
	for i := 1; i <= 1000; i++ {
		status := 200
		switch {
		case i%100 == 0:
			status = 500
		case i%250 == 1:
			status = 0
		case i%10 == 0:
			status = 404
		}
		r.Record(status, time.Duration(i)*time.Millisecond)
	}
	s := r.Summary(10 * time.Second)
	near := func(got, want time.Duration) bool {
		return got >= want-want/1000-time.Microsecond && got <= want+want/1000+time.Microsecond
	}
	for _, c := range []struct {
		name      string
		got, want time.Duration
	}{
		{"p50", s.Latency.P50, 500 * time.Millisecond},
		{"p95", s.Latency.P95, 950 * time.Millisecond},
		{"p99", s.Latency.P99, 990 * time.Millisecond},
	} {
		if !near(c.got, c.want) {
			t.Errorf("%s = %s, want %s ± 0.1%%", c.name, c.got, c.want)
		}
	}
	if s.Latency.Max != time.Second || s.Latency.Mean != 500500*time.Microsecond {
		t.Errorf("max %s mean %s", s.Latency.Max, s.Latency.Mean)
	}
	// 10 × 500, 4 × no answer (1, 251, 501, 751), 90 × 404.
	if s.Requests != 1000 || s.Errors != 14 || s.ErrorRate != 0.014 || s.RequestRate != 100 {
		t.Errorf("requests %d errors %d rate %v request rate %v", s.Requests, s.Errors, s.ErrorRate, s.RequestRate)
	}
	if want := map[int]int64{500: 10, 0: 4}; !mapsEqual(s.ErrorsByStatus, want) {
		t.Errorf("errors by status %v, want %v", s.ErrorsByStatus, want)
	}
	if want := map[int]int64{200: 896, 404: 90, 500: 10, 0: 4}; !mapsEqual(s.Statuses, want) {
		t.Errorf("statuses %v, want %v", s.Statuses, want)
	}
	e := s.Endpoints[0]
	if e.Endpoint != "GET /api/products/{sku}" || e.Requests != 1000 || e.Errors != 14 ||
		e.ByClass["2xx"] != 896 || e.ByClass["4xx"] != 90 || e.ByClass["5xx"] != 10 || e.ByClass["transport"] != 4 {
		t.Errorf("endpoint %+v", e)
	}
}

func mapsEqual[K comparable, V comparable](a, b map[K]V) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

// TestSummaryJSON: the JSON machines read: its fields, durations in
// seconds and milliseconds, and a round trip.
func TestSummaryJSON(t *testing.T) {
	r := load.NewRecorder()
	r.Record(200, 1500*time.Microsecond)
	r.Record(502, 3*time.Millisecond)
	s := r.Summary(2 * time.Second)
	s.Target, s.Seed, s.TargetRate = "http://gw", 9, 5
	b, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{"target", "seed", "target_rate", "started", "duration_seconds", "arrivals", "dropped",
		"journeys_started", "journeys_completed", "journeys_failed", "journeys_interrupted", "achieved_rate", "max_lag_ms",
		"journeys", "requests", "request_rate", "errors", "error_rate", "errors_by_status", "statuses", "conflicts",
		"declined", "rate_limited", "client_errors", "retries", "orders_placed", "orders_cancelled", "orders_skipped",
		"latency", "endpoints"} {
		if _, ok := m[key]; !ok {
			t.Errorf("no %q in %s", key, b)
		}
	}
	if len(m) != 30 {
		t.Errorf("%d keys, want 30: a new field needs its place in this test and docs/load.md", len(m))
	}
	if m["duration_seconds"] != 2.0 || m["errors"] != 1.0 || m["error_rate"] != 0.5 {
		t.Errorf("duration %v errors %v rate %v", m["duration_seconds"], m["errors"], m["error_rate"])
	}
	lat := m["latency"].(map[string]any)
	if lat["p50_ms"] != 1.5 || lat["max_ms"] != 3.0 || len(lat) != 5 {
		t.Errorf("latency %v", lat)
	}
	if ebs := m["errors_by_status"].(map[string]any); ebs["502"] != 1.0 || len(ebs) != 1 {
		t.Errorf("errors_by_status %v", ebs)
	}
	ep := m["endpoints"].([]any)[0].(map[string]any)
	if ep["endpoint"] != "GET /api/products/{sku}" || ep["requests"] != 2.0 || ep["by_class"].(map[string]any)["5xx"] != 1.0 {
		t.Errorf("endpoint %v", ep)
	}
	snap, err := json.Marshal(load.Snapshot{Running: true, Elapsed: 1500 * time.Millisecond, Remaining: time.Second})
	if err != nil || !strings.Contains(string(snap), `"elapsed_seconds":1.5`) || !strings.Contains(string(snap), `"remaining_seconds":1`) {
		t.Errorf("snapshot JSON %s, %v", snap, err)
	}
	var back load.Summary
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if back.Duration != 2*time.Second || back.Latency != s.Latency || back.Errors != 1 || back.ErrorsByStatus[502] != 1 || back.Target != "http://gw" {
		t.Errorf("round trip: %+v\nfrom %+v", back, s)
	}
}

// TestProgress: a line per interval when not on a terminal; on a terminal
// a block redrawn in place; the summary for people lists the endpoints.
func TestProgress(t *testing.T) {
	s := mustShop(t)
	g := mustGenerator(t, load.Config{Target: s.srv.URL, Rate: 50, Duration: time.Second, Users: 2})
	prev := load.Snapshot{}
	snap := load.Snapshot{Running: true, Elapsed: 2 * time.Second, Remaining: 3 * time.Second, JourneysStarted: 40,
		JourneysCompleted: 38, Requests: 160, Errors: 2, Statuses: map[int]int64{200: 150, 429: 8, 503: 2},
		Latency: load.Latency{P50: 4200 * time.Microsecond, P95: 23 * time.Millisecond, P99: 61 * time.Millisecond, Max: 1300 * time.Millisecond}}
	line := load.ProgressLine(snap, prev)
	for _, want := range []string{"elapsed=2s", "left=3s", "journeys_per_s=20.0", "requests_per_s=80.0", "errors=2",
		"statuses=200:150,429:8,503:2", "p50=4.20ms", "p95=23ms", "p99=61ms", "max=1.30s"} {
		if !strings.Contains(line, want) {
			t.Errorf("progress line %q lacks %q", line, want)
		}
	}
	block := load.ProgressBlock(g.Config(), snap, prev)
	for _, want := range []string{"3s left", "in flight", "errors 2 (1.25%)", "429×8  503×2", "p99 61ms"} {
		if !strings.Contains(block, want) {
			t.Errorf("progress block %q lacks %q", block, want)
		}
	}

	// Live: a terminal gets the block redrawn in place.
	var out fleettest.Buffer
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		load.Progress{W: &out, TTY: true, Interval: 10 * time.Millisecond}.Run(ctx, g)
		close(done)
	}()
	sum := mustRun(t, g)
	mustEventually(t, 10*time.Second, "the block redrawn", func() bool { return strings.Contains(out.String(), "\x1b[4F\x1b[J") })
	cancel()
	<-done

	var text bytes.Buffer
	if err := load.WriteSummary(&text, sum); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"50 scheduled at 50/s", "GET /api/categories", "POST /api/orders", "p99"} {
		if !strings.Contains(text.String(), want) {
			t.Errorf("summary lacks %q:\n%s", want, text.String())
		}
	}
}

func mustEventually(tb testing.TB, d time.Duration, what string, cond func() bool) {
	tb.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			tb.Fatalf("%s: not within %s", what, d)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestRunOnce: a generator's counters belong to one run.
func TestRunOnce(t *testing.T) {
	s := mustShop(t)
	g := mustGenerator(t, load.Config{Target: s.srv.URL, Rate: 10, Duration: 100 * time.Millisecond})
	mustRun(t, g)
	if _, err := g.Run(context.Background()); err == nil {
		t.Fatal("a second Run was accepted")
	}
}

// TestStopsWhenContextEnds: Duration 0 runs until ctx is done; the
// summary covers what ran.
func TestStopsWhenContextEnds(t *testing.T) {
	s := mustShop(t)
	g := mustGenerator(t, load.Config{Target: s.srv.URL, Rate: 100, Journeys: map[string]float64{load.Search: 1}})
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		mustEventually(t, 10*time.Second, "requests", func() bool { return g.Snapshot().Requests >= 10 })
		cancel()
	}()
	sum, err := g.Run(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if sum.Requests < 10 || sum.JourneysStarted != sum.Arrivals || sum.JourneysCompleted+sum.JourneysFailed+sum.JourneysInterrupted != sum.JourneysStarted {
		t.Fatalf("summary after cancel: %+v", sum)
	}
	if snap := g.Snapshot(); snap.Running || snap.Requests != sum.Requests {
		t.Fatalf("snapshot after Run: %+v", snap)
	}
}

// TestAbort: Abort (a second Ctrl-C) ends the journeys in flight without
// waiting for the grace period, and Run still returns the summary.
func TestAbort(t *testing.T) {
	release := make(chan struct{})
	defer close(release)
	srv := mustServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	g := mustGenerator(t, load.Config{Target: srv, Rate: 100, Grace: time.Hour, Journeys: map[string]float64{load.Browse: 1}})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		mustEventually(t, 10*time.Second, "journeys in flight", func() bool { return g.Snapshot().InFlight >= 5 })
		cancel()
		g.Abort()
	}()
	done := make(chan load.Summary, 1)
	go func() {
		sum, _ := g.Run(ctx)
		done <- sum
	}()
	select {
	case sum := <-done:
		if sum.JourneysInterrupted < 5 || sum.JourneysInterrupted != sum.JourneysStarted {
			t.Fatalf("started %d, interrupted %d", sum.JourneysStarted, sum.JourneysInterrupted)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Run still waiting for its hour of grace after Abort")
	}
}

// TestOrdersSpreadOverTheCatalog: order journeys pick their product from
// any page of a category, not only the first, so a larger catalog holds
// more orders before it sells out; a category of one page costs no second
// request.
func TestOrdersSpreadOverTheCatalog(t *testing.T) {
	s := mustShopOf(t, 300) // ten pages of 30 a category
	g := mustGenerator(t, load.Config{Target: s.srv.URL, Rate: 200, Duration: 500 * time.Millisecond, Users: 3, Seed: 5,
		Journeys: map[string]float64{load.Order: 1}, Grace: time.Minute})
	sum := mustRun(t, g)
	if sum.Errors != 0 || sum.ClientErrors != 0 || sum.JourneysCompleted != 100 || sum.OrdersPlaced < 50 {
		t.Fatalf("errors %d, client errors %d, %d of 100 order journeys completed, %d orders placed; want none, none, all, at least 50",
			sum.Errors, sum.ClientErrors, sum.JourneysCompleted, sum.OrdersPlaced)
	}
	beyond, last := 0, 0
	skus := s.orderedSKUs()
	for sku := range skus {
		n, err := strconv.Atoi(sku[strings.LastIndex(sku, "-")+1:])
		if err != nil {
			t.Fatal(sku)
		}
		if n > 30 {
			beyond++
		}
		if n > 270 {
			last++
		}
	}
	if beyond < len(skus)/2 || last == 0 {
		t.Errorf("of %d products ordered, %d are beyond a category's first page and %d on its last; want most and some",
			len(skus), beyond, last)
	}

	one := mustShop(t) // one page a category
	g = mustGenerator(t, load.Config{Target: one.srv.URL, Rate: 200, Duration: 250 * time.Millisecond, Users: 3, Seed: 5,
		Journeys: map[string]float64{load.Order: 1}})
	sum = mustRun(t, g)
	if n := one.hitsOf("GET /api/products"); n != int(sum.JourneysStarted) {
		t.Errorf("%d category pages for %d order journeys in a catalog of one page a category", n, sum.JourneysStarted)
	}
}
