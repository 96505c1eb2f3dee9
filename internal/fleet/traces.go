package fleet

import (
	"fmt"
	"net"
	"net/http"
	"strconv"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/cloudcart/cloudcart/internal/cloudcart"
	"github.com/cloudcart/cloudcart/internal/httpkit"
	"github.com/cloudcart/cloudcart/internal/logstore"
	"github.com/cloudcart/cloudcart/internal/otlpin"
	"github.com/cloudcart/cloudcart/internal/promengine"
	"github.com/cloudcart/cloudcart/internal/services"
	"github.com/cloudcart/cloudcart/internal/tracestore"
)

// TracesConfig configures the trace store of `cloudcart run` and its OTLP
// receiver (docs/traces.md).
type TracesConfig struct {
	MaxBytes  int64 // tracestore.Options.MaxBytes
	KeepBytes int64 // tracestore.Options.KeepBytes
	// OTLPListen is where the OTLP/HTTP receiver listens (/v1/traces into
	// the store, /v1/metrics into the embedded TSDB); empty: no receiver.
	OTLPListen       string
	OTLPMaxBodyBytes int64
	// OTLPOptional: when OTLPListen is taken (the compose stack's Collector
	// also publishes 4318), run without the receiver and warn, instead of
	// failing. For the default address; one given explicitly must work.
	OTLPOptional bool
	// LogBytes, under `cloudcart run`, keeps the latest log lines written
	// inside a span, by trace id, within this budget (internal/logstore;
	// --logs.max-bytes); 0: none.
	LogBytes int64
}

// newTraceStore builds the in-memory trace store when the process runs
// the embedded engine, which serves it.
func newTraceStore(cfg Config) *tracestore.Store {
	if cfg.Traces == nil || cfg.Prometheus == nil {
		return nil
	}
	return tracestore.New(tracestore.Options{MaxBytes: cfg.Traces.MaxBytes, KeepBytes: cfg.Traces.KeepBytes})
}

// newLogStore builds the store of log lines by trace id when the process
// runs the services and the engine (cloudcart run): their lines, with the
// engine to serve them.
func newLogStore(cfg Config, names []string) *logstore.Store {
	if cfg.Traces == nil || cfg.Prometheus == nil || cfg.Traces.LogBytes <= 0 || (len(names) == 1 && names[0] == EngineRole) {
		return nil
	}
	return logstore.New(logstore.Options{MaxBytes: cfg.Traces.LogBytes})
}

// withTraces mounts Jaeger's query API (/api/services, /api/traces) beside
// the engine's /api/v1 on mux, registers the store's metrics, and adds the
// OTLP receiver to the engine's unit as a server of its own.
func withTraces(env *Env, mux *http.ServeMux, reg prometheus.Registerer, eng *promengine.Engine, u *Unit) error {
	st := env.traces
	if st == nil {
		return nil
	}
	if err := reg.Register(st.Collector()); err != nil {
		return err
	}
	jaeger := st.Handler()
	for _, p := range []string{"/api/services", "/api/services/", "/api/traces", "/api/traces/"} {
		mux.Handle(p, jaeger)
	}
	if env.logs != nil {
		if err := reg.Register(env.logs.Collector()); err != nil {
			return err
		}
		mux.Handle("/api/logs", env.logs.APIHandler())
	}
	if env.Traces.OTLPListen == "" {
		return nil
	}
	rc, err := otlpin.New(otlpin.Options{Traces: st, Metrics: eng.OTLPMetricsHandler(),
		MaxBodyBytes: env.Traces.OTLPMaxBodyBytes, Logger: env.Log, Registerer: reg})
	if err != nil {
		return err
	}
	srv := &httpkit.Server{
		Addr:    env.Traces.OTLPListen,
		Handler: rc.Handler(),
		Logger:  env.Log.With("component", "otlp-receiver"),
		// The receiver bounds bodies itself, answering 413 in JSON.
		MaxBodyBytes: max(env.Traces.OTLPMaxBodyBytes, otlpin.DefaultMaxBodyBytes) + 1,
	}
	if err := srv.Listen(); err != nil {
		if env.Traces.OTLPOptional {
			env.Log.Warn("OTLP/HTTP receiver off: its address is taken (another Collector or cloudcart?); set --otlp.listen to choose one", "addr", env.Traces.OTLPListen, "err", err)
			return nil
		}
		return fmt.Errorf("--otlp.listen: %w", err)
	}
	env.Log.Info("OTLP/HTTP receiver listening", "url", srv.URL())
	u.Workers = append(u.Workers, srv.Serve)
	u.otlpURL = srv.URL()
	return nil
}

