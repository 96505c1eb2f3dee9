package cloudcart

import (
	"context"
	"fmt"
	"strings"
	"time"
)

// Notification is a message for people: made from an event or an alert,
// stored once, then delivered to every configured channel.
type Notification struct {
	ID       string            `json:"id"`
	Kind     string            `json:"kind"`      // the event type, or NotificationKindAlert
	SourceID string            `json:"source_id"` // event id, or alert fingerprint
	Severity string            `json:"severity"`  // info, warning, critical; an alert's own severity label
	Title    string            `json:"title"`
	Text     string            `json:"text"`
	Link     string            `json:"link,omitempty"`
	Fields   map[string]string `json:"fields,omitempty"`
	// Trace is the W3C trace context of the handling, so the delivery
	// continues the trace that produced the notification.
	Trace      map[string]string `json:"-"`
	CreatedAt  time.Time         `json:"created_at"`
	Deliveries []Delivery        `json:"deliveries,omitempty"`
}

// NotificationKindAlert is the kind of notifications made from alerts.
const NotificationKindAlert = "alert"

// Severities of notifications made from events.
const (
	SeverityInfo     = "info"
	SeverityWarning  = "warning"
	SeverityCritical = "critical"
)

// DeliveryStatus is where the delivery of a notification to one channel is.
type DeliveryStatus string

const (
	DeliveryPending DeliveryStatus = "pending" // not sent yet, or to be retried
	DeliverySent    DeliveryStatus = "sent"
	DeliveryFailed  DeliveryStatus = "failed" // gave up: permanent error or attempts exhausted
)

// Delivery is the state of a notification on one channel.
type Delivery struct {
	Channel   string         `json:"channel"`
	Status    DeliveryStatus `json:"status"`
	Attempts  int            `json:"attempts"`
	LastError string         `json:"last_error,omitempty"`
	SentAt    *time.Time     `json:"sent_at,omitempty"`
}

// NotificationFilter selects notifications. Zero values mean "any".
type NotificationFilter struct {
	Kind   string // an event type or NotificationKindAlert
	Before string // only notifications older than this id (the previous page's last)
	Limit  int
}

// DueDelivery is a delivery whose next attempt is due, with its notification.
type DueDelivery struct {
	Notification *Notification
	Channel      string
	Attempts     int // attempts made so far
}

// NotificationStore keeps notifications and their deliveries. Handling an
// event is recorded in the same transaction as the notification it
// creates, so an event delivered twice by the bus creates one notification.
type NotificationStore interface {
	// HandleEvent records that consumer handled e and stores n (nil: the
	// event makes no notification) with a pending delivery per channel. It
	// returns first=false, writing nothing, when consumer handled e before.
	HandleEvent(ctx context.Context, consumer string, e *Event, n *Notification, channels []string) (first bool, err error)
	// AddNotifications stores notifications with a pending delivery per channel.
	AddNotifications(ctx context.Context, ns []*Notification, channels []string) error
	// FindNotifications returns notifications newest first, with their deliveries.
	FindNotifications(ctx context.Context, f NotificationFilter) ([]*Notification, error)
	// DueDeliveries returns pending deliveries whose next attempt is due at now, oldest first.
	DueDeliveries(ctx context.Context, now time.Time, limit int) ([]DueDelivery, error)
	// DeliverySucceeded marks a delivery sent and stores sent, its
	// notification.sent event, in the same transaction (the outbox).
	DeliverySucceeded(ctx context.Context, notificationID, channel string, at time.Time, sent *Event) error
	// DeliveryFailed records a failed attempt: retried at next, or given
	// up (status failed) when final.
	DeliveryFailed(ctx context.Context, notificationID, channel string, attempts int, next time.Time, final bool, reason string) error
}

// HandledEvent is one event of a batch a consumer handles in one
// transaction, and the notification it makes (nil: none).
type HandledEvent struct {
	Event        *Event
	Notification *Notification
}

// SentDelivery is a successful delivery to record: the notification, the
// channel, when, and its notification.sent event.
type SentDelivery struct {
	NotificationID, Channel string
	At                      time.Time
	Sent                    *Event
}

