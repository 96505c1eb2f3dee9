package main

import (
	"context"
	"flag"
	"fmt"
	"io"

	"github.com/cloudcart/cloudcart/internal/dashboards"
)

// cmdDashboards regenerates the Grafana dashboards from their Go
// definitions (internal/dashboards). The JSON is committed; a test fails
// when it is stale.
func cmdDashboards(_ context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("dashboards", flag.ContinueOnError)
	fs.SetOutput(stderr)
	out := fs.String("out", dashboards.DefaultDir, "directory to write the dashboard JSON files to")
	if len(args) == 0 || args[0] != "generate" {
		return fmt.Errorf("usage: cloudcart dashboards generate [--out DIR]")
	}
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	written, err := dashboards.Generate(*out)
	if err != nil {
		return err
	}
	for _, p := range written {
		fmt.Fprintf(stdout, "wrote %s\n", p)
	}
	return nil
}
