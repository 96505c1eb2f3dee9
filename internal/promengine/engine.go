// Package promengine runs Prometheus inside the cloudcart process: upstream's
// TSDB, scrape and discovery managers, PromQL engine, rule manager, notifier
// and HTTP API v1 (github.com/prometheus/prometheus used as a library, wired
// the way cmd/prometheus wires it), configured by an ordinary prometheus.yml.
//
// Each upstream constructor is called from exactly one small adapter file
// (tsdb.go, scrape.go, query.go, rules.go, notify.go, api.go), because those
// signatures change between Prometheus minor releases; engine.go only talks
// to the adapters. webhook.go is CloudCart's own: an Alertmanager-compatible
// webhook sender for running without an Alertmanager.
package promengine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/alecthomas/units"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/config"
	"github.com/prometheus/prometheus/discovery"
	"github.com/prometheus/prometheus/notifier"
	"github.com/prometheus/prometheus/promql/parser"
	"github.com/prometheus/prometheus/rules"
	"github.com/prometheus/prometheus/scrape"
	"github.com/prometheus/prometheus/tsdb"
	"github.com/prometheus/prometheus/util/features"
	"github.com/prometheus/prometheus/util/notifications"
	api_v1 "github.com/prometheus/prometheus/web/api/v1"
)

const (
	// defaultExternalURL is where cloudcart serves the API (docs/naming.md:
	// cloudcart-prometheus, port 9090).
	defaultExternalURL = "http://localhost:9090"
	// maxRequestBody bounds POST bodies (query, query_range, series...).
	maxRequestBody = 8 << 20
	// webhookDrainTimeout bounds how long Run waits for queued webhook posts
	// (and their retries) on shutdown.
	webhookDrainTimeout = 5 * time.Second
	// maxNotificationSubscribers bounds /api/v1/notifications/live streams.
	maxNotificationSubscribers = 16
)

// Options configures an Engine. Only DataDir and Config are required.
type Options struct {
	// DataDir holds the TSDB (blocks, wal, chunks_head), queries.active and
	// snapshots/. Created if missing.
	DataDir string
	// Config is a prometheus.yml.
	Config []byte
	// ConfigFile is where Config came from, if anywhere: relative paths in it
	// (rule_files globs, file_sd files, TLS files) resolve against its
	// directory. Without it they resolve against the working directory.
	ConfigFile string

	// RetentionTime and RetentionSize apply unless the config has a
	// storage.tsdb.retention section (which wins, as in Prometheus 3). With
	// neither, retention is 15d.
	RetentionTime time.Duration
	RetentionSize int64 // bytes

	// EnableAdminAPI turns on /api/v1/admin/tsdb/{snapshot,delete_series,
	// clean_tombstones}. Off, they answer 403.
	EnableAdminAPI bool

	// AlertmanagerURL, if set, is an Alertmanager (http(s)://host:port[/prefix])
	// that alerts go to through upstream's notifier (API v2), in addition to
	// any alerting.alertmanagers in Config.
	AlertmanagerURL string
	// WebhookURL, used only when AlertmanagerURL is empty, receives alert
	// state changes (firing, resolved) as Alertmanager webhook JSON: see
	// WebhookMessage.
	WebhookURL string
	// ExternalURL is how users reach the API; alert generatorURLs point into
	// it. Default http://localhost:9090.
	ExternalURL string

	// The demo profile. ScrapeInterval and EvalInterval, when non-zero,
	// replace every scrape_interval and evaluation/group interval. ForScale,
	// when non-zero, multiplies every alert's `for` and `keep_firing_for` as
	// rule files are loaded (in memory: the files keep production values).
	// WindowScale, when non-zero, multiplies the time ranges inside every
	// rule expression ([5m], subquery ranges and steps, offsets) the same
	// way, so an alert also resolves, and a burn-rate window fills, on the
	// compressed clock; no range becomes shorter than MinWindow (default 4
	// scrape intervals), and no scaled `for` shorter than MinFor. See
	// docs/alerts.md, "The demo profile".
	ScrapeInterval time.Duration
	EvalInterval   time.Duration
	ForScale       float64
	MinFor         time.Duration
	WindowScale    float64
	MinWindow      time.Duration

	// Logger receives upstream's logs; nil discards them.
	Logger *slog.Logger
	// Registerer receives the engine's self-metrics (prometheus_tsdb_*,
	// prometheus_target_*, prometheus_rule_*, prometheus_engine_*, ...).
	// They are unregistered when Run returns. Nil keeps them private.
	Registerer prometheus.Registerer
}

