package fleet

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	yaml "go.yaml.in/yaml/v3"

	"github.com/cloudcart/cloudcart/deploy"
	"github.com/cloudcart/cloudcart/internal/chaos"
	"github.com/cloudcart/cloudcart/internal/console"
	"github.com/cloudcart/cloudcart/internal/httpkit"
	"github.com/cloudcart/cloudcart/internal/learn"
	"github.com/cloudcart/cloudcart/internal/promengine"
	"github.com/cloudcart/cloudcart/internal/services"
)

// PrometheusJob is the embedded engine's own job and service name.
const PrometheusJob = services.PrometheusJob

// PrometheusConfig configures the embedded engine of `cloudcart run`.
type PrometheusConfig struct {
	ConfigFile      string // a user's prometheus.yml; generated for the fleet when empty
	AlertmanagerURL string // alerts go to Alertmanager's v2 API when set
	WebhookURL      string // otherwise to this Alertmanager-webhook receiver
	RetentionTime   time.Duration
	RetentionSize   int64
	EnableAdminAPI  bool
	ExternalURL     string
	Profile         Profile
	// Targets, for the engine run alone (serve prometheus), are the
	// services it scrapes as NAME=URL (orders=http://orders:8003); empty:
	// every service on 127.0.0.1 at its port. The notification worker's
	// URL also receives the alerts (WebhookURL's default).
	Targets []string
}

// Profile is a set of intervals for the engine.
type Profile struct {
	Name           string
	ScrapeInterval time.Duration
	EvalInterval   time.Duration
	ForScale       float64       // multiplies every alert's `for`
	MinFor         time.Duration // no scaled `for` is shorter (unless written shorter)
	// WindowScale multiplies the time ranges in every rule expression
	// ([5m], [1h], ...), no range becoming shorter than MinWindow (0: four
	// scrape intervals) unless it was written shorter.
	WindowScale float64
	MinWindow   time.Duration
}

// Profiles: demo compresses time twentyfold, so an alert fires within
// seconds of its cause on a laptop and resolves within seconds of the fix:
// `for` and the rules' windows are both × 0.05, with two floors. No window
// gets shorter than 30 s: at the background load's half an order per
// second a 15 s window would hold seven orders, and one declined payment
// would be a 14% error ratio. No `for` gets shorter than 10 s: a busy
// laptop (or the race detector) delays a few 1 s scrapes past their
// timeout now and then, and `for: 1m` as 3 s would page for it. So 5m
// windows become 30s, the SLO alerts' 1h/5m and 6h/30m 3m/30s and 18m/90s,
// `for: 2m` 10s and `for: 10m` 30s. Production keeps the shipped files'
// values (15 s intervals, the rules as written). See docs/alerts.md.
var (
	DemoProfile = Profile{Name: "demo", ScrapeInterval: time.Second, EvalInterval: time.Second,
		ForScale: 0.05, MinFor: 10 * time.Second, WindowScale: 0.05, MinWindow: 30 * time.Second}
	ProductionProfile = Profile{Name: "production", ScrapeInterval: 15 * time.Second, EvalInterval: 15 * time.Second, ForScale: 1, WindowScale: 1}
)

