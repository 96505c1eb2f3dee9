package fleet

import (
	"context"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/cloudcart/cloudcart/internal/aggregator"
	"github.com/cloudcart/cloudcart/internal/httpkit"
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
}

// httpFamilies are each service's HTTP requests counter and duration
// histogram (docs/naming.md), the families the aggregator reads.
var httpFamilies = map[string][2]string{
	"gateway":    {"http_requests_total", "http_request_duration_seconds"},
	"users":      {"user_http_requests_total", "user_request_duration_seconds"},
	"products":   {"product_http_requests_total", "product_request_duration_seconds"},
	"orders":     {"order_http_requests_total", "order_http_request_duration_seconds"},
	"chaos":      {"chaos_http_requests_total", "chaos_request_duration_seconds"},
	"notifier":   {"notification_http_requests_total", "notification_http_request_duration_seconds"},
	"aggregator": {"aggregator_http_requests_total", "aggregator_http_request_duration_seconds"},
}

// serviceNames are the jobs of the plan's services, for targets given by
// flag.
var serviceNames = map[string]string{
	"gateway": "api-gateway", "users": "user-service", "products": "product-service", "orders": "order-service",
	"chaos": "chaos-service", "notifier": "notification-worker", "aggregator": "metrics-aggregator",
}

func aggregatorTarget(name, base string) (aggregator.Target, error) {
	f, ok := httpFamilies[name]
	if !ok {
		return aggregator.Target{}, fmt.Errorf("unknown service %q", name)
	}
	if u, err := url.Parse(base); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return aggregator.Target{}, fmt.Errorf("%s: %q is not an http(s) URL", name, base)
	}
	return aggregator.Target{Service: serviceNames[name], URL: base, Requests: f[0], Duration: f[1]}, nil
}

// aggregatorTargets resolves what the aggregator scrapes (see
// AggregatorConfig.Targets).
func aggregatorTargets(env *Env) ([]aggregator.Target, error) {
	var out []aggregator.Target
	switch {
	case len(env.Aggregator.Targets) > 0:
		for _, kv := range env.Aggregator.Targets {
			name, base, ok := strings.Cut(strings.TrimSpace(kv), "=")
			if !ok {
				return nil, fmt.Errorf("aggregator target %q must be NAME=URL", kv)
			}
			t, err := aggregatorTarget(name, base)
			if err != nil {
				return nil, fmt.Errorf("aggregator target: %w", err)
			}
			out = append(out, t)
		}
	case env.AllInOne:
		for _, b := range env.Built {
			if _, ok := httpFamilies[b.Service.Name]; ok && b.Service.Name != env.Service.Name {
				t, err := aggregatorTarget(b.Service.Name, b.Server.URL())
				if err != nil {
					return nil, err
				}
				out = append(out, t)
			}
		}
	default:
		for _, p := range Planned {
			if _, ok := httpFamilies[p.Name]; !ok || p.Name == env.Service.Name {
				continue
			}
			port, ok := env.Ports[p.Name]
			if !ok {
				port = p.Port
			}
			t, err := aggregatorTarget(p.Name, "http://"+net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
			if err != nil {
				return nil, err
			}
			out = append(out, t)
		}
	}
	return out, nil
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
		Interval: env.Aggregator.Interval, Window: env.Aggregator.Window,
		Meter: meter, Logger: env.Log,
	})
	if err != nil {
		return err
	}
	u.Workers = append(u.Workers, agg.Run)
	return u.serve(env, httpkit.ServiceMetricNames("aggregator", "aggregator.http.request.duration"), agg.Handler(), true)
}
