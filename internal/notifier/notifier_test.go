package notifier_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cloudcart/cloudcart/internal/bus"
	"github.com/cloudcart/cloudcart/internal/bus/bustest"
	"github.com/cloudcart/cloudcart/internal/cloudcart"
	"github.com/cloudcart/cloudcart/internal/httpkit"
	"github.com/cloudcart/cloudcart/internal/notifier"
	"github.com/cloudcart/cloudcart/internal/services"
	"github.com/cloudcart/cloudcart/internal/sqlstore"
	"github.com/cloudcart/cloudcart/internal/sqlstore/sqlstoretest"
	"github.com/cloudcart/cloudcart/internal/telemetry"
	"github.com/cloudcart/cloudcart/internal/telemetry/telemetrytest"
)

// slackReceiver is a local Slack incoming webhook: it checks each post is
// a Slack payload and answers like Slack ("ok"), or with the statuses
// queued in fail first.
type slackReceiver struct {
	mu   sync.Mutex
	got  []notifier.SlackPayload
	raw  []map[string]any
	fail []int
	srv  *httptest.Server
}

func mustSlack(tb testing.TB, fail ...int) *slackReceiver {
	tb.Helper()
	s := &slackReceiver{fail: fail}
	s.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		s.mu.Lock()
		defer s.mu.Unlock()
		if len(s.fail) > 0 {
			code := s.fail[0]
			s.fail = s.fail[1:]
			w.WriteHeader(code)
			_, _ = io.WriteString(w, map[int]string{403: "invalid_token", 500: "rollup_error", 429: "rate_limited"}[code])
			return
		}
		var p notifier.SlackPayload
		var raw map[string]any
		if r.Header.Get("Content-Type") != "application/json" || json.Unmarshal(body, &p) != nil || json.Unmarshal(body, &raw) != nil {
			w.WriteHeader(http.StatusBadRequest)
			_, _ = io.WriteString(w, "invalid_payload")
			return
		}
		s.got = append(s.got, p)
		s.raw = append(s.raw, raw)
		_, _ = io.WriteString(w, "ok")
	}))
	tb.Cleanup(s.srv.Close)
	return s
}

func (s *slackReceiver) posts() []notifier.SlackPayload {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]notifier.SlackPayload(nil), s.got...)
}

// fixture is a running notification worker on a real store and an
// embedded bus.
type fixture struct {
	svc   *notifier.Service
	tel   *telemetry.Telemetry
	conn  *bus.Conn
	pub   *bus.Publisher
	store cloudcart.NotificationStore
	db    *sqlstore.DB
	h     http.Handler
}

type option func(*notifier.Options)

func mustWorker(tb testing.TB, url string, db *sqlstore.DB, store cloudcart.NotificationStore, opts ...option) *fixture {
	tb.Helper()
	tel := telemetrytest.MustNew(tb)
	meter := tel.Meter("test")
	m, err := notifier.NewMetrics(meter)
	if err != nil {
		tb.Fatal(err)
	}
	conn := bustest.MustConnect(tb, url, "notification-worker")
	if store == nil {
		if store, err = sqlstore.NewNotificationStore(context.Background(), db); err != nil {
			tb.Fatal(err)
		}
	}
	o := notifier.Options{Store: store, Bus: conn, Metrics: m, Meter: meter, Source: "notification-worker",
		Tracer: tel.Tracer("test"), Propagator: tel.Propagator,
		Backoff: func(int) time.Duration { return 20 * time.Millisecond }, MaxAttempts: 3,
		DeliveryBackoff: func(int) time.Duration { return 10 * time.Millisecond }, LagInterval: 50 * time.Millisecond}
	for _, f := range opts {
		f(&o)
	}
	svc, err := notifier.New(o)
	if err != nil {
		tb.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = svc.Run(ctx); close(done) }()
	tb.Cleanup(func() { cancel(); <-done })
	pub, err := bus.NewPublisher(bustest.MustConnect(tb, url, "producer"), bus.PublisherOptions{Meter: meter, Prefix: "test"})
	if err != nil {
		tb.Fatal(err)
	}
	mw, err := httpkit.NewMiddleware(meter, nil, nil, services.All.MustLookup("notifier").HTTP)
	if err != nil {
		tb.Fatal(err)
	}
	return &fixture{svc: svc, tel: tel, conn: conn, pub: pub, store: store, db: db, h: mw.Wrap(svc.Handler())}
}

