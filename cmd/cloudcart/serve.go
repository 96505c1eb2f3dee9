package main

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/cloudcart/cloudcart/internal/fleet"
)

// cmdServe runs one service alone: the unit a container runs. Its flags
// are the process's and that service's (`serve orders -h`); without a
// service name, every service's. `serve prometheus` runs the embedded
// engine alone (with its console, trace store and OTLP receiver), scraping
// the other services on their ports: its flags are the engine's and every
// service's port.
func cmdServe(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	started := time.Now()
	var names []string
	for _, s := range fleet.Services {
		names = append(names, s.Name)
	}
	names = append(names, fleet.EngineRole)
	c := newCommonFlags("serve", "", stderr, serveName(args)...)
	if err := c.parse(args); err != nil {
		return err
	}
	defer fleet.TuneGC()()
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
	if c.args[0] == fleet.EngineRole {
		if err := cfg.ApplyEngineFlags(); err != nil {
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

// serveName is the service that `serve` args name, none when they name
// none: it parses them, quietly, with every flag, so a flag's value is not
// taken for the name.
func serveName(args []string) []string {
	c := newCommonFlags("serve", "", io.Discard)
	_ = c.parseArgs(args) // errors (-h included) are reported by the real parse
	if len(c.args) == 0 {
		return nil
	}
	if _, ok := fleet.Lookup(c.args[0]); !ok && c.args[0] != fleet.EngineRole {
		return nil
	}
	return c.args[:1]
}