// buildPrometheus assembles the embedded engine scraping the given units.
func buildPrometheus(env *Env, targets []*Unit) (*Unit, error) {
	pc := env.Prometheus
	dir := filepath.Join(env.DataDir, "prometheus")
	// The TSDB directory is private like the rest of the data dir.
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	if err := os.Chmod(dir, 0o700); err != nil {
		return nil, err
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	srv := &httpkit.Server{
		Addr:    env.Addr(env.Service.Service),
		Metrics: promhttp.HandlerFor(reg, promhttp.HandlerOpts{EnableOpenMetrics: true}),
		Logger:  env.Log,
	}
	if err := srv.Listen(); err != nil {
		return nil, err
	}
	var (
		cfg     []byte
		cfgFile = pc.ConfigFile
		err     error
	)
	if cfgFile != "" {
		if cfg, err = os.ReadFile(cfgFile); err != nil {
			return nil, fmt.Errorf("--prometheus.config: %w", err)
		}
	} else {
		if cfgFile, err = writeRules(dir); err != nil {
			return nil, err
		}
		if cfg, err = generateConfig(pc.Profile, append(targets, &Unit{Service: env.Service, Server: srv})); err != nil {
			return nil, err
		}
		if err := os.WriteFile(cfgFile, cfg, 0o644); err != nil {
			return nil, err
		}
	}
	ext := pc.ExternalURL
	if ext == "" {
		ext = srv.URL()
	}
	eng, err := promengine.New(promengine.Options{
		DataDir:         dir,
		Config:          cfg,
		ConfigFile:      cfgFile,
		RetentionTime:   pc.RetentionTime,
		RetentionSize:   pc.RetentionSize,
		EnableAdminAPI:  pc.EnableAdminAPI,
		AlertmanagerURL: pc.AlertmanagerURL,
		WebhookURL:      pc.WebhookURL,
		ExternalURL:     ext,
		ScrapeInterval:  pc.Profile.ScrapeInterval,
		EvalInterval:    pc.Profile.EvalInterval,
		ForScale:        pc.Profile.ForScale,
		MinFor:          pc.Profile.MinFor,
		WindowScale:     pc.Profile.WindowScale,
		MinWindow:       pc.Profile.MinWindow,
		Logger:          env.Log,
		Registerer:      reg,
	})
	if err != nil {
		return nil, err
	}
	con, err := withConsole(env, srv.URL(), targets, eng.Handler())
	if err != nil {
		return nil, err
	}
	srv.Handler = con.handler
	u := &Unit{Service: env.Service, Server: srv, Workers: []func(context.Context) error{eng.Run, con.console.Run}, log: env.Log}
	if err := withTraces(env, con.handler, reg, eng, u); err != nil { // traces.go
		return nil, err
	}
	if u.otlpURL != "" {
		con.console.AddServiceURL(learn.OTLPService, u.otlpURL) // the Learn page's OTLP lesson
	}
	srv.Checks = []httpkit.Check{{Name: "tsdb", Check: func(context.Context) error {
		if !eng.Ready() {
			return errors.New("TSDB not open or configuration not applied yet")
		}
		return nil
	}}}
	srv.WriteTimeout = 2 * time.Minute // range queries over long windows
	return u, nil
}

// withConsole serves the engine's API under /api/ and /-/ and the built-in
// console (internal/console) at "/": the console's server side holds the
// chaos admin token and calls the services of this fleet. It does so only
// while the process listens on loopback, as `cloudcart run` does by
// default: the console asks no token of its users.
// Its write API answers only requests addressed to self (the address
// this process listens at) or to --prometheus.external-url.
func withConsole(env *Env, self string, targets []*Unit, engine http.Handler) (consoleServer, error) {
	o := console.Options{ScrapeInterval: env.Prometheus.Profile.ScrapeInterval, Logger: env.Log, PrometheusURL: self, Traces: env.traces != nil, Logs: env.logs != nil,
		AdminEmail: env.Users.AdminEmail, AdminPassword: env.Users.AdminPassword,
		ListenAddr: strings.TrimPrefix(self, "http://"), ExternalURL: env.Prometheus.ExternalURL,
		ServiceURLs: map[string]string{}, Services: env.table()}
	for _, u := range targets {
		if u.Server.URL() == "" {
			continue // another process's service (serve prometheus): no console controls
		}
		o.ServiceURLs[u.Service.Name] = u.Server.URL()
		switch u.Service.Name {
		case "chaos":
			if ip := net.ParseIP(env.Bind); env.Bind != "localhost" && (ip == nil || !ip.IsLoopback()) {
				// The console would lend the token to anyone who reaches it.
				o.ChaosNote = "The console's chaos controls are off: this process listens beyond this machine (--bind " +
					cmp.Or(env.Bind, `""`) + "). Use the chaos admin API with its token."
				continue
			}
			tok, _, err := chaos.LoadToken(env.Chaos.Token, filepath.Join(env.DataDir, "chaos.token"))
			if err != nil {
				return consoleServer{}, err
			}
			o.ChaosURL, o.ChaosToken = u.Server.URL(), tok
		case "notifier":
			o.NotifierURL = u.Server.URL()
		case "orders":
			o.OrdersURL = u.Server.URL()
		case "gateway":
			o.GatewayURL = u.Server.URL()
		}
	}
	c, err := console.New(o)
	if err != nil {
		return consoleServer{}, err
	}
	mux := http.NewServeMux()
	mux.Handle("/api/", engine)
	mux.Handle("/-/", engine)
	mux.Handle("/", c.Handler())
	return consoleServer{console: c, handler: mux}, nil
}

// consoleServer is the console and the handler serving it with the
// engine's API.
type consoleServer struct {
	console *console.Console
	handler *http.ServeMux // withTraces adds Jaeger's API to it
}

// writeRules copies the embedded rule files to <dir>/rules, replacing what
// an older version left, and returns the path of a config file beside them
// (rule_files in the generated config are relative to it).
func writeRules(dir string) (string, error) {
	rulesDir := filepath.Join(dir, "rules")
	if err := os.RemoveAll(rulesDir); err != nil {
		return "", err
	}
	if err := os.MkdirAll(rulesDir, 0o755); err != nil {
		return "", err
	}
	err := fs.WalkDir(deploy.Rules, "prometheus/rules", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := deploy.Rules.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(rulesDir, filepath.Base(p)), b, 0o644)
	})
	return filepath.Join(dir, "prometheus.generated.yml"), err
}

