package promengine

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"

	"github.com/grafana/regexp"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/route"
	"github.com/prometheus/prometheus/config"
	"github.com/prometheus/prometheus/notifier"
	"github.com/prometheus/prometheus/promql/parser"
	"github.com/prometheus/prometheus/rules"
	"github.com/prometheus/prometheus/scrape"
	"github.com/prometheus/prometheus/tsdb"
	"github.com/prometheus/prometheus/util/features"
	"github.com/prometheus/prometheus/util/notifications"
	api_v1 "github.com/prometheus/prometheus/web/api/v1"
)

// apiPrefix is where the Prometheus HTTP API lives, as in Prometheus.
const apiPrefix = "/api/v1"

// upstreamModule is the Go module whose version /api/v1/status/buildinfo
// reports (translated to the Prometheus release: v0.315.0 is 3.15.0).
const upstreamModule = "github.com/prometheus/prometheus"

// apiSettings is everything web/api/v1 reads.
type apiSettings struct {
	queryEngine   *queryEngine
	db            *tsdb.DB
	dbStats       *tsdb.DBStats
	scrape        *scrape.Manager
	notifier      *notifier.Manager
	rules         *rules.Manager
	config        func() config.Config
	flags         map[string]string
	externalURL   *url.URL
	ready         func() bool
	dataDir       string
	enableAdmin   bool
	runtimeInfo   func() (api_v1.RuntimeInfo, error)
	notifications *notifications.Notifications
	gatherer      prometheus.Gatherer
	registerer    prometheus.Registerer
	features      features.Collector
	parser        parser.Parser
}

// newAPIHandler builds upstream's /api/v1 (web/api/v1.NewAPI, wired as
// web/web.go wires it) and returns it mounted under apiPrefix. Remote
// write/read receivers and OTLP ingestion stay off; the experimental search
// API too.
func newAPIHandler(s apiSettings, logger *slog.Logger) http.Handler {
	scrapePools := func(context.Context) api_v1.ScrapePoolsRetriever { return s.scrape }
	targets := func(context.Context) api_v1.TargetRetriever { return s.scrape }
	alertmanagers := func(context.Context) api_v1.AlertmanagerRetriever { return s.notifier }
	ruleGroups := func(context.Context) api_v1.RulesRetriever { return s.rules }
	ready := func(f http.HandlerFunc) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			if !s.ready() {
				http.Error(w, "Service Unavailable", http.StatusServiceUnavailable)
				return
			}
			f(w, r)
		}
	}

	api := api_v1.NewAPI(
		s.queryEngine.Engine,
		s.db,
		nil, nil, // no remote-write / OTLP receivers
		s.db,
		scrapePools, targets, alertmanagers,
		s.config,
		s.flags,
		globalURLOptions(s.externalURL),
		ready,
		tsdbAdmin{DB: s.db, stats: s.dbStats},
		s.dataDir,
		s.enableAdmin,
		false, 0, // search API off
		logger.With("component", "api"),
		ruleGroups,
		50_000_000, 10, 1<<20, // remote read: upstream flag defaults
		false, // not agent mode
		regexp.MustCompile("^(?:.*)$"),
		s.runtimeInfo,
		buildInfo(),
		s.notifications.Get,
		s.notifications.Sub,
		s.gatherer,
		s.registerer,
		nil,   // default stats renderer
		false, // remote write receiver
		nil,
		false, false, false, // OTLP receiver, delta conversion, native delta
		false, // start-timestamp zero ingestion
		lookbackDelta,
		false, // type-and-unit labels
		false, // metadata WAL records
		nil,   // default error codes
		s.features,
		api_v1.OpenAPIOptions{ExternalURL: s.externalURL.String(), Version: buildInfo().Version},
		s.parser,
	)
	router := route.New()
	api.Register(router)
	return http.StripPrefix(apiPrefix, router)
}

// globalURLOptions tells /api/v1/targets how to rewrite localhost scrape
// URLs into ones reachable from outside: the host and port of the external
// URL stand in for the listen address, which the engine does not own.
func globalURLOptions(u *url.URL) api_v1.GlobalURLOptions {
	port := u.Port()
	if port == "" {
		port = "80"
		if u.Scheme == "https" {
			port = "443"
		}
	}
	return api_v1.GlobalURLOptions{
		ListenAddress: net.JoinHostPort("", port),
		Host:          u.Host,
		Scheme:        u.Scheme,
	}
}

// buildInfo reports the Prometheus release whose code is running, so that
// clients which switch features on the version (Grafana) treat the engine as
// that Prometheus.
func buildInfo() *api_v1.PrometheusVersion {
	v := &api_v1.PrometheusVersion{
		Version:   "3.15.0",
		Revision:  "unknown",
		Branch:    "embedded",
		BuildUser: "cloudcart",
		GoVersion: runtime.Version(),
	}
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return v
	}
	for _, dep := range bi.Deps {
		if dep.Path == upstreamModule {
			if rel, ok := releaseFromModuleVersion(dep.Version); ok {
				v.Version = rel
			}
			v.Revision = dep.Version
		}
	}
	return v
}

// releaseFromModuleVersion maps the Go module version scheme Prometheus uses
// since 3.0 (v0.MMmm.p) to the release number (M.mm.p): v0.315.0 -> 3.15.0.
func releaseFromModuleVersion(mod string) (string, bool) {
	parts := strings.SplitN(strings.TrimPrefix(mod, "v"), ".", 3)
	if len(parts) != 3 || parts[0] != "0" {
		return "", false
	}
	minor, err := strconv.Atoi(parts[1])
	if err != nil || minor < 300 {
		return "", false
	}
	patch, _, _ := strings.Cut(parts[2], "-")
	return fmt.Sprintf("%d.%d.%s", minor/100, minor%100, patch), true
}
