package products_test

import (
	"testing"

	"github.com/cloudcart/cloudcart/internal/httpkit/httpkittest"
	"github.com/cloudcart/cloudcart/internal/products"
)

// FuzzDecodeRequests: every JSON body the product service reads.
func FuzzDecodeRequests(f *testing.F) {
	httpkittest.FuzzDecodeJSON(f, products.RequestTypes, map[string][]string{
		"product": {`{"sku":"SKU-1","name":"Mug","description":"d","category":"kitchen","price":12.5,"stock":3}`, `{"price":"12"}`, `{"price":0.001}`},
		"stock":   {`{"delta":-2,"reason":"adjustment"}`, `{"delta":1e3}`},
		"reserve": {`{"order_id":"ord_1","items":[{"product_id":"prd_1","quantity":1}]}`},
		"release": {`{"reason":"cancellation"}`, `{"reason":"evil"}`},
	})
}
