package scenario

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/cloudcart/cloudcart/internal/load"
)

// Defaults for Config's zero values: the ports of `cloudcart run`.
const (
	DefaultGateway        = "http://localhost:8080"
	DefaultPrometheus     = "http://localhost:9090"
	DefaultChaos          = "http://localhost:8004"
	DefaultNotifier       = "http://localhost:8005"
	DefaultOrders         = "http://localhost:8003"
	DefaultTimeout        = 3 * time.Minute
	DefaultResolveTimeout = 3 * time.Minute
	DefaultPoll           = 250 * time.Millisecond
)

// Config configures a Runner. Zero values mean the defaults.
type Config struct {
	Gateway, Prometheus, Chaos, Notifier, Orders string // base URLs
	ChaosToken                                   string // the chaos admin API's bearer token
	// ServiceToken is the fleet's service credential (X-CloudCart-Service-
	// Token), which error-spike's POST /simulate needs unless the order
	// service runs with --orders.demo-endpoints (as under `cloudcart run`).
	// Empty: none is sent.
	ServiceToken string
	// AdminEmail and AdminPassword are the fleet's admin account
	// (--users.admin-email), which low-stock needs to restock.
	AdminEmail, AdminPassword string
	// Timeout bounds each scenario from its cause to the alert firing
	// with its notification recorded.
	Timeout time.Duration
	// ResolveTimeout bounds the wait for the alert to resolve after the
	// restore, and before the cause for an earlier one to end. Negative:
	// do not wait for the resolution (the restore still happens).
	ResolveTimeout time.Duration
	// LoadRate is the shopper journeys per second (internal/load's
	// default mix) the runner keeps up during each scenario, for a fleet
	// without background load; 0: none of its own.
	LoadRate float64
	Poll     time.Duration
	Client   *http.Client // nil: one with a 10 s timeout
	Logger   *slog.Logger
	// Observe, when set, is called with each step of the timeline as the
	// runner sees it happen, in time order, with the same detail the
	// Result has.
	Observe func(Scenario, Event)
	// Reset clears chaos faults the scenario did not set (left by a person,
	// the console or an interrupted run) before the cause. Without it a
	// scenario refuses to start while any are configured, even with chaos
	// switched off: the scenario's own enable would bring them back.
	Reset bool
}

// Steps of a timeline, in the order they normally happen.
const (
	StepCause        = "cause applied"
	StepFirstBad     = "first bad sample"
	StepPending      = "alert pending"
	StepFiring       = "alert firing"
	StepNotification = "notification"
	StepRestored     = "restored"
	StepResolved     = "resolved"
)

var steps = []string{StepCause, StepFirstBad, StepPending, StepFiring, StepNotification, StepRestored, StepResolved}

// Event is one step of a timeline.
type Event struct {
	Step   string        `json:"step"`
	At     time.Time     `json:"at"`
	Offset time.Duration `json:"-"` // from the cause; offset_seconds in JSON
	Detail string        `json:"detail,omitempty"`
}

// MarshalJSON adds offset_seconds.
func (e Event) MarshalJSON() ([]byte, error) {
	type plain Event
	return json.Marshal(struct {
		plain
		OffsetSeconds float64 `json:"offset_seconds"`
	}{plain(e), e.Offset.Seconds()})
}

// Result is what happened in one run of a scenario.
type Result struct {
	Scenario string `json:"scenario"`
	Alert    string `json:"alert"`
	Passed   bool   `json:"passed"`
	// Skipped: the scenario could not run on this fleet (low-stock without
	// the admin account); Error says why. Neither passed nor failed.
	Skipped bool    `json:"skipped,omitempty"`
	Error   string  `json:"error,omitempty"`
	Events  []Event `json:"events"` // in time order
	// CauseToNotification is the headline figure: from the cause to the
	// notification being recorded; RestoreToResolved from the restore to
	// the alert resolving. Zero when the step did not happen.
	CauseToNotification time.Duration `json:"-"`
	RestoreToResolved   time.Duration `json:"-"`
}

// MarshalJSON adds the durations in seconds.
func (r Result) MarshalJSON() ([]byte, error) {
	type plain Result
	return json.Marshal(struct {
		plain
		CauseToNotification float64 `json:"cause_to_notification_seconds"`
		RestoreToResolved   float64 `json:"restore_to_resolved_seconds"`
	}{plain(r), r.CauseToNotification.Seconds(), r.RestoreToResolved.Seconds()})
}

