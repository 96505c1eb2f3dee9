package dashboards_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/cloudcart/cloudcart/internal/dashboards"
)

func TestSemanticClass(t *testing.T) {
	for name, want := range map[string]string{
		"failure": "red", "failed": "red", "5xx": "red", "POST /orders 503": "red", "errors": "red", "payment declined": "red",
		"dead_letter": "red", "success": "green", "succeeded": "green", "GET /orders 200": "green", "2xx": "green",
		"409 conflict": "orange", "4xx": "orange", "p95": "", "order-service": "", "/orders/{id}": "", "success with errors": "red",
		"Failure": "red", "SUCCESS": "green", "1500": "",
	} {
		if got := dashboards.SemanticClass(name); got != want {
			t.Errorf("SemanticClass(%q) = %q, want %q", name, got, want)
		}
	}
}

// TestSemanticOverrides: every time series panel of every dashboard
// carries the colour rules as overrides by name, strongest last.
func TestSemanticOverrides(t *testing.T) {
	all, err := dashboards.All()
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, d := range all {
		b, err := d.JSON()
		if err != nil {
			t.Fatal(err)
		}
		var dash struct {
			Panels []struct {
				Type        string `json:"type"`
				Title       string `json:"title"`
				FieldConfig struct {
					Overrides []struct {
						Matcher struct {
							ID      string `json:"id"`
							Options string `json:"options"`
						} `json:"matcher"`
						Properties []struct {
							ID    string            `json:"id"`
							Value map[string]string `json:"value"`
						} `json:"properties"`
					} `json:"overrides"`
				} `json:"fieldConfig"`
			} `json:"panels"`
		}
		if err := json.Unmarshal(b, &dash); err != nil {
			t.Fatal(err)
		}
		for _, p := range dash.Panels {
			if p.Type != "timeseries" {
				continue
			}
			n++
			var got []string
			for _, o := range p.FieldConfig.Overrides {
				if o.Matcher.ID == "byRegexp" && len(o.Properties) == 1 && o.Properties[0].ID == "color" {
					got = append(got, o.Properties[0].Value["fixedColor"]+" "+o.Matcher.Options)
				}
			}
			var want []string
			for _, c := range dashboards.SemanticColors {
				want = append(want, c.Color+" /"+c.Pattern+"/i")
			}
			if strings.Join(got, "\n") != strings.Join(want, "\n") {
				t.Errorf("%s / %s: overrides\n%s\nwant\n%s", d.UID, p.Title, strings.Join(got, "\n"), strings.Join(want, "\n"))
			}
		}
	}
	if n < 10 {
		t.Fatalf("only %d time series panels", n)
	}
}