// OTLPURL is the base URL of the OTLP/HTTP receiver, "" when there is none.
func (f *Fleet) OTLPURL() string {
	for _, u := range f.units {
		if u.otlpURL != "" {
			return u.otlpURL
		}
	}
	return ""
}

// EngineRole is the `cloudcart serve` name of the embedded engine run
// alone: Prometheus (TSDB, scrape, rules, API), the console, the trace
// store and the OTLP receiver, for a fleet of single-service processes
// that sends its metrics and traces to one place.
const EngineRole = services.PrometheusName

// newEngineAlone builds the engine as its own process: it scrapes the
// fleet's services (PrometheusConfig.Targets, else each at 127.0.0.1 on
// its configured port, as the aggregator does under serve), takes spans
// over OTLP only, and sends alerts to the notification worker it scrapes
// unless told otherwise.
func newEngineAlone(cfg Config) (*Fleet, error) {
	if cfg.Prometheus == nil {
		return nil, fmt.Errorf("%s: no engine configuration", EngineRole)
	}
	targets, err := engineTargets(cfg)
	if err != nil {
		return nil, err
	}
	if err := prepareDataDir(cfg.DataDir, cfg.Logger); err != nil {
		return nil, err
	}
	f := &Fleet{log: cfg.Logger, traces: newTraceStore(cfg)}
	for _, t := range targets {
		if t.Service.Name == cloudcart.ChaosNotifierTarget && cfg.Prometheus.AlertmanagerURL == "" && cfg.Prometheus.WebhookURL == "" {
			pc := *cfg.Prometheus
			pc.WebhookURL = "http://" + t.Server.Addr + "/alerts"
			cfg.Prometheus = &pc
		}
	}
	s := Service{Service: services.Prometheus}
	u, err := buildPrometheus(&Env{Config: cfg, Service: s, Log: cfg.Logger.With("component", PrometheusJob), traces: f.traces}, targets)
	if err != nil {
		return nil, err
	}
	f.units = []*Unit{u}
	return f, nil
}

// engineTargets are the services the engine run alone scrapes, as units
// of other processes (an address, no listener): --prometheus.targets, or
// every service of the table at 127.0.0.1 on its configured port.
func engineTargets(cfg Config) ([]*Unit, error) {
	remote := func(d services.Service, hostport string) *Unit {
		return &Unit{Service: Service{Service: d}, Server: &httpkit.Server{Addr: hostport}}
	}
	var out []*Unit
	if len(cfg.Prometheus.Targets) == 0 {
		for _, d := range cfg.table() {
			out = append(out, remote(d, net.JoinHostPort("127.0.0.1", strconv.Itoa(cfg.Port(d.Name)))))
		}
		return out, nil
	}
	seen := map[string]bool{}
	for _, kv := range cfg.Prometheus.Targets {
		d, u, err := serviceURL(cfg.table(), kv)
		if err != nil {
			return nil, fmt.Errorf("--prometheus.targets: %w", err)
		}
		if u.Scheme != "http" || u.Port() == "" || (u.Path != "" && u.Path != "/") || u.RawQuery != "" {
			return nil, fmt.Errorf("--prometheus.targets: %s: %q: want http://host:port (the engine scrapes <URL>/metrics)", d.Name, u)
		}
		if seen[d.Name] {
			return nil, fmt.Errorf("--prometheus.targets: %s given twice", d.Name)
		}
		seen[d.Name] = true
		out = append(out, remote(d, u.Host))
	}
	return out, nil
}
