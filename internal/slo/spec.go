package slo

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"regexp"
	"time"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql/parser"
	"go.yaml.in/yaml/v3"
)

// spec is the document in deploy/slo/slos.yml.
type spec struct {
	// Period is the SLO period (compliance window) the budget is spent over.
	Period         model.Duration  `yaml:"period"`
	BurnRateAlerts []burnRateAlert `yaml:"burn_rate_alerts"`
	// MinBadEvents, when positive, is the least number of bad events a
	// burn-rate alert's long window must hold: at low traffic one failure
	// among a handful of events is a high ratio but no evidence of a burn.
	MinBadEvents int `yaml:"min_bad_events"`
	// MinWindowCoverage, when positive, is the least share of a burn-rate
	// alert's long window that must hold data, measured against the
	// shortest long window (whose alert is the fast burn and needs no
	// guard): the long window must hold at least this share of the scrapes
	// of the SLO's job it would hold at the shortest one's pace. A fresh
	// Prometheus then does not judge a 3-day window on minutes of data.
	MinWindowCoverage float64     `yaml:"min_window_coverage"`
	SLOs              []objective `yaml:"slos"`
}

// burnRateAlert is one row of the SRE workbook's multiwindow,
// multi-burn-rate table: alert with Severity when the error ratio is above
// BurnRate times the error budget over both windows.
type burnRateAlert struct {
	Severity    string         `yaml:"severity"`
	BurnRate    float64        `yaml:"burn_rate"`
	LongWindow  model.Duration `yaml:"long_window"`
	ShortWindow model.Duration `yaml:"short_window"`
}

// objective is one SLO. Exactly one of Availability and Latency is set.
type objective struct {
	Name        string `yaml:"name"`
	Job         string `yaml:"job"`
	Description string `yaml:"description"`
	// Objective is the target share of good events, in percent.
	Objective    float64          `yaml:"objective"`
	Availability *availabilitySLI `yaml:"availability"`
	Latency      *latencySLI      `yaml:"latency"`
}

// availabilitySLI counts bad events directly: Errors / Total.
type availabilitySLI struct {
	Errors string `yaml:"errors"` // counter selector of failed events
	Total  string `yaml:"total"`  // counter selector of all events
}

// latencySLI counts events slower than a classic histogram bucket boundary:
// 1 - bucket{le=threshold} / count.
type latencySLI struct {
	Histogram        string  `yaml:"histogram"` // selector of the histogram's base name
	ThresholdSeconds float64 `yaml:"threshold_seconds"`
}

var (
	validSeverities = map[string]bool{"page": true, "ticket": true, "info": true}
	validName       = regexp.MustCompile(`^[a-z][a-z0-9-]*$`)
	promqlParser    = parser.NewParser(parser.Options{})
)

// parseSpec decodes and validates a spec. Unknown fields are errors, so a
// typo cannot silently drop an SLO.
func parseSpec(b []byte) (*spec, error) {
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	var s spec
	if err := dec.Decode(&s); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, errors.New("empty spec")
		}
		return nil, fmt.Errorf("decode spec: %w", err)
	}
	if err := s.validate(); err != nil {
		return nil, err
	}
	return &s, nil
}

