// Package bus is CloudCart's event bus on NATS JetStream: the real
// nats-server embedded in the process by default (JetStream file store
// under the data directory) or an external NATS by URL, with the same
// client code either way.
//
// Every event type has its own subject, cloudcart.events.<type>, in one
// stream; messages that cannot be handled go to cloudcart.dlq.<type> in a
// second stream. A publisher sets the event id as Nats-Msg-Id, so the
// broker stores an event once within its deduplication window; consumers
// deduplicate by event id beyond it. The chaos settings travel in a
// JetStream key-value bucket that every service watches.
package bus

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/cloudcart/cloudcart/internal/cloudcart"
)

// Stream, subject and bucket names.
const (
	EventsStream      = "CLOUDCART_EVENTS"
	DeadLetterStream  = "CLOUDCART_DLQ"
	SubjectPrefix     = "cloudcart.events."
	DeadLetterPrefix  = "cloudcart.dlq."
	ChaosBucket       = "cloudcart_chaos"
	chaosSettingsKey  = "settings"
	EventsMaxAge      = 7 * 24 * time.Hour
	DuplicateWindow   = 10 * time.Minute
	deadLetterMaxAge  = 30 * 24 * time.Hour
	defaultAPITimeout = 10 * time.Second
)

// Subject is the subject events of type t are published on.
func Subject(t cloudcart.EventType) string { return SubjectPrefix + string(t) }

// DeadLetterSubject is where messages of subject go when they cannot be
// handled.
func DeadLetterSubject(subject string) string {
	return DeadLetterPrefix + strings.TrimPrefix(subject, SubjectPrefix)
}

// ConnectOptions configure Connect.
type ConnectOptions struct {
	// URL of an external NATS, e.g. nats://127.0.0.1:4222. When empty the
	// connection is in-process to Server.
	URL    string
	Server *Server
	Name   string // connection name the server shows, e.g. "order-service"
	Logger *slog.Logger
}

// Conn is one service's connection to the bus. It reconnects on its own;
// streams are created (or updated) on first use, so a service starts even
// while an external NATS is still coming up.
type Conn struct {
	nc      *nats.Conn
	js      jetstream.JetStream
	log     *slog.Logger
	closed  chan struct{}
	closing *atomic.Bool

	mu    sync.Mutex
	ready bool
	kv    jetstream.KeyValue // the chaos bucket, once ready
}

// Connect opens a connection.
func Connect(o ConnectOptions) (*Conn, error) {
	log := o.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	log = log.With("component", "bus")
	closed := make(chan struct{})
	closing := new(atomic.Bool)
	opts := []nats.Option{
		nats.ClosedHandler(func(*nats.Conn) { close(closed) }),
		nats.Name(o.Name),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(time.Second),
		nats.RetryOnFailedConnect(true),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			if err != nil && !closing.Load() {
				log.Warn("disconnected from NATS", "err", err)
			}
		}),
		nats.ReconnectHandler(func(nc *nats.Conn) { log.Info("reconnected to NATS", "url", nc.ConnectedUrlRedacted()) }),
	}
	url := o.URL
	switch {
	case url != "":
	case o.Server != nil:
		opts = append(opts, nats.InProcessServer(o.Server.srv))
	default:
		return nil, errors.New("bus: neither a NATS URL nor an embedded server")
	}
	nc, err := nats.Connect(url, opts...)
	if err != nil {
		return nil, fmt.Errorf("bus: connect: %w", err)
	}
	js, err := jetstream.New(nc, jetstream.WithDefaultTimeout(defaultAPITimeout))
	if err != nil {
		nc.Close()
		return nil, fmt.Errorf("bus: jetstream: %w", err)
	}
	return &Conn{nc: nc, js: js, log: log, closed: closed, closing: closing}, nil
}

// JetStream is the connection's JetStream context.
func (c *Conn) JetStream() jetstream.JetStream { return c.js }

// NATS is the underlying connection.
func (c *Conn) NATS() *nats.Conn { return c.nc }