// Engine is an embedded Prometheus server. Build it with New, serve Handler,
// and call Run once.
type Engine struct {
	opts        Options
	logger      *slog.Logger
	cfg         *config.Config // read-only after New
	ruleFiles   []string
	parser      parser.Parser
	loader      demoLoader
	externalURL *url.URL
	flags       map[string]string
	handler     http.Handler
	resendDelay time.Duration // how often a firing alert is re-sent (tests shorten it)

	started atomic.Bool
	ready   atomic.Bool

	// apiMu is held for reading by every API request, so that Run can wait
	// for in-flight requests before closing the TSDB under them.
	apiMu  sync.RWMutex
	api    http.Handler    // nil unless running
	otlp   http.Handler    // nil unless running (otlp.go)
	apiCtx context.Context // cancelled when Run starts shutting down

	startTime      time.Time
	lastConfigTime atomic.Int64 // unix nanoseconds
}

// New validates opts (config, rule files, URLs) and returns an Engine that
// has not touched the disk yet.
func New(opts Options) (*Engine, error) {
	if opts.DataDir == "" {
		return nil, errors.New("promengine: DataDir is required")
	}
	if opts.ForScale < 0 || opts.MinFor < 0 || opts.WindowScale < 0 || opts.MinWindow < 0 {
		return nil, errors.New("promengine: ForScale, MinFor, WindowScale and MinWindow must not be negative")
	}
	if opts.RetentionTime < 0 || opts.RetentionSize < 0 {
		return nil, errors.New("promengine: retention must not be negative")
	}
	logger := opts.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if opts.ExternalURL == "" {
		opts.ExternalURL = defaultExternalURL
	}
	extURL, err := parseExternalURL(opts.ExternalURL)
	if err != nil {
		return nil, err
	}
	if opts.WebhookURL != "" && opts.AlertmanagerURL == "" {
		if u, err := url.Parse(opts.WebhookURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return nil, fmt.Errorf("promengine: webhook URL %q: want http(s)://host[:port]/path", opts.WebhookURL)
		}
	}

	cfg, err := loadConfig(&opts, logger)
	if err != nil {
		return nil, fmt.Errorf("promengine: %w", err)
	}
	p := parser.NewParser(parser.Options{})
	minWindow := opts.MinWindow
	if minWindow == 0 {
		minWindow = 4 * time.Duration(cfg.GlobalConfig.ScrapeInterval)
	}
	loader := demoLoader{parser: p, logger: logger.With("component", "rule loader"), forScale: opts.ForScale, minFor: opts.MinFor,
		windowScale: opts.WindowScale, minWindow: minWindow, minStep: time.Duration(cfg.GlobalConfig.EvaluationInterval),
		evalInterval: opts.EvalInterval}
	files, err := ruleFiles(cfg)
	if err != nil {
		return nil, fmt.Errorf("promengine: %w", err)
	}
	if err := checkRuleFiles(files, loader, cfg.GlobalConfig.MetricNameValidationScheme); err != nil {
		return nil, fmt.Errorf("promengine: %w", err)
	}

	e := &Engine{
		opts:        opts,
		logger:      logger,
		cfg:         cfg,
		ruleFiles:   files,
		parser:      p,
		loader:      loader,
		externalURL: extURL,
		resendDelay: resendDelay,
		startTime:   time.Now(),
	}
	e.flags = e.flagsMap()
	e.handler = e.newHandler()
	return e, nil
}

