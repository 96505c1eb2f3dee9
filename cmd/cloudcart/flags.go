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
)

// envName turns a flag name into its environment variable:
// "orders.port" → CLOUDCART_ORDERS_PORT.
func envName(flagName string) string {
	r := strings.NewReplacer(".", "_", "-", "_")
	return "CLOUDCART_" + strings.ToUpper(r.Replace(flagName))
}

// commonFlags are the flags of both run and serve.
type commonFlags struct {
	fs          *flag.FlagSet
	dataDir     string
	bind        string
	postgresDSN string
	logLevel    string
	logFormat   string
	ports       map[string]*int
	workers     int
	queueSize   int
	args        []string // positional arguments
}

func newCommonFlags(name, defaultBind string, stderr io.Writer) *commonFlags {
	c := &commonFlags{fs: flag.NewFlagSet(name, flag.ContinueOnError), ports: map[string]*int{}}
	c.fs.SetOutput(stderr)
	c.fs.StringVar(&c.dataDir, "data-dir", "./data", "directory that holds all state (databases, TSDB, keys)")
	c.fs.StringVar(&c.bind, "bind", defaultBind, "interface to listen on (\"\" = all interfaces)")
	c.fs.StringVar(&c.postgresDSN, "postgres-dsn", "", "PostgreSQL URL (postgres://...); SQLite under --data-dir when empty")
	c.fs.StringVar(&c.logLevel, "log.level", "info", "log level: debug, info, warn, error")
	c.fs.StringVar(&c.logFormat, "log.format", "text", "log format: text or json")
	c.fs.IntVar(&c.workers, "orders.workers", 4, "order processing workers")
	c.fs.IntVar(&c.queueSize, "orders.queue-size", 256, "order work queue capacity; a full queue answers 503")
	for _, p := range fleet.Planned {
		v := p.Port
		c.ports[p.Name] = &v
		c.fs.IntVar(&v, p.Name+".port", p.Port, fmt.Sprintf("port of the %s service", p.Name))
	}
	return c
}

// parse applies CLOUDCART_* environment variables as defaults, then args.
func (c *commonFlags) parse(args []string) error {
	var err error
	c.fs.VisitAll(func(f *flag.Flag) {
		if v, ok := os.LookupEnv(envName(f.Name)); ok && err == nil {
			if e := f.Value.Set(v); e != nil {
				err = fmt.Errorf("%s=%q: %w", envName(f.Name), v, e)
			}
		}
	})
	if err != nil {
		return err
	}
	// Flags may come before and after positional arguments
	// (`serve orders --bind 127.0.0.1`).
	var positional []string
	for {
		if err := c.fs.Parse(args); err != nil {
			return err
		}
		if c.fs.NArg() == 0 {
			break
		}
		positional = append(positional, c.fs.Arg(0))
		args = c.fs.Args()[1:]
	}
	c.args = positional
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
	ports := map[string]int{}
	for k, v := range c.ports {
		ports[k] = *v
	}
	return fleet.Config{
		DataDir: c.dataDir, Bind: c.bind, Ports: ports, PostgresDSN: c.postgresDSN,
		Version: version(), Logger: log, OrderWorkers: c.workers, OrderQueueSize: c.queueSize,
	}
}

// printPlan prints where everything listens.
func printPlan(w io.Writer, f *fleet.Fleet, started time.Time) {
	fmt.Fprintf(w, "CloudCart %s started in %s\n", version(), time.Since(started).Round(time.Millisecond))
	for _, u := range f.Units() {
		fmt.Fprintf(w, "  %-12s %-22s %s\n", u.Service.Name, u.Service.ServiceName, u.Server.URL())
	}
}
