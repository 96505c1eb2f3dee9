package console

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/cloudcart/cloudcart/internal/cloudcart"
	"github.com/cloudcart/cloudcart/internal/httpkit"
	"github.com/cloudcart/cloudcart/internal/scenario"
	"github.com/cloudcart/cloudcart/internal/services"
)

// ChaosTargets are the services of table t a fault can be set on, as the
// chaos service names them, and "*" for every service without its own
// faults.
func ChaosTargets(t services.Table) []string {
	return append(t.ChaosTargets(), cloudcart.ChaosTargetAll)
}

// scenarioLoadRate is the shopper journeys per second a scenario run adds,
// as `cloudcart scenario --load.rate` does by default.
const scenarioLoadRate = 2

// ScenarioEntry is one of `cloudcart scenario`'s scenarios (internal/scenario)
// as the console offers it: Available says whether this fleet can run it,
// and Unavailable why not.
type ScenarioEntry struct {
	scenario.Scenario
	Available   bool   `json:"available"`
	Unavailable string `json:"unavailable,omitempty"`
}

// RunState is the console's scenario run: the one in progress, or the
// last one. Events grow as the runner observes them; Result is set once
// the run is over.
type RunState struct {
	Scenario  string           `json:"scenario"`
	Title     string           `json:"title"`
	Alert     string           `json:"alert"`
	Running   bool             `json:"running"`
	StartedAt time.Time        `json:"started_at"`
	Events    []scenario.Event `json:"events"`
	Result    *scenario.Result `json:"result,omitempty"`
}

// runs runs one scenario at a time, in the background, with the same
// runner as `cloudcart scenario`: apply the cause, wait for the alert and
// its notification, restore, wait for the resolution.
type runs struct {
	mu     sync.Mutex
	state  *RunState
	cancel context.CancelFunc
	done   chan struct{}
}

// scenarios lists internal/scenario's scenarios with what this fleet lacks
// for each.
func (c *Console) scenarios() []ScenarioEntry {
	var out []ScenarioEntry
	for _, sc := range scenario.Of(c.o.Services, "") {
		e := ScenarioEntry{Scenario: sc, Available: true}
		switch {
		case c.o.PrometheusURL == "" || c.o.GatewayURL == "" || c.o.NotifierURL == "" || c.o.OrdersURL == "":
			e.Available, e.Unavailable = false, "needs the whole fleet of cloudcart run (gateway, order service, notification worker, Prometheus)"
		case sc.Name == "low-stock" && (c.o.AdminEmail == "" || c.o.AdminPassword == ""):
			e.Available, e.Unavailable = false, "needs the admin account: start the fleet with --users.admin-email and CLOUDCART_USERS_ADMIN_PASSWORD"
		}
		out = append(out, e)
	}
	return out
}

func (c *Console) listScenarios(w http.ResponseWriter, _ *http.Request) {
	c.runs.mu.Lock()
	st := c.runState()
	c.runs.mu.Unlock()
	w.Header().Set("Cache-Control", "no-store")
	httpkit.WriteJSON(w, http.StatusOK, map[string]any{"scenarios": c.scenarios(), "targets": ChaosTargets(c.o.Services), "run": st})
}

// runState copies the run's state; the caller holds c.runs.mu.
func (c *Console) runState() *RunState {
	if c.runs.state == nil {
		return nil
	}
	st := *c.runs.state
	st.Events = append([]scenario.Event(nil), st.Events...)
	return &st
}

func (c *Console) getRun(w http.ResponseWriter, _ *http.Request) {
	c.runs.mu.Lock()
	st := c.runState()
	c.runs.mu.Unlock()
	w.Header().Set("Cache-Control", "no-store")
	httpkit.WriteJSON(w, http.StatusOK, map[string]any{"run": st})
}

