package promengine_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	apiv1 "github.com/prometheus/client_golang/api/prometheus/v1"

	"github.com/cloudcart/cloudcart/internal/promengine"
)

const triggerRules = `groups:
  - name: cloudcart-alerts
    rules:
      - alert: TestTriggered
        expr: cloudcart_test_alert_trigger > 0
        for: 1s
        labels:
          severity: page
        annotations:
          summary: "trigger is {{ $value }}"
`

// webhookReceiver records what the engine posts, like an Alertmanager
// webhook receiver would see it.
type webhookReceiver struct {
	srv *httptest.Server

	mu       sync.Mutex
	messages []promengine.WebhookMessage
	failNext int // answer 503 to this many posts first
}

func mustWebhookReceiver(tb testing.TB) *webhookReceiver {
	tb.Helper()
	rcv := &webhookReceiver{}
	rcv.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rcv.mu.Lock()
		defer rcv.mu.Unlock()
		if rcv.failNext > 0 {
			rcv.failNext--
			http.Error(w, "try later", http.StatusServiceUnavailable)
			return
		}
		var m promengine.WebhookMessage
		dec := json.NewDecoder(r.Body)
		dec.DisallowUnknownFields()
		if err := dec.Decode(&m); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		rcv.messages = append(rcv.messages, m)
	}))
	tb.Cleanup(rcv.srv.Close)
	return rcv
}

func (rcv *webhookReceiver) received() []promengine.WebhookMessage {
	rcv.mu.Lock()
	defer rcv.mu.Unlock()
	return append([]promengine.WebhookMessage(nil), rcv.messages...)
}

func countStatus(ms []promengine.WebhookMessage, status string) int {
	n := 0
	for _, m := range ms {
		if m.Status == status {
			n++
		}
	}
	return n
}

// TestWebhookFiringThenResolved: an alert with `for: 1s` fires, is posted
// once (even though the rule manager re-sends it on every evaluation here),
// then resolves and is posted once more, in Alertmanager webhook format. The
// first post is refused with 503 and must be retried.
func TestWebhookFiringThenResolved(t *testing.T) {
	t.Parallel()
	tgt := mustTarget(t)
	rcv := mustWebhookReceiver(t)
	rcv.failNext = 1
	dir := t.TempDir()
	rules := mustWriteFile(t, dir, "alerts.yml", triggerRules)
	const externalURL = "http://cloudcart.test:9090"

	r := mustStart(t, promengine.Options{
		Config:      testConfig([]string{rules}, tgt),
		WebhookURL:  rcv.srv.URL + "/hook",
		ExternalURL: externalURL,
	}, func(e *promengine.Engine) { promengine.SetResendDelay(e, 0) })
	waitValue(t, r.api, `up{job="test-target"}`, 1)

	tgt.trigger.Set(1)
	eventually(t, waitTimeout, func() string {
		if countStatus(rcv.received(), "firing") == 0 {
			return "no firing post yet"
		}
		return ""
	})
	// Several evaluations, each re-sending the firing alert upstream.
	time.Sleep(8 * testInterval)
	tgt.trigger.Set(0)
	eventually(t, waitTimeout, func() string {
		if countStatus(rcv.received(), "resolved") == 0 {
			return "no resolved post yet"
		}
		return ""
	})
	time.Sleep(4 * testInterval) // re-sends of the resolved alert must not arrive either

	ms := rcv.received()
	var statuses []string
	for _, m := range ms {
		statuses = append(statuses, m.Status)
	}
	if len(ms) != 2 || ms[0].Status != "firing" || ms[1].Status != "resolved" {
		t.Fatalf("posts = %v, want exactly [firing resolved]", statuses)
	}
	rcv.mu.Lock()
	refused := rcv.failNext
	rcv.mu.Unlock()
	if refused != 0 {
		t.Errorf("the receiver's 503 was never exercised")
	}
	firing, resolved := ms[0], ms[1]
	for _, m := range ms {
		if m.Version != "4" || m.Receiver == "" || m.ExternalURL != externalURL ||
			m.GroupKey != `{}:{alertname="TestTriggered"}` || m.GroupLabels["alertname"] != "TestTriggered" ||
			m.CommonLabels["severity"] != "page" || m.CommonLabels["job"] != "test-target" || len(m.Alerts) != 1 {
			t.Errorf("message header = %+v", m)
		}
		a := m.Alerts[0]
		if a.Status != m.Status || a.Labels["alertname"] != "TestTriggered" || a.Labels["instance"] != tgt.addr() ||
			a.Annotations["summary"] != "trigger is 1" || a.StartsAt.IsZero() || a.Fingerprint == "" ||
			!strings.HasPrefix(a.GeneratorURL, externalURL+"/graph?g0.expr=") {
			t.Errorf("%s alert = %+v", m.Status, a)
		}
	}
	if !firing.Alerts[0].EndsAt.IsZero() {
		t.Errorf("firing alert has endsAt %v", firing.Alerts[0].EndsAt)
	}
	if !resolved.Alerts[0].EndsAt.After(resolved.Alerts[0].StartsAt) {
		t.Errorf("resolved alert endsAt %v not after startsAt %v", resolved.Alerts[0].EndsAt, resolved.Alerts[0].StartsAt)
	}
	if firing.Alerts[0].Fingerprint != resolved.Alerts[0].Fingerprint || !firing.Alerts[0].StartsAt.Equal(resolved.Alerts[0].StartsAt) {
		t.Errorf("firing and resolved posts are about different alerts: %+v vs %+v", firing.Alerts[0], resolved.Alerts[0])
	}
}

