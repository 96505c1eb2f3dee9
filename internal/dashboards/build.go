package dashboards

//lint:file-ignore SA1019 the classic dashboard schema is the one file provisioning loads; see dashboards.go

import (
	"math"

	"github.com/grafana/grafana-foundation-sdk/go/bargauge"
	"github.com/grafana/grafana-foundation-sdk/go/cog"
	"github.com/grafana/grafana-foundation-sdk/go/cog/variants"
	"github.com/grafana/grafana-foundation-sdk/go/common"
	"github.com/grafana/grafana-foundation-sdk/go/dashboard"
	"github.com/grafana/grafana-foundation-sdk/go/prometheus"
	"github.com/grafana/grafana-foundation-sdk/go/stat"
	"github.com/grafana/grafana-foundation-sdk/go/timeseries"
)

// The definitions in this package are written in a small vocabulary of
// our own (board, row, panel, query) that build() turns into the SDK's
// builders: a dashboard then reads as the list of its queries, and every
// panel gets the same datasource, legend and threshold conventions.

// board is one dashboard's definition.
type board struct {
	uid, title, file, description string
	tags                          []string
	vars                          []variable
	rows                          []row
	from                          string // time range start, e.g. "now-30m"
}

// variable is a template variable besides the datasource: a multi-value
// query variable over one label, "All" meaning the regex ".*". Queries
// select with label=~"$name".
type variable struct {
	name, label string
	metric      string // label_values(metric, label) lists the options
	labelName   string
}

type row struct {
	title  string
	panels []panel
}

type kind int

const (
	kindTimeSeries kind = iota
	kindStat
	kindBarGauge
)

// panel is one visualisation. Thresholds are the steps above the base
// colour (green unless base is set).
type panel struct {
	kind          kind
	title, desc   string
	unit          string
	queries       []query
	base          string
	steps         []step
	width, height uint32
	min, max      *float64
	decimals      *float64
	mappings      []mapping
	stacked       bool
	noValue       string // shown instead of "No data" when a query answers nothing
}

// query is one PromQL target and the legend of its series.
type query struct {
	expr, legend string
}

// step is a threshold: at value and above, colour.
type step struct {
	value float64
	color string
}

// mapping shows a value as text in a colour (e.g. 0 → DOWN).
type mapping struct {
	value, text, color string
}

func q(expr, legend string) query { return query{expr: expr, legend: legend} }

func timeSeries(title, unit string, qs ...query) panel {
	return panel{kind: kindTimeSeries, title: title, unit: unit, queries: qs, width: 8, height: 8}
}

func statPanel(title, unit string, qs ...query) panel {
	return panel{kind: kindStat, title: title, unit: unit, queries: qs, width: 6, height: 5}
}

func barGauge(title, unit string, qs ...query) panel {
	return panel{kind: kindBarGauge, title: title, unit: unit, queries: qs, width: 8, height: 8}
}

func (p panel) describe(d string) panel         { p.desc = d; return p }
func (p panel) size(w, h uint32) panel          { p.width, p.height = w, h; return p }
func (p panel) thresholds(s ...step) panel      { p.steps = s; return p }
func (p panel) baseColor(c string) panel        { p.base = c; return p }
func (p panel) withMin(v float64) panel         { p.min = &v; return p }
func (p panel) withMax(v float64) panel         { p.max = &v; return p }
func (p panel) withDecimals(v float64) panel    { p.decimals = &v; return p }
func (p panel) withMappings(m ...mapping) panel { p.mappings = m; return p }
func (p panel) stack() panel                    { p.stacked = true; return p }
func (p panel) withNoValue(text string) panel   { p.noValue = text; return p }

func at(value float64, color string) step { return step{value, color} }

// build turns the definition into the SDK's dashboard.
func (b board) build() (dashboard.Dashboard, error) {
	db := dashboard.NewDashboardBuilder(b.title).
		Uid(b.uid).
		Description(b.description).
		Tags(append([]string{Tag}, b.tags...)).
		Editable().
		Tooltip(dashboard.DashboardCursorSyncCrosshair).
		Timezone(common.TimeZoneBrowser).
		Time(b.from, "now").
		Refresh("10s").
		Link(dashboard.NewDashboardLinkBuilder("CloudCart").
			Type(dashboard.DashboardLinkTypeDashboards).
			Tags([]string{Tag}).
			Tooltip("Every CloudCart dashboard").
			Icon("external link").
			AsDropdown(true).
			IncludeVars(false).
			KeepTime(true))
	db.WithVariable(dashboard.NewDatasourceVariableBuilder("datasource").
		Label("Data source").
		Type("prometheus").
		Current(dashboard.VariableOption{
			Text:  dashboard.StringOrArrayOfString{String: ptr("Prometheus")},
			Value: dashboard.StringOrArrayOfString{String: ptr(DatasourceUID)},
		}))
	for _, v := range b.vars {
		db.WithVariable(dashboard.NewQueryVariableBuilder(v.name).
			Label(v.label).
			Datasource(datasource()).
			Query(dashboard.StringOrMap{String: ptr("label_values(" + v.metric + ", " + v.labelName + ")")}).
			Definition("label_values(" + v.metric + ", " + v.labelName + ")").
			Refresh(dashboard.VariableRefreshOnTimeRangeChanged).
			Sort(dashboard.VariableSortAlphabeticalAsc).
			Multi(true).
			IncludeAll(true).
			AllValue(".*").
			Current(dashboard.VariableOption{
				Text:  dashboard.StringOrArrayOfString{ArrayOfString: []string{"All"}},
				Value: dashboard.StringOrArrayOfString{ArrayOfString: []string{"$__all"}},
			}))
	}
	for _, r := range b.rows {
		db.WithRow(dashboard.NewRowBuilder(r.title))
		for _, p := range r.panels {
			db.WithPanel(p.build())
		}
	}
	d, err := db.Build()
	if err != nil {
		return d, err
	}
	// Grafana wants ids unique within a dashboard; give them in order.
	var id uint32
	for _, p := range d.Panels {
		id++
		switch {
		case p.Panel != nil:
			p.Panel.Id = ptr(id)
		case p.RowPanel != nil:
			p.RowPanel.Id = id
		}
	}
	return d, nil
}

