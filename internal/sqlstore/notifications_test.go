package sqlstore_test

import (
	"context"
	"testing"
	"time"

	"github.com/cloudcart/cloudcart/internal/cloudcart"
	"github.com/cloudcart/cloudcart/internal/sqlstore"
	"github.com/cloudcart/cloudcart/internal/sqlstore/sqlstoretest"
)

func TestNotificationStore(t *testing.T) {
	for _, backend := range sqlstoretest.Backends(t) {
		t.Run(backend, func(t *testing.T) {
			ctx := context.Background()
			db := sqlstoretest.MustOpen(t, backend, sqlstore.Options{})
			s, err := sqlstore.NewNotificationStore(ctx, db)
			if err != nil {
				t.Fatal(err)
			}
			channels := []string{"slack", "log"}
			e := newEvent(t, "order-service", 1)
			n, err := cloudcart.NotificationForEvent(e)
			if err != nil {
				t.Fatal(err)
			}
			n.Trace = map[string]string{"traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"}

			t.Run("an event makes one notification however often it arrives", func(t *testing.T) {
				for i, want := range []bool{true, false} {
					nn := *n
					first, err := s.HandleEvent(ctx, "notifier", e, &nn, channels)
					if err != nil || first != want {
						t.Fatalf("delivery %d: first = %v, %v", i+1, first, err)
					}
				}
				recent, err := s.FindNotifications(ctx, cloudcart.NotificationFilter{Limit: 10})
				if err != nil || len(recent) != 1 {
					t.Fatalf("recent = %d, %v; want 1", len(recent), err)
				}
				got := recent[0]
				if got.SourceID != e.ID || got.Kind != "order.created" || got.Fields["order_id"] != "ord_1" ||
					got.Trace["traceparent"] != n.Trace["traceparent"] || len(got.Deliveries) != 2 {
					t.Fatalf("stored %+v", got)
				}
			})
			t.Run("deliveries: due, retried, sent with their event", func(t *testing.T) {
				now := time.Now()
				due, err := s.DueDeliveries(ctx, now, 10)
				if err != nil || len(due) != 2 {
					t.Fatalf("due = %d, %v", len(due), err)
				}
				id := due[0].Notification.ID
				if err := s.DeliveryFailed(ctx, id, "slack", 1, now.Add(time.Hour), false, "server_error"); err != nil {
					t.Fatal(err)
				}
				sent, _ := cloudcart.NewEvent(cloudcart.EventNotificationSent, "notification-worker",
					cloudcart.NotificationSentData{NotificationID: id, Channel: "log"}, now)
				if err := s.DeliverySucceeded(ctx, id, "log", now, sent); err != nil {
					t.Fatal(err)
				}
				// Marking again (a retry after a lost answer) records nothing new.
				if err := s.DeliverySucceeded(ctx, id, "log", now, sent); err != nil {
					t.Fatal(err)
				}
				if due, _ := s.DueDeliveries(ctx, now, 10); len(due) != 0 {
					t.Fatalf("due now = %+v, want none (slack waits an hour)", due)
				}
				due, _ = s.DueDeliveries(ctx, now.Add(2*time.Hour), 10)
				if len(due) != 1 || due[0].Channel != "slack" || due[0].Attempts != 1 {
					t.Fatalf("due later = %+v", due)
				}
				if err := s.DeliveryFailed(ctx, id, "slack", 2, now, true, "invalid_token"); err != nil {
					t.Fatal(err)
				}
				recent, _ := s.FindNotifications(ctx, cloudcart.NotificationFilter{Limit: 1})
				st := map[string]cloudcart.Delivery{}
				for _, d := range recent[0].Deliveries {
					st[d.Channel] = d
				}
				if st["log"].Status != cloudcart.DeliverySent || st["log"].SentAt == nil ||
					st["slack"].Status != cloudcart.DeliveryFailed || st["slack"].LastError != "invalid_token" || st["slack"].Attempts != 2 {
					t.Fatalf("deliveries = %+v", recent[0].Deliveries)
				}
				p := &fakePublisher{}
				r := mustRelay(t, db, "notification-worker", p)
				if n, err := r.Flush(ctx); err != nil || n != 1 {
					t.Fatalf("notification.sent events relayed = %d, %v; want exactly 1", n, err)
				}
			})
			t.Run("alerts and prune", func(t *testing.T) {
				a, err := cloudcart.NotificationForAlert(cloudcart.Alert{Status: "firing", Labels: map[string]string{"alertname": "X", "severity": "page"}}, time.Now())
				if err != nil {
					t.Fatal(err)
				}
				if err := s.AddNotifications(ctx, []*cloudcart.Notification{a}, []string{"log"}); err != nil {
					t.Fatal(err)
				}
				if recent, _ := s.FindNotifications(ctx, cloudcart.NotificationFilter{Limit: 10}); len(recent) != 2 || recent[0].Kind != "alert" {
					t.Fatalf("recent = %+v", recent)
				}
				alerts, _ := s.FindNotifications(ctx, cloudcart.NotificationFilter{Kind: "alert"})
				older, _ := s.FindNotifications(ctx, cloudcart.NotificationFilter{Before: a.ID})
				if len(alerts) != 1 || alerts[0].ID != a.ID || len(older) != 1 || older[0].Kind != "order.created" {
					t.Fatalf("by kind: %+v; before the alert: %+v", alerts, older)
				}
				if n, err := s.PruneNotifications(ctx, time.Now().Add(time.Minute)); err != nil || n != 2 {
					t.Fatalf("pruned %d, %v", n, err)
				}
				if due, _ := s.DueDeliveries(ctx, time.Now().Add(24*time.Hour), 10); len(due) != 0 {
					t.Fatalf("deliveries of pruned notifications remain: %+v", due)
				}
			})
		})
	}
}