// TestDemoProfileScalesFor: `for: 10m` with ForScale 0.001 fires within
// seconds, and the rule file on disk keeps its production value.
func TestDemoProfileScalesFor(t *testing.T) {
	t.Parallel()
	tgt := mustTarget(t)
	tgt.trigger.Set(1)
	dir := t.TempDir()
	production := strings.Replace(triggerRules, "for: 1s", "for: 10m", 1)
	rules := mustWriteFile(t, dir, "alerts.yml", production)

	r := mustStart(t, promengine.Options{
		Config:         testConfig([]string{rules}, tgt),
		ScrapeInterval: 100 * time.Millisecond,
		EvalInterval:   100 * time.Millisecond,
		ForScale:       0.001,
	})
	start := time.Now()
	eventually(t, waitTimeout, func() string {
		res, err := r.api.Alerts(context.Background())
		if err != nil {
			return err.Error()
		}
		if len(res.Alerts) != 1 || res.Alerts[0].State != apiv1.AlertStateFiring {
			return "alert not firing"
		}
		return ""
	})
	t.Logf("alert with for: 10m fired %v after start (ForScale 0.001)", time.Since(start).Round(10*time.Millisecond))

	res, err := r.api.Rules(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	al, ok := res.Groups[0].Rules[0].(apiv1.AlertingRule)
	if !ok || al.Duration != 0.6 {
		t.Errorf("rule = %+v, want duration 0.6s", res.Groups[0].Rules[0])
	}
	if res.Groups[0].Interval != 0.1 {
		t.Errorf("group interval = %vs, want 0.1s (EvalInterval)", res.Groups[0].Interval)
	}
	onDisk, err := os.ReadFile(rules)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(onDisk, []byte(production)) {
		t.Errorf("rule file changed on disk:\n%s", onDisk)
	}
}

// TestAlertmanagerV2: with AlertmanagerURL the upstream notifier posts to
// Alertmanager's v2 API.
func TestAlertmanagerV2(t *testing.T) {
	t.Parallel()
	tgt := mustTarget(t)
	tgt.trigger.Set(1)

	type amAlert struct {
		Labels       map[string]string `json:"labels"`
		Annotations  map[string]string `json:"annotations"`
		StartsAt     time.Time         `json:"startsAt"`
		GeneratorURL string            `json:"generatorURL"`
	}
	var (
		mu     sync.Mutex
		alerts []amAlert
	)
	am := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost || r.URL.Path != "/am/api/v2/alerts" {
			http.NotFound(w, r)
			return
		}
		var batch []amAlert
		if err := json.NewDecoder(r.Body).Decode(&batch); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		mu.Lock()
		alerts = append(alerts, batch...)
		mu.Unlock()
	}))
	t.Cleanup(am.Close)

	dir := t.TempDir()
	rules := mustWriteFile(t, dir, "alerts.yml", strings.Replace(triggerRules, "for: 1s", "for: 0s", 1))
	r := mustStart(t, promengine.Options{
		Config:          testConfig([]string{rules}, tgt),
		AlertmanagerURL: am.URL + "/am",
		WebhookURL:      "http://127.0.0.1:1/unused", // ignored when AlertmanagerURL is set
	})
	eventually(t, waitTimeout, func() string {
		mu.Lock()
		defer mu.Unlock()
		for _, a := range alerts {
			if a.Labels["alertname"] == "TestTriggered" && a.Labels["severity"] == "page" && !a.StartsAt.IsZero() && strings.Contains(a.GeneratorURL, "/graph?g0.expr=") {
				return ""
			}
		}
		return "Alertmanager got no TestTriggered alert"
	})
	ams, err := r.api.AlertManagers(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(ams.Active) != 1 || ams.Active[0].URL != am.URL+"/am/api/v2/alerts" {
		t.Errorf("alertmanagers = %+v", ams)
	}
}
