package scenario

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	promapi "github.com/prometheus/client_golang/api"
	promv1 "github.com/prometheus/client_golang/api/prometheus/v1"
	"github.com/prometheus/common/model"

	"github.com/cloudcart/cloudcart/internal/authn"
	"github.com/cloudcart/cloudcart/internal/cloudcart"
)

// env is what a cause works with: the fleet's URLs and clients.
type env struct {
	client                    *http.Client
	log                       *slog.Logger
	gateway, orders, notifier string
	adminEmail, adminPassword string
	serviceToken              string // sent to the order service's /simulate
	chaos                     *chaosClient
	prom                      promv1.API
	// causeAt is when the current cause's effective action started; a
	// cause sets it with now() right before, after any preparation.
	causeAt time.Time
}

// now marks the start of the cause's effective action.
func (e *env) now() { e.causeAt = time.Now() }

// statusError is an answer other than 2xx.
type statusError struct {
	method, url string
	code        int
	body        string
}

func (e *statusError) Error() string {
	return fmt.Sprintf("%s %s: %d %s", e.method, e.url, e.code, strings.TrimSpace(e.body))
}

// do sends a JSON request (body nil: none) with an optional bearer token
// and decodes a 2xx answer into out (nil: discarded).
func (e *env) do(ctx context.Context, method, u, token string, body, out any) error {
	h := http.Header{}
	if token != "" {
		h.Set("Authorization", "Bearer "+token)
	}
	return e.send(ctx, method, u, h, body, out)
}

// doAsService sends a bodiless request with the service credential, if
// the runner has one.
func (e *env) doAsService(ctx context.Context, method, u string) error {
	h := http.Header{}
	if e.serviceToken != "" {
		h.Set(authn.HeaderServiceToken, e.serviceToken)
	}
	return e.send(ctx, method, u, h, nil, nil)
}

func (e *env) send(ctx context.Context, method, u string, header http.Header, body, out any) error {
	var r io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		r = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, u, r)
	if err != nil {
		return err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := e.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<10))
		return &statusError{method: method, url: u, code: resp.StatusCode, body: string(b)}
	}
	if out == nil {
		_, _ = io.Copy(io.Discard, resp.Body)
		return nil
	}
	return json.NewDecoder(resp.Body).Decode(out)
}

// chaosClient is the chaos service's admin API.
type chaosClient struct {
	e     *env
	base  string
	token string
}

func (c *chaosClient) settings(ctx context.Context) (cloudcart.ChaosSettings, error) {
	var s cloudcart.ChaosSettings
	err := c.e.do(ctx, http.MethodGet, c.base+"/chaos/settings", c.token, nil, &s)
	return s, err
}

// reset clears every fault, targets and payment failure rate included,
// and switches chaos off.
func (c *chaosClient) reset(ctx context.Context) error {
	return c.put(ctx, cloudcart.ChaosSettings{})
}

// put replaces the settings in force.
func (c *chaosClient) put(ctx context.Context, s cloudcart.ChaosSettings) error {
	return c.e.do(ctx, http.MethodPut, c.base+"/chaos/settings", c.token, s, nil)
}

// alertNotification is what the runner reads of a notification made from
// an alert (GET /notifications?kind=alert).
type alertNotification struct {
	ID        string            `json:"id"`
	Title     string            `json:"title"`
	Severity  string            `json:"severity"`
	Fields    map[string]string `json:"fields"`
	CreatedAt time.Time         `json:"created_at"`
}

// is reports whether n says a is in status ("firing" or "resolved").
func (n alertNotification) is(a Alert, status string) bool {
	prefix := "[" + strings.ToUpper(status) + "] " + a.Name
	if !strings.HasPrefix(n.Title, prefix) || (len(n.Title) > len(prefix) && n.Title[len(prefix)] != ' ') {
		return false
	}
	for k, v := range a.Labels {
		if n.Fields["label."+k] != v {
			return false
		}
	}
	return n.Fields["status"] == status
}

// alertNotifications returns the newest alert notifications, newest first.
func (e *env) alertNotifications(ctx context.Context) ([]alertNotification, error) {
	var page struct {
		Notifications []alertNotification `json:"notifications"`
	}
	err := e.do(ctx, http.MethodGet, e.notifier+"/notifications?kind=alert&limit=200", "", nil, &page)
	return page.Notifications, err
}