// startScenario starts a run: POST /console/api/chaos/scenarios/{name}.
// 409 while another runs.
func (c *Console) startScenario(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	var entry *ScenarioEntry
	for _, e := range c.scenarios() {
		if e.Name == name {
			entry = &e
		}
	}
	switch {
	case entry == nil:
		writeError(w, http.StatusNotFound, fmt.Sprintf("no scenario %q (cloudcart scenario list names them)", name))
		return
	case !entry.Available:
		writeError(w, http.StatusConflict, fmt.Sprintf("scenario %s cannot run in this fleet: %s", name, entry.Unavailable))
		return
	}
	c.runs.mu.Lock()
	defer c.runs.mu.Unlock()
	if c.runs.state != nil && c.runs.state.Running {
		writeError(w, http.StatusConflict, fmt.Sprintf("scenario %s is running: stop it first", c.runs.state.Scenario))
		return
	}
	st := &RunState{Scenario: name, Title: entry.Title, Alert: entry.Expect.String(), Running: true, StartedAt: time.Now(), Events: []scenario.Event{}}
	runner, err := scenario.New(scenario.Config{
		Gateway: c.o.GatewayURL, Prometheus: c.o.PrometheusURL, Chaos: c.o.ChaosURL, Notifier: c.o.NotifierURL, Orders: c.o.OrdersURL,
		ChaosToken: c.o.ChaosToken, AdminEmail: c.o.AdminEmail, AdminPassword: c.o.AdminPassword,
		LoadRate: scenarioLoadRate, Logger: c.log,
		Observe: func(_ scenario.Scenario, e scenario.Event) {
			c.runs.mu.Lock()
			st.Events = append(st.Events, e)
			c.runs.mu.Unlock()
		},
	})
	if err != nil {
		writeError(w, http.StatusInternalServerError, err.Error())
		return
	}
	ctx, cancel := context.WithCancel(c.ctx)
	done := make(chan struct{})
	c.runs.state, c.runs.cancel, c.runs.done = st, cancel, done
	c.log.InfoContext(r.Context(), "scenario started from the console", "scenario", name)
	go func() {
		defer close(done)
		defer cancel()
		res := runner.Run(ctx, entry.Scenario)
		c.runs.mu.Lock()
		st.Running, st.Result = false, &res
		if res.Events != nil {
			st.Events = res.Events
		}
		c.runs.mu.Unlock()
		c.log.InfoContext(ctx, "scenario over", "scenario", name, "passed", res.Passed, "error", res.Error)
	}()
	w.Header().Set("Cache-Control", "no-store")
	httpkit.WriteJSON(w, http.StatusAccepted, map[string]any{"run": c.runState()})
}

// stopRun cancels the run in progress and waits until the runner has
// restored what it changed. It returns whether a run was stopped.
func (c *Console) stopRun(ctx context.Context) (bool, error) {
	c.runs.mu.Lock()
	running := c.runs.state != nil && c.runs.state.Running
	cancel, done := c.runs.cancel, c.runs.done
	c.runs.mu.Unlock()
	if !running {
		return false, nil
	}
	cancel()
	select {
	case <-done:
		return true, nil
	case <-ctx.Done():
		return true, fmt.Errorf("the scenario did not finish restoring: %w", ctx.Err())
	}
}

// stopScenario stops the run in progress: DELETE /console/api/chaos/scenarios/run.
func (c *Console) stopScenario(w http.ResponseWriter, r *http.Request) {
	stopped, err := c.stopRun(r.Context())
	if err != nil {
		writeError(w, http.StatusGatewayTimeout, err.Error())
		return
	}
	if !stopped {
		writeError(w, http.StatusConflict, "no scenario is running")
		return
	}
	c.getRun(w, r)
}

// resetChaos clears every fault: it stops a scenario run first (which
// restores what the run changed), then switches chaos off with no target
// and no payment failure rate. POST /console/api/chaos/reset.
func (c *Console) resetChaos(w http.ResponseWriter, r *http.Request) {
	if _, err := c.stopRun(r.Context()); err != nil {
		writeError(w, http.StatusGatewayTimeout, err.Error())
		return
	}
	body, _ := json.Marshal(cloudcart.ChaosSettings{})
	c.log.InfoContext(r.Context(), "every chaos fault cleared from the console")
	c.relay(w, r, "chaos-service", http.MethodPut, c.o.ChaosURL+"/chaos/settings", c.o.ChaosToken, body)
}

// Run lives as long as the fleet: when ctx ends it stops a scenario run
// in progress and waits until the runner has restored the chaos settings.
func (c *Console) Run(ctx context.Context) error {
	<-ctx.Done()
	c.stop()
	c.runs.mu.Lock()
	done := c.runs.done
	c.runs.mu.Unlock()
	if done != nil {
		select {
		case <-done:
		case <-time.After(40 * time.Second):
			return fmt.Errorf("console: the scenario run did not restore within 40s")
		}
	}
	return nil
}