func slackChannel(url string) option {
	return func(o *notifier.Options) {
		o.Channels = append(o.Channels, &notifier.SlackChannel{URL: url, Client: &http.Client{Timeout: 5 * time.Second}})
	}
}

func (f *fixture) publish(tb testing.TB, typ cloudcart.EventType, data any) *cloudcart.Event {
	tb.Helper()
	e, err := cloudcart.NewEvent(typ, "order-service", data, time.Now())
	if err != nil {
		tb.Fatal(err)
	}
	if err := f.pub.Publish(context.Background(), e); err != nil {
		tb.Fatal(err)
	}
	return e
}

func (f *fixture) do(tb testing.TB, method, path, body string) (int, string) {
	tb.Helper()
	w := httptest.NewRecorder()
	f.h.ServeHTTP(w, httptest.NewRequest(method, path, strings.NewReader(body)))
	return w.Code, w.Body.String()
}

func (f *fixture) notifications(tb testing.TB) []*cloudcart.Notification {
	tb.Helper()
	code, body := f.do(tb, "GET", "/notifications?limit=100", "")
	var l notifier.NotificationList
	if code != 200 || json.Unmarshal([]byte(body), &l) != nil {
		tb.Fatalf("GET /notifications = %d %s", code, body)
	}
	return l.Notifications
}

func (f *fixture) value(tb testing.TB, name string, labels map[string]string) float64 {
	tb.Helper()
	return telemetrytest.Value(tb, f.tel.Registry, name, labels)
}