// generateConfig writes the prometheus.yml of `cloudcart run`: one job per
// service (job = service.name) at the address it actually listens on, the
// engine itself, and the shipped rule files. It is also written to disk
// beside the rules, so users can read what the engine runs.
func generateConfig(p Profile, units []*Unit) ([]byte, error) {
	var jobs [][2]string
	for _, u := range units {
		// A service of another process (serve prometheus) is not listening here.
		addr, err := url.Parse(cmp.Or(u.Server.URL(), "http://"+u.Server.Addr))
		if err != nil {
			return nil, err
		}
		jobs = append(jobs, [2]string{u.Service.ServiceName, addr.Host})
	}
	return scrapeConfig(p, jobs)
}

// ScrapeConfig is the prometheus.yml `cloudcart run` generates, for the
// plan of this configuration: every service of its table and the engine,
// each at its configured port on --bind (127.0.0.1 when all interfaces).
func (c *Config) ScrapeConfig(p Profile) ([]byte, error) {
	var jobs [][2]string
	for _, s := range c.table().Planned() {
		host := cmp.Or(c.Bind, "127.0.0.1")
		jobs = append(jobs, [2]string{s.ServiceName, net.JoinHostPort(host, strconv.Itoa(c.Port(s.Name)))})
	}
	return scrapeConfig(p, jobs)
}

// scrapeConfig is a prometheus.yml scraping each job (name, host:port).
func scrapeConfig(p Profile, jobs [][2]string) ([]byte, error) {
	type staticConfig struct {
		Targets []string `yaml:"targets"`
	}
	type scrapeJob struct {
		JobName       string         `yaml:"job_name"`
		StaticConfigs []staticConfig `yaml:"static_configs"`
	}
	type global struct {
		ScrapeInterval     string `yaml:"scrape_interval"`
		ScrapeTimeout      string `yaml:"scrape_timeout"`
		EvaluationInterval string `yaml:"evaluation_interval"`
		// Native histograms (docs/histograms.md): scraped over the
		// protobuf format, which scrape_native_histograms puts first in
		// scrape_protocols; classic buckets are kept for families that
		// carry both layouts (the engine's own client_golang histograms).
		ScrapeNativeHistograms        bool `yaml:"scrape_native_histograms"`
		AlwaysScrapeClassicHistograms bool `yaml:"always_scrape_classic_histograms"`
	}
	type config struct {
		Global        global      `yaml:"global"`
		RuleFiles     []string    `yaml:"rule_files"`
		ScrapeConfigs []scrapeJob `yaml:"scrape_configs"`
	}
	c := config{
		Global: global{
			ScrapeInterval:     p.ScrapeInterval.String(),
			ScrapeTimeout:      min(p.ScrapeInterval, 10*time.Second).String(),
			EvaluationInterval: p.EvalInterval.String(),

			ScrapeNativeHistograms:        true,
			AlwaysScrapeClassicHistograms: true,
		},
		RuleFiles: []string{"rules/*.yml"},
	}
	for _, j := range jobs {
		c.ScrapeConfigs = append(c.ScrapeConfigs, scrapeJob{
			JobName:       j[0],
			StaticConfigs: []staticConfig{{Targets: []string{j[1]}}},
		})
	}
	b, err := yaml.Marshal(c)
	if err != nil {
		return nil, err
	}
	return append([]byte("# Generated by `cloudcart run` for its own services; --prometheus.config replaces it.\n"), b...), nil
}