// findNotification returns the oldest notification of a in status created
// at or after since.
func (e *env) findNotification(ctx context.Context, a Alert, status string, since time.Time) (alertNotification, bool, error) {
	ns, err := e.alertNotifications(ctx)
	if err != nil {
		return alertNotification{}, false, err
	}
	var found alertNotification
	ok := false
	for _, n := range ns { // newest first
		if n.is(a, status) && !n.CreatedAt.Before(since) {
			found, ok = n, true
		}
	}
	return found, ok, nil
}

// activeAlert is a's state in Prometheus: "" (inactive), "pending" or
// "firing", and since when it has been active.
func (e *env) activeAlert(ctx context.Context, a Alert) (state string, activeAt time.Time, err error) {
	res, err := e.prom.Alerts(ctx)
	if err != nil {
		return "", time.Time{}, err
	}
	var pending time.Time
	for _, al := range res.Alerts {
		ls := make(map[string]string, len(al.Labels))
		for k, v := range al.Labels {
			ls[string(k)] = string(v)
		}
		if !a.matches(ls) {
			continue
		}
		switch al.State {
		case promv1.AlertStateFiring:
			if state != "firing" || al.ActiveAt.Before(activeAt) {
				state, activeAt = "firing", al.ActiveAt
			}
		case promv1.AlertStatePending:
			if pending.IsZero() || al.ActiveAt.Before(pending) {
				pending = al.ActiveAt
			}
		}
	}
	if state == "" && !pending.IsZero() {
		state, activeAt = "pending", pending
	}
	return state, activeAt, nil
}

// samples returns the raw samples of every series selector matches, from
// a minute before since until now.
func (e *env) samples(ctx context.Context, selector string, since time.Time) (model.Matrix, error) {
	now := time.Now()
	window := now.Sub(since) + time.Minute
	q := fmt.Sprintf("%s[%ds]", selector, int(window.Seconds())+1)
	v, _, err := e.prom.Query(ctx, q, now)
	if err != nil {
		return nil, err
	}
	m, ok := v.(model.Matrix)
	if !ok {
		return nil, fmt.Errorf("query %s: got %s, want a matrix", q, v.Type())
	}
	return m, nil
}

// firedAt is the evaluation at which a first fired after since: the first
// sample of its ALERTS{alertstate="firing"} series the rule manager wrote.
func (e *env) firedAt(ctx context.Context, a Alert, since time.Time) (time.Time, bool, error) {
	ls := map[string]string{"alertname": a.Name, "alertstate": "firing"}
	for k, v := range a.Labels {
		ls[k] = v
	}
	m, err := e.samples(ctx, Alert{Name: "ALERTS", Labels: ls}.String(), since)
	if err != nil {
		return time.Time{}, false, err
	}
	var first time.Time
	for _, series := range m {
		for _, p := range series.Values {
			if t := p.Timestamp.Time(); !t.Before(since) {
				if first.IsZero() || t.Before(first) {
					first = t
				}
				break
			}
		}
	}
	return first, !first.IsZero(), nil
}

// firstBad finds the first sample of s after since that is bad, and when
// it was scraped. It reads the raw samples of every matching series.
func (e *env) firstBad(ctx context.Context, s Symptom, since time.Time) (time.Time, bool, error) {
	m, err := e.samples(ctx, s.Series, since)
	if err != nil {
		return time.Time{}, false, err
	}
	var first time.Time
	for _, series := range m {
		before := 0.0
		for _, p := range series.Values {
			t := p.Timestamp.Time()
			if t.Before(since) {
				before = float64(p.Value)
				continue
			}
			// A counter that appears after the cause counted up from 0.
			if s.bad(before, float64(p.Value)) {
				if first.IsZero() || t.Before(first) {
					first = t
				}
				break
			}
		}
	}
	return first, !first.IsZero(), nil
}

func newPrometheus(base string, client *http.Client) (promv1.API, error) {
	if _, err := url.Parse(base); err != nil {
		return nil, err
	}
	c, err := promapi.NewClient(promapi.Config{Address: base, Client: client})
	if err != nil {
		return nil, err
	}
	return promv1.NewAPI(c), nil
}