// Ready reports whether the TSDB is open and the configuration applied.
// It goes false again as soon as Run starts shutting down.
func (e *Engine) Ready() bool { return e.ready.Load() }

// Handler serves the Prometheus HTTP API under /api/v1/ plus /-/healthy and
// /-/ready; mount it at "/". Before Run has opened the TSDB and after it
// returns, /api/v1/ answers 503.
func (e *Engine) Handler() http.Handler { return e.handler }

// Run opens the TSDB (replaying its WAL), applies the configuration, starts
// discovery, scraping, rule evaluation and notification, and serves the API
// until ctx is done. It then stops everything in the order cmd/prometheus
// does (rules and scrapes first, the TSDB last) and returns once all of it has
// stopped; errors are joined. Run may be called once.
func (e *Engine) Run(ctx context.Context) error {
	if !e.started.CompareAndSwap(false, true) {
		return errors.New("promengine: Run called more than once")
	}
	reg := newRunRegistry(e.opts.Registerer)
	defer reg.unregisterAll()

	r, err := e.start(reg)
	if err != nil {
		return errors.Join(fmt.Errorf("promengine: start: %w", err), r.stop())
	}
	apiCtx, abortRequests := context.WithCancel(context.Background())
	defer abortRequests()
	e.apiMu.Lock()
	e.api, e.apiCtx = r.api, apiCtx
	e.otlp = newOTLPHandler(r.db, func() config.Config { return *e.cfg }, e.logger, reg)
	e.apiMu.Unlock()
	e.ready.Store(true)
	e.logger.InfoContext(apiCtx, "embedded Prometheus ready", "component", "promengine", "data_dir", e.opts.DataDir, "startup", time.Since(r.began))

	<-ctx.Done()
	e.ready.Store(false)
	e.logger.InfoContext(apiCtx, "stopping embedded Prometheus", "component", "promengine")
	abortRequests() // running queries end with "canceled"
	e.apiMu.Lock()  // waits for in-flight requests
	e.api = nil     // later ones get 503
	e.otlp = nil
	e.apiMu.Unlock()
	return r.stop()
}

// running holds one Run's components. Fields are nil until built; stop
// copes with any prefix of start having happened.
type running struct {
	began       time.Time
	logger      *slog.Logger
	db          *tsdb.DB
	queryEngine *queryEngine
	cancelSD    context.CancelFunc
	cancelRules context.CancelFunc
	scrape      *scrape.Manager
	notifier    *notifier.Manager
	webhook     *webhookSender
	cancelHook  context.CancelFunc
	rules       *rules.Manager
	api         http.Handler

	wg   sync.WaitGroup
	mu   sync.Mutex
	errs []error
}

