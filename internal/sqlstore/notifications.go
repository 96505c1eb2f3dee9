package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/cloudcart/cloudcart/internal/cloudcart"
)

var notificationMigrations = []Migration{
	{Version: 1, SQL: `CREATE TABLE notifications (
		id TEXT PRIMARY KEY,
		kind TEXT NOT NULL,
		source_id TEXT NOT NULL,
		severity TEXT NOT NULL,
		title TEXT NOT NULL,
		body TEXT NOT NULL,
		link TEXT NOT NULL DEFAULT '',
		fields TEXT NOT NULL DEFAULT '{}',
		trace TEXT NOT NULL DEFAULT '{}',
		created_at BIGINT NOT NULL);
	CREATE INDEX notifications_created_idx ON notifications (created_at);
	CREATE INDEX notifications_kind_idx ON notifications (kind, id);
	CREATE TABLE notification_deliveries (
		notification_id TEXT NOT NULL REFERENCES notifications (id) ON DELETE CASCADE,
		channel TEXT NOT NULL,
		status TEXT NOT NULL,
		attempts INTEGER NOT NULL DEFAULT 0,
		next_attempt_at BIGINT NOT NULL,
		last_error TEXT NOT NULL DEFAULT '',
		sent_at BIGINT,
		PRIMARY KEY (notification_id, channel));
	CREATE INDEX notification_deliveries_due_idx ON notification_deliveries (status, next_attempt_at)`},
}

// NotificationStore implements cloudcart.NotificationStore.
type NotificationStore struct{ db *DB }

var _ cloudcart.NotificationStore = (*NotificationStore)(nil)

// NewNotificationStore migrates the notification, outbox and
// deduplication tables.
func NewNotificationStore(ctx context.Context, db *DB) (*NotificationStore, error) {
	if err := db.Migrate(ctx, "notifications", notificationMigrations); err != nil {
		return nil, err
	}
	if err := MigrateEvents(ctx, db); err != nil {
		return nil, err
	}
	return &NotificationStore{db: db}, nil
}

// HandleEvent implements cloudcart.NotificationStore.
func (s *NotificationStore) HandleEvent(ctx context.Context, consumer string, e *cloudcart.Event, n *cloudcart.Notification, channels []string) (first bool, err error) {
	err = s.db.Tx(ctx, func(c Conn) error {
		first, err = handleEvent(ctx, c, consumer, e, n, channels)
		return err
	})
	if err != nil {
		return false, fmt.Errorf("handle event %s: %w", e.ID, err)
	}
	return first, nil
}

