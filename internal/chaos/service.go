// Package chaos is the chaos service (port 8004) and the chaos middleware
// every other service runs.
//
// The service holds the chaos settings behind a bearer-token admin API,
// persists them with the chaos.injected events describing each change (one
// transaction, the outbox), and publishes them to the bus's key-value
// bucket. Every service's Middleware watches that bucket (a push, no
// polling) and injects the configured faults into its own requests. In
// `cloudcart run` the services watch the same embedded bus, so one code
// path serves one process and many.
package chaos

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"slices"
	"sync"
	"time"

	"go.opentelemetry.io/otel/metric"

	"github.com/cloudcart/cloudcart/internal/cloudcart"
	"github.com/cloudcart/cloudcart/internal/httpkit"
)

// Store persists the settings (sqlstore.ChaosStore).
type Store interface {
	LoadChaosSettings(ctx context.Context) (cloudcart.ChaosSettings, error)
	SaveChaosSettings(ctx context.Context, prev int64, next cloudcart.ChaosSettings, events ...*cloudcart.Event) error
}

// SettingsPublisher distributes the settings to the fleet (bus.Conn).
type SettingsPublisher interface {
	PutChaosSettings(ctx context.Context, s cloudcart.ChaosSettings) error
}

// Options build a Service.
type Options struct {
	Store     Store
	Publisher SettingsPublisher
	Token     string   // the admin API's bearer token
	Targets   []string // services a target may name, e.g. "orders"
	Source    string   // service.name on the events, "chaos-service"
	Metrics   *Metrics
	Meter     metric.Meter // for the observed gauges
	// PublishStats reports the event publisher's successes and failures
	// for chaos_events_publish_success_percent. May be nil.
	PublishStats func() (ok, failed uint64)
	// Committed is called after a change and its events are committed,
	// e.g. to wake the outbox relay. May be nil.
	Committed func()
	Logger    *slog.Logger
	Now       func() time.Time
}

// Service is the chaos service.
type Service struct {
	o     Options
	log   *slog.Logger
	token [32]byte
	start time.Time

	mu     sync.Mutex // serialises changes
	cur    cloudcart.ChaosSettings
	dirty  chan struct{} // the bus has not got cur yet
	pub    sync.Mutex
	synced int64 // version the bus holds
}

// New loads the stored settings and builds the service.
func New(ctx context.Context, o Options) (*Service, error) {
	if o.Store == nil || o.Publisher == nil || o.Metrics == nil || o.Token == "" {
		return nil, errors.New("chaos: Store, Publisher, Metrics and Token are required")
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	cur, err := o.Store.LoadChaosSettings(ctx)
	if err != nil {
		return nil, err
	}
	s := &Service{o: o, log: o.Logger, token: sha256.Sum256([]byte(o.Token)), start: o.Now(), cur: cur,
		dirty: make(chan struct{}, 1), synced: -1}
	s.dirty <- struct{}{}
	if o.Meter != nil {
		m := o.Metrics
		_, err := o.Meter.RegisterCallback(func(_ context.Context, obs metric.Observer) error {
			obs.ObserveFloat64(m.uptime, s.o.Now().Sub(s.start).Seconds())
			cur := s.Settings()
			obs.ObserveFloat64(m.latencyProb, cur.LatencyProbability())
			pct := 100.0
			if s.o.PublishStats != nil {
				if ok, failed := s.o.PublishStats(); ok+failed > 0 {
					pct = 100 * float64(ok) / float64(ok+failed)
				}
			}
			obs.ObserveFloat64(m.publishOK, pct)
			return nil
		}, m.uptime, m.latencyProb, m.publishOK)
		if err != nil {
			return nil, err
		}
	}
	return s, nil
}

// Settings returns the settings in force.
func (s *Service) Settings() cloudcart.ChaosSettings {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.cur
}

// Run keeps the bus's copy of the settings equal to the stored ones: at
// start (the database is the source of truth, even over a bus that kept
// older settings) and after every change, retrying while the bus is down.
func (s *Service) Run(ctx context.Context) error {
	retry := time.NewTicker(2 * time.Second)
	defer retry.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-s.dirty:
		case <-retry.C:
		}
		s.sync(ctx)
	}
}

func (s *Service) sync(ctx context.Context) {
	s.pub.Lock()
	defer s.pub.Unlock()
	cur := s.Settings()
	if cur.Version == s.synced {
		return
	}
	pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := s.o.Publisher.PutChaosSettings(pctx, cur); err != nil {
		s.log.WarnContext(ctx, "publishing chaos settings to the bus failed; retrying", "version", cur.Version, "err", err)
		return
	}
	s.synced = cur.Version
	s.log.InfoContext(ctx, "chaos settings published", "version", cur.Version, "enabled", cur.Enabled)
}

