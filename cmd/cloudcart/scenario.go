package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/cloudcart/cloudcart/internal/authn"
	"github.com/cloudcart/cloudcart/internal/chaos"
	"github.com/cloudcart/cloudcart/internal/scenario"
	"github.com/cloudcart/cloudcart/internal/services"
)

// cmdScenario runs failure scenarios against a running fleet and prints
// each one's timeline from cause to notification; `scenario list`
// describes them. It exits non-zero when a scenario's alert did not fire,
// was not notified or did not resolve in time.
func cmdScenario(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("scenario", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: cloudcart scenario [flags] NAME... | all | list\n\nScenarios: %s\n\nFlags:\n", strings.Join(scenario.Names(), ", "))
		fs.PrintDefaults()
	}
	var (
		c         scenario.Config
		tokenFile string
		svcFile   string
		service   string
		noWait    bool
		asJSON    bool
		logLevel  string
	)
	fs.StringVar(&c.Gateway, "target", scenario.DefaultGateway, "base URL of the API gateway (load, and the bulk order of low-stock)")
	fs.StringVar(&c.Prometheus, "prometheus", scenario.DefaultPrometheus, "base URL of the Prometheus API (alerts, samples)")
	fs.StringVar(&c.Chaos, "chaos", scenario.DefaultChaos, "base URL of the chaos service's admin API")
	fs.StringVar(&c.Notifier, "notifier", scenario.DefaultNotifier, "base URL of the notification worker (GET /notifications)")
	fs.StringVar(&c.Orders, "orders", scenario.DefaultOrders, "base URL of the order service (POST /simulate of error-spike)")
	fs.StringVar(&c.ChaosToken, "chaos.token", "", "bearer token of the chaos admin API (default: read from --chaos.token-file)")
	fs.StringVar(&tokenFile, "chaos.token-file", filepath.Join("data", "chaos.token"), "file holding the chaos admin token (cloudcart run writes <data-dir>/chaos.token)")
	fs.StringVar(&c.ServiceToken, "service-token", "", "the fleet's service credential, for error-spike's POST /simulate on an order service without --orders.demo-endpoints (default: read from --service-token-file if it exists); prefer CLOUDCART_SERVICE_TOKEN")
	fs.StringVar(&svcFile, "service-token-file", filepath.Join("data", authn.ServiceTokenFile), "file holding the service credential (cloudcart run writes <data-dir>/service.token)")
	fs.StringVar(&c.AdminEmail, "users.admin-email", "", "the fleet's admin account, which low-stock needs to restock (the same as cloudcart run's; without it low-stock is skipped)")
	fs.StringVar(&c.AdminPassword, "users.admin-password", "", "its password (prefer CLOUDCART_USERS_ADMIN_PASSWORD, as for cloudcart run)")
	fs.StringVar(&service, "service", "orders", "the service service-down stops: "+strings.Join(outageNames(), ", "))
	fs.DurationVar(&c.Timeout, "timeout", scenario.DefaultTimeout, "per scenario: most time from the cause to the alert firing and notified")
	fs.DurationVar(&c.ResolveTimeout, "resolve-timeout", scenario.DefaultResolveTimeout, "per scenario: most time for the alert to resolve after the restore (and for an earlier one to end before the cause)")
	fs.BoolVar(&noWait, "no-restore-wait", false, "restore, but do not wait for the alert to resolve")
	fs.BoolVar(&c.Reset, "reset", false, "clear chaos faults left configured by someone else before each scenario (default: refuse to start and name them)")
	fs.Float64Var(&c.LoadRate, "load.rate", 2, "shopper journeys per second the command adds during each scenario (0: rely on the fleet's background load)")
	fs.BoolVar(&asJSON, "json", false, "print the results as JSON on stdout (progress still goes to stderr)")
	fs.StringVar(&logLevel, "log.level", "warn", "log level on stderr: debug, info, warn, error")
	if err := applyEnv(fs); err != nil {
		return err
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if _, ok := scenario.OutageTargets(services.All)[service]; !ok {
		return fmt.Errorf("--service %q: want one of %s", service, strings.Join(outageNames(), ", "))
	}
	all := scenario.All(service)
	names := fs.Args()
	switch {
	case len(names) == 0:
		fs.Usage()
		return errors.New("name a scenario, all, or list")
	case len(names) == 1 && names[0] == "list":
		if asJSON {
			return writeJSON(stdout, all)
		}
		return scenario.WriteList(stdout, all)
	case len(names) == 1 && names[0] == "all":
		names = scenario.Names()
	}
	var scs []scenario.Scenario
	for _, n := range names {
		sc, ok := scenario.Lookup(n, service)
		if !ok {
			return fmt.Errorf("unknown scenario %q, want one of %s, all or list", n, strings.Join(scenario.Names(), ", "))
		}
		scs = append(scs, sc)
	}

	if c.ChaosToken == "" {
		tok, err := chaos.ReadToken(tokenFile)
		if err != nil {
			return fmt.Errorf("%w (set --chaos.token, or --chaos.token-file to the <data-dir>/chaos.token of the fleet)", err)
		}
		c.ChaosToken = tok
	}
	if c.ServiceToken == "" {
		c.ServiceToken = os.Getenv("CLOUDCART_SERVICE_TOKEN")
	}
	if c.ServiceToken == "" {
		if tok, err := authn.ReadServiceToken(svcFile); err == nil {
			c.ServiceToken = tok
		} // none: /simulate works only with the demo endpoints on
	}
	if noWait {
		c.ResolveTimeout = -1
	}
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(logLevel)); err != nil {
		return fmt.Errorf("--log.level: %w", err)
	}
	c.Logger = slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: lvl}))
	c.Observe = func(sc scenario.Scenario, e scenario.Event) {
		fmt.Fprintf(stderr, "  %-9s %-17s %s\n", scenario.FormatOffset(e.Offset), e.Step, e.Detail)
	}
	r, err := scenario.New(c)
	if err != nil {
		return err
	}

	var (
		results []scenario.Result
		failed  []string
		skipped []string
	)
	for _, sc := range scs {
		if ctx.Err() != nil {
			break
		}
		fmt.Fprintf(stderr, "%s: %s, expecting %s (%s)\n", sc.Name, sc.Cause, sc.Expect, sc.Severity)
		start := time.Now()
		res := r.Run(ctx, sc)
		results = append(results, res)
		switch {
		case res.Skipped:
			skipped = append(skipped, sc.Name)
		case !res.Passed:
			failed = append(failed, sc.Name)
		}
		if !asJSON {
			if !res.Skipped {
				fmt.Fprintf(stdout, "%s (%s in all)\n", sc.Name, scenario.FormatDuration(time.Since(start)))
			}
			if err := scenario.WriteTimeline(stdout, res); err != nil {
				return err
			}
		}
	}
	if asJSON {
		if err := writeJSON(stdout, results); err != nil {
			return err
		}
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if len(failed) > 0 {
		return fmt.Errorf("%d of %d scenarios failed: %s", len(failed), len(results), strings.Join(slices.Compact(failed), ", "))
	}
	if len(skipped) > 0 && !asJSON {
		fmt.Fprintf(stdout, "%d passed, %d skipped (%s)\n", len(results)-len(skipped), len(skipped), strings.Join(skipped, ", "))
	}
	return nil
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// outageNames are the services service-down can stop, in table order.
func outageNames() []string {
	var out []string
	for _, s := range services.All {
		if s.Outage {
			out = append(out, s.Name)
		}
	}
	return out
}
