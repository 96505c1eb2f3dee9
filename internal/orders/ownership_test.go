package orders_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/cloudcart/cloudcart/internal/authn/authntest"
	"github.com/cloudcart/cloudcart/internal/cloudcart"
	"github.com/cloudcart/cloudcart/internal/httpkit"
	"github.com/cloudcart/cloudcart/internal/orders"
)

// as sends a request with the given credential: "" none, "service" the
// service credential, otherwise a user id (an id starting "adm" gets the
// admin role).
func (f *fixture) as(tb testing.TB, who, method, target, body string, header ...string) *httptest.ResponseRecorder {
	tb.Helper()
	req := httptest.NewRequest(method, target, strings.NewReader(body))
	switch {
	case who == "service":
		authntest.AsService(req)
	case strings.HasPrefix(who, "adm"):
		f.kit.AsUser(tb, req, who, cloudcart.RoleAdmin)
	case who != "":
		f.kit.AsUser(tb, req, who, cloudcart.RoleUser)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	rec := httptest.NewRecorder()
	f.h.ServeHTTP(rec, req)
	return rec
}

func decodeOrder(tb testing.TB, rec *httptest.ResponseRecorder) cloudcart.Order {
	tb.Helper()
	var o cloudcart.Order
	if err := json.Unmarshal(rec.Body.Bytes(), &o); err != nil {
		tb.Fatalf("%d %s: %v", rec.Code, rec.Body, err)
	}
	return o
}

// TestOrdersBelongToTheirUser: the owner is the token's subject whatever
// the body or headers say; users see, cancel, list and replay only their
// own orders (another user's is 404, like a missing one); admins and
// services see all, admins with a user_id filter.
func TestOrdersBelongToTheirUser(t *testing.T) {
	f := mustFixture(t, "sqlite")
	// Bob claims to be alice three ways: the body's customer, spoofed
	// identity headers, and alice's idempotency key.
	alice := decodeOrder(t, f.as(t, "usr_alice", "POST", "/orders", goodOrder, "Idempotency-Key", "k1"))
	bob := decodeOrder(t, f.as(t, "usr_bob", "POST", "/orders", goodOrder, "Idempotency-Key", "k1",
		httpkit.HeaderUserID, "usr_alice", httpkit.HeaderUserRole, "admin"))
	if alice.UserID != "usr_alice" || bob.UserID != "usr_bob" || bob.ID == alice.ID || bob.Customer != "alice" {
		t.Fatalf("owners: alice %+v, bob %+v", alice, bob)
	}
	missing := f.as(t, "usr_bob", "GET", "/orders/ord_nope", "")
	for _, tc := range []struct{ name, method, target string }{
		{"read", "GET", "/orders/" + alice.ID},
		{"cancel", "POST", "/orders/" + alice.ID + "/cancel"},
	} {
		rec := f.as(t, "usr_bob", tc.method, tc.target, "", httpkit.HeaderUserID, "usr_alice", httpkit.HeaderUserRole, "admin")
		want := strings.Replace(missing.Body.String(), "ord_nope", alice.ID, 1)
		if rec.Code != http.StatusNotFound || rec.Body.String() != want {
			t.Errorf("bob %s alice's order: %d %s; want the 404 of a missing order", tc.name, rec.Code, rec.Body)
		}
	}
	var page struct {
		Orders []cloudcart.Order
		Total  int
	}
	_ = json.Unmarshal(f.as(t, "usr_bob", "GET", "/orders", "").Body.Bytes(), &page)
	if page.Total != 1 || page.Orders[0].ID != bob.ID {
		t.Errorf("bob's list: %+v", page)
	}
	if rec := f.as(t, "usr_bob", "GET", "/orders?user_id=usr_alice", ""); rec.Code != http.StatusForbidden {
		t.Errorf("bob lists alice's orders: %d %s", rec.Code, rec.Body)
	}
	_ = json.Unmarshal(f.as(t, "adm_root", "GET", "/orders?user_id=usr_alice", "").Body.Bytes(), &page)
	if page.Total != 1 || page.Orders[0].ID != alice.ID {
		t.Errorf("admin's list of alice's orders: %+v", page)
	}
	_ = json.Unmarshal(f.as(t, "service", "GET", "/orders", "").Body.Bytes(), &page)
	if page.Total != 2 {
		t.Errorf("service's list: %+v", page)
	}
	if rec := f.as(t, "adm_root", "GET", "/orders/"+alice.ID, ""); rec.Code != 200 {
		t.Errorf("admin reads alice's order: %d", rec.Code)
	}
	if rec := f.as(t, "usr_alice", "POST", "/orders/"+alice.ID+"/cancel", ""); rec.Code != 200 {
		t.Errorf("alice cancels her order: %d %s", rec.Code, rec.Body)
	}
	// A replay of alice's key by alice is hers; by bob it was his own order.
	if rec := f.as(t, "usr_alice", "POST", "/orders", goodOrder, "Idempotency-Key", "k1"); rec.Header().Get("Idempotent-Replayed") != "true" || decodeOrder(t, rec).ID != alice.ID {
		t.Errorf("alice's replay: %d %s", rec.Code, rec.Body)
	}
}

// TestAnonymousCallers: without credentials only the demo endpoints
// answer, and only with DemoEndpoints; identity headers change nothing.
func TestAnonymousCallers(t *testing.T) {
	spoof := []string{httpkit.HeaderUserID, "usr_alice", httpkit.HeaderUserRole, "admin"}
	closed := mustFixture(t, "sqlite")
	for _, tc := range []struct{ method, target string }{
		{"POST", "/orders"}, {"GET", "/orders"}, {"GET", "/orders/ord_x"}, {"POST", "/orders/ord_x/cancel"}, {"POST", "/simulate?count=1"},
	} {
		if rec := closed.as(t, "", tc.method, tc.target, goodOrder, spoof...); rec.Code != http.StatusUnauthorized {
			t.Errorf("anonymous %s %s: %d %s", tc.method, tc.target, rec.Code, rec.Body)
		}
	}
	if rec := closed.as(t, "", "GET", "/orders", "", "Authorization", "Bearer not.a.token"); rec.Code != http.StatusUnauthorized {
		t.Errorf("forged token: %d", rec.Code)
	}
	if rec := closed.as(t, "", "GET", "/orders", "", "X-CloudCart-Service-Token", "guess-guess-guess-guess-guess-guess"); rec.Code != http.StatusUnauthorized {
		t.Errorf("wrong service token: %d", rec.Code)
	}
	if rec := closed.as(t, "usr_bob", "POST", "/simulate?count=1", ""); rec.Code != http.StatusForbidden {
		t.Errorf("a user's simulate: %d", rec.Code)
	}
	if rec := closed.as(t, "adm_root", "POST", "/simulate?count=1", ""); rec.Code != http.StatusOK {
		t.Errorf("an admin's simulate: %d %s", rec.Code, rec.Body)
	}

	demo := mustFixture(t, "sqlite", func(o *orders.Options) { o.DemoEndpoints = true })
	rec := demo.as(t, "", "POST", "/orders", goodOrder, spoof...)
	if o := decodeOrder(t, rec); rec.Code != http.StatusCreated || o.UserID != "" {
		t.Errorf("anonymous demo order: %d %s", rec.Code, rec.Body)
	}
	if rec := demo.as(t, "", "POST", "/simulate?count=2", ""); rec.Code != http.StatusOK {
		t.Errorf("anonymous demo simulate: %d %s", rec.Code, rec.Body)
	}
	if rec := demo.as(t, "", "GET", "/orders", ""); rec.Code != http.StatusUnauthorized {
		t.Errorf("anonymous list in the demo: %d", rec.Code)
	}
	if rec := demo.as(t, "usr_bob", "GET", "/orders", ""); !strings.Contains(rec.Body.String(), `"total":0`) {
		t.Errorf("bob sees the anonymous orders: %s", rec.Body)
	}
}
