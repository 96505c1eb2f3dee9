package learn

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Comparison is what the console tells a learner about their query.
type Comparison struct {
	Match       bool     `json:"match"`
	Differences []string `json:"differences"` // what differs, in words
	Learner     []Sample `json:"learner"`
	Reference   []Sample `json:"reference"`
}

// Sample is one series of an instant query's answer.
type Sample struct {
	Labels string   `json:"labels"` // {a="b"}, sorted; "{}" for none
	Value  *float64 `json:"value"`  // nil when NaN or infinite: not JSON numbers
}

// Compare runs the learner's query and the reference at the same instant
// and compares the answers series by series: the same label sets, and
// values within tol of each other (relative to the larger; 0 needs
// equality). Labels compare without __name__, which an aggregation drops
// and a bare selector keeps.
func (r *Runner) Compare(ctx context.Context, learner, reference string, tol float64) (Comparison, error) {
	at := r.now()
	ref, err := r.instant(ctx, reference, at)
	if err != nil {
		return Comparison{}, fmt.Errorf("the reference query failed: %w", err)
	}
	got, err := r.instant(ctx, learner, at)
	if err != nil {
		return Comparison{}, fmt.Errorf("your query: %w", err)
	}
	c := Comparison{Learner: got, Reference: ref}
	c.Differences = diff(got, ref, tol)
	c.Match = len(c.Differences) == 0
	return c, nil
}

func diff(got, ref []Sample, tol float64) []string {
	var out []string
	if len(ref) == 0 {
		out = append(out, "the reference query has no data yet: do the lesson's actions first, then compare again")
		return out
	}
	byLabels := map[string]*float64{}
	for _, s := range got {
		byLabels[s.Labels] = s.Value
	}
	refLabels := map[string]bool{}
	for _, s := range ref {
		refLabels[s.Labels] = true
		v, ok := byLabels[s.Labels]
		switch {
		case !ok:
			out = append(out, fmt.Sprintf("missing series %s (your query has %d series)", s.Labels, len(got)))
		case (v == nil) != (s.Value == nil):
			out = append(out, fmt.Sprintf("%s: yours is %s, the reference %s", s.Labels, show(v), show(s.Value)))
		case v != nil && !near(*v, *s.Value, tol):
			out = append(out, fmt.Sprintf("%s: yours is %s, the reference %s", s.Labels, show(v), show(s.Value)))
		}
	}
	for _, s := range got {
		if !refLabels[s.Labels] {
			out = append(out, fmt.Sprintf("extra series %s: the reference has no such labels (aggregate them away?)", s.Labels))
		}
	}
	return out
}

func near(a, b, tol float64) bool {
	if a == b {
		return true
	}
	return math.Abs(a-b) <= tol*math.Max(math.Abs(a), math.Abs(b))
}

func show(v *float64) string {
	if v == nil {
		return "no number (NaN: 0/0?)"
	}
	return strconv.FormatFloat(*v, 'g', 4, 64)
}

// instant runs an instant query at t and returns its vector (a scalar
// becomes one series without labels).
func (r *Runner) instant(ctx context.Context, q string, t time.Time) ([]Sample, error) {
	u := r.EngineURL + "/api/v1/query?" + url.Values{"query": {q}, "time": {strconv.FormatFloat(float64(t.UnixMilli())/1000, 'f', 3, 64)}}.Encode()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	resp, err := r.client().Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var body struct {
		Status string `json:"status"`
		Error  string `json:"error"`
		Data   struct {
			ResultType string          `json:"resultType"`
			Result     json.RawMessage `json:"result"`
		} `json:"data"`
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 8<<20)).Decode(&body); err != nil {
		return nil, fmt.Errorf("%s: not JSON", resp.Status)
	}
	if body.Status != "success" {
		return nil, fmt.Errorf("%s", body.Error)
	}
	switch body.Data.ResultType {
	case "vector":
		var vec []struct {
			Metric map[string]string `json:"metric"`
			Value  [2]any            `json:"value"`
		}
		if err := json.Unmarshal(body.Data.Result, &vec); err != nil {
			return nil, err
		}
		out := make([]Sample, 0, len(vec))
		for _, s := range vec {
			out = append(out, Sample{Labels: labelString(s.Metric), Value: number(s.Value[1])})
		}
		sort.Slice(out, func(i, j int) bool { return out[i].Labels < out[j].Labels })
		return out, nil
	case "scalar":
		var v [2]any
		if err := json.Unmarshal(body.Data.Result, &v); err != nil {
			return nil, err
		}
		return []Sample{{Labels: "{}", Value: number(v[1])}}, nil
	}
	return nil, fmt.Errorf("a %s answer: write a query that gives an instant vector", body.Data.ResultType)
}

func labelString(m map[string]string) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		if k != "__name__" {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	parts := make([]string, 0, len(keys))
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%s=%q", k, m[k]))
	}
	return "{" + strings.Join(parts, ", ") + "}"
}

func number(v any) *float64 {
	s, ok := v.(string)
	if !ok {
		return nil
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
		return nil
	}
	return &f
}
