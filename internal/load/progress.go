package load

import (
	"context"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"
	"time"
)

// Progress draws a running generator's progress: on a terminal a status
// block redrawn in place every Interval, otherwise one line per Interval
// (for logs and CI).
type Progress struct {
	W        io.Writer
	TTY      bool
	Interval time.Duration // 0: 1 s on a terminal, 10 s otherwise
}

// Run draws until ctx is done.
func (p Progress) Run(ctx context.Context, g *Generator) {
	every := p.Interval
	if every <= 0 {
		every = 10 * time.Second
		if p.TTY {
			every = time.Second
		}
	}
	tick := time.NewTicker(every)
	defer tick.Stop()
	var (
		prev  Snapshot
		lines int // of the block drawn last, on a terminal
	)
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		s := g.Snapshot()
		if p.TTY {
			block := progressBlock(g.cfg, s, prev)
			if lines > 0 {
				fmt.Fprintf(p.W, "\x1b[%dF\x1b[J", lines) // back to the block's first line, clear below
			}
			fmt.Fprint(p.W, block)
			lines = strings.Count(block, "\n")
		} else {
			fmt.Fprintln(p.W, progressLine(s, prev))
		}
		prev = s
	}
}

// interval is the rate of journeys and requests between two snapshots.
func interval(s, prev Snapshot) (journeys, requests float64) {
	dt := (s.Elapsed - prev.Elapsed).Seconds()
	if dt <= 0 {
		return s.AchievedRate, s.RequestRate
	}
	return float64(s.JourneysStarted-prev.JourneysStarted) / dt, float64(s.Requests-prev.Requests) / dt
}

func progressBlock(cfg Config, s, prev Snapshot) string {
	var b strings.Builder
	jr, rr := interval(s, prev)
	when := fmtElapsed(s.Elapsed)
	switch {
	case !s.Running:
		when += fmt.Sprintf(", stopping: %d in flight finishing (Ctrl-C again ends them)", s.InFlight)
	case s.Remaining > 0:
		when += fmt.Sprintf(" of %s, %s left", fmtElapsed(cfg.Duration), fmtElapsed(s.Remaining))
	default:
		when += " (Ctrl-C stops)"
	}
	fmt.Fprintf(&b, "cloudcart load → %s   %s\n", cfg.Target, when)
	fmt.Fprintf(&b, "journeys  %.1f/s of %.4g/s   in flight %d   completed %d   failed %d   dropped %d\n",
		jr, cfg.Rate, s.InFlight, s.JourneysCompleted, s.JourneysFailed, s.Dropped)
	fmt.Fprintf(&b, "requests  %.1f/s   errors %d (%.2f%%)   %s\n", rr, s.Errors, 100*ratio(s.Errors, s.Requests), fmtStatuses(s.Statuses, true))
	fmt.Fprintf(&b, "latency   p50 %s   p95 %s   p99 %s   max %s   (last 10 s: p99 %s)\n",
		fmtLatency(s.Latency.P50), fmtLatency(s.Latency.P95), fmtLatency(s.Latency.P99), fmtLatency(s.Latency.Max), fmtLatency(s.Recent.P99))
	return b.String()
}

func progressLine(s, prev Snapshot) string {
	jr, rr := interval(s, prev)
	left := "-"
	switch {
	case !s.Running:
		left = "stopping"
	case s.Remaining > 0:
		left = fmtElapsed(s.Remaining)
	}
	return fmt.Sprintf("load elapsed=%s left=%s journeys_per_s=%.1f in_flight=%d completed=%d failed=%d dropped=%d "+
		"requests=%d requests_per_s=%.1f errors=%d statuses=%s p50=%s p95=%s p99=%s max=%s",
		fmtElapsed(s.Elapsed), left, jr, s.InFlight, s.JourneysCompleted, s.JourneysFailed, s.Dropped,
		s.Requests, rr, s.Errors, fmtStatusList(s.Statuses), fmtLatency(s.Latency.P50), fmtLatency(s.Latency.P95),
		fmtLatency(s.Latency.P99), fmtLatency(s.Latency.Max))
}

func ratio(a, b int64) float64 {
	if b == 0 {
		return 0
	}
	return float64(a) / float64(b)
}

// fmtStatuses lists the statuses; with problemsOnly just the 4xx, 5xx and
// no answers ("none" when there are none).
func fmtStatuses(statuses map[int]int64, problemsOnly bool) string {
	var parts []string
	for _, st := range sortedStatuses(statuses) {
		if problemsOnly && st > 0 && st < 400 {
			continue
		}
		name := fmt.Sprint(st)
		if st == 0 {
			name = "no answer"
		}
		parts = append(parts, fmt.Sprintf("%s×%d", name, statuses[st]))
	}
	if len(parts) == 0 {
		return "no 4xx/5xx"
	}
	return strings.Join(parts, "  ")
}

