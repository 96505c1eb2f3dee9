package promengine

import (
	"context"
	"log/slog"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/notifier"
	"github.com/prometheus/prometheus/rules"
)

// Notifier defaults: upstream's flag defaults (--alertmanager.*).
const notificationQueueCapacity = 10000

// newNotifier builds upstream's Alertmanager notifier (API v2). It sends to
// whatever alerting.alertmanagers lists, including the entry loadConfig adds
// for Options.AlertmanagerURL; with none it drops alerts, as Prometheus does.
func newNotifier(scheme model.ValidationScheme, logger *slog.Logger, reg prometheus.Registerer) *notifier.Manager {
	return notifier.NewManager(&notifier.Options{
		QueueCapacity:   notificationQueueCapacity,
		DrainOnShutdown: true,
		Registerer:      reg,
	}, scheme, logger.With("component", "notifier"))
}

// notifyFunc is the rule manager's NotifyFunc: alerts go to the upstream
// notifier and, when configured, to the webhook sender.
func notifyFunc(n *notifier.Manager, wh *webhookSender, externalURL string) rules.NotifyFunc {
	toAlertmanager := rules.SendAlerts(n, externalURL)
	if wh == nil {
		return toAlertmanager
	}
	return func(ctx context.Context, expr string, alerts ...*rules.Alert) {
		toAlertmanager(ctx, expr, alerts...)
		wh.notify(expr, alerts)
	}
}