// start builds and starts everything, following cmd/prometheus: TSDB, then
// discovery, scrape, query engine, notifier, rules, API; then the config is
// applied and the managers are started.
func (e *Engine) start(reg *runRegistry) (*running, error) {
	r := &running{began: time.Now(), logger: e.logger.With("component", "promengine")}
	fr := features.NewRegistry()
	fr.Enable(features.TSDB, "exemplar_storage")

	db, stats, err := openTSDB(tsdbSettings{
		dir:       e.opts.DataDir,
		retention: time.Duration(e.cfg.StorageConfig.TSDBConfig.Retention.Time),
		maxBytes:  int64(e.cfg.StorageConfig.TSDBConfig.Retention.Size),
		features:  fr,
	}, e.logger, reg)
	if err != nil {
		return r, err
	}
	r.db = db

	sdCtx, cancelSD := context.WithCancel(context.Background())
	r.cancelSD = cancelSD
	sdMetrics, err := newSDMetrics(reg)
	if err != nil {
		return r, err
	}
	discoverScrape, err := newDiscoveryManager(sdCtx, "scrape", e.logger, reg, sdMetrics, fr)
	if err != nil {
		return r, err
	}
	discoverNotify, err := newDiscoveryManager(sdCtx, "notify", e.logger, reg, sdMetrics, fr)
	if err != nil {
		return r, err
	}
	if r.scrape, err = newScrapeManager(e.logger, db, reg, fr); err != nil {
		return r, err
	}
	if r.queryEngine, err = newQueryEngine(e.opts.DataDir, e.parser, e.logger, reg, fr); err != nil {
		return r, err
	}

	scheme := e.cfg.GlobalConfig.MetricNameValidationScheme
	r.notifier = newNotifier(scheme, e.logger, reg)
	if e.opts.WebhookURL != "" && e.opts.AlertmanagerURL == "" {
		r.webhook = newWebhookSender(e.opts.WebhookURL, e.externalURL.String(), e.logger)
	}
	rulesCtx, cancelRules := context.WithCancel(context.Background())
	r.cancelRules = cancelRules
	r.rules = newRuleManager(ruleManagerSettings{
		ctx:         rulesCtx,
		db:          db,
		queryEngine: r.queryEngine,
		notify:      notifyFunc(r.notifier, r.webhook, e.externalURL.String()),
		loader:      e.loader,
		externalURL: e.externalURL,
		nameScheme:  scheme,
		parser:      e.parser,
		features:    fr,
		resendDelay: e.resendDelay,
	}, e.logger, reg)

	r.api = newAPIHandler(apiSettings{
		queryEngine:   r.queryEngine,
		db:            db,
		dbStats:       stats,
		scrape:        r.scrape,
		notifier:      r.notifier,
		rules:         r.rules,
		config:        func() config.Config { return *e.cfg },
		flags:         e.flags,
		externalURL:   e.externalURL,
		ready:         e.Ready,
		dataDir:       e.opts.DataDir,
		enableAdmin:   e.opts.EnableAdminAPI,
		runtimeInfo:   e.runtimeInfo,
		notifications: notifications.NewNotifications(maxNotificationSubscribers, reg),
		gatherer:      reg.gatherer,
		registerer:    reg,
		features:      fr,
		parser:        e.parser,
	}, e.logger)

	if err := e.applyConfig(r, discoverScrape, discoverNotify); err != nil {
		return r, err
	}

	r.goRun("scrape discovery", func() error { return ignoreCanceled(discoverScrape.Run()) })
	r.goRun("notify discovery", func() error { return ignoreCanceled(discoverNotify.Run()) })
	r.goRun("scrape manager", func() error { return r.scrape.Run(discoverScrape.SyncCh()) })
	r.goRun("notifier", func() error { r.notifier.Run(discoverNotify.SyncCh()); return nil })
	r.goRun("rule manager", func() error { r.rules.Run(); return nil })
	if r.webhook != nil {
		hookCtx, cancelHook := context.WithCancel(context.Background())
		r.cancelHook = cancelHook
		r.goRun("webhook sender", func() error { r.webhook.run(hookCtx); return nil })
	}
	return r, nil
}

// applyConfig is cmd/prometheus's initial reloadConfig, in its order: storage,
// query engine, scrape, scrape discovery, notifier, notify discovery, rules.
func (e *Engine) applyConfig(r *running, discoverScrape, discoverNotify *discovery.Manager) error {
	cfg := e.cfg
	if err := r.db.ApplyConfig(cfg); err != nil {
		return fmt.Errorf("apply config to tsdb: %w", err)
	}
	r.queryEngine.setEvaluationInterval(time.Duration(cfg.GlobalConfig.EvaluationInterval))
	if err := r.scrape.ApplyConfig(cfg); err != nil {
		return fmt.Errorf("apply config to scrape manager: %w", err)
	}
	sd, err := scrapeSDConfigs(cfg)
	if err != nil {
		return fmt.Errorf("scrape configs: %w", err)
	}
	if err := discoverScrape.ApplyConfig(sd); err != nil {
		return fmt.Errorf("apply config to scrape discovery: %w", err)
	}
	if err := r.notifier.ApplyConfig(cfg); err != nil {
		return fmt.Errorf("apply config to notifier: %w", err)
	}
	if err := discoverNotify.ApplyConfig(notifySDConfigs(cfg)); err != nil {
		return fmt.Errorf("apply config to notify discovery: %w", err)
	}
	if r.webhook != nil {
		r.webhook.setExternalLabels(cfg.GlobalConfig.ExternalLabels)
	}
	// Last: once groups are loaded, stop must see the rule manager running.
	if err := r.rules.Update(time.Duration(cfg.GlobalConfig.EvaluationInterval), e.ruleFiles,
		cfg.GlobalConfig.ExternalLabels, e.externalURL.String(), nil); err != nil {
		return fmt.Errorf("load rules: %w", err)
	}
	e.lastConfigTime.Store(time.Now().UnixNano())
	return nil
}

