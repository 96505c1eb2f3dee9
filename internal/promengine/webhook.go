package promengine

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/rules"
	"github.com/prometheus/prometheus/util/strutil"
)

// Webhook delivery limits.
const (
	webhookQueueSize    = 256
	webhookTimeout      = 10 * time.Second
	webhookAttempts     = 5
	webhookFirstBackoff = 500 * time.Millisecond
	webhookReceiver     = "cloudcart-webhook"
)

// WebhookMessage is the JSON body posted to Options.WebhookURL: the payload
// Alertmanager's webhook receiver sends (version "4"), so anything written
// for Alertmanager webhooks can receive it directly.
type WebhookMessage struct {
	Version           string            `json:"version"`
	GroupKey          string            `json:"groupKey"`
	TruncatedAlerts   int               `json:"truncatedAlerts"`
	Status            string            `json:"status"` // "firing" or "resolved"
	Receiver          string            `json:"receiver"`
	GroupLabels       map[string]string `json:"groupLabels"`
	CommonLabels      map[string]string `json:"commonLabels"`
	CommonAnnotations map[string]string `json:"commonAnnotations"`
	ExternalURL       string            `json:"externalURL"`
	Alerts            []WebhookAlert    `json:"alerts"`
}

// WebhookAlert is one alert in a WebhookMessage.
type WebhookAlert struct {
	Status       string            `json:"status"`
	Labels       map[string]string `json:"labels"`
	Annotations  map[string]string `json:"annotations"`
	StartsAt     time.Time         `json:"startsAt"`
	EndsAt       time.Time         `json:"endsAt"` // zero while firing
	GeneratorURL string            `json:"generatorURL"`
	Fingerprint  string            `json:"fingerprint"`
}

// webhookSender posts alert state changes to one URL. The rule manager hands
// it every alert that is due for (re)sending; it keeps only transitions:
// an alert is posted once when it starts firing and once when it resolves,
// never for the periodic re-sends Alertmanager would deduplicate.
type webhookSender struct {
	url         string
	externalURL string
	client      *http.Client
	logger      *slog.Logger

	mu             sync.Mutex
	firing         map[string]bool // fingerprints of alerts whose "firing" post is out
	externalLabels labels.Labels
	closed         bool
	queue          chan WebhookMessage
}

func newWebhookSender(url, externalURL string, logger *slog.Logger) *webhookSender {
	return &webhookSender{
		url:         url,
		externalURL: externalURL,
		client:      &http.Client{Timeout: webhookTimeout},
		logger:      logger.With("component", "webhook sender"),
		firing:      make(map[string]bool),
		queue:       make(chan WebhookMessage, webhookQueueSize),
	}
}

// setExternalLabels is the sender's part of a config load: external labels
// are added to alert labels, as the notifier does for Alertmanager.
func (s *webhookSender) setExternalLabels(ls labels.Labels) {
	s.mu.Lock()
	s.externalLabels = ls
	s.mu.Unlock()
}

// notify queues the state changes among alerts (all from one alerting rule,
// expr). It never blocks rule evaluation: with a full queue it drops and logs.
func (s *webhookSender) notify(expr string, alerts []*rules.Alert) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return
	}
	var firing, resolved []WebhookAlert
	for _, a := range alerts {
		wa := s.webhookAlert(expr, a)
		fp := wa.Fingerprint
		switch {
		case a.ResolvedAt.IsZero() && a.State == rules.StateFiring:
			if s.firing[fp] {
				continue // A re-send: the receiver already knows.
			}
			s.firing[fp] = true
			firing = append(firing, wa)
		case !a.ResolvedAt.IsZero():
			if !s.firing[fp] {
				continue // Resolved already posted, or never fired here.
			}
			delete(s.firing, fp)
			resolved = append(resolved, wa)
		}
	}
	for _, group := range [][]WebhookAlert{firing, resolved} {
		if len(group) == 0 {
			continue
		}
		msg := s.message(group)
		select {
		case s.queue <- msg:
		default:
			s.logger.Error("webhook queue full, dropping notification", "status", msg.Status, "group_key", msg.GroupKey, "alerts", len(msg.Alerts))
		}
	}
}

