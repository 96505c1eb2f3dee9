package fleet

import (
	"flag"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/cloudcart/cloudcart/internal/services"
)

// Flags: each service registers its own next to its wiring (orders.go
// has the order service's, …); RegisterFlags puts together those of the
// services a process runs, so `cloudcart serve orders -h` lists what the
// order service reads.

// RegisterFlags registers on fs the flags of the named services and those
// every service reads (the bus), writing into c. With no names: every
// service of the table and the embedded engine. The engine
// (services.Prometheus.Name, run alone by serve prometheus) has its own
// flags (engineflags.go; Config.ApplyEngineFlags) and every service's port,
// since it scrapes them. A flag two services read (a port, the token
// issuer) is registered once.
func (c *Config) RegisterFlags(fs *flag.FlagSet, names ...string) error {
	table, err := Wire(c.table())
	if err != nil {
		return err
	}
	busFlags(fs, c)
	// The engine run alone (serve prometheus) scrapes every service at its
	// port.
	engine := slices.Contains(names, services.Prometheus.Name)
	for _, s := range table {
		if len(names) == 0 || slices.Contains(names, s.Name) {
			portFlag(fs, c, s.Name)
			s.flags(fs, c)
		} else if engine {
			portFlag(fs, c, s.Name)
		}
	}
	if len(names) == 0 || engine {
		portFlag(fs, c, services.Prometheus.Name)
		prometheusFlags(fs, c) // engineflags.go
	}
	return nil
}

// portFlag registers --<name>.port, the port of a service of the plan,
// unless it is registered already.
func portFlag(fs *flag.FlagSet, c *Config, name string) {
	if fs.Lookup(name+".port") == nil {
		fs.Var(portValue{c, name}, name+".port", fmt.Sprintf("port of the %s service", name))
	}
}

// portValue is one entry of Config.Ports; unset, the table's default.
type portValue struct {
	c    *Config
	name string
}

func (p portValue) String() string {
	if p.c == nil {
		return ""
	}
	return strconv.Itoa(p.c.Port(p.name))
}

func (p portValue) Set(s string) error {
	n, err := strconv.Atoi(s)
	if err != nil || n < 0 || n > 65535 {
		return fmt.Errorf("%q is not a port number", s)
	}
	if p.c.Ports == nil {
		p.c.Ports = map[string]int{}
	}
	p.c.Ports[p.name] = n
	return nil
}

// listFlag registers a comma-separated list flag that sets *p.
func listFlag(fs *flag.FlagSet, p *[]string, name, usage string) {
	fs.Func(name, usage, func(s string) error {
		*p = nil
		if s != "" {
			*p = strings.Split(s, ",")
		}
		return nil
	})
}

// offFloat is a float flag whose 0 (or less) means "off", stored as -1:
// in the Config, 0 means the default.
type offFloat struct{ p *float64 }

func (v offFloat) String() string {
	if v.p == nil || *v.p < 0 {
		return "0"
	}
	return strconv.FormatFloat(*v.p, 'g', -1, 64)
}

func (v offFloat) Set(s string) error {
	f, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return err
	}
	*v.p = f
	if f <= 0 {
		*v.p = -1
	}
	return nil
}

// offDuration is offFloat for a duration.
type offDuration struct{ p *time.Duration }

func (v offDuration) String() string {
	if v.p == nil || *v.p < 0 {
		return "0s"
	}
	return v.p.String()
}

func (v offDuration) Set(s string) error {
	d, err := time.ParseDuration(s)
	if err != nil {
		return err
	}
	*v.p = d
	if d <= 0 {
		*v.p = -1
	}
	return nil
}
