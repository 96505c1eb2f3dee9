package main

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/cloudcart/cloudcart/internal/fleet"
)

// cmdRun runs every service and the embedded Prometheus in one process. It
// binds loopback by default: a laptop demo must not expose its chaos and
// admin APIs to the network.
func cmdRun(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	started := time.Now()
	c := newCommonFlags("run", "127.0.0.1", stderr)
	var (
		noPrometheus bool
		bg           backgroundLoad
	)
	fs := c.fs
	fs.BoolVar(&noPrometheus, "no-prometheus", false, "run the services without the embedded Prometheus")
	bg.register(fs)
	if err := c.parse(args); err != nil {
		return err
	}
	defer fleet.TuneGC()()
	if len(c.args) > 0 {
		return fmt.Errorf("run takes no arguments, got %q", c.args)
	}
	log, err := c.logger(stderr)
	if err != nil {
		return err
	}
	cfg := c.config(log)
	cfg.AllInOne = true
	if !noPrometheus {
		if err := cfg.ApplyEngineFlags(); err != nil {
			return err
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
