package main

import (
	"context"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/cloudcart/cloudcart/internal/fleet"
)

// cmdServe runs one service alone: the unit a container runs. `serve
// prometheus` runs the embedded engine alone (with its console, trace store
// and OTLP receiver), scraping the other services on their ports.
func cmdServe(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	started := time.Now()
	c := newCommonFlags("serve", "", stderr)
	var eng *engineFlags
	if slices.Contains(args, fleet.EngineRole) { // its flags only for it
		eng = &engineFlags{}
		eng.register(c.fs, ":4318")
	}
	if err := c.parse(args); err != nil {
		return err
	}
	var names []string
	for _, s := range fleet.Services {
		names = append(names, s.Name)
	}
	names = append(names, fleet.EngineRole)
	if len(c.args) != 1 {
		return fmt.Errorf("serve needs exactly one service name, one of: %s", strings.Join(names, ", "))
	}
	if _, ok := fleet.Lookup(c.args[0]); !ok && c.args[0] != fleet.EngineRole {
		return fmt.Errorf("unknown service %q, want one of: %s", c.args[0], strings.Join(names, ", "))
	}
	log, err := c.logger(stderr)
	if err != nil {
		return err
	}
	cfg := c.config(log)
	if eng != nil {
		if err := eng.apply(&cfg); err != nil {
			return err
		}
	}
	f, err := fleet.New(ctx, cfg, c.args[0])
	if err != nil {
		return err
	}
	printPlan(stdout, f, started)
	if u := f.OTLPURL(); u != "" {
		fmt.Fprintf(stdout, "  %-12s %-22s %s (OTEL_EXPORTER_OTLP_ENDPOINT; docs/traces.md)\n", "otlp", "OTLP/HTTP receiver", u)
	}
	return f.Run(ctx)
}
