package promengine

import (
	"fmt"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/prometheus/tsdb"
	"github.com/prometheus/prometheus/util/compression"
	"github.com/prometheus/prometheus/util/features"
)

// maxExemplars sizes the in-memory exemplar ring when the config does not
// (storage.exemplars.max_exemplars); the same number upstream defaults to.
const maxExemplars = 100000

// tsdbSettings is what the engine decides about storage; openTSDB turns it
// into upstream's tsdb.Options.
type tsdbSettings struct {
	dir       string
	retention time.Duration
	maxBytes  int64
	features  features.Collector
}

// openTSDB opens (and, on restart, replays the WAL of) the local TSDB the way
// cmd/prometheus does with its default flags: snappy WAL compression,
// exemplar storage on, no out-of-order window, max block duration 10% of
// retention (capped at 31d).
func openTSDB(s tsdbSettings, logger *slog.Logger, reg prometheus.Registerer) (*tsdb.DB, *tsdb.DBStats, error) {
	o := tsdb.DefaultOptions()
	o.RetentionDuration = s.retention.Milliseconds()
	o.MaxBytes = s.maxBytes
	o.WALCompression = compression.Snappy
	o.EnableExemplarStorage = true
	o.MaxExemplars = maxExemplars
	o.OutOfOrderTimeWindow = 0
	o.FeatureRegistry = s.features

	maxBlock := 31 * 24 * time.Hour
	if s.retention > 0 && s.retention/10 < maxBlock {
		maxBlock = s.retention / 10
	}
	o.MaxBlockDuration = maxBlock.Milliseconds()

	stats := tsdb.NewDBStats()
	db, err := tsdb.Open(s.dir, logger.With("component", "tsdb"), reg, o, stats)
	if err != nil {
		return nil, nil, fmt.Errorf("open tsdb in %s: %w", s.dir, err)
	}
	return db, stats, nil
}

// tsdbAdmin gives web/api/v1 the TSDBAdminStats view of the DB (snapshot,
// delete, head stats, WAL replay status), as cmd/prometheus's readyStorage does.
type tsdbAdmin struct {
	*tsdb.DB
	stats *tsdb.DBStats
}

// Stats implements api_v1.TSDBAdminStats.
func (a tsdbAdmin) Stats(statsByLabelName string, limit int) (*tsdb.Stats, error) {
	return a.Head().Stats(statsByLabelName, limit), nil
}

// WALReplayStatus implements api_v1.TSDBAdminStats.
func (a tsdbAdmin) WALReplayStatus() (tsdb.WALReplayStatus, error) {
	return a.stats.Head.WALReplayStatus.GetWALReplayStatus(), nil
}

// BlockMetas implements api_v1.TSDBAdminStats.
func (a tsdbAdmin) BlockMetas() ([]tsdb.BlockMeta, error) {
	return a.DB.BlockMetas(), nil
}
