package orders_test

import (
	"testing"

	"github.com/cloudcart/cloudcart/internal/httpkit/httpkittest"
	"github.com/cloudcart/cloudcart/internal/orders"
)

// FuzzDecodeRequests: every JSON body the order service reads.
func FuzzDecodeRequests(f *testing.F) {
	httpkittest.FuzzDecodeJSON(f, orders.RequestTypes, map[string][]string{
		"order": {`{"customer":"ada","items":[{"product_id":"prd_1","quantity":2}]}`,
			`{"items":[{"product_id":"prd_1","quantity":-1,"price":12.345}]}`, `{"items":null}`},
	})
}