func (r *running) goRun(name string, f func() error) {
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		if err := f(); err != nil {
			r.mu.Lock()
			r.errs = append(r.errs, fmt.Errorf("%s: %w", name, err))
			r.mu.Unlock()
		}
	}()
}

// stop shuts down in cmd/prometheus's order: discovery, rule manager (so no
// alert is computed from a half-stopped scrape), scrape manager, notifier
// (draining queued alerts), webhook sender, then the query engine and the
// TSDB once nothing can write to it any more.
func (r *running) stop() error {
	if r.cancelSD != nil {
		r.cancelSD()
	}
	if r.rules != nil {
		r.rules.Stop()
	}
	if r.cancelRules != nil {
		r.cancelRules()
	}
	if r.scrape != nil {
		r.scrape.Stop()
	}
	if r.notifier != nil {
		r.notifier.Stop()
	}
	if r.webhook != nil {
		r.webhook.close()
		if r.cancelHook != nil {
			t := time.AfterFunc(webhookDrainTimeout, r.cancelHook)
			defer t.Stop()
			defer r.cancelHook()
		}
	}
	r.wg.Wait()

	errs := r.errs
	if r.queryEngine != nil {
		if err := r.queryEngine.Close(); err != nil {
			errs = append(errs, fmt.Errorf("close query engine: %w", err))
		}
	}
	if r.db != nil {
		if err := r.db.Close(); err != nil {
			errs = append(errs, fmt.Errorf("close tsdb: %w", err))
		}
	}
	if len(errs) == 0 {
		r.logger.Info("embedded Prometheus stopped")
	}
	return errors.Join(errs...)
}

func ignoreCanceled(err error) error {
	if errors.Is(err, context.Canceled) {
		return nil
	}
	return err
}

// newHandler is the engine's HTTP surface. The API itself is built by Run
// (it needs the open TSDB) and swapped in once ready.
func (e *Engine) newHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc(apiPrefix+"/", e.serveAPI)
	mux.HandleFunc("GET /-/healthy", func(w http.ResponseWriter, _ *http.Request) {
		_, _ = w.Write([]byte("Prometheus Server is Healthy.\n"))
	})
	mux.HandleFunc("GET /-/ready", func(w http.ResponseWriter, _ *http.Request) {
		if !e.Ready() {
			http.Error(w, "Service Unavailable", http.StatusServiceUnavailable)
			return
		}
		_, _ = w.Write([]byte("Prometheus Server is Ready.\n"))
	})
	return mux
}

func (e *Engine) serveAPI(w http.ResponseWriter, r *http.Request) {
	if !e.opts.EnableAdminAPI && strings.HasPrefix(r.URL.Path, apiPrefix+"/admin/") {
		writeAPIError(w, http.StatusForbidden, "unavailable", "admin APIs disabled (start with --prometheus.enable-admin-api)")
		return
	}
	e.apiMu.RLock()
	defer e.apiMu.RUnlock()
	if e.api == nil {
		writeAPIError(w, http.StatusServiceUnavailable, "unavailable", "embedded Prometheus is not ready")
		return
	}
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	defer context.AfterFunc(e.apiCtx, cancel)()
	if r.Body != nil {
		r.Body = http.MaxBytesReader(w, r.Body, maxRequestBody)
	}
	e.api.ServeHTTP(w, r.WithContext(ctx))
}

