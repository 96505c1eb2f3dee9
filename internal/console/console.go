// Package console is the built-in web console of `cloudcart run`, served
// beside the embedded Prometheus API (http://localhost:9090/): an overview
// of every service and of the alerts, the Grafana dashboards of
// internal/dashboards drawn as live charts, the chaos controls, and a
// PromQL query page.
//
// The browser side is plain ES modules and CSS embedded in the binary: no
// build step, no network, no third-party code. The console serves the
// dashboards' Grafana JSON and the browser renders that JSON, so what the
// console draws is what Grafana provisions. The browser talks to the
// Prometheus API directly (same origin); calls that need a secret (the
// chaos admin token) go through this package's server side, which holds
// the token and proxies, so the browser never sees it.
package console

import (
	"cmp"
	"context"
	"embed"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/cloudcart/cloudcart/internal/dashboards"
	"github.com/cloudcart/cloudcart/internal/httpkit"
	"github.com/cloudcart/cloudcart/internal/services"
)

//go:embed static
var static embed.FS

// Options configures the console. Every service URL is optional: the
// console hides what the fleet does not run.
type Options struct {
	// ChaosURL and ChaosToken reach the chaos service's admin API.
	ChaosURL, ChaosToken string
	// ChaosNote, without a ChaosURL, tells the user why there are no chaos
	// controls.
	ChaosNote string
	// NotifierURL is the notification worker (GET /notifications).
	NotifierURL string
	// OrdersURL is the order service (POST /simulate, for the traffic button).
	OrdersURL string
	// Traces: the engine serves Jaeger's query API from its trace store
	// (internal/tracestore), so the Traces page and exemplar links work.
	Traces bool
	// Logs: the engine keeps the log lines written inside spans
	// (internal/logstore) at /api/logs, and the trace view shows them.
	Logs bool
	// ListenAddr is the host:port the console's server actually listens
	// on, and ExternalURL the URL users reach it at behind a proxy
	// (--prometheus.external-url). Write requests are accepted only when
	// their Host names one of them (a loopback listener also answers to
	// 127.0.0.1, localhost and [::1] at its port) and their Origin, when
	// sent, is that same host: a page whose DNS name was rebound to this
	// machine sends its own name in Host and is refused. With neither set
	// no write is accepted.
	ListenAddr, ExternalURL string
	// PrometheusURL (the engine serving this console) and GatewayURL let
	// the console run `cloudcart scenario`'s scenarios; AdminEmail and
	// AdminPassword, the fleet's admin account, are what low-stock needs.
	PrometheusURL, GatewayURL string
	AdminEmail, AdminPassword string
	// ScrapeInterval is the engine's scrape interval; the browser derives
	// $__rate_interval from it as Grafana does. 15s if zero.
	ScrapeInterval time.Duration
	// Services is the fleet's service table (the chaos targets);
	// services.All if nil.
	Services services.Table
	// ServiceURLs are the fleet's services by serve name, for the Learn
	// page's buttons.
	ServiceURLs map[string]string
	// Client calls the services; a 10 s timeout client if nil.
	Client *http.Client
	Logger *slog.Logger
}

// Console serves the console.
type Console struct {
	o          Options
	log        *slog.Logger
	dashboards []dashboards.Dashboard
	files      map[string][]byte // dashboard JSON by uid
	hosts      map[string]bool   // the authorities writes may name (lower case)
	books      []Runbook
	started    time.Time
	handler    http.Handler
	runs       runs
	// ctx ends with Run's: a scenario run in progress stops with it.
	ctx  context.Context
	stop context.CancelFunc
}