// update applies change to a copy of the settings, validates, stores it
// with its chaos.injected event, and publishes it to the fleet.
func (s *Service) update(ctx context.Context, action, target string, change func(*cloudcart.ChaosSettings) error) (cloudcart.ChaosSettings, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	next, err := clone(s.cur)
	if err != nil {
		return cloudcart.ChaosSettings{}, err
	}
	if err := change(&next); err != nil {
		return cloudcart.ChaosSettings{}, err
	}
	if err := next.Validate(s.o.Targets); err != nil {
		s.count(action, s.cur, next, "rejected")
		return cloudcart.ChaosSettings{}, err
	}
	next.Version = s.cur.Version + 1
	next.UpdatedAt = s.o.Now().UTC()
	faults := []string{}
	for _, f := range next.Targets {
		for _, t := range f.FaultTypes() {
			if !slices.Contains(faults, t) {
				faults = append(faults, t)
			}
		}
	}
	if target != "" {
		faults = next.Targets[target].FaultTypes()
	}
	ev, err := cloudcart.NewEvent(cloudcart.EventChaosInjected, s.o.Source, cloudcart.ChaosInjectedData{
		Action: action, Target: target, Faults: faults, Enabled: next.Enabled, Version: next.Version,
	}, next.UpdatedAt)
	if err != nil {
		return cloudcart.ChaosSettings{}, err
	}
	if err := s.o.Store.SaveChaosSettings(ctx, s.cur.Version, next, ev); err != nil {
		return cloudcart.ChaosSettings{}, err
	}
	s.count(action, s.cur, next, "success")
	s.cur = next
	s.log.InfoContext(ctx, "chaos settings changed", "action", action, "target", target, "version", next.Version, "enabled", next.Enabled)
	if s.o.Committed != nil {
		s.o.Committed()
	}
	select { // Run publishes it now, not at the next retry tick
	case s.dirty <- struct{}{}:
	default:
	}
	return next, nil
}

// count records a change in the §6.1 counters: the switch, and every fault
// the change configures (all of them when it is rejected).
func (s *Service) count(action string, prev, next cloudcart.ChaosSettings, status string) {
	ctx := context.Background()
	m := s.o.Metrics
	if next.Enabled != prev.Enabled || action == "enable" || action == "disable" {
		typ := "disable"
		if next.Enabled {
			typ = "enable"
		}
		m.injections.Add(ctx, 1, m.injection(typ, status))
		if status == "success" && next.Enabled != prev.Enabled {
			if next.Enabled {
				m.enabled.Add(ctx, 1)
			} else {
				m.disabled.Add(ctx, 1)
			}
		}
	}
	if next.PaymentFailureRate != prev.PaymentFailureRate {
		m.injections.Add(ctx, 1, m.injection("payment", status))
	}
	if status == "success" {
		m.configUpdates.Add(ctx, 1)
	}
	walk := func(f, old cloudcart.ChaosFaults) {
		if status == "success" && equalFaults(f, old) {
			return // unchanged: not configured by this change
		}
		for _, t := range f.FaultTypes() {
			m.injections.Add(ctx, 1, m.injection(t, status))
		}
		if status != "success" {
			return
		}
		if l := f.Latency; l != nil && l.Probability > 0 {
			m.latencyInj.Add(ctx, 1)
			m.latencyMag.Record(ctx, float64(l.Max().Milliseconds()))
		}
		if e := f.Error; e != nil && e.Rate > 0 {
			code := e.Status
			if code == 0 {
				code = cloudcart.DefaultChaosErrorStatus
			}
			m.errorInj.Add(ctx, 1, errorCode(code))
		}
		if t := f.Timeout; t != nil && t.Rate > 0 {
			m.timeoutInj.Add(ctx, 1)
		}
		if r := f.Random; r != nil && r.Rate > 0 {
			m.randomInj.Add(ctx, 1)
		}
	}
	for target, f := range next.Targets {
		old := prev.Targets[target]
		top := f
		top.Routes, old.Routes = nil, nil
		walk(top, old)
		for route, rf := range f.Routes {
			walk(rf, prev.Targets[target].Routes[route])
		}
	}
}

func equalFaults(a, b cloudcart.ChaosFaults) bool {
	x, _ := json.Marshal(a)
	y, _ := json.Marshal(b)
	return string(x) == string(y)
}