// writeAPIError answers in the API's own error format.
func writeAPIError(w http.ResponseWriter, code int, errorType, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(api_v1.Response{Status: "error", ErrorType: errorType, Error: msg})
}

func parseExternalURL(raw string) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("promengine: external URL: %w", err)
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("promengine: external URL %q: want http(s)://host[:port][/path]", raw)
	}
	u.Path = strings.TrimRight(u.Path, "/")
	return u, nil
}

// flagsMap is /api/v1/status/flags: the engine's settings under the names of
// the Prometheus flags they stand for.
func (e *Engine) flagsMap() map[string]string {
	ret := e.cfg.StorageConfig.TSDBConfig.Retention
	set := func(s string) string {
		if s == "" {
			return ""
		}
		return "<set>" // URLs may carry credentials.
	}
	return map[string]string{
		"config.file":                              e.opts.ConfigFile,
		"storage.tsdb.path":                        e.opts.DataDir,
		"storage.tsdb.retention.time":              ret.Time.String(),
		"storage.tsdb.retention.size":              ret.Size.String(),
		"web.enable-admin-api":                     strconv.FormatBool(e.opts.EnableAdminAPI),
		"web.external-url":                         e.externalURL.String(),
		"enable-feature":                           "exemplar-storage",
		"query.lookback-delta":                     model.Duration(lookbackDelta).String(),
		"query.timeout":                            model.Duration(queryTimeout).String(),
		"query.max-samples":                        strconv.Itoa(queryMaxSamples),
		"query.max-concurrency":                    strconv.Itoa(queryMaxConcurrency),
		"rules.alert.for-outage-tolerance":         model.Duration(outageTolerance).String(),
		"rules.alert.for-grace-period":             model.Duration(forGracePeriod).String(),
		"rules.alert.resend-delay":                 model.Duration(resendDelay).String(),
		"alertmanager.notification-queue-capacity": strconv.Itoa(notificationQueueCapacity),
		"alertmanager.url":                         set(e.opts.AlertmanagerURL),
		"alertmanager.webhook-url":                 set(e.opts.WebhookURL),
		"demo.scrape-interval":                     model.Duration(e.opts.ScrapeInterval).String(),
		"demo.eval-interval":                       model.Duration(e.opts.EvalInterval).String(),
		"demo.for-scale":                           strconv.FormatFloat(e.opts.ForScale, 'g', -1, 64),
		"demo.min-for":                             model.Duration(e.opts.MinFor).String(),
		"demo.window-scale":                        strconv.FormatFloat(e.opts.WindowScale, 'g', -1, 64),
		"demo.min-window":                          model.Duration(e.loader.minWindow).String(),
	}
}

// runtimeInfo is /api/v1/status/runtimeinfo (as web/web.go fills it).
func (e *Engine) runtimeInfo() (api_v1.RuntimeInfo, error) {
	ri := api_v1.RuntimeInfo{
		StartTime:           e.startTime,
		ServerTime:          time.Now().UTC(),
		ReloadConfigSuccess: true,
		LastConfigTime:      time.Unix(0, e.lastConfigTime.Load()),
		GoroutineCount:      runtime.NumGoroutine(),
		GOMAXPROCS:          runtime.GOMAXPROCS(0),
		GOMEMLIMIT:          debug.SetMemoryLimit(-1),
		GOGC:                os.Getenv("GOGC"),
		GODEBUG:             os.Getenv("GODEBUG"),
	}
	ret := e.cfg.StorageConfig.TSDBConfig.Retention
	var parts []string
	if ret.Time != 0 {
		parts = append(parts, ret.Time.String())
	}
	if ret.Size != 0 {
		parts = append(parts, units.Base2Bytes(ret.Size).String())
	}
	ri.StorageRetention = strings.Join(parts, " or ")
	cwd, err := os.Getwd()
	if err != nil {
		cwd = "<error retrieving current working directory>"
	}
	ri.CWD = cwd
	host, err := os.Hostname()
	if err != nil {
		return ri, fmt.Errorf("hostname: %w", err)
	}
	ri.Hostname = host
	return ri, nil
}