// New builds the console. It renders every dashboard's JSON once, so a
// broken definition fails here and not in a browser.
func New(o Options) (*Console, error) {
	o.ScrapeInterval = cmp.Or(o.ScrapeInterval, 15*time.Second)
	if o.Services == nil {
		o.Services = services.All
	}
	if o.Client == nil {
		o.Client = &http.Client{Timeout: 10 * time.Second}
	}
	c := &Console{o: o, log: cmp.Or(o.Logger, slog.New(slog.DiscardHandler)).With("component", "console"),
		files: map[string][]byte{}, books: Runbooks(), started: time.Now().UTC().Truncate(time.Second)}
	c.ctx, c.stop = context.WithCancel(context.Background())
	all, err := dashboards.All()
	if err != nil {
		return nil, fmt.Errorf("console: %w", err)
	}
	for _, d := range all {
		b, err := d.JSON()
		if err != nil {
			return nil, fmt.Errorf("console: %w", err)
		}
		c.files[d.UID] = b
	}
	c.dashboards = all
	if c.hosts, err = writeHosts(o.ListenAddr, o.ExternalURL); err != nil {
		return nil, fmt.Errorf("console: %w", err)
	}
	assets, err := fs.Sub(static, "static")
	if err != nil {
		return nil, err
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", c.index(assets))
	// The console's pages by path, Prometheus's among them (/graph is its
	// expression browser): the browser's router reads the path.
	for _, p := range Pages {
		mux.HandleFunc("GET /"+p, c.index(assets))
	}
	mux.HandleFunc("GET /dashboards/{uid}", c.index(assets))
	mux.HandleFunc("GET /runbooks/{anchor}", c.index(assets))
	mux.HandleFunc("GET /learn/{lesson}", c.index(assets))
	mux.HandleFunc("GET /console/api/runbooks", c.runbooks)
	mux.Handle("GET /console/static/", http.StripPrefix("/console/static/", http.FileServerFS(assets)))
	mux.HandleFunc("GET /console/api/config", c.config)
	mux.HandleFunc("GET /console/api/dashboards/{uid}", c.dashboard)
	mux.HandleFunc("GET /console/api/notifications", c.notifications)
	mux.HandleFunc("POST /console/api/orders/simulate", c.writes(c.simulate))
	c.chaosRoutes(mux)
	c.learnRoutes(mux)
	mux.HandleFunc("/console/api/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, "no console API at "+r.Method+" "+r.URL.Path)
	})
	c.handler = secure(mux)
	return c, nil
}

// Pages are the paths that answer with the console: its pages, and the
// paths of Prometheus's own UI a Prometheus user types (/graph, /targets,
// /alerts, /rules, /query).
var Pages = []string{"graph", "query", "targets", "alerts", "rules", "dashboards", "chaos", "runbooks", "learn"}

// Handler serves the console: "/", its pages (Pages) and everything under
// /console/.
func (c *Console) Handler() http.Handler { return c.handler }

// contentSecurityPolicy allows nothing but this origin: no inline script
// or style, no other host (the console works offline).
const contentSecurityPolicy = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
	"connect-src 'self'; font-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

func secure(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", contentSecurityPolicy)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("X-Frame-Options", "DENY")
		next.ServeHTTP(w, r)
	})
}

func (c *Console) index(assets fs.FS) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		b, err := fs.ReadFile(assets, "index.html")
		if err != nil {
			writeError(w, http.StatusInternalServerError, err.Error())
			return
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("Cache-Control", "no-cache")
		_, _ = w.Write(b)
	}
}

// Config is what the browser learns at start.
type Config struct {
	ScrapeIntervalSeconds float64          `json:"scrape_interval_seconds"`
	Dashboards            []DashboardEntry `json:"dashboards"`
	Chaos                 bool             `json:"chaos"`
	ChaosNote             string           `json:"chaos_note,omitempty"`
	Notifier              bool             `json:"notifier"`
	Orders                bool             `json:"orders"`
	OrdersURL             string           `json:"orders_url,omitempty"` // for the curl hint
	Traces                bool             `json:"traces"`
	Logs                  bool             `json:"logs"`
	// StartedAt is when this console (the fleet's process) started: the
	// charts' default time range is the fleet's age.
	StartedAt time.Time `json:"started_at"`
	// SeriesColors colour series by name (failures red, successes green)
	// as the Grafana dashboards' overrides do.
	SeriesColors []dashboards.SeriesColor `json:"series_colors"`
}

// DashboardEntry lists one dashboard.
type DashboardEntry struct {
	UID   string `json:"uid"`
	Title string `json:"title"`
	File  string `json:"file"` // under deploy/grafana/dashboards
}

func (c *Console) config(w http.ResponseWriter, _ *http.Request) {
	cfg := Config{
		ScrapeIntervalSeconds: c.o.ScrapeInterval.Seconds(),
		Chaos:                 c.o.ChaosURL != "",
		ChaosNote:             c.o.ChaosNote,
		Notifier:              c.o.NotifierURL != "",
		Orders:                c.o.OrdersURL != "",
		OrdersURL:             c.o.OrdersURL,
		Traces:                c.o.Traces,
		Logs:                  c.o.Logs,
		StartedAt:             c.started,
		SeriesColors:          dashboards.SemanticColors,
	}
	for _, d := range c.dashboards {
		cfg.Dashboards = append(cfg.Dashboards, DashboardEntry{UID: d.UID, Title: d.Title, File: d.File})
	}
	w.Header().Set("Cache-Control", "no-store")
	httpkit.WriteJSON(w, http.StatusOK, cfg)
}

