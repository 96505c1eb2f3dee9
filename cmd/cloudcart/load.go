package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"golang.org/x/term"

	"github.com/cloudcart/cloudcart/internal/fleet"
	"github.com/cloudcart/cloudcart/internal/load"
)

// cmdLoad drives a fleet through its gateway with simulated shoppers until
// --duration has passed or Ctrl-C, showing progress on stderr, then prints
// the summary on stdout.
func cmdLoad(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("load", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var (
		cfg          load.Config
		journeys     string
		asJSON       bool
		maxErrorRate float64
		interval     time.Duration
		grace        time.Duration
		logLevel     string
	)
	fs.StringVar(&cfg.Target, "target", load.DefaultTarget, "base URL of the API gateway")
	fs.Float64Var(&cfg.Rate, "rate", 10, "journeys started per second, on schedule however slow the answers (open model)")
	fs.DurationVar(&cfg.Duration, "duration", 0, "how long journeys keep starting (0 = until Ctrl-C)")
	fs.IntVar(&cfg.Concurrency, "concurrency", 0, "most journeys in flight; a journey due beyond it is dropped and counted, not delayed (0 = rate × 30 s, at least 64)")
	fs.DurationVar(&cfg.RampUp, "ramp-up", 0, "raise the rate linearly from 0 to --rate over this long")
	fs.Int64Var(&cfg.Seed, "seed", 1, "seed of every choice: journeys, users, products, quantities, think times")
	fs.IntVar(&cfg.Users, "users", load.DefaultUsers, "simulated users; each registers and logs in once (bcrypt makes logins slow on purpose) and reuses its token")
	fs.DurationVar(&cfg.ThinkTime, "think-time", time.Second, "mean pause between the steps of a journey (0 = none)")
	fs.StringVar(&journeys, "journeys", "", "journey weights NAME=WEIGHT,... of browse, search, order, order-cancel, account (default browse=40,search=20,order=20,order-cancel=5,account=15)")
	fs.DurationVar(&grace, "grace", load.DefaultGrace, "when journeys stop starting, how long those in flight may finish (0 = not at all)")
	fs.BoolVar(&asJSON, "json", false, "print the summary as JSON")
	fs.Float64Var(&maxErrorRate, "max-error-rate", -1, "exit 1 when errors (5xx and no answer) exceed this share of requests, e.g. 0.01 (negative = never)")
	fs.DurationVar(&interval, "interval", 0, "progress on stderr every this long (0 = 1s on a terminal, 10s otherwise; -1s = no progress)")
	fs.StringVar(&logLevel, "log.level", "warn", "log level: debug (every failed journey), info, warn, error")
	if err := applyEnv(fs); err != nil {
		return err
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("load takes no arguments, got %q", fs.Args())
	}
	if journeys != "" {
		mix, err := load.ParseMix(journeys)
		if err != nil {
			return fmt.Errorf("--journeys: %w", err)
		}
		cfg.Journeys = mix
	}
	cfg.Grace = grace
	if grace <= 0 {
		cfg.Grace = -1 // none
	}
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(logLevel)); err != nil {
		return fmt.Errorf("--log.level: %w", err)
	}
	cfg.Logger = slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: lvl})).With("component", "load")
	g, err := load.New(cfg)
	if err != nil {
		return err
	}
	if err := reachable(ctx, cfg.Target); err != nil {
		return err
	}

	// Progress goes on while journeys in flight finish after Ctrl-C.
	pctx, stopProgress := context.WithCancel(context.WithoutCancel(ctx))
	progressDone := make(chan struct{})
	go func() {
		defer close(progressDone)
		if interval >= 0 {
			load.Progress{W: stderr, TTY: isTerminal(stderr), Interval: interval}.Run(pctx, g)
		}
	}()
	// A second Ctrl-C ends the journeys in flight at once.
	go func() {
		select {
		case <-pctx.Done():
			return
		case <-ctx.Done():
		}
		again := make(chan os.Signal, 1)
		signal.Notify(again, os.Interrupt, syscall.SIGTERM)
		defer signal.Stop(again)
		select {
		case <-pctx.Done():
		case <-again:
			g.Abort()
		}
	}()
	sum, err := g.Run(ctx)
	stopProgress()
	<-progressDone
	if err != nil {
		return err
	}
	if asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		err = enc.Encode(sum)
	} else {
		err = load.WriteSummary(stdout, sum)
	}
	if err != nil {
		return err
	}
	if maxErrorRate >= 0 && sum.ErrorRate > maxErrorRate {
		return fmt.Errorf("error rate %.4f (%d of %d requests) is above --max-error-rate %g", sum.ErrorRate, sum.Errors, sum.Requests, maxErrorRate)
	}
	return nil
}

