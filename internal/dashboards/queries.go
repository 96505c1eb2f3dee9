package dashboards

import (
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
)

// Query is one panel target of a dashboard's JSON.
type Query struct {
	Dashboard, Panel, RefID string
	Expr                    string
}

func (q Query) String() string {
	return fmt.Sprintf("%s / %q / %s: %s", q.Dashboard, q.Panel, q.RefID, q.Expr)
}

// jsonPanel is the part of Grafana's panel model that holds queries; rows
// keep their panels in "panels" when collapsed.
type jsonPanel struct {
	Title   string `json:"title"`
	Targets []struct {
		RefID string `json:"refId"`
		Expr  string `json:"expr"`
	} `json:"targets"`
	Panels []jsonPanel `json:"panels"`
}

// QueriesFromJSON returns every panel query of a Grafana dashboard JSON
// model, collapsed rows included: what Grafana would run.
func QueriesFromJSON(b []byte) ([]Query, error) {
	var d struct {
		UID    string      `json:"uid"`
		Panels []jsonPanel `json:"panels"`
	}
	if err := json.Unmarshal(b, &d); err != nil {
		return nil, err
	}
	var out []Query
	var walk func([]jsonPanel)
	walk = func(ps []jsonPanel) {
		for _, p := range ps {
			for _, t := range p.Targets {
				out = append(out, Query{Dashboard: d.UID, Panel: p.Title, RefID: t.RefID, Expr: t.Expr})
			}
			walk(p.Panels)
		}
	}
	walk(d.Panels)
	return out, nil
}

// Grafana's variable syntaxes: $name, ${name}, ${name:format}, [[name]].
var variableRef = regexp.MustCompile(`\$\{([A-Za-z0-9_]+)(?::[A-Za-z]+)?\}|\$([A-Za-z0-9_]+)|\[\[([A-Za-z0-9_]+)\]\]`)

// Expand substitutes Grafana variables in a query the way Grafana does
// before sending it: vars maps names (without "$") to their values, and
// other is the value of any variable not in vars ("" leaves it as is).
// CloudCart's own variables are multi-value with ".*" as "All", so
// other = ".*" runs a query for every service.
func Expand(expr string, vars map[string]string, other string) string {
	return variableRef.ReplaceAllStringFunc(expr, func(ref string) string {
		m := variableRef.FindStringSubmatch(ref)
		name := m[1] + m[2] + m[3]
		if v, ok := vars[name]; ok {
			return v
		}
		if other != "" {
			return other
		}
		return ref
	})
}

// Variables lists the variables a query references, without "$".
func Variables(expr string) []string {
	var out []string
	for _, m := range variableRef.FindAllStringSubmatch(expr, -1) {
		name := m[1] + m[2] + m[3]
		if !slices.Contains(out, name) {
			out = append(out, name)
		}
	}
	return out
}
