package main

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/cloudcart/cloudcart/internal/fleet"
)

// cmdRun runs every service in one process. It binds loopback by default:
// a laptop demo must not expose its chaos and admin APIs to the network.
func cmdRun(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	started := time.Now()
	c := newCommonFlags("run", "127.0.0.1", stderr)
	if err := c.parse(args); err != nil {
		return err
	}
	if len(c.args) > 0 {
		return fmt.Errorf("run takes no arguments, got %q", c.args)
	}
	log, err := c.logger(stderr)
	if err != nil {
		return err
	}
	cfg := c.config(log)
	cfg.AllInOne = true
	f, err := fleet.New(ctx, cfg)
	if err != nil {
		return err
	}
	printPlan(stdout, f, started)
	return f.Run(ctx)
}