// reachable fails fast, with a hint, when nothing answers at the target.
func reachable(ctx context.Context, target string) error {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, target+"/healthz", nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("nothing answers at --target %s (is `cloudcart run` running?): %w", target, err)
	}
	resp.Body.Close()
	return nil
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// backgroundLoad is `cloudcart run`'s gentle load, so every dashboard has
// data the moment someone looks.
type backgroundLoad struct {
	rate  float64
	users int
	think time.Duration
}

func (b *backgroundLoad) register(fs *flag.FlagSet) {
	fs.Float64Var(&b.rate, "load.rate", 2, "background load: shopper journeys per second through the gateway, so dashboards have data (0 = off; cloudcart load drives more)")
	fs.IntVar(&b.users, "load.users", 2, "background load: simulated users (each logs in once: bcrypt, slow on purpose)")
	fs.DurationVar(&b.think, "load.think-time", time.Second, "background load: mean pause between the steps of a journey")
}

// start runs the background load against f's gateway once every service
// is ready, until ctx is done or the returned function, which waits for it
// to stop, is called.
func (b *backgroundLoad) start(ctx context.Context, f *fleet.Fleet, log *slog.Logger) (stop func()) {
	if b.rate <= 0 {
		return func() {}
	}
	ctx, cancel := context.WithCancel(ctx)
	log = log.With("component", "load")
	g, err := load.New(load.Config{Target: f.URL("gateway"), Rate: b.rate, Users: b.users, ThinkTime: b.think,
		Seed: 1, Grace: -1, Logger: log})
	if err != nil {
		log.ErrorContext(ctx, "background load not started", "err", err)
		cancel()
		return func() {}
	}
	log.InfoContext(ctx, "background load starts when the fleet is ready", "journeys_per_second", b.rate, "users", b.users,
		"off", "--load.rate 0")
	done := make(chan struct{})
	go func() {
		defer close(done)
		if !fleetReady(ctx, f, time.Minute) {
			if ctx.Err() == nil {
				log.WarnContext(ctx, "background load not started: the fleet was not ready within a minute")
			}
			return
		}
		// An occasional summary for --log.level debug; nothing otherwise.
		tick := time.NewTicker(time.Minute)
		defer tick.Stop()
		go func() {
			for {
				select {
				case <-ctx.Done():
					return
				case <-tick.C:
					s := g.Snapshot()
					log.DebugContext(ctx, "background load", "journeys", s.JourneysStarted, "failed", s.JourneysFailed,
						"requests", s.Requests, "errors", s.Errors, "p99", s.Latency.P99)
				}
			}
		}()
		if _, err := g.Run(ctx); err != nil {
			log.ErrorContext(ctx, "background load", "err", err)
		}
	}()
	return func() { cancel(); <-done }
}

// fleetReady waits until every service of f answers /readyz.
func fleetReady(ctx context.Context, f *fleet.Fleet, within time.Duration) bool {
	ctx, cancel := context.WithTimeout(ctx, within)
	defer cancel()
	client := &http.Client{Timeout: 2 * time.Second}
	for _, u := range f.Units() {
		for {
			req, _ := http.NewRequestWithContext(ctx, http.MethodGet, u.Server.URL()+"/readyz", nil)
			resp, err := client.Do(req)
			if err == nil {
				resp.Body.Close()
				if resp.StatusCode == http.StatusOK {
					break
				}
			}
			select {
			case <-ctx.Done():
				return false
			case <-time.After(100 * time.Millisecond):
			}
		}
	}
	return true
}