func (s *webhookSender) webhookAlert(expr string, a *rules.Alert) WebhookAlert {
	b := labels.NewBuilder(a.Labels)
	s.externalLabels.Range(func(l labels.Label) {
		if a.Labels.Get(l.Name) == "" {
			b.Set(l.Name, l.Value)
		}
	})
	ls := b.Labels().Map()
	wa := WebhookAlert{
		Status:       "firing",
		Labels:       ls,
		Annotations:  a.Annotations.Map(),
		StartsAt:     a.FiredAt,
		GeneratorURL: s.externalURL + strutil.TableLinkForExpression(expr),
		Fingerprint:  toLabelSet(ls).Fingerprint().String(),
	}
	if !a.ResolvedAt.IsZero() {
		wa.Status = "resolved"
		wa.EndsAt = a.ResolvedAt
	}
	return wa
}

// message groups alerts the way an Alertmanager route grouped by alertname
// would.
func (s *webhookSender) message(alerts []WebhookAlert) WebhookMessage {
	name := alerts[0].Labels[model.AlertNameLabel]
	return WebhookMessage{
		Version:           "4",
		GroupKey:          "{}:{" + model.AlertNameLabel + "=" + strconv.Quote(name) + "}",
		Status:            alerts[0].Status,
		Receiver:          webhookReceiver,
		GroupLabels:       map[string]string{model.AlertNameLabel: name},
		CommonLabels:      common(alerts, func(a WebhookAlert) map[string]string { return a.Labels }),
		CommonAnnotations: common(alerts, func(a WebhookAlert) map[string]string { return a.Annotations }),
		ExternalURL:       s.externalURL,
		Alerts:            alerts,
	}
}

// run delivers queued messages until close is called and the queue is
// drained, or ctx is cancelled.
func (s *webhookSender) run(ctx context.Context) {
	defer s.client.CloseIdleConnections()
	for msg := range s.queue {
		if err := s.deliver(ctx, msg); err != nil {
			s.logger.ErrorContext(ctx, "webhook delivery failed", "status", msg.Status, "group_key", msg.GroupKey, "err", err)
		}
	}
}

// close stops accepting alerts; run returns once the queue is drained.
func (s *webhookSender) close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.closed {
		s.closed = true
		close(s.queue)
	}
}

// deliver posts msg, retrying with exponential backoff on network errors,
// 5xx and 429. Other 4xx answers are final.
func (s *webhookSender) deliver(ctx context.Context, msg WebhookMessage) error {
	body, err := json.Marshal(msg)
	if err != nil {
		return fmt.Errorf("encode webhook message: %w", err)
	}
	backoff := webhookFirstBackoff
	var lastErr error
	for attempt := 1; attempt <= webhookAttempts; attempt++ {
		retry, err := s.post(ctx, body)
		if err == nil {
			return nil
		}
		lastErr = err
		if !retry || attempt == webhookAttempts {
			break
		}
		s.logger.WarnContext(ctx, "webhook delivery failed, retrying", "attempt", attempt, "err", err)
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w (gave up: %w)", lastErr, ctx.Err())
		case <-time.After(backoff):
		}
		backoff *= 2
	}
	return lastErr
}

func (s *webhookSender) post(ctx context.Context, body []byte) (retry bool, err error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.url, bytes.NewReader(body))
	if err != nil {
		return false, err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := s.client.Do(req)
	if err != nil {
		return ctx.Err() == nil, err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	switch {
	case resp.StatusCode/100 == 2:
		return false, nil
	case resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode/100 == 5:
		return true, fmt.Errorf("webhook answered %s", resp.Status)
	default:
		return false, fmt.Errorf("webhook answered %s", resp.Status)
	}
}

// common returns the key/value pairs that every alert has in the map get
// selects (Alertmanager's commonLabels / commonAnnotations).
func common(alerts []WebhookAlert, get func(WebhookAlert) map[string]string) map[string]string {
	out := maps.Clone(get(alerts[0]))
	if out == nil {
		out = map[string]string{}
	}
	for _, a := range alerts[1:] {
		m := get(a)
		for k, v := range out {
			if m[k] != v {
				delete(out, k)
			}
		}
	}
	return out
}

func toLabelSet(m map[string]string) model.LabelSet {
	ls := make(model.LabelSet, len(m))
	for k, v := range m {
		ls[model.LabelName(k)] = model.LabelValue(v)
	}
	return ls
}
