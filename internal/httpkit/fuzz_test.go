package httpkit_test

import (
	"testing"

	"github.com/cloudcart/cloudcart/internal/cloudcart"
	"github.com/cloudcart/cloudcart/internal/httpkit/httpkittest"
)

// FuzzDecodeJSON: DecodeJSON with the shared domain types that arrive as
// request bodies (the chaos service's settings and faults, items, money).
func FuzzDecodeJSON(f *testing.F) {
	httpkittest.FuzzDecodeJSON(f, map[string]func() any{
		"chaos_settings": func() any { return new(cloudcart.ChaosSettings) },
		"chaos_faults":   func() any { return new(cloudcart.ChaosFaults) },
		"items":          func() any { return new([]cloudcart.Item) },
		"money":          func() any { return new(cloudcart.Money) },
	}, map[string][]string{
		"chaos_settings": {`{"enabled":true,"targets":{"orders":{"error":{"rate":1,"status":503}}},"payment_failure_rate":0.1}`},
		"chaos_faults":   {`{"latency":{"probability":0.5,"fixed_ms":100,"jitter_ms":10},"routes":{"/orders":{"outage":true}}}`},
		"items":          {`[{"product_id":"prd_1","quantity":1,"price":9.99}]`},
		"money":          {`12.34`, `12.345`, `"12"`, `-1`},
	})
}