func clone(s cloudcart.ChaosSettings) (cloudcart.ChaosSettings, error) {
	var out cloudcart.ChaosSettings
	b, err := json.Marshal(s)
	if err == nil {
		err = json.Unmarshal(b, &out)
	}
	return out, err
}

// Handler returns the admin API. Every route needs the bearer token.
//
//	GET    /chaos/settings          the settings in force
//	PUT    /chaos/settings          replace them (version and updated_at are ignored)
//	POST   /chaos/enable            switch chaos on (the configured faults apply)
//	POST   /chaos/disable           switch chaos off (nothing is injected)
//	PUT    /chaos/targets/{target}  set one service's faults (ChaosFaults JSON)
//	DELETE /chaos/targets/{target}  remove one service's faults
func (s *Service) Handler() *http.ServeMux {
	mux := http.NewServeMux()
	mux.Handle("GET /chaos/settings", s.admin(s.getSettings))
	mux.Handle("PUT /chaos/settings", s.admin(s.putSettings))
	mux.Handle("POST /chaos/enable", s.admin(s.switchChaos(true)))
	mux.Handle("POST /chaos/disable", s.admin(s.switchChaos(false)))
	mux.Handle("PUT /chaos/targets/{target}", s.admin(s.putTarget))
	mux.Handle("DELETE /chaos/targets/{target}", s.admin(s.deleteTarget))
	return mux
}

// admin checks the token and turns a returned error into the JSON error.
func (s *Service) admin(fn func(http.ResponseWriter, *http.Request) error) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !authorized(r, s.token) {
			w.Header().Set("WWW-Authenticate", `Bearer realm="cloudcart-chaos"`)
			httpkit.Error(w, r, s.log, cloudcart.Errorf(cloudcart.EUNAUTHORIZED,
				"the chaos admin API needs Authorization: Bearer <token> (the token is in <data-dir>/chaos.token or --chaos.token)"))
			return
		}
		err := httpkit.CheckQuery(r) // no route takes a query parameter
		if err == nil {
			err = fn(w, r)
		}
		if err != nil {
			httpkit.Error(w, r, s.log, err)
		}
	})
}

func (s *Service) getSettings(w http.ResponseWriter, _ *http.Request) error {
	httpkit.WriteJSON(w, http.StatusOK, s.Settings())
	return nil
}

func (s *Service) putSettings(w http.ResponseWriter, r *http.Request) error {
	var in cloudcart.ChaosSettings
	if err := httpkit.DecodeJSON(r, &in); err != nil {
		return err
	}
	action := "configure"
	out, err := s.update(r.Context(), action, "", func(cur *cloudcart.ChaosSettings) error {
		in.Version, in.UpdatedAt = cur.Version, cur.UpdatedAt
		*cur = in
		return nil
	})
	if err != nil {
		return err
	}
	httpkit.WriteJSON(w, http.StatusOK, out)
	return nil
}

func (s *Service) switchChaos(on bool) func(http.ResponseWriter, *http.Request) error {
	action := "disable"
	if on {
		action = "enable"
	}
	return func(w http.ResponseWriter, r *http.Request) error {
		out, err := s.update(r.Context(), action, "", func(cur *cloudcart.ChaosSettings) error {
			cur.Enabled = on
			return nil
		})
		if err != nil {
			return err
		}
		httpkit.WriteJSON(w, http.StatusOK, out)
		return nil
	}
}

func (s *Service) putTarget(w http.ResponseWriter, r *http.Request) error {
	target := r.PathValue("target")
	var f cloudcart.ChaosFaults
	if err := httpkit.DecodeJSON(r, &f); err != nil {
		return err
	}
	out, err := s.update(r.Context(), "configure", target, func(cur *cloudcart.ChaosSettings) error {
		if cur.Targets == nil {
			cur.Targets = map[string]cloudcart.ChaosFaults{}
		}
		cur.Targets[target] = f
		return nil
	})
	if err != nil {
		return err
	}
	httpkit.WriteJSON(w, http.StatusOK, out)
	return nil
}

func (s *Service) deleteTarget(w http.ResponseWriter, r *http.Request) error {
	target := r.PathValue("target")
	out, err := s.update(r.Context(), "configure", target, func(cur *cloudcart.ChaosSettings) error {
		if _, ok := cur.Targets[target]; !ok {
			return cloudcart.Errorf(cloudcart.ENOTFOUND, "no faults are configured for %q", target)
		}
		delete(cur.Targets, target)
		return nil
	})
	if err != nil {
		return err
	}
	httpkit.WriteJSON(w, http.StatusOK, out)
	return nil
}
