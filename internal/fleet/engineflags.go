package fleet

import (
	"flag"
	"fmt"
	"net"
	"time"

	"github.com/alecthomas/units"
	"github.com/prometheus/common/model"
)

// engineFlags are the embedded engine's flags: the engine, its console,
// trace store and OTLP receiver, in `cloudcart run` and in `cloudcart
// serve prometheus` where they run alone. Registered with the engine's
// port (RegisterFlags), they reach the configuration through
// Config.ApplyEngineFlags.
type engineFlags struct {
	pc            PrometheusConfig
	profile       string
	retentionTime model.Duration
	retentionSize string
	tc            TracesConfig
	traceBytes    string
	keepBytes     string
	logBytes      string
	fs            *flag.FlagSet
}

// prometheusFlags registers the engine's flags on fs. The OTLP receiver's
// default address is port 4318 on the --bind default registered before it
// (loopback for run, every interface for serve).
func prometheusFlags(fs *flag.FlagSet, c *Config) {
	e := &engineFlags{retentionTime: model.Duration(15 * 24 * time.Hour), retentionSize: "0",
		traceBytes: "64MiB", keepBytes: "0", logBytes: "0", fs: fs}
	c.engine = e
	pc := &e.pc
	fs.StringVar(&pc.ConfigFile, "prometheus.config", "", "a prometheus.yml to run instead of the generated one (its rule_files, scrape_configs, alerting)")
	fs.StringVar(&pc.AlertmanagerURL, "alertmanager.url", "", "send alerts to this Alertmanager (v2 API), e.g. http://localhost:9093")
	fs.StringVar(&pc.WebhookURL, "alerts.webhook-url", "", "without --alertmanager.url: post alert state changes here as Alertmanager webhook JSON (default: the notification worker's /alerts)")
	fs.Var(&e.retentionTime, "prometheus.retention.time", "how long the embedded TSDB keeps samples")
	fs.StringVar(&e.retentionSize, "prometheus.retention.size", e.retentionSize, "maximum TSDB size, e.g. 512MB (0 = no limit)")
	fs.BoolVar(&pc.EnableAdminAPI, "prometheus.enable-admin-api", false, "enable /api/v1/admin/tsdb/* (snapshot for backups)")
	fs.StringVar(&pc.ExternalURL, "prometheus.external-url", "", "URL users reach the Prometheus API and console at, e.g. behind a proxy (alert links; the console accepts writes addressed to it besides its listen address)")
	fs.StringVar(&e.profile, "profile", "demo", "engine timing: demo (1 s scrape and evaluation; alert 'for' and rule windows × 0.05, at least 10 s and 30 s: docs/alerts.md) or production (15 s, rules as written)")
	fs.StringVar(&e.traceBytes, "traces.max-bytes", e.traceBytes, "memory budget of the in-process trace store, e.g. 64MiB; oldest traces are evicted first; 0 turns the store off (docs/traces.md)")
	fs.StringVar(&e.keepBytes, "traces.keep-bytes", e.keepBytes, "part of --traces.max-bytes where error traces and the slowest 1% live longer (0 = an eighth of it)")
	if c.AllInOne { // the services' lines: in the process that runs them
		e.logBytes = "8MiB"
		fs.StringVar(&e.logBytes, "logs.max-bytes", e.logBytes, "memory budget of the log lines written inside a span, kept by trace id for the trace view (/api/logs); oldest first out; 0 turns it off (docs/traces.md)")
	}
	if !c.AllInOne { // run scrapes the services it runs
		listFlag(fs, &pc.Targets, "prometheus.targets", "comma-separated NAME=URL services to scrape, e.g. orders=http://orders:8003 (default: every service on 127.0.0.1 at its --NAME.port); alerts go to the notifier's /alerts")
	}
	fs.StringVar(&e.tc.OTLPListen, "otlp.listen", net.JoinHostPort(c.Bind, "4318"), "OTLP/HTTP receiver address: /v1/traces into the trace store, /v1/metrics into the embedded TSDB (\"\" = off)")
}

// ApplyEngineFlags checks the engine's flags (registered by RegisterFlags
// for the engine) and puts the engine, and the trace store unless
// --traces.max-bytes is 0, into c.
func (c *Config) ApplyEngineFlags() error {
	e := c.engine
	if e == nil {
		return fmt.Errorf("%s: its flags are not registered", EngineRole)
	}
	switch e.profile {
	case "demo":
		e.pc.Profile = DemoProfile
	case "production":
		e.pc.Profile = ProductionProfile
	default:
		return fmt.Errorf("--profile must be demo or production, got %q", e.profile)
	}
	size, err := units.ParseBase2Bytes(e.retentionSize)
	if err != nil {
		return fmt.Errorf("--prometheus.retention.size: %w", err)
	}
	e.pc.RetentionTime, e.pc.RetentionSize = time.Duration(e.retentionTime), int64(size)
	tb, err := units.ParseBase2Bytes(e.traceBytes)
	if err != nil {
		return fmt.Errorf("--traces.max-bytes: %w", err)
	}
	kb, err := units.ParseBase2Bytes(e.keepBytes)
	if err != nil || kb > tb {
		return fmt.Errorf("--traces.keep-bytes %q: want a size up to --traces.max-bytes", e.keepBytes)
	}
	lb, err := units.ParseBase2Bytes(e.logBytes)
	if err != nil || lb < 0 {
		return fmt.Errorf("--logs.max-bytes %q: want a size such as 8MiB, or 0", e.logBytes)
	}
	e.tc.MaxBytes, e.tc.KeepBytes, e.tc.LogBytes = int64(tb), int64(kb), int64(lb)
	// The default address may be taken (the compose stack's Collector
	// publishes 4318): then no receiver, with a warning. A chosen one must work.
	e.tc.OTLPOptional = true
	e.fs.Visit(func(f *flag.Flag) {
		if f.Name == "otlp.listen" {
			e.tc.OTLPOptional = false
		}
	})
	c.Prometheus = &e.pc
	c.Traces = nil
	if e.tc.MaxBytes > 0 {
		c.Traces = &e.tc
	}
	return nil
}
