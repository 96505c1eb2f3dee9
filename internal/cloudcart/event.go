package cloudcart

import (
	"context"
	"encoding/json"
	"fmt"
	"regexp"
	"time"
)

// EventType names what happened. Each type travels on its own subject of
// the event bus.
type EventType string

// The events of the fleet.
const (
	EventUserRegistered    EventType = "user.registered"
	EventOrderCreated      EventType = "order.created"
	EventOrderCancelled    EventType = "order.cancelled"
	EventOrderCompleted    EventType = "order.completed"
	EventPaymentProcessed  EventType = "payment.processed"
	EventInventoryLowStock EventType = "inventory.low_stock"
	EventChaosInjected     EventType = "chaos.injected"
	EventNotificationSent  EventType = "notification.sent"
	// EventUserRegistrationAttempted: someone registered an email that has
	// an account. The registration answer does not say so (it would tell
	// anyone which addresses have accounts); this event tells the owner.
	EventUserRegistrationAttempted EventType = "user.registration_attempted"
)

// EventTypes lists every event type, in a fixed order.
var EventTypes = []EventType{
	EventUserRegistered, EventOrderCreated, EventOrderCancelled, EventOrderCompleted,
	EventPaymentProcessed, EventInventoryLowStock, EventChaosInjected, EventNotificationSent,
	EventUserRegistrationAttempted,
}

// Valid reports whether t is a known event type.
func (t EventType) Valid() bool {
	for _, k := range EventTypes {
		if t == k {
			return true
		}
	}
	return false
}

// EventVersion is the envelope version this code writes and reads. A
// consumer rejects an envelope of another version instead of guessing.
const EventVersion = 1

// Event is the versioned envelope every event travels in. Data holds the
// payload of Type as JSON (one of the *Data types below). Trace holds the
// W3C trace context of the operation that produced the event
// ("traceparent", "tracestate", "baggage"), so the trace continues in the
// consumer.
type Event struct {
	ID      string            `json:"id"`
	Type    EventType         `json:"type"`
	Version int               `json:"version"`
	Time    time.Time         `json:"time"`
	Source  string            `json:"source"` // service.name of the producer
	Trace   map[string]string `json:"trace,omitempty"`
	Data    json.RawMessage   `json:"data"`
}

// NewEvent returns an event of type t from source with data as payload.
// The caller adds the trace context (the bus and the outbox do).
func NewEvent(t EventType, source string, data any, now time.Time) (*Event, error) {
	if !t.Valid() {
		return nil, Errorf(EINVALID, "unknown event type %q", t)
	}
	b, err := json.Marshal(data)
	if err != nil {
		return nil, fmt.Errorf("event %s data: %w", t, err)
	}
	return &Event{
		ID:      NewID("evt", now),
		Type:    t,
		Version: EventVersion,
		Time:    now.UTC(),
		Source:  source,
		Data:    b,
	}, nil
}

var eventIDPattern = regexp.MustCompile(`^[A-Za-z0-9_.:-]{1,128}$`)

// Validate checks an envelope read from the bus.
func (e *Event) Validate() error {
	switch {
	case !eventIDPattern.MatchString(e.ID):
		return Errorf(EINVALID, "event id %q is not a valid id", e.ID)
	case !e.Type.Valid():
		return Errorf(EINVALID, "unknown event type %q", e.Type)
	case e.Version != EventVersion:
		return Errorf(EINVALID, "event %s has version %d, this consumer reads version %d", e.ID, e.Version, EventVersion)
	case e.Time.IsZero():
		return Errorf(EINVALID, "event %s has no time", e.ID)
	case e.Source == "":
		return Errorf(EINVALID, "event %s has no source", e.ID)
	case len(e.Data) == 0:
		return Errorf(EINVALID, "event %s has no data", e.ID)
	}
	return nil
}

// DecodeData decodes the payload into v. Unknown fields are ignored (a
// producer may add fields without breaking older consumers); a payload of
// the wrong shape is an EINVALID error.
func (e *Event) DecodeData(v any) error {
	if err := json.Unmarshal(e.Data, v); err != nil {
		return Errorf(EINVALID, "event %s (%s): data does not decode: %v", e.ID, e.Type, err)
	}
	return nil
}

// EventPublisher publishes an event and returns once the bus has stored
// it. Publishing the same event ID twice stores it once within the bus's
// deduplication window.
type EventPublisher interface {
	Publish(ctx context.Context, e *Event) error
}

// Payloads, one per event type.

// UserRegisteredData is the data of user.registered.
type UserRegisteredData struct {
	UserID string `json:"user_id"`
	Email  string `json:"email"`
	Role   string `json:"role,omitempty"`
}

// UserRegistrationAttemptedData is the data of
// user.registration_attempted: the account whose email was registered
// again.
type UserRegistrationAttemptedData struct {
	UserID string `json:"user_id"`
	Email  string `json:"email"`
}

// OrderCreatedData is the data of order.created.
type OrderCreatedData struct {
	OrderID  string      `json:"order_id"`
	Customer string      `json:"customer"`
	Total    Money       `json:"total"`
	Items    int         `json:"items"`
	Status   OrderStatus `json:"status"`
}

// OrderCancelledData is the data of order.cancelled.
type OrderCancelledData struct {
	OrderID  string `json:"order_id"`
	Customer string `json:"customer"`
	Reason   string `json:"reason,omitempty"`
}

// OrderCompletedData is the data of order.completed.
type OrderCompletedData struct {
	OrderID  string `json:"order_id"`
	Customer string `json:"customer"`
	Total    Money  `json:"total"`
}

// PaymentProcessedData is the data of payment.processed.
type PaymentProcessedData struct {
	OrderID string `json:"order_id"`
	Amount  Money  `json:"amount"`
	Status  string `json:"status"` // "success" or "failed"
	Reason  string `json:"reason,omitempty"`
}

// InventoryLowStockData is the data of inventory.low_stock.
type InventoryLowStockData struct {
	ProductID string `json:"product_id"`
	SKU       string `json:"sku,omitempty"`
	Stock     int    `json:"stock"`
	Threshold int    `json:"threshold"`
}

// ChaosInjectedData is the data of chaos.injected: the chaos service changed
// what it injects. Action is "enable", "disable" or "configure"; Faults
// lists the fault types configured after the change.
type ChaosInjectedData struct {
	Action  string   `json:"action"`
	Target  string   `json:"target,omitempty"` // "" when the change is fleet-wide
	Faults  []string `json:"faults,omitempty"`
	Enabled bool     `json:"enabled"`
	Version int64    `json:"settings_version"`
}

// NotificationSentData is the data of notification.sent: a notification
// reached one channel.
type NotificationSentData struct {
	NotificationID string `json:"notification_id"`
	Channel        string `json:"channel"`
	Kind           string `json:"kind"` // the event type or "alert" it came from
	SourceID       string `json:"source_id"`
}
