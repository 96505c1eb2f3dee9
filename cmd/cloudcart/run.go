package main

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/alecthomas/units"
	"github.com/prometheus/common/model"

	"github.com/cloudcart/cloudcart/internal/fleet"
)

// cmdRun runs every service and the embedded Prometheus in one process. It
// binds loopback by default: a laptop demo must not expose its chaos and
// admin APIs to the network.
func cmdRun(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	started := time.Now()
	c := newCommonFlags("run", "127.0.0.1", stderr)
	var (
		pc            fleet.PrometheusConfig
		profile       string
		retentionTime = model.Duration(15 * 24 * time.Hour)
		retentionSize = "0"
		noPrometheus  bool
		bg            backgroundLoad
		tc            = fleet.TracesConfig{OTLPListen: "127.0.0.1:4318"}
		traceBytes    = "64MiB"
		keepBytes     = "0"
	)
	fs := c.fs
	fs.StringVar(&pc.ConfigFile, "prometheus.config", "", "a prometheus.yml to run instead of the generated one (its rule_files, scrape_configs, alerting)")
	fs.StringVar(&pc.AlertmanagerURL, "alertmanager.url", "", "send alerts to this Alertmanager (v2 API), e.g. http://localhost:9093")
	fs.StringVar(&pc.WebhookURL, "alerts.webhook-url", "", "without --alertmanager.url: post alert state changes here as Alertmanager webhook JSON (default: the notification worker's /alerts)")
	fs.Var(&retentionTime, "prometheus.retention.time", "how long the embedded TSDB keeps samples")
	fs.StringVar(&retentionSize, "prometheus.retention.size", retentionSize, "maximum TSDB size, e.g. 512MB (0 = no limit)")
	fs.BoolVar(&pc.EnableAdminAPI, "prometheus.enable-admin-api", false, "enable /api/v1/admin/tsdb/* (snapshot for backups)")
	fs.StringVar(&pc.ExternalURL, "prometheus.external-url", "", "URL users reach the Prometheus API at (alert links)")
	fs.StringVar(&profile, "profile", "demo", "engine timing: demo (1 s scrape and evaluation; alert `for` and rule windows × 0.05, at least 10 s and 30 s: docs/alerts.md) or production (15 s, rules as written)")
	fs.BoolVar(&noPrometheus, "no-prometheus", false, "run the services without the embedded Prometheus")
	fs.StringVar(&traceBytes, "traces.max-bytes", traceBytes, "memory budget of the in-process trace store, e.g. 64MiB; oldest traces are evicted first; 0 turns the store off (docs/traces.md)")
	fs.StringVar(&keepBytes, "traces.keep-bytes", keepBytes, "part of --traces.max-bytes where error traces and the slowest 1% live longer (0 = an eighth of it)")
	fs.StringVar(&tc.OTLPListen, "otlp.listen", tc.OTLPListen, "OTLP/HTTP receiver address: /v1/traces into the trace store, /v1/metrics into the embedded TSDB (\"\" = off)")
	bg.register(fs)
	if err := c.parse(args); err != nil {
		return err
	}
	if len(c.args) > 0 {
		return fmt.Errorf("run takes no arguments, got %q", c.args)
	}
	switch profile {
	case "demo":
		pc.Profile = fleet.DemoProfile
	case "production":
		pc.Profile = fleet.ProductionProfile
	default:
		return fmt.Errorf("--profile must be demo or production, got %q", profile)
	}
	size, err := units.ParseBase2Bytes(retentionSize)
	if err != nil {
		return fmt.Errorf("--prometheus.retention.size: %w", err)
	}
	pc.RetentionTime, pc.RetentionSize = time.Duration(retentionTime), int64(size)
	tb, err := units.ParseBase2Bytes(traceBytes)
	if err != nil {
		return fmt.Errorf("--traces.max-bytes: %w", err)
	}
	kb, err := units.ParseBase2Bytes(keepBytes)
	if err != nil || kb > tb {
		return fmt.Errorf("--traces.keep-bytes %q: want a size up to --traces.max-bytes", keepBytes)
	}
	tc.MaxBytes, tc.KeepBytes = int64(tb), int64(kb)
	log, err := c.logger(stderr)
	if err != nil {
		return err
	}
	cfg := c.config(log)
	cfg.AllInOne = true
	if !noPrometheus {
		cfg.Prometheus = &pc
		if tc.MaxBytes > 0 {
			cfg.Traces = &tc
		}
	}
	f, err := fleet.New(ctx, cfg)
	if err != nil {
		return err
	}
	printPlan(stdout, f, started)
	if u := f.OTLPURL(); u != "" {
		fmt.Fprintf(stdout, "  %-12s %-22s %s (OTEL_EXPORTER_OTLP_ENDPOINT; docs/traces.md)\n", "otlp", "OTLP/HTTP receiver", u)
	}
	stopLoad := bg.start(ctx, f, log)
	err = f.Run(ctx)
	stopLoad()
	return err
}
