package console

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"

	"github.com/cloudcart/cloudcart/internal/cloudcart"
	"github.com/cloudcart/cloudcart/internal/httpkit"
)

// maxUpstreamBody bounds what the console reads from a service.
const maxUpstreamBody = 1 << 20

// call sends one request to a fleet service and returns its status and
// body. A bearer token is added when given.
func (c *Console) call(ctx context.Context, method, u, token string, body []byte) (int, []byte, error) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, u, rd)
	if err != nil {
		return 0, nil, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := c.o.Client.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxUpstreamBody))
	return resp.StatusCode, b, err
}

// relay answers with what the service answered: its status and JSON body.
// A service that cannot be reached is a 502 with the console's own error.
func (c *Console) relay(w http.ResponseWriter, r *http.Request, service, method, u, token string, body []byte) {
	status, b, err := c.call(r.Context(), method, u, token, body)
	if err != nil {
		c.log.WarnContext(r.Context(), "service unreachable", "service", service, "err", err)
		writeError(w, http.StatusBadGateway, fmt.Sprintf("%s did not answer: %v", service, err))
		return
	}
	if !json.Valid(b) {
		writeError(w, http.StatusBadGateway, fmt.Sprintf("%s answered %d without JSON", service, status))
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

// notifications relays the notification worker's recent notifications:
// ?limit= (1-50) and optionally ?kind= ("alert" or an event type).
func (c *Console) notifications(w http.ResponseWriter, r *http.Request) {
	if c.o.NotifierURL == "" {
		writeError(w, http.StatusNotFound, "the notification worker does not run in this fleet")
		return
	}
	err := httpkit.CheckQuery(r, "limit", "kind")
	limit, k := 0, ""
	if err == nil {
		limit, err = httpkit.IntParam(r, "limit", 10, 1, 50)
	}
	if err == nil {
		k, err = httpkit.StringParam(r, "kind", 64)
	}
	if err != nil {
		writeError(w, http.StatusBadRequest, cloudcart.ErrorMessage(err))
		return
	}
	q := url.Values{"limit": {strconv.Itoa(limit)}}
	if k != "" {
		if k != cloudcart.NotificationKindAlert && !cloudcart.EventType(k).Valid() {
			writeError(w, http.StatusBadRequest, fmt.Sprintf("kind must be %q or an event type", cloudcart.NotificationKindAlert))
			return
		}
		q.Set("kind", k)
	}
	c.relay(w, r, "notification-worker", http.MethodGet, c.o.NotifierURL+"/notifications?"+q.Encode(), "", nil)
}

// simulate runs reference 001's synthetic load on the order service:
// POST /simulate?count=&error_rate=.
func (c *Console) simulate(w http.ResponseWriter, r *http.Request) {
	if c.o.OrdersURL == "" {
		writeError(w, http.StatusNotFound, "the order service does not run in this fleet")
		return
	}
	err := httpkit.CheckQuery(r, "count", "error_rate")
	count, rate := 0, 0.0
	if err == nil {
		count, err = httpkit.IntParam(r, "count", 50, 1, 500)
	}
	if err == nil {
		rate, err = httpkit.FloatParam(r, "error_rate", 0, 0, 1)
	}
	if err != nil {
		writeError(w, http.StatusBadRequest, cloudcart.ErrorMessage(err))
		return
	}
	q := url.Values{"count": {strconv.Itoa(count)}, "error_rate": {strconv.FormatFloat(rate, 'f', -1, 64)}}
	c.relay(w, r, "order-service", http.MethodPost, c.o.OrdersURL+"/simulate?"+q.Encode(), "", []byte{})
}

// chaosRoutes proxies the chaos admin API with the token this process
// holds, and runs internal/scenario's scenarios.
func (c *Console) chaosRoutes(mux *http.ServeMux) {
	mux.HandleFunc("GET /console/api/chaos/settings", c.chaos(func(w http.ResponseWriter, r *http.Request) {
		c.relay(w, r, "chaos-service", http.MethodGet, c.o.ChaosURL+"/chaos/settings", c.o.ChaosToken, nil)
	}))
	mux.HandleFunc("GET /console/api/chaos/scenarios", c.chaos(c.listScenarios))
	mux.HandleFunc("GET /console/api/chaos/scenarios/run", c.chaos(c.getRun))
	mux.HandleFunc("DELETE /console/api/chaos/scenarios/run", c.writes(c.chaos(c.stopScenario)))
	mux.HandleFunc("POST /console/api/chaos/reset", c.writes(c.chaos(c.resetChaos)))
	for _, action := range []string{"enable", "disable"} {
		mux.HandleFunc("POST /console/api/chaos/"+action, c.writes(c.chaos(func(w http.ResponseWriter, r *http.Request) {
			c.relay(w, r, "chaos-service", http.MethodPost, c.o.ChaosURL+"/chaos/"+action, c.o.ChaosToken, []byte{})
		})))
	}
	mux.HandleFunc("PUT /console/api/chaos/targets/{target}", c.writes(c.chaos(func(w http.ResponseWriter, r *http.Request) {
		var f cloudcart.ChaosFaults
		if err := decodeJSON(r, &f); err != nil {
			writeError(w, http.StatusBadRequest, "the body must be the target's faults as JSON: "+err.Error())
			return
		}
		body, _ := json.Marshal(f)
		c.relay(w, r, "chaos-service", http.MethodPut, c.o.ChaosURL+"/chaos/targets/"+url.PathEscape(r.PathValue("target")), c.o.ChaosToken, body)
	})))
	mux.HandleFunc("DELETE /console/api/chaos/targets/{target}", c.writes(c.chaos(func(w http.ResponseWriter, r *http.Request) {
		c.relay(w, r, "chaos-service", http.MethodDelete, c.o.ChaosURL+"/chaos/targets/"+url.PathEscape(r.PathValue("target")), c.o.ChaosToken, nil)
	})))
	mux.HandleFunc("POST /console/api/chaos/scenarios/{name}", c.writes(c.chaos(c.startScenario)))
}

// chaos answers 404 when the fleet has no chaos service.
func (c *Console) chaos(next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if c.o.ChaosURL == "" {
			writeError(w, http.StatusNotFound, "the chaos service does not run in this fleet")
			return
		}
		next(w, r)
	}
}