// fmtStatusList is "200:812,429:3", for one-line logs.
func fmtStatusList(statuses map[int]int64) string {
	var parts []string
	for _, st := range sortedStatuses(statuses) {
		parts = append(parts, fmt.Sprintf("%d:%d", st, statuses[st]))
	}
	if len(parts) == 0 {
		return "-"
	}
	return strings.Join(parts, ",")
}

func sortedStatuses(m map[int]int64) []int {
	var out []int
	for st := range m {
		out = append(out, st)
	}
	slices.Sort(out)
	return out
}

// fmtLatency shows a latency with three significant digits or so.
func fmtLatency(d time.Duration) string {
	switch {
	case d <= 0:
		return "-"
	case d < 10*time.Millisecond:
		return fmt.Sprintf("%.2fms", float64(d)/1e6)
	case d < time.Second:
		return fmt.Sprintf("%.0fms", float64(d)/1e6)
	}
	return fmt.Sprintf("%.2fs", d.Seconds())
}

func fmtElapsed(d time.Duration) string {
	if d < time.Minute {
		return d.Round(100 * time.Millisecond).String()
	}
	return d.Round(time.Second).String()
}

// WriteSummary writes s for people: totals, then a table of endpoints.
func WriteSummary(w io.Writer, s Summary) error {
	var b strings.Builder
	fmt.Fprintf(&b, "cloudcart load: %s against %s (seed %d)\n", fmtElapsed(s.Duration), s.Target, s.Seed)
	fmt.Fprintf(&b, "  journeys   %d scheduled at %.4g/s: %d started (%.2f/s), %d dropped at the concurrency cap\n",
		s.Arrivals, s.TargetRate, s.JourneysStarted, s.AchievedRate, s.Dropped)
	fmt.Fprintf(&b, "             %d completed, %d failed, %d interrupted; started up to %s late\n",
		s.JourneysCompleted, s.JourneysFailed, s.JourneysInterrupted, fmtLatency(s.MaxLag))
	var per []string
	for _, name := range JourneyNames() {
		if j, ok := s.Journeys[name]; ok {
			per = append(per, fmt.Sprintf("%s %d/%d", name, j.Completed, j.Started))
		}
	}
	if len(per) > 0 {
		fmt.Fprintf(&b, "             completed/started: %s\n", strings.Join(per, ", "))
	}
	fmt.Fprintf(&b, "  orders     %d placed, %d cancelled, %d declined by payment, %d skipped (no product with stock to spare)\n",
		s.OrdersPlaced, s.OrdersCancelled, s.Declined, s.OrdersSkipped)
	fmt.Fprintf(&b, "  requests   %d (%.1f/s); errors (5xx, no answer) %d = %.2f%%; expected conflicts (409) %d, rate-limited (429) %d, unexpected 4xx %d, retries %d\n",
		s.Requests, s.RequestRate, s.Errors, 100*s.ErrorRate, s.Conflicts, s.RateLimited, s.ClientErrors, s.Retries)
	if len(s.Statuses) > 0 {
		fmt.Fprintf(&b, "  statuses   %s\n", fmtStatuses(s.Statuses, false))
	}
	if s.RateLimited > 0 {
		fmt.Fprintf(&b, "  note       the gateway's per-client rate limit refused %d requests (429): this run measured the limiter, not the shop; "+
			"lower --rate or start the fleet with a higher --gateway.rate-limit\n", s.RateLimited)
	}
	fmt.Fprintf(&b, "  latency    p50 %s  p95 %s  p99 %s  max %s  (from each request's scheduled start)\n\n",
		fmtLatency(s.Latency.P50), fmtLatency(s.Latency.P95), fmtLatency(s.Latency.P99), fmtLatency(s.Latency.Max))
	if _, err := io.WriteString(w, b.String()); err != nil {
		return err
	}
	if len(s.Endpoints) == 0 {
		return nil
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "endpoint\trequests\t2xx\t4xx\t5xx\tno answer\tp50\tp95\tp99\tmax\t")
	for _, e := range s.Endpoints {
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%d\t%d\t%s\t%s\t%s\t%s\t\n", e.Endpoint, e.Requests,
			e.ByClass[class2xx], e.ByClass[class4xx], e.ByClass[class5xx], e.ByClass[classTransport],
			fmtLatency(e.Latency.P50), fmtLatency(e.Latency.P95), fmtLatency(e.Latency.P99), fmtLatency(e.Latency.Max))
	}
	return tw.Flush()
}