// HandleEvents is HandleEvent for many events in one transaction (one
// fsync): first[i] is false for an event consumer handled before. An
// error leaves the whole batch unrecorded.
func (s *NotificationStore) HandleEvents(ctx context.Context, consumer string, hs []cloudcart.HandledEvent, channels []string) (first []bool, err error) {
	err = s.db.Tx(ctx, func(c Conn) error {
		first = make([]bool, len(hs))
		for i, h := range hs {
			if first[i], err = handleEvent(ctx, c, consumer, h.Event, h.Notification, channels); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("handle %d events: %w", len(hs), err)
	}
	return first, nil
}

// handleEvent marks e processed by consumer and, the first time, stores
// its notification n (if any) with a pending delivery per channel.
func handleEvent(ctx context.Context, c Conn, consumer string, e *cloudcart.Event, n *cloudcart.Notification, channels []string) (bool, error) {
	first, err := MarkProcessed(ctx, c, consumer, e)
	if err != nil || !first || n == nil {
		return first, err
	}
	return true, insertNotification(ctx, c, n, channels)
}

// AddNotifications implements cloudcart.NotificationStore.
func (s *NotificationStore) AddNotifications(ctx context.Context, ns []*cloudcart.Notification, channels []string) error {
	return s.db.Tx(ctx, func(c Conn) error {
		for _, n := range ns {
			if err := insertNotification(ctx, c, n, channels); err != nil {
				return err
			}
		}
		return nil
	})
}

func insertNotification(ctx context.Context, c Conn, n *cloudcart.Notification, channels []string) error {
	if n.ID == "" {
		n.ID = cloudcart.NewID("ntf", n.CreatedAt)
	}
	fields, err := json.Marshal(n.Fields)
	if err != nil {
		return err
	}
	tr, err := json.Marshal(n.Trace)
	if err != nil {
		return err
	}
	at := n.CreatedAt.UnixMicro()
	if _, err := c.Exec(ctx, `INSERT INTO notifications (id, kind, source_id, severity, title, body, link, fields, trace, created_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`,
		n.ID, n.Kind, n.SourceID, n.Severity, n.Title, n.Text, n.Link, string(fields), string(tr), at); err != nil {
		return fmt.Errorf("insert notification: %w", err)
	}
	n.Deliveries = n.Deliveries[:0]
	if len(channels) == 0 {
		return nil
	}
	// One statement for all the channels' deliveries: its text depends
	// only on how many channels there are, so it is prepared once.
	args := []any{n.ID, string(cloudcart.DeliveryPending), at}
	for _, ch := range channels {
		args = append(args, ch)
		n.Deliveries = append(n.Deliveries, cloudcart.Delivery{Channel: ch, Status: cloudcart.DeliveryPending})
	}
	if _, err := c.Exec(ctx, insertDeliveries(len(channels)), args...); err != nil {
		return fmt.Errorf("insert deliveries: %w", err)
	}
	return nil
}

// insertDeliveries is the INSERT of n pending deliveries of one
// notification: $1 its id, $2 the status, $3 the first attempt's time,
// $4… the channels.
func insertDeliveries(n int) string {
	var b strings.Builder
	b.WriteString(`INSERT INTO notification_deliveries (notification_id, channel, status, next_attempt_at) VALUES `)
	for i := range n {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString("($1, $" + strconv.Itoa(i+4) + ", $2, $3)")
	}
	return b.String()
}

const notificationColumns = `n.id, n.kind, n.source_id, n.severity, n.title, n.body, n.link, n.fields, n.trace, n.created_at`

func scanNotification(sc interface{ Scan(...any) error }, extra ...any) (*cloudcart.Notification, error) {
	var (
		n             cloudcart.Notification
		fields, trace string
		at            int64
	)
	dest := append([]any{&n.ID, &n.Kind, &n.SourceID, &n.Severity, &n.Title, &n.Text, &n.Link, &fields, &trace, &at}, extra...)
	if err := sc.Scan(dest...); err != nil {
		return nil, err
	}
	if err := json.Unmarshal([]byte(fields), &n.Fields); err != nil {
		return nil, fmt.Errorf("notification %s fields: %w", n.ID, err)
	}
	if err := json.Unmarshal([]byte(trace), &n.Trace); err != nil {
		return nil, fmt.Errorf("notification %s trace: %w", n.ID, err)
	}
	n.CreatedAt = time.UnixMicro(at).UTC()
	return &n, nil
}

// FindNotifications implements cloudcart.NotificationStore. Ids sort by
// creation time, so the newest come first and Before pages backwards.
func (s *NotificationStore) FindNotifications(ctx context.Context, f cloudcart.NotificationFilter) ([]*cloudcart.Notification, error) {
	limit := f.Limit
	if limit <= 0 {
		limit = DefaultPageSize
	}
	limit = min(limit, MaxPageSize)
	var where []string
	var args []any
	if f.Kind != "" {
		args = append(args, f.Kind)
		where = append(where, fmt.Sprintf("n.kind = $%d", len(args)))
	}
	if f.Before != "" {
		args = append(args, f.Before)
		where = append(where, fmt.Sprintf("n.id < $%d", len(args)))
	}
	q := `SELECT ` + notificationColumns + ` FROM notifications n`
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	args = append(args, limit)
	q += fmt.Sprintf(" ORDER BY n.id DESC LIMIT $%d", len(args))
	rows, err := s.db.Conn().Query(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("find notifications: %w", err)
	}
	var out []*cloudcart.Notification
	byID := map[string]*cloudcart.Notification{}
	for rows.Next() {
		n, err := scanNotification(rows)
		if err != nil {
			rows.Close()
			return nil, err
		}
		out = append(out, n)
		byID[n.ID] = n
	}
	rows.Close()
	if err := rows.Err(); err != nil || len(out) == 0 {
		return out, err
	}
	var b strings.Builder
	args = args[:0]
	b.WriteString(`SELECT notification_id, channel, status, attempts, last_error, sent_at FROM notification_deliveries
		WHERE notification_id IN (`)
	for i, n := range out {
		if i > 0 {
			b.WriteString(", ")
		}
		args = append(args, n.ID)
		fmt.Fprintf(&b, "$%d", len(args))
	}
	b.WriteString(") ORDER BY notification_id, channel")
	drows, err := s.db.Conn().Query(ctx, b.String(), args...)
	if err != nil {
		return nil, fmt.Errorf("deliveries: %w", err)
	}
	defer drows.Close()
	for drows.Next() {
		var (
			id     string
			d      cloudcart.Delivery
			status string
			sent   sql.NullInt64
		)
		if err := drows.Scan(&id, &d.Channel, &status, &d.Attempts, &d.LastError, &sent); err != nil {
			return nil, err
		}
		d.Status = cloudcart.DeliveryStatus(status)
		if sent.Valid {
			t := time.UnixMicro(sent.Int64).UTC()
			d.SentAt = &t
		}
		byID[id].Deliveries = append(byID[id].Deliveries, d)
	}
	return out, drows.Err()
}

// DueDeliveries implements cloudcart.NotificationStore.
func (s *NotificationStore) DueDeliveries(ctx context.Context, now time.Time, limit int) ([]cloudcart.DueDelivery, error) {
	if due, err := s.db.idleCheck(ctx, `SELECT 1 FROM notification_deliveries WHERE status = $1 AND next_attempt_at <= $2 LIMIT 1`,
		string(cloudcart.DeliveryPending), now.UnixMicro()); err != nil || !due {
		return nil, err
	}
	rows, err := s.db.Conn().Query(ctx, `SELECT `+notificationColumns+`, d.channel, d.attempts
		FROM notification_deliveries d JOIN notifications n ON n.id = d.notification_id
		WHERE d.status = $1 AND d.next_attempt_at <= $2
		ORDER BY d.next_attempt_at, n.id LIMIT $3`, string(cloudcart.DeliveryPending), now.UnixMicro(), limit)
	if err != nil {
		return nil, fmt.Errorf("due deliveries: %w", err)
	}
	defer rows.Close()
	var out []cloudcart.DueDelivery
	for rows.Next() {
		var d cloudcart.DueDelivery
		n, err := scanNotification(rows, &d.Channel, &d.Attempts)
		if err != nil {
			return nil, err
		}
		d.Notification = n
		out = append(out, d)
	}
	return out, rows.Err()
}

// DeliverySucceeded implements cloudcart.NotificationStore.
func (s *NotificationStore) DeliverySucceeded(ctx context.Context, notificationID, channel string, at time.Time, sent *cloudcart.Event) error {
	return s.DeliveriesSucceeded(ctx, []cloudcart.SentDelivery{{NotificationID: notificationID, Channel: channel, At: at, Sent: sent}})
}

// DeliveriesSucceeded records many successful deliveries, each as
// DeliverySucceeded would, in one transaction (one fsync).
func (s *NotificationStore) DeliveriesSucceeded(ctx context.Context, ds []cloudcart.SentDelivery) error {
	return s.db.Tx(ctx, func(c Conn) error {
		for _, d := range ds {
			res, err := c.Exec(ctx, `UPDATE notification_deliveries SET status = $1, attempts = attempts + 1, last_error = '', sent_at = $2
			WHERE notification_id = $3 AND channel = $4 AND status = $5`,
				string(cloudcart.DeliverySent), d.At.UnixMicro(), d.NotificationID, d.Channel, string(cloudcart.DeliveryPending))
			if err != nil {
				return fmt.Errorf("mark delivery sent: %w", err)
			}
			if n, err := res.RowsAffected(); err != nil {
				return err
			} else if n == 0 {
				continue // already marked: nothing more to record
			}
			if d.Sent != nil {
				if err := AddEvent(ctx, c, d.Sent); err != nil {
					return err
				}
			}
		}
		return nil
	})
}

// DeliveryFailed implements cloudcart.NotificationStore.
func (s *NotificationStore) DeliveryFailed(ctx context.Context, notificationID, channel string, attempts int, next time.Time, final bool, reason string) error {
	status := cloudcart.DeliveryPending
	if final {
		status = cloudcart.DeliveryFailed
	}
	_, err := s.db.Conn().Exec(ctx, `UPDATE notification_deliveries SET status = $1, attempts = $2, next_attempt_at = $3, last_error = $4
		WHERE notification_id = $5 AND channel = $6 AND status = $7`,
		string(status), attempts, next.UnixMicro(), clipError(reason, 500), notificationID, channel, string(cloudcart.DeliveryPending))
	if err != nil {
		return fmt.Errorf("mark delivery failed: %w", err)
	}
	return nil
}

// PruneNotifications deletes notifications (and their deliveries) created
// before the cutoff.
func (s *NotificationStore) PruneNotifications(ctx context.Context, before time.Time) (int64, error) {
	res, err := s.db.Conn().Exec(ctx, `DELETE FROM notifications WHERE created_at < $1`, before.UnixMicro())
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

// PruneHandled forgets which events consumer handled before the cutoff.
func (s *NotificationStore) PruneHandled(ctx context.Context, consumer string, before time.Time) (int64, error) {
	return PruneProcessed(ctx, s.db, consumer, before)
}
