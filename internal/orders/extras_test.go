package orders_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/cloudcart/cloudcart/internal/cloudcart"
	"github.com/cloudcart/cloudcart/internal/orders"
)

func TestChaosRateDeclinesPayments(t *testing.T) {
	rate := 0.0
	p := orders.NewSimulatedPayments(0, 0, 0, 1).WithChaos(func() float64 { return rate })
	if err := p.Charge(context.Background(), "o1", 100); err != nil {
		t.Fatalf("no failure rate, no chaos: %v", err)
	}
	rate = 1
	if err := p.Charge(context.Background(), "o2", 100); cloudcart.ErrorCode(err) != cloudcart.EPAYMENT {
		t.Fatalf("chaos payment failure rate 1: %v", err)
	}
}

func TestUsersProxy(t *testing.T) {
	users := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/users" || r.Header.Get("Authorization") != "Bearer admin-token" {
			http.Error(w, "bad", http.StatusUnauthorized)
			return
		}
		w.Write([]byte(`{"users":[]}`))
	}))
	defer users.Close()
	f := mustFixture(t, "sqlite", func(o *orders.Options) { o.Users = orders.UsersProxy(users.URL, nil) })
	req := httptest.NewRequest("GET", "/users", nil)
	req.Header.Set("Authorization", "Bearer admin-token")
	rec := httptest.NewRecorder()
	f.h.ServeHTTP(rec, req)
	if rec.Code != 200 || !strings.Contains(rec.Body.String(), `"users"`) {
		t.Fatalf("proxied: %d %s", rec.Code, rec.Body)
	}
	none := mustFixture(t, "sqlite", func(o *orders.Options) { o.Users = orders.UsersProxy("", nil) })
	if rec := none.do(t, "GET", "/users", ""); rec.Code != http.StatusServiceUnavailable {
		t.Fatalf("no user service: %d", rec.Code)
	}
}
