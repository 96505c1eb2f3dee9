package orders_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/cloudcart/cloudcart/internal/cloudcart"
	"github.com/cloudcart/cloudcart/internal/httpkit"
	"github.com/cloudcart/cloudcart/internal/orders"
)

type after time.Duration

func (a after) Error() string             { return "disk full" }
func (a after) RetryAfter() time.Duration { return time.Duration(a) }

// TestProductServiceUnavailableSaysWhy: when the product service answers
// 503 with its reason (its storage is full, say) and a Retry-After, the
// order service's own 503 names that reason and passes the Retry-After on;
// a bare 500 stays "product service unavailable".
func TestProductServiceUnavailableSaysWhy(t *testing.T) {
	full := true
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if full {
			httpkit.Error(w, r, nil, &cloudcart.Error{Code: cloudcart.EUNAVAILABLE,
				Message: "storage is full (no space left on the database's disk); retry later", Err: after(7 * time.Second)})
			return
		}
		httpkit.Error(w, r, nil, cloudcart.Errorf(cloudcart.EINTERNAL, "boom"))
	}))
	defer srv.Close()
	inv := orders.NewProductClient(srv.URL, srv.Client())
	items := []cloudcart.ReservationItem{{SKU: "sku-1", Qty: 1}}

	_, err := inv.Reserve(context.Background(), "ord_1", items)
	w := httptest.NewRecorder()
	httpkit.Error(w, httptest.NewRequest("POST", "/orders", nil), nil, err)
	if w.Code != http.StatusServiceUnavailable || !strings.Contains(w.Body.String(), "product service unavailable: storage is full") {
		t.Errorf("full product store: %d %s", w.Code, w.Body)
	}
	if got := w.Header().Get("Retry-After"); got != "7" {
		t.Errorf("Retry-After %q, want the product service's 7", got)
	}

	full = false
	_, err = inv.Reserve(context.Background(), "ord_2", items)
	w = httptest.NewRecorder()
	httpkit.Error(w, httptest.NewRequest("POST", "/orders", nil), nil, err)
	if w.Code != http.StatusServiceUnavailable || !strings.Contains(w.Body.String(), `"product service unavailable"`) {
		t.Errorf("product service 500: %d %s", w.Code, w.Body)
	}
}