// build turns one panel into the SDK builder of its kind.
func (p panel) build() cog.Builder[dashboard.Panel] {
	th := p.thresholdsConfig()
	switch p.kind {
	case kindStat:
		return configure(p, stat.NewPanelBuilder().Title(p.title).Description(p.desc).Datasource(datasource()).
			Span(p.width).Height(p.height).Unit(p.unit).Thresholds(th).
			ColorMode(common.BigValueColorModeValue).
			GraphMode(common.BigValueGraphModeNone).
			TextMode(common.BigValueTextModeAuto).
			Orientation(common.VizOrientationAuto).
			ReduceOptions(common.NewReduceDataOptionsBuilder().Calcs([]string{"lastNotNull"})))
	case kindBarGauge:
		return configure(p, bargauge.NewPanelBuilder().Title(p.title).Description(p.desc).Datasource(datasource()).
			Span(p.width).Height(p.height).Unit(p.unit).Thresholds(th).
			DisplayMode(common.BarGaugeDisplayModeGradient).
			Orientation(common.VizOrientationHorizontal).
			ReduceOptions(common.NewReduceDataOptionsBuilder().Calcs([]string{"lastNotNull"})))
	}
	mode := common.GraphThresholdsStyleModeOff
	if len(p.steps) > 0 {
		mode = common.GraphThresholdsStyleModeDashed
	}
	b := timeseries.NewPanelBuilder().Title(p.title).Description(p.desc).Datasource(datasource()).
		Span(p.width).Height(p.height).Unit(p.unit).Thresholds(th).
		FillOpacity(10).
		ShowPoints(common.VisibilityModeNever).
		Tooltip(common.NewVizTooltipOptionsBuilder().Mode(common.TooltipDisplayModeMulti).Sort(common.SortOrderDescending)).
		ThresholdsStyle(common.NewGraphThresholdsStyleConfigBuilder().Mode(mode)).
		Legend(common.NewVizLegendOptionsBuilder().
			ShowLegend(true).
			DisplayMode(common.LegendDisplayModeList).
			Placement(common.LegendPlacementBottom))
	if p.stacked {
		b.Stacking(common.NewStackingConfigBuilder().Mode(common.StackingModeNormal))
	}
	for _, o := range semanticOverrides() {
		b.WithOverride(o.Matcher, o.Properties)
	}
	return configure(p, b)
}

// panelBuilder is what the SDK's panel builders of every kind share.
type panelBuilder[B any] interface {
	cog.Builder[dashboard.Panel]
	WithTarget(cog.Builder[variants.Dataquery]) B
	Min(float64) B
	Max(float64) B
	Decimals(float64) B
	Mappings([]dashboard.ValueMapping) B
	NoValue(string) B
}

// configure sets the queries and the field options common to all kinds.
func configure[B panelBuilder[B]](p panel, b B) B {
	for i, qu := range p.queries {
		t := prometheus.NewDataqueryBuilder().
			Datasource(datasource()).
			RefId(string(rune('A' + i))).
			Expr(qu.expr).
			LegendFormat(qu.legend)
		if p.kind == kindTimeSeries {
			t.Range()
		} else {
			t.Instant()
		}
		b.WithTarget(t)
	}
	if p.min != nil {
		b.Min(*p.min)
	}
	if p.max != nil {
		b.Max(*p.max)
	}
	if p.decimals != nil {
		b.Decimals(*p.decimals)
	}
	if p.noValue != "" {
		b.NoValue(p.noValue)
	}
	if len(p.mappings) > 0 {
		opts := map[string]dashboard.ValueMappingResult{}
		for i, m := range p.mappings {
			opts[m.value] = dashboard.ValueMappingResult{Text: ptr(m.text), Color: ptr(m.color), Index: ptr(int32(i))}
		}
		b.Mappings([]dashboard.ValueMapping{{ValueMap: &dashboard.ValueMap{Type: dashboard.MappingTypeValueToText, Options: opts}}})
	}
	return b
}

func (p panel) thresholdsConfig() *dashboard.ThresholdsConfigBuilder {
	base := p.base
	if base == "" {
		base = "green"
	}
	steps := []dashboard.Threshold{{Value: nil, Color: base}}
	for _, s := range p.steps {
		if math.IsInf(s.value, 0) {
			continue
		}
		steps = append(steps, dashboard.Threshold{Value: ptr(s.value), Color: s.color})
	}
	return dashboard.NewThresholdsConfigBuilder().Mode(dashboard.ThresholdsModeAbsolute).Steps(steps)
}