// Close drains the connection: pending publishes are flushed first.
func (c *Conn) Close() error {
	c.closing.Store(true)
	err := c.nc.Drain()
	if err == nil {
		select {
		case <-c.closed:
		case <-time.After(5 * time.Second):
		}
	}
	c.nc.Close()
	if errors.Is(err, nats.ErrConnectionClosed) {
		err = nil
	}
	return err
}

// Ping reports whether the connection is up; it is a readiness check.
func (c *Conn) Ping(ctx context.Context) error {
	if !c.nc.IsConnected() {
		return fmt.Errorf("bus: not connected to NATS (%s)", c.nc.Status())
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, 2*time.Second)
		defer cancel()
	}
	return c.nc.FlushWithContext(ctx)
}

// Ready creates the streams and the chaos bucket, or updates a stream
// whose configuration an older version left different, once per
// connection. Every operation calls it, so the first use after NATS comes
// up sets the bus up. A stream already configured as wanted is left
// alone: an update races with consumers being created (nats-server's file
// store), and every service of a fleet calls Ready at start.
func (c *Conn) Ready(ctx context.Context) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.ready {
		return nil
	}
	for _, cfg := range []jetstream.StreamConfig{{
		Name:        EventsStream,
		Description: "CloudCart domain events, one subject per event type",
		Subjects:    []string{SubjectPrefix + ">"},
		Storage:     jetstream.FileStorage,
		Retention:   jetstream.LimitsPolicy,
		Discard:     jetstream.DiscardOld,
		MaxAge:      EventsMaxAge,
		Duplicates:  DuplicateWindow,
	}, {
		Name:        DeadLetterStream,
		Description: "CloudCart events no consumer could handle",
		Subjects:    []string{DeadLetterPrefix + ">"},
		Storage:     jetstream.FileStorage,
		Retention:   jetstream.LimitsPolicy,
		Discard:     jetstream.DiscardOld,
		MaxAge:      deadLetterMaxAge,
		Duplicates:  2 * time.Minute,
	}} {
		if err := c.ensureStream(ctx, cfg); err != nil {
			return fmt.Errorf("bus: stream %s: %w", cfg.Name, err)
		}
	}
	kv, err := c.js.KeyValue(ctx, ChaosBucket)
	if errors.Is(err, jetstream.ErrBucketNotFound) {
		kv, err = c.js.CreateKeyValue(ctx, jetstream.KeyValueConfig{
			Bucket:      ChaosBucket,
			Description: "chaos settings, written by chaos-service, watched by every service",
			History:     1,
			Storage:     jetstream.FileStorage,
		})
		if errors.Is(err, jetstream.ErrBucketExists) { // another service was first
			kv, err = c.js.KeyValue(ctx, ChaosBucket)
		}
	}
	if err != nil {
		return fmt.Errorf("bus: bucket %s: %w", ChaosBucket, err)
	}
	c.kv = kv
	c.ready = true
	return nil
}

func (c *Conn) ensureStream(ctx context.Context, want jetstream.StreamConfig) error {
	s, err := c.js.Stream(ctx, want.Name)
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		_, err = c.js.CreateStream(ctx, want)
		if errors.Is(err, jetstream.ErrStreamNameAlreadyInUse) { // another service was first
			return nil
		}
		return err
	}
	if err != nil {
		return err
	}
	got := s.CachedInfo().Config
	if slices.Equal(got.Subjects, want.Subjects) && got.MaxAge == want.MaxAge && got.Duplicates == want.Duplicates &&
		got.Discard == want.Discard && got.Description == want.Description {
		return nil
	}
	_, err = c.js.UpdateStream(ctx, want)
	return err
}

// headerCarrier adapts NATS headers for trace-context propagation. Keys
// are matched case-insensitively, as in HTTP.
type headerCarrier nats.Header

func (h headerCarrier) Get(key string) string {
	if v := nats.Header(h).Get(key); v != "" {
		return v
	}
	for k, v := range h {
		if strings.EqualFold(k, key) && len(v) > 0 {
			return v[0]
		}
	}
	return ""
}

func (h headerCarrier) Set(key, value string) { nats.Header(h).Set(key, value) }

func (h headerCarrier) Keys() []string {
	out := make([]string, 0, len(h))
	for k := range h {
		out = append(out, k)
	}
	return out
}
