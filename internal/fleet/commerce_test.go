package fleet_test

import (
	"testing"

	"github.com/cloudcart/cloudcart/internal/fleet"
	"github.com/cloudcart/cloudcart/internal/fleet/fleettest"
)

// commerceTraffic returns a function that exercises the product service and
// the order lifecycle the way shoppers do: list, view, search, order a real
// product, cancel it.
func commerceTraffic(tb testing.TB, f *fleet.Fleet) func() {
	tb.Helper()
	return fleettest.CommerceTraffic(tb, f)
}

func getJSON(tb testing.TB, url string, v any) { tb.Helper(); fleettest.GetJSON(tb, url, v) }