// dashboard serves one dashboard's Grafana JSON, byte for byte the
// committed file.
func (c *Console) dashboard(w http.ResponseWriter, r *http.Request) {
	b, ok := c.files[r.PathValue("uid")]
	if !ok {
		writeError(w, http.StatusNotFound, fmt.Sprintf("no dashboard %q", r.PathValue("uid")))
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-cache")
	_, _ = w.Write(b)
}

// writes guards the routes that change something (chaos settings,
// simulated orders). The browser sends X-CloudCart-Console, which another
// site cannot make a browser send without a CORS preflight this server
// never grants. That alone does not stop DNS rebinding: a page at
// evil.example whose name is rebound to 127.0.0.1 is same-origin with
// itself, sends the header freely and names evil.example in Host and
// Origin. So the Host must be one this console listens at (421
// Misdirected Request otherwise), and an Origin, when present, must be
// that same host (403).
func (c *Console) writes(next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		host := strings.ToLower(r.Host)
		if !c.hosts[host] {
			writeError(w, http.StatusMisdirectedRequest, fmt.Sprintf(
				"console writes are accepted only at the console's own address (%s), not at host %q",
				c.allowedHosts(), truncate(r.Host, 64)))
			return
		}
		if r.Header.Get("X-CloudCart-Console") != "1" {
			writeError(w, http.StatusForbidden, "console writes need the header X-CloudCart-Console: 1")
			return
		}
		if o := r.Header.Get("Origin"); o != "" && !sameHost(o, host) {
			writeError(w, http.StatusForbidden, "cross-origin console writes are refused")
			return
		}
		next(w, r)
	}
}

// sameHost reports whether origin (scheme://host[:port]) names host.
func sameHost(origin, host string) bool {
	u, err := url.Parse(origin)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Path != "" || u.User != nil {
		return false
	}
	return strings.ToLower(u.Host) == host
}

func (c *Console) allowedHosts() string {
	hs := make([]string, 0, len(c.hosts))
	for h := range c.hosts {
		hs = append(hs, h)
	}
	slices.Sort(hs)
	return strings.Join(hs, ", ")
}

// writeHosts lists the Host values writes may carry: the listen address
// (with the other loopback spellings of a loopback or wildcard listener,
// since the browser on this machine may use any of them) and the external
// URL's host (with its scheme's default port spelt out and left out).
func writeHosts(listen, external string) (map[string]bool, error) {
	hosts := map[string]bool{}
	if listen != "" {
		h, port, err := net.SplitHostPort(listen)
		if err != nil {
			return nil, fmt.Errorf("listen address %q: %w", listen, err)
		}
		hosts[strings.ToLower(net.JoinHostPort(h, port))] = true
		if ip := net.ParseIP(h); h == "" || h == "localhost" || (ip != nil && (ip.IsLoopback() || ip.IsUnspecified())) {
			for _, lh := range []string{"127.0.0.1", "localhost", "::1"} {
				hosts[net.JoinHostPort(lh, port)] = true
			}
		}
	}
	if external != "" {
		u, err := url.Parse(external)
		if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
			return nil, fmt.Errorf("external URL %q: want http(s)://host[:port][/path]", external)
		}
		host := strings.ToLower(u.Host)
		hosts[host] = true
		def := map[string]string{"http": "80", "https": "443"}[u.Scheme]
		if u.Port() == "" {
			hosts[net.JoinHostPort(strings.ToLower(u.Hostname()), def)] = true
		} else if u.Port() == def {
			hosts[strings.TrimSuffix(host, ":"+def)] = true
		}
	}
	return hosts, nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

func writeError(w http.ResponseWriter, status int, msg string) {
	httpkit.WriteJSON(w, status, httpkit.ErrorResponse{Error: httpkit.ErrorBody{Code: codeFor(status), Message: msg}})
}

func codeFor(status int) string {
	switch status {
	case http.StatusNotFound:
		return "not_found"
	case http.StatusForbidden:
		return "forbidden"
	case http.StatusMisdirectedRequest:
		return "misdirected"
	case http.StatusBadRequest:
		return "invalid"
	case http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		return "unavailable"
	}
	return "internal"
}

// decodeJSON is a small strict decoder for the console's own bodies.
func decodeJSON(r *http.Request, v any) error {
	dec := json.NewDecoder(io.LimitReader(r.Body, 64<<10))
	dec.DisallowUnknownFields()
	return dec.Decode(v)
}
