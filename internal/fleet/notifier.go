package fleet

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/cloudcart/cloudcart/internal/cloudcart"
	"github.com/cloudcart/cloudcart/internal/httpkit"
	"github.com/cloudcart/cloudcart/internal/notifier"
	"github.com/cloudcart/cloudcart/internal/sqlstore"
)

// NotifierConfig configures the notification worker's channels. With no
// webhook URL notifications go to the log (and GET /notifications).
type NotifierConfig struct {
	SlackWebhookURL string // a Slack incoming webhook, https://hooks.slack.com/services/...
	WebhookURL      string // any endpoint taking the notification as JSON
	// MaxAttempts is how many failed deliveries of a bus message send it
	// to the dead-letter subject; bus.DefaultMaxAttempts if 0.
	MaxAttempts int
}

// buildNotifier assembles the notification worker: telemetry, notification
// store with its outbox, durable bus consumers, channels, HTTP server.
func buildNotifier(ctx context.Context, env *Env) (u *Unit, err error) {
	u = &Unit{Service: env.Service, log: env.Log}
	defer func() {
		if err != nil {
			err = errors.Join(err, u.close())
		}
	}()
	if err := newTelemetry(ctx, env, u); err != nil {
		return u, err
	}
	meter, tracer := u.Telemetry.Meter("cloudcart/notifier"), u.Telemetry.Tracer("cloudcart/notifier")
	db, err := sqlstore.Open(ctx, sqlstore.Options{DSN: env.PostgresDSN, Path: env.SQLitePath(env.Service), Tracer: tracer})
	if err != nil {
		return u, err
	}
	u.Closers = append(u.Closers, db.Close)
	store, err := sqlstore.NewNotificationStore(ctx, db)
	if err != nil {
		return u, err
	}
	outbox, _, err := startOutbox(ctx, env, u, db, "notification", cloudcart.EventNotificationSent)
	if err != nil {
		return u, err
	}
	client := &http.Client{Timeout: 10 * time.Second,
		Transport: &httpkit.Transport{Tracer: tracer, Propagator: u.Telemetry.Propagator}}
	var channels []notifier.Channel
	if url := env.Notifier.SlackWebhookURL; url != "" {
		channels = append(channels, &notifier.SlackChannel{URL: url, Client: client})
	}
	if url := env.Notifier.WebhookURL; url != "" {
		channels = append(channels, &notifier.WebhookChannel{URL: url, Client: client})
	}
	m, err := notifier.NewMetrics(meter)
	if err != nil {
		return u, err
	}
	svc, err := notifier.New(notifier.Options{
		Store: store, Bus: env.platform.conn, Channels: channels, Metrics: m, Meter: meter,
		Source: env.Service.ServiceName, MaxAttempts: env.Notifier.MaxAttempts, Committed: outbox.Notify,
		Tracer: tracer, Propagator: u.Telemetry.Propagator, Logger: env.Log,
	})
	if err != nil {
		return u, err
	}
	env.Log.Info("notification channels", "channels", svc.Channels())
	mw, err := httpkit.NewMiddleware(meter, tracer, u.Telemetry.Propagator,
		httpkit.ServiceMetricNames("notification", "notification.http.request.duration"))
	if err != nil {
		return u, err
	}
	u.Workers = append(u.Workers, svc.Run)
	u.Server = &httpkit.Server{
		Addr:    env.Addr(env.Service),
		Handler: mw.Wrap(withChaos(env, u, svc.Handler())),
		Metrics: u.Telemetry.MetricsHandler(),
		Logger:  env.Log,
		Checks:  []httpkit.Check{{Name: "database", Check: db.Ping}, {Name: "bus", Check: busCheck(env)}},
	}
	return u, nil
}

// alertWebhook makes the embedded Prometheus of `cloudcart run` post its
// alerts to the in-process notification worker's POST /alerts when neither
// an Alertmanager nor another webhook is configured: that is where alerts
// reach people.
func alertWebhook(pc *PrometheusConfig, units []*Unit) *PrometheusConfig {
	if pc == nil || pc.AlertmanagerURL != "" || pc.WebhookURL != "" {
		return pc
	}
	for _, u := range units {
		if u.Service.Name == "notifier" {
			c := *pc
			c.WebhookURL = u.Server.URL() + "/alerts"
			return &c
		}
	}
	return pc
}