// Event returns the result's event of step.
func (r Result) Event(step string) (Event, bool) {
	for _, e := range r.Events {
		if e.Step == step {
			return e, true
		}
	}
	return Event{}, false
}

// Runner runs scenarios against one fleet.
type Runner struct {
	c   Config
	env *env
}

// New checks c and builds a Runner.
func New(c Config) (*Runner, error) {
	c.Gateway = strings.TrimRight(cmp.Or(c.Gateway, DefaultGateway), "/")
	c.Prometheus = strings.TrimRight(cmp.Or(c.Prometheus, DefaultPrometheus), "/")
	c.Chaos = strings.TrimRight(cmp.Or(c.Chaos, DefaultChaos), "/")
	c.Notifier = strings.TrimRight(cmp.Or(c.Notifier, DefaultNotifier), "/")
	c.Orders = strings.TrimRight(cmp.Or(c.Orders, DefaultOrders), "/")
	c.Timeout = cmp.Or(c.Timeout, DefaultTimeout)
	c.ResolveTimeout = cmp.Or(c.ResolveTimeout, DefaultResolveTimeout)
	c.Poll = cmp.Or(c.Poll, DefaultPoll)
	if c.Client == nil {
		c.Client = &http.Client{Timeout: 10 * time.Second}
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.ChaosToken == "" {
		return nil, errors.New("scenario: the chaos admin token is required")
	}
	if c.LoadRate < 0 {
		return nil, errors.New("scenario: LoadRate must not be negative")
	}
	prom, err := newPrometheus(c.Prometheus, c.Client)
	if err != nil {
		return nil, fmt.Errorf("scenario: Prometheus URL: %w", err)
	}
	e := &env{client: c.Client, log: c.Logger, gateway: c.Gateway, orders: c.Orders, notifier: c.Notifier,
		adminEmail: c.AdminEmail, adminPassword: c.AdminPassword, prom: prom, serviceToken: c.ServiceToken}
	e.chaos = &chaosClient{e: e, base: c.Chaos, token: c.ChaosToken}
	return &Runner{c: c, env: e}, nil
}

// run is one scenario's run in progress.
type run struct {
	r      *Runner
	sc     Scenario
	res    Result
	causeT time.Time
}

func (x *run) add(step string, at time.Time, detail string) {
	ev := Event{Step: step, At: at, Detail: detail}
	if !x.causeT.IsZero() {
		ev.Offset = at.Sub(x.causeT)
	}
	x.res.Events = append(x.res.Events, ev)
	if x.r.c.Observe != nil {
		x.r.c.Observe(x.sc, ev)
	}
}

func minTime(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}

func onOff(on bool) string {
	if on {
		return "on"
	}
	return "off"
}

func (x *run) has(step string) bool {
	_, ok := x.res.Event(step)
	return ok
}

// Run runs sc: prepare, wait until its alert is inactive, start load,
// apply the cause, wait for the alert to fire and its notification, find
// the first bad sample, restore, wait for the alert to resolve. The
// restore happens whatever went wrong, also when ctx is cancelled (with a
// context of its own). The Result says whether the expected outcome
// happened in time, and if not, why.
func (r *Runner) Run(ctx context.Context, sc Scenario) (res Result) {
	x := &run{r: r, sc: sc, res: Result{Scenario: sc.Name, Alert: sc.Expect.String()}}
	defer func() {
		// In time order; steps of the same millisecond (an alert without
		// `for` is pending and firing at once) in their natural order.
		slices.SortStableFunc(x.res.Events, func(a, b Event) int {
			return cmp.Or(a.At.Truncate(time.Millisecond).Compare(b.At.Truncate(time.Millisecond)),
				cmp.Compare(slices.Index(steps, a.Step), slices.Index(steps, b.Step)))
		})
		res = x.res
	}()
	fail := func(err error) {
		if x.res.Error == "" {
			x.res.Error = err.Error()
		}
		x.res.Passed = false
	}
	e := r.env
	log := r.c.Logger.With("scenario", sc.Name)

	if sc.needsAdmin && (r.c.AdminEmail == "" || r.c.AdminPassword == "") {
		x.res.Skipped = true
		x.res.Error = "needs the fleet's admin account to restock: start the fleet with --users.admin-email and " +
			"CLOUDCART_USERS_ADMIN_PASSWORD, and give the scenario the same"
		return
	}
	settings, err := e.chaos.settings(ctx)
	if err != nil {
		fail(fmt.Errorf("chaos admin API at %s: %w", r.c.Chaos, err))
		return
	}
	if foreign := settings.Configured(); len(foreign) > 0 {
		if !r.c.Reset {
			fail(fmt.Errorf("chaos faults this scenario did not set are configured (%s; chaos %s), and would blur "+
				"its alert: clear them with `cloudcart chaos reset`, or run the scenario with --reset",
				strings.Join(foreign, "; "), onOff(settings.Enabled)))
			return
		}
		if err := e.chaos.reset(ctx); err != nil {
			fail(fmt.Errorf("clearing the chaos faults: %w", err))
			return
		}
		log.WarnContext(ctx, "cleared chaos faults the scenario did not set", "faults", strings.Join(foreign, "; "))
	}
	if sc.prepare != nil {
		if err := sc.prepare(ctx, e); err != nil {
			fail(fmt.Errorf("prepare: %w", err))
			return
		}
	}

	stopLoad := r.startLoad(ctx, sc, log)
	defer stopLoad()

	// An earlier scenario (or anything else) may have left the alert on:
	// a cause cannot be timed against an alert that is already active.
	if r.c.ResolveTimeout > 0 {
		if err := r.waitInactive(ctx, sc.Expect, r.c.ResolveTimeout); err != nil {
			fail(fmt.Errorf("before the cause: %w", err))
			return
		}
	}

	e.causeAt = time.Time{}
	before := time.Now()
	undo, err := sc.apply(ctx, e)
	if err != nil {
		fail(fmt.Errorf("cause: %w", err))
		return
	}
	x.causeT = cmp.Or(e.causeAt, before)
	x.add(StepCause, x.causeT, sc.Cause)
	restored := false
	restore := func() {
		if restored {
			return
		}
		restored = true
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		defer cancel()
		if err := undo(rctx); err != nil {
			fail(fmt.Errorf("restore: %w", err))
			return
		}
		x.add(StepRestored, time.Now(), "")
	}
	defer restore()

	if err := r.watchFiring(ctx, x); err != nil {
		fail(err)
	}
	if n, ok := x.res.Event(StepNotification); ok && x.res.Error == "" {
		x.res.Passed = true
		x.res.CauseToNotification = n.Offset
	}

	restore()
	if !x.has(StepRestored) || ctx.Err() != nil || r.c.ResolveTimeout < 0 || !x.has(StepPending) && !x.has(StepFiring) {
		return // nothing to wait for
	}
	rest, _ := x.res.Event(StepRestored)
	if err := r.watchResolved(ctx, x, rest.At); err != nil {
		fail(err)
		return
	}
	if ev, ok := x.res.Event(StepResolved); ok {
		x.res.RestoreToResolved = ev.At.Sub(rest.At)
	}
	return
}

// watchFiring polls until sc.Expect fires and its notification is
// recorded, or Timeout passes.
func (r *Runner) watchFiring(parent context.Context, x *run) error {
	e, a := r.env, x.sc.Expect
	ctx, cancel := context.WithDeadline(parent, x.causeT.Add(r.c.Timeout))
	defer cancel()
	t := time.NewTicker(r.c.Poll)
	defer t.Stop()
	var (
		lastErr    error
		seenFiring time.Time // firing in the alerts API
	)
	for {
		// The symptom is stored before any rule can see it, so looking
		// for it first keeps the steps in time order as they are observed.
		if !x.has(StepFirstBad) {
			if t, ok, err := e.firstBad(ctx, x.sc.Symptom, x.causeT); err != nil {
				lastErr = fmt.Errorf("the Prometheus query API: %w", err)
			} else if ok {
				x.add(StepFirstBad, t, x.sc.Symptom.What+": "+x.sc.Symptom.Series)
			}
		}
		state, activeAt, err := e.activeAlert(ctx, a)
		if err != nil {
			lastErr = fmt.Errorf("the Prometheus alerts API: %w", err)
		}
		if state != "" && !x.has(StepPending) && !activeAt.Before(x.causeT.Add(-time.Second)) {
			x.add(StepPending, activeAt, a.String())
		}
		if state == "firing" && !x.has(StepFiring) && seenFiring.IsZero() {
			// When it fired: the first ALERTS{alertstate="firing"} sample
			// the rule manager wrote; without one, when it was seen here,
			// or its notification's time if that is earlier.
			seenFiring = time.Now()
			if t, ok, err := e.firedAt(ctx, a, x.causeT); err == nil && ok {
				x.add(StepFiring, t, a.String())
			}
		}
		if !seenFiring.IsZero() && !x.has(StepNotification) {
			n, ok, err := e.findNotification(ctx, a, "firing", x.causeT)
			switch {
			case err != nil:
				lastErr = fmt.Errorf("notifier: %w", err)
			case ok:
				if !x.has(StepFiring) {
					x.add(StepFiring, minTime(seenFiring, n.CreatedAt), a.String())
				}
				x.add(StepNotification, n.CreatedAt, fmt.Sprintf("%s (%s, %s)", n.Title, n.Severity, n.ID))
				return nil
			}
		}
		select {
		case <-ctx.Done():
			if !seenFiring.IsZero() && !x.has(StepFiring) {
				x.add(StepFiring, seenFiring, a.String())
			}
			if parent.Err() != nil {
				return fmt.Errorf("interrupted while waiting for %s: %w", a, parent.Err())
			}
			missing := "firing"
			switch {
			case x.has(StepFiring):
				missing = "its notification"
			case x.has(StepPending):
				missing = "firing (pending since " + fmtOffset(x.causeT, x.res.Events, StepPending) + ")"
			}
			err := fmt.Errorf("%s: no %s within %s of the cause", a, missing, r.c.Timeout)
			if lastErr != nil {
				err = fmt.Errorf("%w; last error: %w", err, lastErr)
			}
			return err
		case <-t.C:
		}
	}
}

// watchResolved polls until sc.Expect is neither pending nor firing, and
// takes the time from its resolved notification when there is one.
func (r *Runner) watchResolved(ctx context.Context, x *run, restoredAt time.Time) error {
	e, a := r.env, x.sc.Expect
	if err := r.waitInactive(ctx, a, r.c.ResolveTimeout); err != nil {
		return fmt.Errorf("after the restore: %w", err)
	}
	seen := time.Now()
	// Alertmanager sends no resolved notification for info alerts; the
	// embedded engine's webhook does, shortly after the evaluation.
	deadline := time.Now().Add(5 * time.Second)
	for {
		n, ok, err := e.findNotification(ctx, a, "resolved", restoredAt)
		if err == nil && ok {
			x.add(StepResolved, n.CreatedAt, fmt.Sprintf("%s (%s)", n.Title, n.ID))
			return nil
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			x.add(StepResolved, seen, "gone from the alerts API (no resolved notification)")
			return nil
		}
		time.Sleep(r.c.Poll)
	}
}

// waitInactive waits until a is neither pending nor firing.
func (r *Runner) waitInactive(ctx context.Context, a Alert, within time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, within)
	defer cancel()
	var (
		state   string
		lastErr error
	)
	for {
		var err error
		state, _, err = r.env.activeAlert(ctx, a)
		if err == nil && state == "" {
			return nil
		}
		if err != nil {
			lastErr = err
		}
		select {
		case <-ctx.Done():
			if lastErr != nil && state == "" {
				return fmt.Errorf("the Prometheus alerts API: %w", lastErr)
			}
			return fmt.Errorf("%s still %s after %s", a, state, within)
		case <-time.After(r.c.Poll):
		}
	}
}

// startLoad starts the runner's load and the scenario's own; the returned
// function stops both and waits for them.
func (r *Runner) startLoad(ctx context.Context, sc Scenario, log *slog.Logger) (stop func()) {
	var cfgs []load.Config
	if r.c.LoadRate > 0 {
		cfgs = append(cfgs, load.Config{Rate: r.c.LoadRate, ThinkTime: time.Second})
	}
	if sc.Load != nil {
		cfgs = append(cfgs, *sc.Load)
	}
	lctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	var wg sync.WaitGroup
	for i, c := range cfgs {
		c.Target, c.Users, c.Seed, c.Grace = r.c.Gateway, 3, int64(100+i), -1
		c.Logger = log.With("component", "load")
		g, err := load.New(c)
		if err != nil {
			log.ErrorContext(ctx, "load not started", "err", err)
			continue
		}
		wg.Go(func() { _, _ = g.Run(lctx) })
	}
	return func() { cancel(); wg.Wait() }
}

func fmtOffset(cause time.Time, evs []Event, step string) string {
	for _, e := range evs {
		if e.Step == step {
			return "+" + e.At.Sub(cause).Round(100*time.Millisecond).String()
		}
	}
	return "?"
}