// NotificationForEvent renders the notification an event makes, or nil for
// events that make none (notification.sent: a notification about a
// notification would loop). The error is EINVALID when the payload does not
// decode.
func NotificationForEvent(e *Event) (*Notification, error) {
	n := &Notification{Kind: string(e.Type), SourceID: e.ID, Severity: SeverityInfo, CreatedAt: e.Time}
	switch e.Type {
	case EventUserRegistered:
		var d UserRegisteredData
		if err := e.DecodeData(&d); err != nil {
			return nil, err
		}
		n.Title = "New user registered"
		n.Text = fmt.Sprintf("User %s registered.", orDash(d.UserID))
		n.Fields = map[string]string{"user_id": d.UserID}
	case EventUserRegistrationAttempted:
		var d UserRegistrationAttemptedData
		if err := e.DecodeData(&d); err != nil {
			return nil, err
		}
		n.Title = "Registration attempt for an existing account"
		n.Text = fmt.Sprintf("Someone tried to register %s, which already has an account (user %s). Nothing was changed; "+
			"if it was not the owner, the account's password still protects it.", orDash(d.Email), orDash(d.UserID))
		n.Severity = SeverityWarning
		n.Fields = map[string]string{"user_id": d.UserID}
	case EventOrderCreated:
		var d OrderCreatedData
		if err := e.DecodeData(&d); err != nil {
			return nil, err
		}
		n.Title = "Order " + d.OrderID + " created"
		n.Text = fmt.Sprintf("%s ordered %d item(s) for $%s (status %s).", orDash(d.Customer), d.Items, d.Total, d.Status)
		n.Fields = map[string]string{"order_id": d.OrderID, "customer": d.Customer, "total": d.Total.String()}
	case EventOrderCancelled:
		var d OrderCancelledData
		if err := e.DecodeData(&d); err != nil {
			return nil, err
		}
		n.Title = "Order " + d.OrderID + " cancelled"
		n.Text = fmt.Sprintf("The order of %s was cancelled: %s.", orDash(d.Customer), orDash(d.Reason))
		n.Severity = SeverityWarning
		n.Fields = map[string]string{"order_id": d.OrderID, "customer": d.Customer}
	case EventOrderCompleted:
		var d OrderCompletedData
		if err := e.DecodeData(&d); err != nil {
			return nil, err
		}
		n.Title = "Order " + d.OrderID + " completed"
		n.Text = fmt.Sprintf("The order of %s ($%s) is complete.", orDash(d.Customer), d.Total)
		n.Fields = map[string]string{"order_id": d.OrderID, "customer": d.Customer, "total": d.Total.String()}
	case EventPaymentProcessed:
		var d PaymentProcessedData
		if err := e.DecodeData(&d); err != nil {
			return nil, err
		}
		n.Title = "Payment for order " + d.OrderID + ": " + orDash(d.Status)
		n.Text = fmt.Sprintf("Payment of $%s for order %s: %s.", d.Amount, d.OrderID, orDash(d.Status))
		if d.Reason != "" {
			n.Text += " Reason: " + d.Reason + "."
		}
		if d.Status != "success" {
			n.Severity = SeverityWarning
		}
		n.Fields = map[string]string{"order_id": d.OrderID, "status": d.Status}
	case EventInventoryLowStock:
		var d InventoryLowStockData
		if err := e.DecodeData(&d); err != nil {
			return nil, err
		}
		name := d.SKU
		if name == "" {
			name = d.ProductID
		}
		n.Title = "Low stock: " + orDash(name)
		n.Text = fmt.Sprintf("Product %s has %d in stock (threshold %d).", orDash(d.ProductID), d.Stock, d.Threshold)
		n.Severity = SeverityWarning
		n.Fields = map[string]string{"product_id": d.ProductID, "stock": fmt.Sprint(d.Stock)}
	case EventChaosInjected:
		var d ChaosInjectedData
		if err := e.DecodeData(&d); err != nil {
			return nil, err
		}
		n.Title = "Chaos " + orDash(d.Action)
		n.Text = fmt.Sprintf("Chaos settings version %d: chaos is %s", d.Version, map[bool]string{true: "on", false: "off"}[d.Enabled])
		if d.Target != "" {
			n.Text += ", target " + d.Target
		}
		if len(d.Faults) > 0 {
			n.Text += ", faults " + strings.Join(d.Faults, ", ")
		}
		n.Text += "."
		n.Severity = SeverityWarning
		n.Fields = map[string]string{"action": d.Action, "version": fmt.Sprint(d.Version)}
	case EventNotificationSent:
		var d NotificationSentData
		if err := e.DecodeData(&d); err != nil {
			return nil, err
		}
		return nil, nil
	default:
		return nil, Errorf(EINVALID, "unknown event type %q", e.Type)
	}
	n.Fields["source"] = e.Source
	return n, nil
}

// Alert is one alert of an Alertmanager webhook message.
type Alert struct {
	Status       string // "firing" or "resolved"
	Labels       map[string]string
	Annotations  map[string]string
	StartsAt     time.Time
	EndsAt       time.Time
	GeneratorURL string
	Fingerprint  string
}

// NotificationForAlert renders an alert's state change.
func NotificationForAlert(a Alert, now time.Time) (*Notification, error) {
	name := a.Labels["alertname"]
	switch {
	case name == "":
		return nil, Errorf(EINVALID, "alert has no alertname label")
	case a.Status != "firing" && a.Status != "resolved":
		return nil, Errorf(EINVALID, "alert %s: status must be firing or resolved, got %q", name, truncate(a.Status, 20))
	}
	title := fmt.Sprintf("[%s] %s", strings.ToUpper(a.Status), name)
	if job := a.Labels["job"]; job != "" {
		title += " (" + job + ")"
	}
	text := a.Annotations["summary"]
	if d := a.Annotations["description"]; d != "" {
		text = strings.TrimSpace(text + "\n" + d)
	}
	if text == "" {
		text = name + " is " + a.Status + "."
	}
	fields := map[string]string{"status": a.Status, "starts_at": a.StartsAt.UTC().Format(time.RFC3339)}
	if a.Status == "resolved" && !a.EndsAt.IsZero() {
		fields["ends_at"] = a.EndsAt.UTC().Format(time.RFC3339)
	}
	for k, v := range a.Labels {
		if k != "alertname" {
			fields["label."+k] = v
		}
	}
	if rb := a.Annotations["runbook_url"]; rb != "" {
		fields["runbook"] = rb
	}
	sev := a.Labels["severity"]
	if sev == "" {
		sev = SeverityWarning
	}
	return &Notification{
		Kind:      NotificationKindAlert,
		SourceID:  a.Fingerprint,
		Severity:  sev,
		Title:     title,
		Text:      text,
		Link:      a.GeneratorURL,
		Fields:    fields,
		CreatedAt: now.UTC(),
	}, nil
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
