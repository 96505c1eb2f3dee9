package fleet_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/cloudcart/cloudcart/internal/fleet"
)

// commerceTraffic returns a function that exercises the product service and
// the order lifecycle the way shoppers do: list, view, search, order a real
// product, cancel it.
func commerceTraffic(tb testing.TB, f *fleet.Fleet) func() {
	tb.Helper()
	products, orders := f.URL("products"), f.URL("orders")
	return func() {
		var page struct {
			Products []struct{ SKU string }
		}
		getJSON(tb, products+"/products?category=toys&limit=5", &page)
		if len(page.Products) == 0 {
			tb.Fatal("no toys in the seeded catalog")
		}
		sku := page.Products[0].SKU
		get(tb, products+"/products/"+sku)
		get(tb, products+"/products/search?q=wooden")
		get(tb, products+"/products/NOPE-0000") // a product error
		req, _ := http.NewRequest(http.MethodPost, orders+"/orders",
			strings.NewReader(`{"customer":"shopper","items":[{"sku":"`+sku+`","qty":1}]}`))
		resp := asService(tb, req)
		var o struct{ ID string }
		_ = json.NewDecoder(resp.Body).Decode(&o)
		resp.Body.Close()
		if resp.StatusCode == http.StatusCreated {
			post(tb, orders+"/orders/"+o.ID+"/cancel", "")
		}
	}
}

func getJSON(tb testing.TB, url string, v any) {
	tb.Helper()
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	resp := asService(tb, req)
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		tb.Fatalf("GET %s: %v", url, err)
	}
}
