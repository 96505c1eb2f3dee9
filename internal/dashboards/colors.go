package dashboards

import (
	"regexp"

	"github.com/grafana/grafana-foundation-sdk/go/dashboard"
)

// SeriesColor gives every series whose name matches Pattern one colour,
// so a failure is red and a success green on every chart, whatever its
// position in the palette. Pattern is a regular expression valid in both
// Go (RE2) and JavaScript, matched case-insensitively anywhere in the
// name. Color is a Grafana colour name.
type SeriesColor struct {
	Class   string `json:"class"`
	Pattern string `json:"pattern"`
	Color   string `json:"color"`
}

// word matches one of alts as a whole word of a series name.
func word(alts string) string { return `(^|[^a-z0-9])(` + alts + `)([^a-z0-9]|$)` }

// SemanticColors are the colour rules of the dashboards' time series
// (Grafana overrides by name, in this order: a later rule wins) and of the
// console's charts (/console/api/config), where the first match wins: so
// the list goes from the weakest to the strongest claim, and a name that
// says both "success" and "error" is red.
var SemanticColors = []SeriesColor{
	{Class: "green", Color: "green", Pattern: word(`2\d\d|2xx|success|successful|succeeded|completed|delivered`)},
	{Class: "orange", Color: "orange", Pattern: word(`4\d\d|4xx|conflict|conflicts|rejected`)},
	{Class: "red", Color: "red", Pattern: word(`5\d\d|5xx|fail|failed|failure|failures|error|errors|declined|timeout|timeouts|dead[ _-]?letter(ed)?`)},
}

var semanticRes = func() []*regexp.Regexp {
	var out []*regexp.Regexp
	for _, c := range SemanticColors {
		out = append(out, regexp.MustCompile(`(?i)`+c.Pattern))
	}
	return out
}()

// SemanticClass is the class of the strongest rule matching a series
// name ("red", "orange", "green"), "" for none.
func SemanticClass(name string) string {
	for i := len(SemanticColors) - 1; i >= 0; i-- {
		if semanticRes[i].MatchString(name) {
			return SemanticColors[i].Class
		}
	}
	return ""
}

// semanticOverrides are SemanticColors as Grafana field overrides.
func semanticOverrides() []dashboard.DashboardFieldConfigSourceOverrides {
	var out []dashboard.DashboardFieldConfigSourceOverrides
	for _, c := range SemanticColors {
		out = append(out, dashboard.DashboardFieldConfigSourceOverrides{
			Matcher: dashboard.MatcherConfig{Id: "byRegexp", Options: "/" + c.Pattern + "/i"},
			Properties: []dashboard.DynamicConfigValue{{Id: "color", Value: map[string]string{
				"mode": "fixed", "fixedColor": c.Color}}},
		})
	}
	return out
}
