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
// service name, every service's.
func cmdServe(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	started := time.Now()
	var names []string
	for _, s := range fleet.Services {
		names = append(names, s.Name)
	}
	var c *commonFlags
	if name := serveName(args); name != "" {
		c = newCommonFlags("serve", "", stderr, name)
	} else {
		c = newCommonFlags("serve", "", stderr)
	}
	if err := c.parse(args); err != nil {
		return err
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

// serveName finds the service that `serve` args name, "" when they name
// none: it parses them, quietly, with every service's flags, so a flag's
// value is not taken for the name.
func serveName(args []string) string {
	c := newCommonFlags("serve", "", io.Discard)
	_ = c.parseArgs(args) // errors (-h included) are reported by the real parse
	if len(c.args) == 0 {
		return ""
	}
	if _, ok := fleet.Lookup(c.args[0]); !ok {
		return ""
	}
	return c.args[0]
}
