// Command cloudcart runs the CloudCart fleet: every service and the
// embedded Prometheus engine in one process (`cloudcart run`), or one
// service alone (`cloudcart serve NAME`), the deployable unit.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

// A subcommand parses its own flags and runs.
type command struct {
	name, usage string
	run         func(ctx context.Context, args []string, stdout, stderr io.Writer) error
}

func commands() []command {
	return []command{
		{"run", "run the whole fleet in one process (loopback by default)", cmdRun},
		{"serve", "serve one service: serve NAME (binds all interfaces by default)", cmdServe},
		{"load", "drive a fleet through its gateway with simulated shoppers (open model)", cmdLoad},
		{"scenario", "failure scenarios: scenario NAME|all|list, each timed from its cause to the alert's notification", cmdScenario},
		{"chaos", "chaos show|reset: the faults configured on a running fleet; reset clears every one", cmdChaos},
		{"slo", "slo generate: regenerate the SLO burn-rate rules from deploy/slo/slos.yml", cmdSLO},
		{"dashboards", "dashboards generate: regenerate the Grafana dashboards in deploy/grafana/dashboards", cmdDashboards},
		{"healthcheck", "healthcheck URL: exit 0 if GET URL answers 2xx (container health checks)", cmdHealthcheck},
		{"version", "print the version", cmdVersion},
	}
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	if errors.Is(err, flag.ErrHelp) {
		os.Exit(0)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "cloudcart:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		usage(stdout)
		return nil
	}
	for _, c := range commands() {
		if c.name == args[0] {
			return c.run(ctx, args[1:], stdout, stderr)
		}
	}
	usage(stderr)
	return fmt.Errorf("unknown command %q", args[0])
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "Usage: cloudcart COMMAND [flags]\n\nCommands:")
	width := 0
	for _, c := range commands() {
		width = max(width, len(c.name))
	}
	for _, c := range commands() {
		fmt.Fprintf(w, "  %-*s  %s\n", width, c.name, c.usage)
	}
	fmt.Fprintln(w, "\nRun 'cloudcart COMMAND -h' for a command's flags. Every flag also reads CLOUDCART_<FLAG> from the environment.")
}
