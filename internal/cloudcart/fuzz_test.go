package cloudcart_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/cloudcart/cloudcart/internal/cloudcart"
)

// FuzzParseMoney: ParseMoney accepts exactly the non-negative decimals
// with at most two places up to MaxMoney, and what it accepts prints back
// as the same amount.
func FuzzParseMoney(f *testing.F) {
	for _, s := range []string{"0", "12", "12.5", "12.34", "1000000", "1000000.01", "-1", "01", "1.", ".5",
		"1e3", "12.345", "999999999", "", " 1", "1_000", "١٢", "0.00", "9999999.99"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		m, err := cloudcart.ParseMoney(s)
		if err != nil {
			if cloudcart.ErrorCode(err) != cloudcart.EINVALID {
				t.Fatalf("ParseMoney(%q): %v is not EINVALID", s, err)
			}
			return
		}
		if m < 0 || m > cloudcart.MaxMoney {
			t.Fatalf("ParseMoney(%q) = %d, out of range", s, m)
		}
		back, err := cloudcart.ParseMoney(m.String())
		if err != nil || back != m {
			t.Fatalf("ParseMoney(%q) = %v, which parses back as %v, %v", s, m, back, err)
		}
		// The same text as a JSON number decodes to the same amount.
		var v cloudcart.Money
		if err := json.Unmarshal([]byte(s), &v); err != nil || v != m {
			if !strings.ContainsAny(s, " \t\r\n") {
				t.Fatalf("json %q: %v, %v; ParseMoney: %v", s, v, err, m)
			}
		}
	})
}

// FuzzChaosSettings: any body the chaos service's PUT /chaos/settings
// accepts (strict JSON, then Validate) survives a round trip and applies
// without panicking.
func FuzzChaosSettings(f *testing.F) {
	for _, s := range []string{
		`{"enabled":true,"targets":{"*":{"latency":{"probability":0.1,"fixed_ms":5}}}}`,
		`{"enabled":true,"targets":{"orders":{"error":{"rate":1,"status":503},"routes":{"/orders/{id}":{"timeout":{"rate":0.5,"ms":100}}}}},"payment_failure_rate":0.2}`,
		`{"enabled":true,"targets":{"products":{"outage":true}}}`,
		`{"targets":{"chaos":{"error":{"rate":1}}}}`,
		`{"enabled":"yes"}`, `{}`, `null`, `{"targets":{"orders":{"latency":{"probability":2}}}}`,
	} {
		f.Add([]byte(s))
	}
	known := []string{"gateway", "users", "products", "orders", "chaos", "notifier", "aggregator"}
	f.Fuzz(func(t *testing.T, b []byte) {
		var s cloudcart.ChaosSettings
		if err := json.Unmarshal(b, &s); err != nil {
			return
		}
		if err := s.Validate(known); err != nil {
			if cloudcart.ErrorCode(err) != cloudcart.EINVALID {
				t.Fatalf("Validate: %v is not EINVALID", err)
			}
			return
		}
		out, err := json.Marshal(s)
		if err != nil {
			t.Fatalf("marshal valid settings: %v", err)
		}
		var again cloudcart.ChaosSettings
		if err := json.Unmarshal(out, &again); err != nil {
			t.Fatalf("round trip: %v", err)
		}
		if err := again.Validate(known); err != nil {
			t.Fatalf("valid settings %s no longer valid after a round trip: %v", out, err)
		}
		if p := s.LatencyProbability(); p < 0 || p > 1 {
			t.Fatalf("latency probability %v", p)
		}
		for _, target := range known {
			_, _ = s.FaultsFor(target, "/orders/{id}")
			_ = s.OutageFor(target)
			_ = s.HasRoutes(target)
		}
	})
}
