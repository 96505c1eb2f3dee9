package main

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/cloudcart/cloudcart/internal/fleet"
)

// cmdServe runs one service alone: the unit a container runs.
func cmdServe(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	started := time.Now()
	c := newCommonFlags("serve", "", stderr)
	if err := c.parse(args); err != nil {
		return err
	}
	var names []string
	for _, s := range fleet.Services {
		names = append(names, s.Name)
	}
	if len(c.args) != 1 {
		return fmt.Errorf("serve needs exactly one service name, one of: %s", strings.Join(names, ", "))
	}
	if _, ok := fleet.Lookup(c.args[0]); !ok {
		return fmt.Errorf("unknown service %q, want one of: %s", c.args[0], strings.Join(names, ", "))
	}
	log, err := c.logger(stderr)
	if err != nil {
		return err
	}
	f, err := fleet.New(ctx, c.config(log), c.args[0])
	if err != nil {
		return err
	}
	printPlan(stdout, f, started)
	return f.Run(ctx)
}
