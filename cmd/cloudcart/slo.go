package main

import (
	"context"
	"flag"
	"fmt"
	"io"

	"github.com/cloudcart/cloudcart/internal/slo"
)

// cmdSLO regenerates the SLO rule file from the SLO spec. The generated
// file is committed; a test fails when it is stale.
func cmdSLO(_ context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("slo", flag.ContinueOnError)
	fs.SetOutput(stderr)
	spec := fs.String("spec", "deploy/slo/slos.yml", "SLO spec file")
	out := fs.String("out", "deploy/prometheus/rules/slo.generated.yml", "rule file to write")
	if len(args) == 0 || args[0] != "generate" {
		return fmt.Errorf("usage: cloudcart slo generate [--spec FILE] [--out FILE]")
	}
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	if err := slo.GenerateFile(*spec, *out); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "wrote %s from %s\n", *out, *spec)
	return nil
}
