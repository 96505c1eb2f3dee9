package main

import (
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/cloudcart/cloudcart/internal/fleet"
	"github.com/cloudcart/cloudcart/internal/telemetry"
)

// envName turns a flag name into its environment variable:
// "orders.port" → CLOUDCART_ORDERS_PORT.
func envName(flagName string) string {
	r := strings.NewReplacer(".", "_", "-", "_")
	return "CLOUDCART_" + strings.ToUpper(r.Replace(flagName))
}

// commonFlags are the flags of both run and serve: the process's own,
// and those of the services it runs, which each service registers next to
// its wiring (fleet.Config.RegisterFlags).
type commonFlags struct {
	fs        *flag.FlagSet
	cfg       fleet.Config
	logLevel  string
	logFormat string
	args      []string // positional arguments
}

// newCommonFlags registers the process's flags and those of the named
// services (every service when names is empty).
func newCommonFlags(name, defaultBind string, stderr io.Writer, services ...string) *commonFlags {
	c := &commonFlags{fs: flag.NewFlagSet(name, flag.ContinueOnError)}
	c.fs.SetOutput(stderr)
	c.cfg.AllInOne = name == "run" // defaults that differ under run (--orders.demo-endpoints)
	c.fs.StringVar(&c.cfg.DataDir, "data-dir", "./data", "directory that holds all state (databases, TSDB, keys)")
	c.fs.StringVar(&c.cfg.Bind, "bind", defaultBind, "interface to listen on (\"\" = all interfaces)")
	c.fs.IntVar(&c.cfg.MaxConns, "http.max-conns", 0, "connections each service's HTTP server holds at once; at the cap a new connection waits until one closes (0: an eighth of the file descriptor limit, 64 to 4096; -1: no cap)")
	c.fs.DurationVar(&c.cfg.CommitWait, "sqlite.commit-wait", fleet.DefaultCommitWait, "how long a busy SQLite database's writer waits for more transactions to commit with (group commit); a transaction on an idle database commits at once; negative: never wait")
	c.fs.StringVar(&c.cfg.PostgresDSN, "postgres-dsn", "", "PostgreSQL URL (postgres://...); SQLite under --data-dir when empty")
	c.fs.StringVar(&c.logLevel, "log.level", "info", "log level: debug, info, warn, error")
	c.fs.StringVar(&c.logFormat, "log.format", "text", "log format: text or json")
	c.cfg.Histograms = telemetry.HistogramsBoth
	c.fs.Var(&c.cfg.Histograms, "telemetry.histograms", "histograms on /metrics: classic (_bucket series), native (exponential, <name>_native; needs a protobuf scrape) or both (docs/histograms.md)")
	if err := c.cfg.RegisterFlags(c.fs, services...); err != nil {
		panic(err) // a service without wiring: a programming error
	}
	return c
}

// applyEnv sets every flag of fs that has a CLOUDCART_* environment
// variable to its value: the defaults that command-line flags override.
func applyEnv(fs *flag.FlagSet) error {
	var err error
	fs.VisitAll(func(f *flag.Flag) {
		if v, ok := os.LookupEnv(envName(f.Name)); ok && err == nil {
			if e := f.Value.Set(v); e != nil {
				err = fmt.Errorf("%s=%q: %w", envName(f.Name), v, e)
			}
		}
	})
	return err
}

// parse applies CLOUDCART_* environment variables as defaults, then args.
func (c *commonFlags) parse(args []string) error {
	if err := applyEnv(c.fs); err != nil {
		return err
	}
	return c.parseArgs(args)
}

// parseArgs parses the command line alone.
func (c *commonFlags) parseArgs(args []string) error {
	// Flags may come before and after positional arguments
	// (`serve orders --bind 127.0.0.1`).
	c.args = nil
	for {
		if err := c.fs.Parse(args); err != nil {
			return err
		}
		if c.fs.NArg() == 0 {
			break
		}
		c.args = append(c.args, c.fs.Arg(0))
		args = c.fs.Args()[1:]
	}
	return nil
}

func (c *commonFlags) logger(stderr io.Writer) (*slog.Logger, error) {
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(c.logLevel)); err != nil {
		return nil, fmt.Errorf("--log.level: %w", err)
	}
	opts := &slog.HandlerOptions{Level: lvl}
	switch c.logFormat {
	case "text":
		return slog.New(slog.NewTextHandler(stderr, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(stderr, opts)), nil
	}
	return nil, fmt.Errorf("--log.format must be text or json, got %q", c.logFormat)
}

func (c *commonFlags) config(log *slog.Logger) fleet.Config {
	cfg := c.cfg
	cfg.Version, cfg.Logger = version(), log
	return cfg
}

// printPlan prints where everything listens.
func printPlan(w io.Writer, f *fleet.Fleet, started time.Time) {
	fmt.Fprintf(w, "CloudCart %s started in %s\n", version(), time.Since(started).Round(time.Millisecond))
	for _, u := range f.Units() {
		fmt.Fprintf(w, "  %-12s %-22s %s\n", u.Service.Name, u.Service.ServiceName, u.Server.URL())
	}
}