func (s *spec) validate() error {
	var errs []error
	period := time.Duration(s.Period)
	if period <= 0 {
		errs = append(errs, errors.New("period: must be set and positive"))
	}
	if len(s.BurnRateAlerts) == 0 {
		errs = append(errs, errors.New("burn_rate_alerts: at least one is needed"))
	}
	for i, a := range s.BurnRateAlerts {
		at := fmt.Sprintf("burn_rate_alerts[%d]", i)
		if !validSeverities[a.Severity] {
			errs = append(errs, fmt.Errorf("%s: severity %q is not one of page, ticket, info", at, a.Severity))
		}
		if a.BurnRate <= 0 {
			errs = append(errs, fmt.Errorf("%s: burn_rate must be positive", at))
		}
		long, short := time.Duration(a.LongWindow), time.Duration(a.ShortWindow)
		if short <= 0 || long <= 0 {
			errs = append(errs, fmt.Errorf("%s: long_window and short_window must be set and positive", at))
		} else if short >= long {
			errs = append(errs, fmt.Errorf("%s: short_window %s must be shorter than long_window %s", at, a.ShortWindow, a.LongWindow))
		}
		if period > 0 && long > period {
			errs = append(errs, fmt.Errorf("%s: long_window %s is longer than the period %s", at, a.LongWindow, s.Period))
		}
	}
	if s.MinBadEvents < 0 {
		errs = append(errs, errors.New("min_bad_events: must not be negative"))
	}
	if s.MinWindowCoverage < 0 || s.MinWindowCoverage > 1 {
		errs = append(errs, errors.New("min_window_coverage: must be from 0 to 1"))
	}
	if len(s.SLOs) == 0 {
		errs = append(errs, errors.New("slos: at least one is needed"))
	}
	seen := map[string]bool{}
	for i, o := range s.SLOs {
		at := fmt.Sprintf("slos[%d] (%s)", i, o.Name)
		if !validName.MatchString(o.Name) {
			errs = append(errs, fmt.Errorf("%s: name must match %s", at, validName))
		}
		if seen[o.Name] {
			errs = append(errs, fmt.Errorf("%s: duplicate name", at))
		}
		seen[o.Name] = true
		if !validName.MatchString(o.Job) {
			errs = append(errs, fmt.Errorf("%s: job must match %s", at, validName))
		}
		if o.Objective <= 0 || o.Objective >= 100 {
			errs = append(errs, fmt.Errorf("%s: objective %v must be a percentage strictly between 0 and 100", at, o.Objective))
		} else {
			budget := o.budget()
			for j, a := range s.BurnRateAlerts {
				if a.BurnRate*budget >= 1 {
					errs = append(errs, fmt.Errorf("%s: burn_rate_alerts[%d]: an error ratio above %v x %v is impossible, the alert could never fire", at, j, a.BurnRate, budget))
				}
			}
		}
		switch {
		case (o.Availability == nil) == (o.Latency == nil):
			errs = append(errs, fmt.Errorf("%s: set exactly one of availability and latency", at))
		case o.Availability != nil:
			if _, err := parseSelector(o.Availability.Errors); err != nil {
				errs = append(errs, fmt.Errorf("%s: availability.errors: %w", at, err))
			}
			if _, err := parseSelector(o.Availability.Total); err != nil {
				errs = append(errs, fmt.Errorf("%s: availability.total: %w", at, err))
			}
		default:
			sel, err := parseSelector(o.Latency.Histogram)
			if err != nil {
				errs = append(errs, fmt.Errorf("%s: latency.histogram: %w", at, err))
			} else if sel.has(labels.BucketLabel) {
				errs = append(errs, fmt.Errorf("%s: latency.histogram: must not match on %q, threshold_seconds picks the bucket", at, labels.BucketLabel))
			}
			if o.Latency.ThresholdSeconds <= 0 {
				errs = append(errs, fmt.Errorf("%s: latency.threshold_seconds must be positive", at))
			}
		}
	}
	return errors.Join(errs...)
}

// budget is the error budget as a ratio, e.g. 0.005 for a 99.5% objective.
func (o objective) budget() float64 {
	return cleanFloat((100 - o.Objective) / 100)
}

// selector is a parsed instant-vector selector with a plain metric name.
type selector struct {
	name     string
	matchers []*labels.Matcher // without the __name__ matcher, in spec order
}

func parseSelector(s string) (selector, error) {
	if s == "" {
		return selector{}, errors.New("selector is empty")
	}
	ms, err := promqlParser.ParseMetricSelector(s)
	if err != nil {
		return selector{}, fmt.Errorf("selector %q: %w", s, err)
	}
	var sel selector
	for _, m := range ms {
		if m.Name != model.MetricNameLabel {
			if !model.LegacyValidation.IsValidLabelName(m.Name) {
				return selector{}, fmt.Errorf("selector %q: label name %q needs UTF-8 quoting, which Prometheus 2.x cannot load", s, m.Name)
			}
			sel.matchers = append(sel.matchers, m)
			continue
		}
		if m.Type != labels.MatchEqual || !model.LegacyValidation.IsValidMetricName(m.Value) {
			return selector{}, fmt.Errorf("selector %q: needs a plain metric name", s)
		}
		sel.name = m.Value
	}
	if sel.name == "" {
		return selector{}, fmt.Errorf("selector %q: needs a metric name", s)
	}
	return sel, nil
}

func (s selector) has(label string) bool {
	for _, m := range s.matchers {
		if m.Name == label {
			return true
		}
	}
	return false
}

// render prints the selector for metric name (its own name with suffix) and
// the extra matchers.
func (s selector) render(suffix string, extra ...*labels.Matcher) string {
	ms := append(append([]*labels.Matcher(nil), s.matchers...), extra...)
	var b bytes.Buffer
	b.WriteString(s.name + suffix)
	if len(ms) == 0 {
		return b.String()
	}
	b.WriteByte('{')
	for i, m := range ms {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(m.String())
	}
	b.WriteByte('}')
	return b.String()
}
