package promengine

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/config"
	"github.com/prometheus/prometheus/discovery"
	"github.com/prometheus/prometheus/scrape"
	"github.com/prometheus/prometheus/storage"
	"github.com/prometheus/prometheus/util/features"
	"github.com/prometheus/prometheus/util/logging"
)

// discoveryUpdate is how quickly discovered targets reach the scrape and
// notifier managers. Upstream uses 5s (good for thousands of targets); a
// demo fleet wants its first scrape within a second of start.
const discoveryUpdate = 200 * time.Millisecond

// newSDMetrics registers the service-discovery metrics shared by both
// discovery managers, as cmd/prometheus does once per process.
func newSDMetrics(reg prometheus.Registerer) (*discovery.SDMetrics, error) {
	m, err := discovery.CreateAndRegisterSDMetrics(reg)
	if err != nil {
		return nil, fmt.Errorf("service discovery metrics: %w", err)
	}
	return m, nil
}

// newDiscoveryManager builds a discovery manager named "scrape" or "notify".
// It runs until ctx is cancelled.
func newDiscoveryManager(ctx context.Context, name string, logger *slog.Logger, reg prometheus.Registerer, sd *discovery.SDMetrics, fr features.Collector) (*discovery.Manager, error) {
	m := discovery.NewManager(ctx, logger.With("component", "discovery manager "+name), reg, sd,
		discovery.Name(name),
		discovery.Updatert(discoveryUpdate),
		discovery.FeatureRegistry(fr),
	)
	if m == nil {
		// Upstream logs the reason and returns nil.
		return nil, fmt.Errorf("create %s discovery manager", name)
	}
	return m, nil
}

// newScrapeManager builds the scrape manager writing into app (the TSDB's
// AppenderV2, as cmd/prometheus passes it). Scrape protocols, exemplars,
// honor_labels, relabelling and the rest come from the config file.
//
// Every target is scraped as soon as discovery hands it over (the first
// scrape within about 0.3 s of start), then every interval from there.
// Upstream waits a per-target jitter offset first, anywhere in [0, interval)
// (up to 15 s on the production profile), so that thousands of targets are
// not scraped in the same instant; its switch for that (skipJitterOffsetting)
// is unexported. InitialScrapeOffset is added to the jitter offset, and a
// scrape loop waits only when the sum is positive, so an initial offset of
// minus the longest scrape interval cancels every target's offset. A fleet
// of a dozen targets does not need them spread; every target's
// samples from the first second on do matter (dashboards, `up`, the tests).
func newScrapeManager(cfg *config.Config, logger *slog.Logger, app storage.AppendableV2, reg prometheus.Registerer, fr features.Collector) (*scrape.Manager, error) {
	longest, err := longestScrapeInterval(cfg)
	if err != nil {
		return nil, err
	}
	o := &scrape.Options{
		DiscoveryReloadInterval:  model.Duration(discoveryUpdate),
		DiscoveryReloadOnStartup: true,
		InitialScrapeOffset:      -longest,
		FeatureRegistry:          fr,
	}
	m, err := scrape.NewManager(o, logger.With("component", "scrape manager"), logging.NewJSONFileLogger, nil, app, reg)
	if err != nil {
		return nil, fmt.Errorf("create scrape manager: %w", err)
	}
	return m, nil
}

// longestScrapeInterval is the longest scrape_interval of cfg's jobs, the
// bound of upstream's jitter offset (newScrapeManager).
func longestScrapeInterval(cfg *config.Config) (time.Duration, error) {
	scfgs, err := cfg.GetScrapeConfigs()
	if err != nil {
		return 0, fmt.Errorf("scrape configs: %w", err)
	}
	longest := time.Duration(cfg.GlobalConfig.ScrapeInterval)
	for _, sc := range scfgs {
		longest = max(longest, time.Duration(sc.ScrapeInterval))
	}
	return longest, nil
}

// scrapeSDConfigs is the discovery input for the scrape manager: one
// provider set per job, including jobs from scrape_config_files.
func scrapeSDConfigs(cfg *config.Config) (map[string]discovery.Configs, error) {
	scfgs, err := cfg.GetScrapeConfigs()
	if err != nil {
		return nil, err
	}
	c := make(map[string]discovery.Configs, len(scfgs))
	for _, sc := range scfgs {
		c[sc.JobName] = sc.ServiceDiscoveryConfigs
	}
	return c, nil
}

// notifySDConfigs is the discovery input for the notifier manager.
func notifySDConfigs(cfg *config.Config) map[string]discovery.Configs {
	c := make(map[string]discovery.Configs)
	for k, v := range cfg.AlertingConfig.AlertmanagerConfigs.ToMap() {
		c[k] = v.ServiceDiscoveryConfigs
	}
	return c
}
