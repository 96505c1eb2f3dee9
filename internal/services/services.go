// Package services is the one table of CloudCart's services: each
// service's name, job, default port, HTTP metric names and chaos
// capabilities, written once. Everything else derives from it: `cloudcart
// run` and `serve` (internal/fleet), the embedded engine's scrape config,
// the metrics aggregator's targets, the scenarios (internal/scenario) and
// the console (internal/console). Adding a service is one entry in All
// plus its package and its wiring in internal/fleet.
//
// The package imports only the domain and httpkit, so every consumer can
// import it without a cycle.
package services

import (
	"strings"

	"github.com/cloudcart/cloudcart/internal/cloudcart"
	"github.com/cloudcart/cloudcart/internal/httpkit"
)

// Service describes one deployable service.
type Service struct {
	// Name is its `cloudcart serve` name, its flag prefix (<name>.port),
	// its chaos target and its key in --aggregator.targets, e.g. "orders".
	Name string
	// ServiceName is its OTel service.name and Prometheus job, e.g.
	// "order-service" (docs/naming.md).
	ServiceName string
	Port        int // default port
	// Prefix starts the names of its own metrics: "order" gives
	// order_errors_total, order_db_query_duration_seconds, … ("" for the
	// gateway, whose families reference 002 names without one).
	Prefix string
	// HTTP names its HTTP instruments (reference 002 / docs/naming.md).
	HTTP httpkit.MetricNames
	// Chaos: the chaos middleware runs in front of its routes, so faults
	// can be set on it (every service but the chaos service, whose API
	// switches faults off).
	Chaos bool
	// Outage: an outage fault may take it off the network (scenario
	// service-down). Never the chaos service, nor the notification worker
	// through which alerts about the outage travel
	// (cloudcart.ChaosFaults.Outage).
	Outage bool
}

// RequestsFamily is the Prometheus name of its HTTP requests counter, e.g.
// order_http_requests_total.
func (s Service) RequestsFamily() string { return promName(s.HTTP.Requests) + "_total" }

// DurationFamily is the Prometheus name of its HTTP duration histogram (in
// seconds), e.g. order_http_request_duration_seconds.
func (s Service) DurationFamily() string { return promName(s.HTTP.Duration) + "_seconds" }

// promName is the Prometheus exporter's translation of an OTel name.
func promName(otel string) string { return strings.NewReplacer(".", "_", "-", "_").Replace(otel) }

// Table is a list of services in start order.
type Table []Service

// All is CloudCart's fleet, in start order.
var All = Table{
	{Name: "users", ServiceName: "user-service", Port: 8001,
		Prefix: "user", HTTP: httpkit.ServiceMetricNames("user", "user.request.duration"), Chaos: true, Outage: true},
	{Name: "products", ServiceName: "product-service", Port: 8002,
		Prefix: "product", HTTP: httpkit.ServiceMetricNames("product", "product.request.duration"), Chaos: true, Outage: true},
	{Name: "orders", ServiceName: "order-service", Port: 8003,
		Prefix: "order", HTTP: httpkit.ServiceMetricNames("order", "order.http.request.duration"), Chaos: true, Outage: true},
	{Name: cloudcart.ChaosServiceTarget, ServiceName: "chaos-service", Port: 8004,
		Prefix: "chaos", HTTP: httpkit.ServiceMetricNames("chaos", "chaos.request.duration")},
	{Name: cloudcart.ChaosNotifierTarget, ServiceName: "notification-worker", Port: 8005,
		Prefix: "notification", HTTP: httpkit.ServiceMetricNames("notification", "notification.http.request.duration"), Chaos: true},
	// The gateway comes late: it proxies to the services built before it.
	{Name: "gateway", ServiceName: "api-gateway", Port: 8080,
		// http_requests_total{method,route,status},
		// http_request_duration_seconds{method,route,status} and
		// http_requests_in_flight (reference 002 §2.1).
		HTTP: httpkit.MetricNames{Requests: "http.requests", Duration: "http.request.duration",
			InFlight: "http.requests.in_flight", RouteLabel: "route", DurationHasStatus: true},
		Chaos: true, Outage: true},
	// The aggregator comes last: it scrapes every service built before it.
	{Name: "aggregator", ServiceName: "metrics-aggregator", Port: 8006,
		Prefix: "aggregator", HTTP: httpkit.ServiceMetricNames("aggregator", "aggregator.http.request.duration"), Chaos: true, Outage: true},
}

// Prometheus is the embedded engine: part of the plan (its port flag, its
// own scrape job) beside the services, inside `cloudcart run` or alone as
// `cloudcart serve prometheus` (the engine role: engine, console, trace
// store and OTLP receiver). It is not a row of All: it scrapes the fleet
// rather than being one of its services.
var Prometheus = Service{Name: PrometheusName, ServiceName: PrometheusJob, Port: 9090}

const (
	// PrometheusName is the embedded engine's serve name and port flag
	// prefix (--prometheus.port).
	PrometheusName = "prometheus"
	// PrometheusJob is the embedded engine's own job and service name.
	PrometheusJob = "cloudcart-prometheus"
)

// Lookup finds a service by its serve name.
func (t Table) Lookup(name string) (Service, bool) {
	for _, s := range t {
		if s.Name == name {
			return s, true
		}
	}
	return Service{}, false
}

// MustLookup is Lookup for a name written in code (tests, wiring): it
// panics when t has no such service.
func (t Table) MustLookup(name string) Service {
	s, ok := t.Lookup(name)
	if !ok {
		panic("services: no service " + name)
	}
	return s
}

// Names are the serve names, in order.
func (t Table) Names() []string {
	out := make([]string, 0, len(t))
	for _, s := range t {
		out = append(out, s.Name)
	}
	return out
}

// Planned is the table and the embedded engine: every port of the plan.
func (t Table) Planned() Table { return append(t[:len(t):len(t)], Prometheus) }

// ChaosTargets are the names faults can be set on, without
// cloudcart.ChaosTargetAll.
func (t Table) ChaosTargets() []string {
	var out []string
	for _, s := range t {
		if s.Chaos {
			out = append(out, s.Name)
		}
	}
	return out
}

// OutageTargets are the services an outage fault may stop, name → job.
func (t Table) OutageTargets() map[string]string {
	out := map[string]string{}
	for _, s := range t {
		if s.Outage {
			out[s.Name] = s.ServiceName
		}
	}
	return out
}

// With returns a copy of t with the named service replaced by what edit
// makes of it: tests derive a modified fleet from it.
func (t Table) With(name string, edit func(*Service)) Table {
	out := append(Table(nil), t...)
	for i := range out {
		if out[i].Name == name {
			edit(&out[i])
		}
	}
	return out
}
