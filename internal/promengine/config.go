package promengine

import (
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"path/filepath"
	"time"

	"github.com/alecthomas/units"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/config"
	"github.com/prometheus/prometheus/discovery"
	"github.com/prometheus/prometheus/rules"

	// Service discovery beyond static_configs: the same "minimum" set the
	// upstream binary always compiles in (file_sd_configs, http_sd_configs).
	_ "github.com/prometheus/prometheus/discovery/http"
)

// defaultRetention is Prometheus's default when neither a time nor a size
// retention is configured.
const defaultRetention = 15 * 24 * time.Hour

// loadConfig parses opts.Config the way `prometheus --config.file` does and
// applies the engine options on top:
//
//   - relative paths (rule_files, file_sd, TLS files) resolve against the
//     directory of opts.ConfigFile, as upstream's config.LoadFile does;
//   - retention: a storage.tsdb.retention section in the file wins (upstream
//     3.x semantics); otherwise opts.RetentionTime/RetentionSize; otherwise 15d;
//   - exemplar storage is always on (storage.exemplars.max_exemplars defaults
//     to 100000);
//   - the demo-profile interval overrides;
//   - opts.AlertmanagerURL becomes one more alerting.alertmanagers entry.
func loadConfig(opts *Options, logger *slog.Logger) (*config.Config, error) {
	cfg, err := config.Load(string(opts.Config), logger)
	if err != nil {
		return nil, fmt.Errorf("parse prometheus config: %w", err)
	}
	if opts.ConfigFile != "" {
		abs, err := filepath.Abs(opts.ConfigFile)
		if err != nil {
			return nil, fmt.Errorf("resolve config file path: %w", err)
		}
		cfg.SetDirectory(filepath.Dir(abs))
	}

	applyRetention(cfg, opts)

	if cfg.StorageConfig.ExemplarsConfig == nil {
		cfg.StorageConfig.ExemplarsConfig = &config.ExemplarsConfig{MaxExemplars: config.DefaultExemplarsConfig.MaxExemplars}
	}

	if err := applyIntervals(cfg, opts.ScrapeInterval, opts.EvalInterval); err != nil {
		return nil, err
	}

	if opts.AlertmanagerURL != "" {
		am, err := alertmanagerConfig(opts.AlertmanagerURL)
		if err != nil {
			return nil, err
		}
		cfg.AlertingConfig.AlertmanagerConfigs = append(cfg.AlertingConfig.AlertmanagerConfigs, am)
	}
	return cfg, nil
}

func applyRetention(cfg *config.Config, opts *Options) {
	if cfg.StorageConfig.TSDBConfig == nil {
		cfg.StorageConfig.TSDBConfig = &config.TSDBConfig{}
	}
	r := cfg.StorageConfig.TSDBConfig.Retention
	if r == nil {
		r = &config.TSDBRetentionConfig{}
		cfg.StorageConfig.TSDBConfig.Retention = r
	}
	if r.Time != 0 || r.Size != 0 || r.Percentage != 0 {
		return // The file says what it wants.
	}
	r.Time = model.Duration(opts.RetentionTime)
	r.Size = units.Base2Bytes(opts.RetentionSize)
	if r.Time == 0 && r.Size == 0 {
		r.Time = model.Duration(defaultRetention)
	}
}

// applyIntervals is the demo profile's interval override. A non-zero scrape
// interval replaces the global and every job's scrape_interval (a timeout
// longer than the new interval is cut to it); a non-zero evaluation interval
// replaces the global evaluation_interval (rule groups with their own
// interval are handled by the rule loader).
func applyIntervals(cfg *config.Config, scrape, eval time.Duration) error {
	if scrape < 0 || eval < 0 {
		return errors.New("scrape and evaluation interval overrides must not be negative")
	}
	if scrape > 0 {
		d := model.Duration(scrape)
		cfg.GlobalConfig.ScrapeInterval = d
		cfg.GlobalConfig.ScrapeTimeout = min(cfg.GlobalConfig.ScrapeTimeout, d)
		for _, sc := range cfg.ScrapeConfigs {
			sc.ScrapeInterval = d
			sc.ScrapeTimeout = min(sc.ScrapeTimeout, d)
		}
	}
	if eval > 0 {
		cfg.GlobalConfig.EvaluationInterval = model.Duration(eval)
	}
	return nil
}

// alertmanagerConfig is what this alerting.alertmanagers entry would parse to:
//
//	scheme: <scheme>
//	path_prefix: <path>
//	api_version: v2
//	static_configs: [{targets: [<host:port>]}]
func alertmanagerConfig(raw string) (*config.AlertmanagerConfig, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("alertmanager URL: %w", err)
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("alertmanager URL %q: want http(s)://host:port[/prefix]", raw)
	}
	am := config.DefaultAlertmanagerConfig
	am.Scheme = u.Scheme
	am.PathPrefix = u.Path
	am.APIVersion = config.AlertmanagerAPIVersionV2
	am.ServiceDiscoveryConfigs = discovery.Configs{
		discovery.StaticConfig{{
			Targets: []model.LabelSet{{model.AddressLabel: model.LabelValue(u.Host)}},
			Source:  "promengine-alertmanager-url",
		}},
	}
	if err := am.HTTPClientConfig.Validate(); err != nil {
		return nil, fmt.Errorf("alertmanager URL: %w", err)
	}
	return &am, nil
}

// ruleFiles expands the rule_files globs, as upstream's "rules" reloader does.
func ruleFiles(cfg *config.Config) ([]string, error) {
	var files []string
	for _, pat := range cfg.RuleFiles {
		fs, err := filepath.Glob(pat)
		if err != nil {
			return nil, fmt.Errorf("rule_files pattern %q: %w", pat, err)
		}
		files = append(files, fs...)
	}
	return files, nil
}

// checkRuleFiles parses every rule file once so that a broken file fails New
// instead of the first evaluation, like `prometheus` refusing to start.
func checkRuleFiles(files []string, loader rules.GroupLoader, scheme model.ValidationScheme) error {
	for _, f := range files {
		groups, errs := loader.Load(f, false, scheme)
		if len(errs) > 0 {
			return fmt.Errorf("rule file %s: %w", f, errors.Join(errs...))
		}
		for _, g := range groups.Groups {
			for _, r := range g.Rules {
				if _, err := loader.Parse(r.Expr); err != nil {
					return fmt.Errorf("rule file %s, group %q: %w", f, g.Name, err)
				}
			}
		}
	}
	return nil
}
