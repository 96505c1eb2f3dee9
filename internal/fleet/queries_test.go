package fleet_test

import (
	"bufio"
	"context"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	promapi "github.com/prometheus/client_golang/api"
	promv1 "github.com/prometheus/client_golang/api/prometheus/v1"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/promql/parser"

	"github.com/cloudcart/cloudcart/internal/fleet"
)

type refQuery struct{ ref, expr, service string }

var queryRowRe = regexp.MustCompile("^\\| ([0-9§ ]+) \\| `(.+)` \\| ([a-z-]+) \\|$")

func readQueries(tb testing.TB) []refQuery {
	tb.Helper()
	f, err := os.Open("../../docs/queries.md")
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	var out []refQuery
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if m := queryRowRe.FindStringSubmatch(sc.Text()); m != nil {
			out = append(out, refQuery{m[1], m[2], m[3]})
		}
	}
	if len(out) < 50 {
		tb.Fatalf("read %d queries from docs/queries.md; the table format changed?", len(out))
	}
	return out
}

// TestReferenceQueries runs every reference query whose service is built
// against the embedded engine after a short load, and parses the rest.
func TestReferenceQueries(t *testing.T) {
	queries := readQueries(t)
	p := parser.NewParser(parser.Options{})
	for _, q := range queries {
		if _, err := p.ParseExpr(q.expr); err != nil {
			t.Errorf("%s: %q does not parse: %v", q.ref, q.expr, err)
		}
	}
	f := sharedFleetWithPrometheus(t)
	orders := f.URL("orders")
	edge := edgeTraffic(t, f)
	commerce := commerceTraffic(t, f)
	events := eventTraffic(t, f)
	load := func() {
		post(t, orders+"/simulate?count=30&error_rate=0.2", "")
		post(t, orders+"/orders", `{"customer":"x","items":[]}`)
		get(t, orders+"/orders?limit=5")
		edge()
		commerce()
		events()
	}
	load()
	api := mustPromAPI(t, f.URL("prometheus"))
	var pending []string
	for _, q := range queries {
		if _, built := fleet.Lookup(q.service); !built {
			pending = append(pending, q.service+": "+q.expr)
			continue
		}
		t.Run(q.ref+" "+q.expr, func(t *testing.T) {
			mustEventually(t, 30*time.Second, q.expr, func() bool {
				v, _, err := api.Query(context.Background(), q.expr, time.Now())
				if err != nil {
					t.Fatalf("query: %v", err)
				}
				if nonEmpty(v) {
					return true
				}
				load() // more of what the query reads, for the next try
				return false
			})
		})
	}
	t.Logf("%d queries wait for services not built yet:\n%s", len(pending), strings.Join(pending, "\n"))
}

func nonEmpty(v model.Value) bool {
	switch v := v.(type) {
	case model.Vector:
		return len(v) > 0
	case model.Matrix:
		return len(v) > 0
	case *model.Scalar:
		return true
	}
	return false
}

func mustPromAPI(tb testing.TB, base string) promv1.API {
	tb.Helper()
	c, err := promapi.NewClient(promapi.Config{Address: base})
	if err != nil {
		tb.Fatal(err)
	}
	return promv1.NewAPI(c)
}

func mustEventually(tb testing.TB, d time.Duration, what string, cond func() bool) {
	tb.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			tb.Fatalf("%s: not within %s", what, d)
		}
		time.Sleep(250 * time.Millisecond)
	}
}
