package fleet

import (
	"context"
	"flag"
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

// notifierFlags are the notification worker's flags.
func notifierFlags(fs *flag.FlagSet, c *Config) {
	n := &c.Notifier
	fs.StringVar(&n.SlackWebhookURL, "notifier.slack-webhook-url", "", "Slack incoming webhook the notification worker posts to")
	fs.StringVar(&n.WebhookURL, "notifier.webhook-url", "", "generic webhook the notification worker posts notifications to as JSON")
	fs.IntVar(&n.MaxAttempts, "notifier.max-attempts", 5, "failed deliveries of an event before it goes to the dead-letter subject")
}

// buildNotifier assembles the notification worker: telemetry, notification
// store with its outbox, durable bus consumers, channels, HTTP server.
func buildNotifier(ctx context.Context, env *Env, u *Unit) error {
	meter, tracer := u.Telemetry.Meter("cloudcart/notifier"), u.Telemetry.Tracer("cloudcart/notifier")
	db, err := u.openDB(ctx, env, sqlstore.Options{Tracer: tracer})
	if err != nil {
		return err
	}
	store, err := sqlstore.NewNotificationStore(ctx, db)
	if err != nil {
		return err
	}
	outbox, _, err := startOutbox(ctx, env, u, db, cloudcart.EventNotificationSent)
	if err != nil {
		return err
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
		return err
	}
	svc, err := notifier.New(notifier.Options{
		Store: store, Bus: env.platform.conn, Channels: channels, Metrics: m, Meter: meter,
		Source: env.Service.ServiceName, MaxAttempts: env.Notifier.MaxAttempts, Committed: outbox.Notify,
		Tracer: tracer, Propagator: u.Telemetry.Propagator, Logger: env.Log,
		ConsumeDelay: env.platform.chaos.ConsumeDelay,
	})
	if err != nil {
		return err
	}
	env.Log.InfoContext(ctx, "notification channels", "channels", svc.Channels())
	u.Workers = append(u.Workers, svc.Run)
	return u.serve(env, svc.Handler(), httpkit.Check{Name: "database", Check: db.Writable}, httpkit.Check{Name: "bus", Check: busCheck(env)})
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