func TestChaosStore(t *testing.T) {
	for _, backend := range sqlstoretest.Backends(t) {
		t.Run(backend, func(t *testing.T) {
			ctx := context.Background()
			db := sqlstoretest.MustOpen(t, backend, sqlstore.Options{})
			s, err := sqlstore.NewChaosStore(ctx, db)
			if err != nil {
				t.Fatal(err)
			}
			cur, err := s.LoadChaosSettings(ctx)
			if err != nil || cur.Enabled || cur.Version != 0 {
				t.Fatalf("initial = %+v, %v", cur, err)
			}
			next := cloudcart.ChaosSettings{Enabled: true, Version: 1, UpdatedAt: time.Now(), PaymentFailureRate: 0.25,
				Targets: map[string]cloudcart.ChaosFaults{"orders": {Latency: &cloudcart.LatencyFault{Probability: 1, FixedMS: 5}}}}
			ev, _ := cloudcart.NewEvent(cloudcart.EventChaosInjected, "chaos-service", cloudcart.ChaosInjectedData{Action: "enable", Version: 1}, time.Now())
			if err := s.SaveChaosSettings(ctx, 0, next, ev); err != nil {
				t.Fatal(err)
			}
			if err := s.SaveChaosSettings(ctx, 0, next); cloudcart.ErrorCode(err) != cloudcart.ECONFLICT {
				t.Fatalf("second first-save = %v, want conflict", err)
			}
			got, err := s.LoadChaosSettings(ctx)
			if err != nil || got.Version != 1 || got.PaymentFailureRate != 0.25 || got.Targets["orders"].Latency.FixedMS != 5 {
				t.Fatalf("loaded %+v, %v", got, err)
			}
			next.Version, next.Enabled = 2, false
			if err := s.SaveChaosSettings(ctx, 1, next); err != nil {
				t.Fatal(err)
			}
			if err := s.SaveChaosSettings(ctx, 1, next); cloudcart.ErrorCode(err) != cloudcart.ECONFLICT {
				t.Fatalf("stale save = %v, want conflict", err)
			}
			p := &fakePublisher{}
			if n, err := mustRelay(t, db, "chaos-service", p).Flush(ctx); err != nil || n != 1 {
				t.Fatalf("chaos events relayed = %d, %v", n, err)
			}
		})
	}
}

// TestHandleEventsBatch: a batch records each event once (an event
// repeated in the batch, or handled before, is not first) and stores the
// notifications of the first handlings, in one transaction.
func TestHandleEventsBatch(t *testing.T) {
	ctx := context.Background()
	s, err := sqlstore.NewNotificationStore(ctx, sqlstoretest.MustOpen(t, "sqlite", sqlstore.Options{}))
	if err != nil {
		t.Fatal(err)
	}
	e1, e2 := newEvent(t, "order-service", 1), newEvent(t, "order-service", 2)
	note := func(e *cloudcart.Event) *cloudcart.Notification {
		n, err := cloudcart.NotificationForEvent(e)
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	if first, err := s.HandleEvent(ctx, "notifier", e1, note(e1), []string{"log"}); err != nil || !first {
		t.Fatalf("single: %v %v", first, err)
	}
	first, err := s.HandleEvents(ctx, "notifier", []cloudcart.HandledEvent{
		{Event: e1, Notification: note(e1)}, {Event: e2, Notification: note(e2)}, {Event: e2, Notification: note(e2)},
	}, []string{"log"})
	if err != nil || len(first) != 3 || first[0] || !first[1] || first[2] {
		t.Fatalf("batch first = %v, %v; want [false true false]", first, err)
	}
	got, err := s.FindNotifications(ctx, cloudcart.NotificationFilter{Limit: 10})
	if err != nil || len(got) != 2 {
		t.Fatalf("notifications = %d, %v; want 2 (one per event)", len(got), err)
	}
}
