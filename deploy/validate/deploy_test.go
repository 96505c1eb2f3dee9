package validate_test

// Shared by the tests of the deployment files (dockerfile_test.go,
// compose_test.go, k8s_test.go): the naming contract, the binary's flags,
// and URL checks. Docker is not needed: the files are validated, not run.
//
// The tests run in deploy/ (TestMain changes there), so the paths they
// read are the ones the deployment files themselves use.

import (
	"bufio"
	"bytes"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/cloudcart/cloudcart/internal/fleet"
)

var tmpDir string

func TestMain(m *testing.M) {
	var err error
	if tmpDir, err = os.MkdirTemp("", "cloudcart-deploy-test"); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	if err := os.Chdir(".."); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(tmpDir)
	os.Exit(code)
}

// repo is a path relative to the repository root (tests run in deploy/).
func repo(elem ...string) string { return filepath.Join(append([]string{".."}, elem...)...) }

func mustRead(tb testing.TB, path string) []byte {
	tb.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// service is one row of docs/naming.md's table.
type service struct {
	Name string // cloudcart serve name
	Job  string // Prometheus job = OTel service.name
	Port int
}

// mustNaming reads the services of docs/naming.md and checks they are the
// fleet's, so the deployment files can be checked against either.
func mustNaming(tb testing.TB) []service {
	tb.Helper()
	var out []service
	sc := bufio.NewScanner(bytes.NewReader(mustRead(tb, repo("docs", "naming.md"))))
	for sc.Scan() {
		cols := strings.Split(sc.Text(), "|")
		if len(cols) < 5 {
			continue
		}
		name := strings.TrimSpace(cols[1])
		if _, ok := fleet.Lookup(name); !ok {
			continue
		}
		port, err := strconv.Atoi(strings.TrimSpace(cols[3]))
		if err != nil {
			tb.Fatalf("docs/naming.md: %s: port %q: %v", name, cols[3], err)
		}
		out = append(out, service{Name: name, Job: strings.Trim(strings.TrimSpace(cols[2]), "`"), Port: port})
	}
	if len(out) != len(fleet.Services) {
		tb.Fatalf("docs/naming.md lists %d services, the fleet has %d", len(out), len(fleet.Services))
	}
	for _, s := range out {
		f, _ := fleet.Lookup(s.Name)
		if f.ServiceName != s.Job || f.Port != s.Port {
			tb.Fatalf("docs/naming.md says %s is job %s on %d, the fleet says %s on %d", s.Name, s.Job, s.Port, f.ServiceName, f.Port)
		}
	}
	return out
}

func lookupService(services []service, name string) (service, bool) {
	i := slices.IndexFunc(services, func(s service) bool { return s.Name == name })
	if i < 0 {
		return service{}, false
	}
	return services[i], true
}

var binary struct {
	once sync.Once
	path string
	err  error
}

// mustBinary builds cmd/cloudcart once per test binary, the plain way (`go
// build`, as `make build` and cmd/cloudcart's tests do), so the build
// reuses their cache: only the link is new. The Dockerfile's own build
// line is checked by dockerfile_test.go without a second build of the
// graph.
func mustBinary(tb testing.TB) string {
	tb.Helper()
	if testing.Short() {
		tb.Skip("builds the binary; skipped with -short")
	}
	binary.once.Do(func() {
		binary.path = filepath.Join(tmpDir, "cloudcart")
		cmd := exec.Command("go", "build", "-o", binary.path, "github.com/cloudcart/cloudcart/cmd/cloudcart")
		if out, err := cmd.CombinedOutput(); err != nil {
			binary.err = fmt.Errorf("go build ./cmd/cloudcart: %v\n%s", err, out)
		}
	})
	if binary.err != nil {
		tb.Fatal(binary.err)
	}
	return binary.path
}

var (
	flagEnv struct {
		once  sync.Once
		names map[string]bool
		err   error
	}
	flagLine = regexp.MustCompile(`^\s+-([a-z][a-z0-9.-]*)`)
)

// mustServeEnv returns the CLOUDCART_* variables `cloudcart serve` reads:
// one per flag, as `serve -h` and each `serve NAME -h` list them (a
// service's own flags may be listed only with its name; NAME includes
// the engine, prometheus).
func mustServeEnv(tb testing.TB) map[string]bool {
	tb.Helper()
	bin := mustBinary(tb)
	flagEnv.once.Do(func() {
		flagEnv.names = map[string]bool{}
		r := strings.NewReplacer(".", "_", "-", "_")
		args := [][]string{{"serve", "-h"}}
		for _, s := range fleet.Services {
			args = append(args, []string{"serve", s.Name, "-h"})
		}
		args = append(args, []string{"serve", fleet.EngineRole, "-h"})
		var all strings.Builder
		for _, a := range args {
			out, err := exec.Command(bin, a...).CombinedOutput()
			if err != nil {
				flagEnv.err = fmt.Errorf("cloudcart %s: %v\n%s", strings.Join(a, " "), err, out)
				return
			}
			all.Write(out)
			for line := range strings.Lines(string(out)) {
				if m := flagLine.FindStringSubmatch(line); m != nil {
					flagEnv.names["CLOUDCART_"+strings.ToUpper(r.Replace(m[1]))] = true
				}
			}
		}
		if !flagEnv.names["CLOUDCART_POSTGRES_DSN"] || !flagEnv.names["CLOUDCART_NATS_URL"] {
			flagEnv.err = fmt.Errorf("cloudcart serve [NAME] -h: no --postgres-dsn or --nats.url in\n%s", all.String())
		}
	})
	if flagEnv.err != nil {
		tb.Fatal(flagEnv.err)
	}
	return flagEnv.names
}

// serveEnv is mustServeEnv, or nil with -short, which does not build the
// binary: the variables are then not checked.
func serveEnv(tb testing.TB) map[string]bool {
	tb.Helper()
	if testing.Short() {
		tb.Log("-short: CLOUDCART_* variables not checked against the binary's flags")
		return nil
	}
	return mustServeEnv(tb)
}

// endpoint is a host and port a setting points at.
type endpoint struct {
	Host, Port string
	Path       string // the database of a DSN
}

// endpoints extracts what a setting's value connects to: a URL, a DSN, a
// comma-separated list of URLs or NAME=URL pairs, or host:port. Values
// that are none of these give nothing.
func endpoints(value string) ([]endpoint, error) {
	var out []endpoint
	for part := range strings.SplitSeq(value, ",") {
		part = strings.TrimSpace(part)
		// NAME=URL; a "=" after "://" is the URL's query.
		if i, j := strings.Index(part, "="), strings.Index(part, "://"); i >= 0 && (j < 0 || i < j) {
			part = part[i+1:]
		}
		if part == "" {
			continue
		}
		if strings.Contains(part, "://") {
			u, err := url.Parse(part)
			if err != nil {
				return nil, err
			}
			port := u.Port()
			if port == "" {
				port = map[string]string{"http": "80", "https": "443"}[u.Scheme]
			}
			out = append(out, endpoint{Host: u.Hostname(), Port: port, Path: strings.TrimPrefix(u.Path, "/")})
			continue
		}
		if host, port, err := net.SplitHostPort(part); err == nil {
			out = append(out, endpoint{Host: host, Port: port})
		}
	}
	return out, nil
}

// connects reports whether a setting names something to connect to.
func connects(name string) bool {
	for _, suffix := range []string{"_URL", "_DSN", "_ENDPOINT", "_TARGETS", "_HOST"} {
		if strings.HasSuffix(name, suffix) {
			return true
		}
	}
	return false
}

var createDatabase = regexp.MustCompile(`(?m)^CREATE DATABASE (\w+);`)

// mustDatabases lists the databases deploy/postgres/init-databases.sql
// creates, plus the default one.
func mustDatabases(tb testing.TB) []string {
	tb.Helper()
	dbs := []string{"cloudcart"}
	for _, m := range createDatabase.FindAllStringSubmatch(string(mustRead(tb, "postgres/init-databases.sql")), -1) {
		dbs = append(dbs, m[1])
	}
	return dbs
}
