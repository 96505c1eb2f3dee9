package bus

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/cloudcart/cloudcart/internal/cloudcart"
)

// PutChaosSettings makes s the settings every service's chaos middleware
// applies. The chaos service calls it after each change is stored.
func (c *Conn) PutChaosSettings(ctx context.Context, s cloudcart.ChaosSettings) error {
	if err := c.Ready(ctx); err != nil {
		return err
	}
	b, err := json.Marshal(s)
	if err != nil {
		return err
	}
	if _, err := c.kv.Put(ctx, chaosSettingsKey, b); err != nil {
		return fmt.Errorf("bus: put chaos settings: %w", err)
	}
	return nil
}

// WatchChaosSettings calls apply with the current chaos settings, then
// with every change, pushed by JetStream as it happens, until ctx is done.
// When the watch fails (NATS unreachable) it retries; the last settings
// applied stay in force meanwhile. It returns when ctx is done.
func (c *Conn) WatchChaosSettings(ctx context.Context, apply func(cloudcart.ChaosSettings)) error {
	pause := 200 * time.Millisecond
	for ctx.Err() == nil {
		err := c.watchChaos(ctx, apply)
		if ctx.Err() != nil {
			break
		}
		c.log.WarnContext(ctx, "chaos settings watch failed; retrying", "err", err, "in", pause)
		select {
		case <-ctx.Done():
		case <-time.After(pause):
		}
		pause = min(2*pause, 10*time.Second)
	}
	return nil
}

func (c *Conn) watchChaos(ctx context.Context, apply func(cloudcart.ChaosSettings)) error {
	if err := c.Ready(ctx); err != nil {
		return err
	}
	w, err := c.kv.Watch(ctx, chaosSettingsKey)
	if err != nil {
		return err
	}
	defer func() { _ = w.Stop() }()
	for {
		select {
		case <-ctx.Done():
			return nil
		case e, ok := <-w.Updates():
			if !ok {
				return fmt.Errorf("bus: chaos settings watch closed")
			}
			if e == nil {
				continue // the initial values have been delivered
			}
			if e.Operation() != jetstream.KeyValuePut {
				apply(cloudcart.ChaosSettings{}) // deleted: no chaos
				continue
			}
			var s cloudcart.ChaosSettings
			if err := json.Unmarshal(e.Value(), &s); err != nil {
				c.log.ErrorContext(ctx, "chaos settings do not decode; keeping the previous ones", "err", err)
				continue
			}
			apply(s)
		}
	}
}
