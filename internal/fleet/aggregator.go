package fleet

import (
	"context"
	"flag"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/cloudcart/cloudcart/internal/aggregator"
	"github.com/cloudcart/cloudcart/internal/services"
)

// AggregatorConfig configures the metrics aggregator.
type AggregatorConfig struct {
	// Targets are NAME=URL pairs (e.g. orders=http://orders:8003) of the
	// services to scrape. Empty: in `cloudcart run` every other service of
	// the process; under `serve`, every service of the plan on this host at
	// its configured port.
	Targets  []string
	Interval time.Duration // aggregator.DefaultInterval if 0
	Window   time.Duration // aggregator.DefaultWindow if 0
	Timeout  time.Duration // of one scrape; min(Interval, aggregator.DefaultTimeout) if 0
}

// serviceURL parses a NAME=URL setting naming a service of table t at an
// http(s) URL (--aggregator.targets, --prometheus.targets).
func serviceURL(t services.Table, kv string) (services.Service, *url.URL, error) {
	name, base, ok := strings.Cut(strings.TrimSpace(kv), "=")
	if !ok {
		return services.Service{}, nil, fmt.Errorf("%q must be NAME=URL", kv)
	}
	s, ok := t.Lookup(name)
	if !ok {
		return services.Service{}, nil, fmt.Errorf("unknown service %q, want one of %s", name, strings.Join(t.Names(), ", "))
	}
	u, err := url.Parse(base)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return services.Service{}, nil, fmt.Errorf("%s: %q is not an http(s) URL", name, base)
	}
	return s, u, nil
}

// aggregatorTarget is the aggregator's target for the service s at base.
func aggregatorTarget(s services.Service, base string) aggregator.Target {
	return aggregator.Target{Service: s.ServiceName, URL: base, Requests: s.RequestsFamily(), Duration: s.DurationFamily()}
}

// AggregatorTargets are what the aggregator of this configuration scrapes
// outside the all-in-one process: --aggregator.targets when given, else
// every other service of the table on 127.0.0.1 at its configured port.
// self is the aggregator's serve name: it does not scrape itself.
func (c *Config) AggregatorTargets(self string) ([]aggregator.Target, error) {
	return aggregatorTargets(&Env{Config: *c, Service: Service{Service: services.Service{Name: self}}})
}

// aggregatorTargets resolves what the aggregator scrapes (see
// AggregatorConfig.Targets).
func aggregatorTargets(env *Env) ([]aggregator.Target, error) {
	var out []aggregator.Target
	table := env.table()
	switch {
	case len(env.Aggregator.Targets) > 0:
		for _, kv := range env.Aggregator.Targets {
			s, _, err := serviceURL(table, kv)
			if err != nil {
				return nil, fmt.Errorf("aggregator target: %w", err)
			}
			_, base, _ := strings.Cut(strings.TrimSpace(kv), "=")
			out = append(out, aggregatorTarget(s, base))
		}
	case env.AllInOne:
		for _, b := range env.Built {
			if b.Service.Name != env.Service.Name {
				out = append(out, aggregatorTarget(b.Service.Service, b.Server.URL()))
			}
		}
	default:
		for _, s := range table {
			if s.Name == env.Service.Name {
				continue
			}
			out = append(out, aggregatorTarget(s, "http://"+net.JoinHostPort("127.0.0.1", strconv.Itoa(env.Port(s.Name)))))
		}
	}
	return out, nil
}

// aggregatorFlags are the aggregator's flags, and the ports of the
// services it scrapes under serve.
func aggregatorFlags(fs *flag.FlagSet, c *Config) {
	a := &c.Aggregator
	listFlag(fs, &a.Targets, "aggregator.targets", "comma-separated NAME=URL services the aggregator scrapes (default: the in-process services under run, every service on 127.0.0.1 at its port under serve)")
	fs.DurationVar(&a.Interval, "aggregator.interval", 5*time.Second, "how often the aggregator scrapes")
	fs.DurationVar(&a.Window, "aggregator.window", 5*time.Minute, "window of the aggregator's rates and latencies")
	fs.DurationVar(&a.Timeout, "aggregator.timeout", 0, "how long one scrape may take (default: the interval, at most 10s)")
	for _, s := range c.table() {
		portFlag(fs, c, s.Name)
	}
}

// buildAggregator assembles the metrics aggregator. It comes after the
// services it scrapes in Services.
func buildAggregator(ctx context.Context, env *Env, u *Unit) error {
	targets, err := aggregatorTargets(env)
	if err != nil {
		return err
	}
	meter := u.Telemetry.Meter("cloudcart/aggregator")
	agg, err := aggregator.New(aggregator.Options{
		Targets:  func() []aggregator.Target { return targets },
		Interval: env.Aggregator.Interval, Window: env.Aggregator.Window, Timeout: env.Aggregator.Timeout,
		Meter: meter, Logger: env.Log,
	})
	if err != nil {
		return err
	}
	u.Workers = append(u.Workers, agg.Run)
	return u.serve(env, agg.Handler())
}
