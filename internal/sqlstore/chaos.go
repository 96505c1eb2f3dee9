package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/cloudcart/cloudcart/internal/cloudcart"
)

var chaosMigrations = []Migration{
	{Version: 1, SQL: `CREATE TABLE chaos_settings (
		id INTEGER PRIMARY KEY CHECK (id = 1),
		settings TEXT NOT NULL,
		version BIGINT NOT NULL,
		updated_at BIGINT NOT NULL)`},
}

// ChaosStore persists the chaos service's settings: one row, replaced on
// every change together with the chaos.injected events describing it.
type ChaosStore struct{ db *DB }

// NewChaosStore migrates the chaos and outbox tables.
func NewChaosStore(ctx context.Context, db *DB) (*ChaosStore, error) {
	if err := db.Migrate(ctx, "chaos", chaosMigrations); err != nil {
		return nil, err
	}
	if err := MigrateEvents(ctx, db); err != nil {
		return nil, err
	}
	return &ChaosStore{db: db}, nil
}

// LoadChaosSettings returns the stored settings, or the zero settings
// (chaos off, version 0) before the first change.
func (s *ChaosStore) LoadChaosSettings(ctx context.Context) (cloudcart.ChaosSettings, error) {
	var (
		raw     string
		version int64
		out     cloudcart.ChaosSettings
	)
	err := s.db.Conn().QueryRow(ctx, `SELECT settings, version FROM chaos_settings WHERE id = 1`, nil, &raw, &version)
	if errors.Is(err, sql.ErrNoRows) {
		return out, nil
	}
	if err != nil {
		return out, fmt.Errorf("load chaos settings: %w", err)
	}
	if err := json.Unmarshal([]byte(raw), &out); err != nil {
		return out, fmt.Errorf("chaos settings do not decode: %w", err)
	}
	out.Version = version
	return out, nil
}

// SaveChaosSettings stores next if the stored version is still prev (else
// ECONFLICT: someone changed the settings meanwhile) and adds events to the
// outbox in the same transaction.
func (s *ChaosStore) SaveChaosSettings(ctx context.Context, prev int64, next cloudcart.ChaosSettings, events ...*cloudcart.Event) error {
	b, err := json.Marshal(next)
	if err != nil {
		return err
	}
	return s.db.Tx(ctx, func(c Conn) error {
		var res sql.Result
		var err error
		if prev == 0 {
			res, err = c.Exec(ctx, `INSERT INTO chaos_settings (id, settings, version, updated_at) VALUES (1, $1, $2, $3)
				ON CONFLICT (id) DO NOTHING`, string(b), next.Version, next.UpdatedAt.UnixMicro())
		} else {
			res, err = c.Exec(ctx, `UPDATE chaos_settings SET settings = $1, version = $2, updated_at = $3 WHERE id = 1 AND version = $4`,
				string(b), next.Version, next.UpdatedAt.UnixMicro(), prev)
		}
		if err != nil {
			return fmt.Errorf("save chaos settings: %w", err)
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n != 1 {
			return cloudcart.Errorf(cloudcart.ECONFLICT, "chaos settings changed meanwhile (version %d is no longer current); read them again", prev)
		}
		for _, e := range events {
			if err := AddEvent(ctx, c, e); err != nil {
				return err
			}
		}
		return nil
	})
}