func eventually(tb testing.TB, what string, cond func() bool) {
	tb.Helper()
	deadline := time.Now().Add(time.Minute)
	for !cond() {
		if time.Now().After(deadline) {
			tb.Fatalf("%s: not within a minute", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func mustDB(tb testing.TB, backend string) *sqlstore.DB {
	tb.Helper()
	return sqlstoretest.MustOpen(tb, backend, sqlstore.Options{})
}

// TestSlackDelivery: an event becomes one notification, posted to a
// local Slack-compatible receiver in Slack's incoming-webhook format.
func TestSlackDelivery(t *testing.T) {
	url := bustest.MustServer(t, "embedded")
	slack := mustSlack(t)
	f := mustWorker(t, url, mustDB(t, "sqlite"), nil, slackChannel(slack.srv.URL))
	e := f.publish(t, cloudcart.EventOrderCreated, cloudcart.OrderCreatedData{OrderID: "ord_7", Customer: "alice <a&b>", Total: 2599, Items: 3, Status: "confirmed"})
	eventually(t, "slack post", func() bool { return len(slack.posts()) == 1 })
	p := slack.posts()[0]
	if !strings.Contains(p.Text, "Order ord_7 created") {
		t.Errorf("text = %q", p.Text)
	}
	types := []string{}
	for _, b := range p.Blocks {
		types = append(types, b.Type)
	}
	if strings.Join(types, ",") != "header,section,section,context" || p.Blocks[0].Text.Type != "plain_text" || p.Blocks[1].Text.Type != "mrkdwn" {
		t.Errorf("blocks = %+v", p.Blocks)
	}
	if !strings.Contains(p.Blocks[1].Text.Text, "alice &lt;a&amp;b&gt;") || !strings.Contains(p.Blocks[1].Text.Text, "$25.99") {
		t.Errorf("section text not escaped for mrkdwn or wrong: %q", p.Blocks[1].Text.Text)
	}
	if _, ok := slack.raw[0]["blocks"].([]any); !ok {
		t.Errorf("raw payload has no blocks array: %v", slack.raw[0])
	}
	eventually(t, "delivery recorded", func() bool {
		ns := f.notifications(t)
		return len(ns) == 1 && len(ns[0].Deliveries) == 1 && ns[0].Deliveries[0].Status == cloudcart.DeliverySent
	})
	n := f.notifications(t)[0]
	if n.SourceID != e.ID || n.Kind != "order.created" {
		t.Errorf("notification = %+v", n)
	}
	for name, want := range map[string]float64{
		"notification_slack_api_latency_seconds":    1,
		"notification_order_events_processed_total": 1,
		"notification_messages_consumed_total":      1,
	} {
		if v := f.value(t, name, nil); v != want {
			t.Errorf("%s = %v, want %v", name, v, want)
		}
	}
	if v := f.value(t, "notification_notifications_sent_total", map[string]string{"channel": "slack", "status": "success"}); v != 1 {
		t.Errorf("sent{slack,success} = %v", v)
	}
	if v := f.value(t, "notification_messages_processed_total", map[string]string{"topic": "cloudcart.events.order.created", "event_type": "order.created"}); v != 1 {
		t.Errorf("processed = %v", v)
	}
	eventually(t, "lag gauge", func() bool {
		return telemetrytest.Count(t, f.tel.Registry, "notification_consumer_lag_seconds") == len(cloudcart.EventTypes)
	})
}

// crashingStore commits the first handling of every event, then reports a
// failure, as a worker that dies between its commit and its ack: the bus
// redelivers the event.
type crashingStore struct {
	cloudcart.NotificationStore
	crashed sync.Map
}

func (s *crashingStore) HandleEvent(ctx context.Context, consumer string, e *cloudcart.Event, n *cloudcart.Notification, ch []string) (bool, error) {
	first, err := s.NotificationStore.HandleEvent(ctx, consumer, e, n, ch)
	if _, done := s.crashed.LoadOrStore(e.ID, true); !done && err == nil {
		return false, errors.New("process died before the ack")
	}
	return first, err
}

// TestOnceOnly: redeliveries (after a crash between commit and ack, or a
// duplicate publish the broker could not drop) create no second
// notification, on both database backends.
func TestOnceOnly(t *testing.T) {
	url := bustest.MustServer(t, "embedded")
	for _, backend := range sqlstoretest.Backends(t) {
		t.Run(backend, func(t *testing.T) {
			db := mustDB(t, backend)
			inner, err := sqlstore.NewNotificationStore(context.Background(), db)
			if err != nil {
				t.Fatal(err)
			}
			slack := mustSlack(t)
			store := &crashingStore{NotificationStore: inner}
			f := mustWorker(t, url, db, store, slackChannel(slack.srv.URL))
			// Streams are shared by the subtests' workers: count from here.
			const n = 20
			ids := map[string]bool{}
			for i := range n {
				e := f.publish(t, cloudcart.EventPaymentProcessed, cloudcart.PaymentProcessedData{OrderID: "ord_" + backend, Amount: cloudcart.Money(100 + i), Status: "success"})
				ids[e.ID] = true
				if i%5 == 0 { // the same event again, past the broker's deduplication
					b, _ := json.Marshal(e)
					if _, err := f.conn.JetStream().Publish(context.Background(), bus.Subject(e.Type), b); err != nil {
						t.Fatal(err)
					}
				}
			}
			eventually(t, "every event notified", func() bool { return len(slack.posts()) >= n })
			time.Sleep(300 * time.Millisecond)
			if got := len(slack.posts()); got != n {
				t.Fatalf("slack got %d notifications for %d events", got, n)
			}
			seen := map[string]int{}
			for _, nt := range f.notifications(t) {
				seen[nt.SourceID]++
			}
			for id := range ids {
				if seen[id] != 1 {
					t.Errorf("event %s has %d notifications", id, seen[id])
				}
			}
			dups := f.value(t, "notification_messages_duplicate_total", nil)
			if dups != n+n/5 {
				t.Errorf("duplicates dropped = %v, want %d (one per crash, one per republish)", dups, n+n/5)
			}
			// Every delivery but the "crashed" first ones was acknowledged.
			if v := f.value(t, "notification_messages_processed_total", nil); v != n+n/5 {
				t.Errorf("messages processed = %v, want %d", v, n+n/5)
			}
		})
	}
}

// TestDeadLetter: a poison event (its payload never decodes) is retried,
// then moved to the dead-letter subject after MaxAttempts, and counted.
func TestDeadLetter(t *testing.T) {
	url := bustest.MustServer(t, "embedded")
	f := mustWorker(t, url, mustDB(t, "sqlite"), nil)
	e, _ := cloudcart.NewEvent(cloudcart.EventOrderCreated, "order-service", "not an order", time.Now())
	if err := f.pub.Publish(context.Background(), e); err != nil {
		t.Fatal(err)
	}
	if _, err := f.conn.JetStream().Publish(context.Background(), bus.Subject(cloudcart.EventOrderCreated), []byte("garbage")); err != nil {
		t.Fatal(err)
	}
	topic := map[string]string{"topic": "cloudcart.events.order.created"}
	eventually(t, "dead letters", func() bool { return f.value(t, "notification_messages_dead_lettered_total", topic) == 2 })
	s, err := f.conn.JetStream().Stream(context.Background(), bus.DeadLetterStream)
	if err != nil {
		t.Fatal(err)
	}
	info, _ := s.Info(context.Background())
	if info.State.Msgs != 2 {
		t.Errorf("dead-letter stream holds %d messages, want 2", info.State.Msgs)
	}
	for name, want := range map[string]float64{
		"notification_handler_errors_total":         3, // MaxAttempts
		"notification_deserialization_errors_total": 1, // dead-lettered at once
		"notification_messages_consumed_total":      4,
		"notification_order_events_processed_total": 0,
	} {
		if v := f.value(t, name, nil); v != want {
			t.Errorf("%s = %v, want %v", name, v, want)
		}
	}
	if v := f.value(t, "notification_messages_failed_total", map[string]string{"error_type": "handler"}); v != 3 {
		t.Errorf("failed{handler} = %v", v)
	}
	if ns := f.notifications(t); len(ns) != 0 {
		t.Errorf("poison messages made notifications: %+v", ns)
	}
}

// alertmanagerFiring and alertmanagerResolved are webhook bodies as
// Alertmanager 0.25 sends them (version 4).
const alertmanagerFiring = `{
  "receiver": "page",
  "status": "firing",
  "alerts": [
    {
      "status": "firing",
      "labels": {"alertname": "HighErrorRate", "instance": "127.0.0.1:8003", "job": "order-service", "severity": "page", "sli": "http"},
      "annotations": {"description": "7.3% of order-service HTTP requests answered 5xx over the last 5m (threshold 5% for 2m).", "runbook_url": "https://github.com/cloudcart/cloudcart/blob/main/docs/runbooks.md#higherrorrate", "summary": "order-service: more than 5% of HTTP requests fail with 5xx"},
      "startsAt": "2026-03-01T10:00:00.000Z",
      "endsAt": "0001-01-01T00:00:00Z",
      "generatorURL": "http://127.0.0.1:9090/graph?g0.expr=job%3Ahttp_errors%3Aratio_rate5m+%3E+0.05&g0.tab=1",
      "fingerprint": "c3a8e4b1d2f00a11"
    }
  ],
  "groupLabels": {"alertname": "HighErrorRate", "job": "order-service"},
  "commonLabels": {"alertname": "HighErrorRate", "instance": "127.0.0.1:8003", "job": "order-service", "severity": "page", "sli": "http"},
  "commonAnnotations": {"summary": "order-service: more than 5% of HTTP requests fail with 5xx"},
  "externalURL": "http://alertmanager:9093",
  "version": "4",
  "groupKey": "{}/{severity=\"page\"}:{alertname=\"HighErrorRate\", job=\"order-service\"}",
  "truncatedAlerts": 0
}`

var alertmanagerResolved = strings.NewReplacer(`"status": "firing"`, `"status": "resolved"`,
	`"endsAt": "0001-01-01T00:00:00Z"`, `"endsAt": "2026-03-01T10:20:00.000Z"`).Replace(alertmanagerFiring)

// TestAlertmanagerWebhook: Alertmanager's firing, then resolved, webhook
// posts become notifications that reach Slack.
func TestAlertmanagerWebhook(t *testing.T) {
	url := bustest.MustServer(t, "embedded")
	slack := mustSlack(t)
	f := mustWorker(t, url, mustDB(t, "sqlite"), nil, slackChannel(slack.srv.URL))
	for _, body := range []string{alertmanagerFiring, alertmanagerResolved} {
		if code, resp := f.do(t, "POST", "/alerts", body); code != 200 || !strings.Contains(resp, `"accepted":1`) {
			t.Fatalf("POST /alerts = %d %s", code, resp)
		}
	}
	eventually(t, "two slack posts", func() bool { return len(slack.posts()) == 2 })
	titles := map[string]bool{}
	for _, p := range slack.posts() {
		titles[p.Text] = true
	}
	if !titles[":rotating_light: [FIRING] HighErrorRate (order-service)"] || !titles[":white_check_mark: [RESOLVED] HighErrorRate (order-service)"] {
		t.Errorf("slack texts = %v", titles)
	}
	ns := f.notifications(t)
	if len(ns) != 2 || ns[0].Kind != "alert" || ns[0].Severity != "page" || ns[0].Fields["receiver"] != "page" ||
		ns[0].Fields["runbook"] == "" || ns[0].SourceID != "c3a8e4b1d2f00a11" || ns[0].Link == "" {
		t.Fatalf("notifications = %+v", ns)
	}
	for _, st := range []string{"firing", "resolved"} {
		if v := f.value(t, "notification_alerts_received_total", map[string]string{"status": st}); v != 1 {
			t.Errorf("alerts received{%s} = %v", st, v)
		}
	}
	for _, tc := range []struct{ body, want string }{
		{strings.Replace(alertmanagerFiring, `"version": "4"`, `"version": "3"`, 1), "version"},
		{`{"version":"4","alerts":[]}`, "no alerts"},
		{`{"version":"4","alerts":[{"status":"firing","labels":{}}]}`, "alertname"},
		{`{"version":"4","alerts":[{"status":"pending","labels":{"alertname":"X"}}]}`, "firing or resolved"},
		{`{"version":`, "malformed"},
	} {
		if code, resp := f.do(t, "POST", "/alerts", tc.body); code != 400 || !strings.Contains(resp, tc.want) {
			t.Errorf("POST /alerts %.40s = %d %s; want 400 saying %q", tc.body, code, resp, tc.want)
		}
	}
}

// TestDeliveryRetries: a failing Slack is retried with backoff; a
// permanent error (invalid token) gives up at once. Both are counted.
func TestDeliveryRetries(t *testing.T) {
	url := bustest.MustServer(t, "embedded")
	slack := mustSlack(t, 500, 429)
	f := mustWorker(t, url, mustDB(t, "sqlite"), nil, slackChannel(slack.srv.URL))
	f.publish(t, cloudcart.EventUserRegistered, cloudcart.UserRegisteredData{UserID: "usr_1"})
	eventually(t, "sent after two failures", func() bool { return len(slack.posts()) == 1 })
	for reason, want := range map[string]float64{"server_error": 1, "rate_limited": 1} {
		if v := f.value(t, "notification_notifications_failed_total", map[string]string{"channel": "slack", "reason": reason}); v != want {
			t.Errorf("failed{%s} = %v", reason, v)
		}
	}

	denied := mustSlack(t, 403, 403, 403)
	g := mustWorker(t, bustest.MustServer(t, "embedded"), mustDB(t, "sqlite"), nil, slackChannel(denied.srv.URL))
	g.publish(t, cloudcart.EventInventoryLowStock, cloudcart.InventoryLowStockData{ProductID: "p1", Stock: 2, Threshold: 5})
	eventually(t, "given up", func() bool {
		ns := g.notifications(t)
		for _, n := range ns {
			if n.Kind == "inventory.low_stock" && len(n.Deliveries) == 1 && n.Deliveries[0].Status == cloudcart.DeliveryFailed {
				return true
			}
		}
		return false
	})
	if v := g.value(t, "notification_notifications_failed_total", map[string]string{"channel": "slack", "reason": "invalid_token"}); v != 1 {
		t.Errorf("failed{invalid_token} = %v, want 1 (no retry)", v)
	}
}

// TestNotificationsSurviveRestart: the list at /notifications is read
// from the database, so a restarted worker still shows it.
func TestNotificationsSurviveRestart(t *testing.T) {
	url := bustest.MustServer(t, "embedded")
	db := mustDB(t, "sqlite")
	f := mustWorker(t, url, db, nil)
	if code, _ := f.do(t, "POST", "/alerts", alertmanagerFiring); code != 200 {
		t.Fatal(code)
	}
	g := mustWorker(t, url, db, nil)
	if ns := g.notifications(t); len(ns) != 1 || ns[0].Deliveries[0].Channel != "log" {
		t.Fatalf("after restart: %+v", ns)
	}
}

// TestSlowConsumer: with a consume delay (the chaos fault consume_latency)
// events back up and the lag gauge climbs; without it the backlog drains,
// every event still becomes exactly one notification, and the lag is 0.
func TestSlowConsumer(t *testing.T) {
	url := bustest.MustServer(t, "embedded")
	var delay atomic.Int64
	delay.Store(int64(200 * time.Millisecond))
	f := mustWorker(t, url, mustDB(t, "sqlite"), nil, func(o *notifier.Options) {
		o.ConsumeDelay = func() time.Duration { return time.Duration(delay.Load()) }
	})
	const n = 20
	for i := range n {
		f.publish(t, cloudcart.EventOrderCreated, cloudcart.OrderCreatedData{OrderID: fmt.Sprintf("ord_%d", i), Customer: "c", Total: 100, Items: 1, Status: "confirmed"})
	}
	topic := map[string]string{"topic": "cloudcart.events.order.created"}
	eventually(t, "lag above 1 s", func() bool {
		return telemetrytest.Count(t, f.tel.Registry, "notification_consumer_lag_seconds") > 0 &&
			f.value(t, "notification_consumer_lag_seconds", topic) > 1
	})
	if got := len(f.notifications(t)); got >= n {
		t.Fatalf("all %d events handled while the consumer was slowed", got)
	}
	delay.Store(0)
	eventually(t, "backlog drained", func() bool {
		return len(f.notifications(t)) == n && f.value(t, "notification_consumer_lag_seconds", topic) == 0
	})
}

// unrecordingStore fails to record the first fails successful sends, as
// a store on a full disk does.
type unrecordingStore struct {
	cloudcart.NotificationStore
	fails atomic.Int64
	calls atomic.Int64
}

func (s *unrecordingStore) DeliverySucceeded(ctx context.Context, id, channel string, at time.Time, sent *cloudcart.Event) error {
	s.calls.Add(1)
	if s.fails.Add(-1) >= 0 {
		return sqlstore.Classify(errors.New("stand-in: the real disk-full path is tested in internal/fleet"))
	}
	return s.NotificationStore.DeliverySucceeded(ctx, id, channel, at, sent)
}

// TestRecordingFailureBacksOff: when the store cannot record that a
// notification was sent, the worker holds the outcome and records it
// later with backoff; it never sends the notification a second time.
func TestRecordingFailureBacksOff(t *testing.T) {
	url := bustest.MustServer(t, "embedded")
	db := mustDB(t, "sqlite")
	real, err := sqlstore.NewNotificationStore(context.Background(), db)
	if err != nil {
		t.Fatal(err)
	}
	store := &unrecordingStore{NotificationStore: real}
	store.fails.Store(5)
	var backoffs []int
	var mu sync.Mutex
	slack := mustSlack(t)
	f := mustWorker(t, url, db, store, slackChannel(slack.srv.URL), func(o *notifier.Options) {
		o.RecordBackoff = func(n int) time.Duration {
			mu.Lock()
			backoffs = append(backoffs, n)
			mu.Unlock()
			return 30 * time.Millisecond
		}
	})
	f.publish(t, cloudcart.EventUserRegistered, cloudcart.UserRegisteredData{UserID: "usr_1"})
	eventually(t, "recorded as sent", func() bool {
		for _, n := range f.notifications(t) {
			if len(n.Deliveries) == 1 && n.Deliveries[0].Status == cloudcart.DeliverySent {
				return true
			}
		}
		return false
	})
	if got := len(slack.posts()); got != 1 {
		t.Fatalf("Slack got %d posts of one notification, want 1", got)
	}
	if got := store.calls.Load(); got != 6 {
		t.Errorf("%d attempts to record, want 6 (5 failures, then success)", got)
	}
	mu.Lock()
	defer mu.Unlock()
	if want := []int{1, 2, 3, 4, 5}; !slices.Equal(backoffs, want) {
		t.Errorf("backoff steps %v, want %v", backoffs, want)
	}
	if v := f.value(t, "notification_store_failures_total", nil); v != 5 {
		t.Errorf("notification_store_failures_total = %v, want 5", v)
	}
}

func TestDefaultRecordBackoff(t *testing.T) {
	for n, want := range map[int]time.Duration{1: time.Second, 2: 2 * time.Second, 3: 4 * time.Second, 7: time.Minute, 100: time.Minute} {
		for range 50 {
			if d := notifier.DefaultRecordBackoff(n); d < want/2 || d > want {
				t.Fatalf("DefaultRecordBackoff(%d) = %v, want within [%v, %v]", n, d, want/2, want)
			}
		}
	}
}
