package products_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/cloudcart/cloudcart/internal/authn/authntest"
	"github.com/cloudcart/cloudcart/internal/cloudcart"
	"github.com/cloudcart/cloudcart/internal/httpkit"
	"github.com/cloudcart/cloudcart/internal/products"
	"github.com/cloudcart/cloudcart/internal/services"
	"github.com/cloudcart/cloudcart/internal/sqlstore"
	"github.com/cloudcart/cloudcart/internal/sqlstore/sqlstoretest"
	"github.com/cloudcart/cloudcart/internal/telemetry"
	"github.com/cloudcart/cloudcart/internal/telemetry/telemetrytest"
)

type fixture struct {
	svc *products.Service
	tel *telemetry.Telemetry
	kit *authntest.Kit
	h   http.Handler
}

func mustFixture(tb testing.TB, backend string, seed int) *fixture {
	tb.Helper()
	tel := telemetrytest.MustNew(tb)
	meter := tel.Meter("test")
	m, err := products.NewMetrics(meter)
	if err != nil {
		tb.Fatal(err)
	}
	db := sqlstoretest.MustOpen(tb, backend, sqlstore.Options{Metrics: sqlstoretest.MustMetrics(tb, meter, sqlstore.MetricsOptions{Prefix: services.All.MustLookup("products").Prefix})})
	store, err := sqlstore.NewProductStore(context.Background(), db)
	if err != nil {
		tb.Fatal(err)
	}
	kit := authntest.MustNew(tb)
	svc, err := products.New(context.Background(), products.Options{Store: store, Metrics: m, Meter: meter, Auth: kit.Auth,
		SeedSize: seed, Seed: 42, PoolSize: func() int { return db.Stats().OpenConnections }})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = svc.Close() })
	mw, _ := httpkit.NewMiddleware(meter, nil, nil, services.All.MustLookup("products").HTTP)
	return &fixture{svc: svc, tel: tel, kit: kit, h: httpkit.LimitBody(1<<20, mw.Wrap(svc.Handler()))}
}

func (f *fixture) do(tb testing.TB, method, target, body string, admin bool) *httptest.ResponseRecorder {
	tb.Helper()
	req := httptest.NewRequest(method, target, strings.NewReader(body))
	if admin { // an admin's verified token, and the service credential
		authntest.AsService(f.kit.AsUser(tb, req, "usr_admin", cloudcart.RoleAdmin))
	}
	rec := httptest.NewRecorder()
	f.h.ServeHTTP(rec, req)
	return rec
}

func (f *fixture) value(tb testing.TB, name string, labels map[string]string) float64 {
	return telemetrytest.Value(tb, f.tel.Registry, name, labels)
}

func TestSeedIsDeterministicAndRealistic(t *testing.T) {
	now := time.Unix(0, 0)
	a, b := products.SeedCatalog(300, 7, now), products.SeedCatalog(300, 7, now)
	cats := map[string]int{}
	for i := range a {
		if *a[i] != *b[i] {
			t.Fatalf("seed differs at %d: %+v vs %+v", i, a[i], b[i])
		}
		if err := a[i].Validate(); err != nil {
			t.Fatalf("seeded product %s invalid: %v", a[i].SKU, err)
		}
		cats[a[i].Category]++
	}
	if len(cats) != len(cloudcart.Categories) || cats["books"] != 30 {
		t.Fatalf("categories %v", cats)
	}
}

func TestCatalogAndGauges(t *testing.T) {
	for _, backend := range sqlstoretest.Backends(t) {
		t.Run(backend, func(t *testing.T) {
			f := mustFixture(t, backend, 300)
			var page struct {
				Products []cloudcart.Product
				Total    int
			}
			rec := f.do(t, "GET", "/products?category=toys&limit=5", "", false)
			_ = json.Unmarshal(rec.Body.Bytes(), &page)
			if rec.Code != 200 || page.Total != 30 || len(page.Products) != 5 {
				t.Fatalf("list: %d total %d len %d", rec.Code, page.Total, len(page.Products))
			}
			sku := page.Products[0].SKU
			for range 3 {
				f.do(t, "GET", "/products/"+sku, "", false)
			}
			if f.value(t, "product_views_total", map[string]string{"category": "toys"}) != 3 {
				t.Fatal("views not counted by category")
			}
			if v := f.value(t, "product_top_viewed_views", map[string]string{"product_id": sku}); v != 3 {
				t.Fatalf("top viewed %s = %v, want 3", sku, v)
			}
			if f.value(t, "products_count_by_category", map[string]string{"category": "books"}) != 30 ||
				f.value(t, "products_count_by_category", nil) != 300 {
				t.Fatal("count by category does not match the catalog")
			}
			if f.value(t, "product_average_price_dollars", map[string]string{"category": "toys"}) <= 0 {
				t.Fatal("no average price")
			}
			if f.value(t, "product_db_connection_pool_size", nil) < 1 {
				t.Fatal("pool size gauge reads no open connection")
			}
			rec = f.do(t, "GET", "/products/search?q=CEDAR", "", false)
			if rec.Code != 200 || !strings.Contains(strings.ToLower(rec.Body.String()), "cedar") {
				t.Fatalf("search: %d %s", rec.Code, rec.Body.String()[:min(200, rec.Body.Len())])
			}
			if f.value(t, "product_search_time_seconds", nil) != 1 || f.value(t, "product_list_time_seconds", map[string]string{"category": "toys"}) != 1 {
				t.Fatal("list/search latency not observed")
			}
		})
	}
}

func TestLowStockAlertsAndStockUpdates(t *testing.T) {
	f := mustFixture(t, "sqlite", 0)
	ctx := context.Background()
	p := &cloudcart.Product{SKU: "LOW-1", Name: "Lamp", Category: "home", Price: 1000, Stock: 12}
	if err := f.svc.Create(ctx, p); err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.Reserve(ctx, "ord_a", []cloudcart.ReservationItem{{SKU: "LOW-1", Qty: 3}}); err != nil { // 12 → 9: below 10
		t.Fatal(err)
	}
	if _, err := f.svc.Reserve(ctx, "ord_b", []cloudcart.ReservationItem{{SKU: "LOW-1", Qty: 5}}); err != nil { // 9 → 4: below 5
		t.Fatal(err)
	}
	if f.value(t, "inventory_alerts_total", map[string]string{"severity": "warning"}) != 1 ||
		f.value(t, "inventory_alerts_total", map[string]string{"severity": "critical"}) != 1 ||
		f.value(t, "low_stock_products_count", nil) != 1 {
		t.Fatal("want one warning, one critical and one low-stock product")
	}
	if err := f.svc.Release(ctx, "ord_b", cloudcart.StockCancellation); err != nil {
		t.Fatal(err)
	}
	if f.value(t, "product_stock_updates_total", map[string]string{"reason": "purchase"}) != 2 ||
		f.value(t, "product_stock_updates_total", map[string]string{"reason": "cancellation"}) != 1 {
		t.Fatal("stock updates by reason wrong")
	}
	rec := f.do(t, "POST", "/products/LOW-1/stock", `{"delta":50,"reason":"restock"}`, true)
	if rec.Code != 200 || f.value(t, "low_stock_products_count", nil) != 0 {
		t.Fatalf("restock: %d %s", rec.Code, rec.Body)
	}
}

func TestAdminAndBadInput(t *testing.T) {
	f := mustFixture(t, "sqlite", 20)
	good := `{"sku":"NEW-1","name":"Kite","description":"red","category":"toys","price":19.99,"stock":5}`
	for _, tc := range []struct {
		name, method, target, body string
		admin                      bool
		status                     int
		mentions                   string
	}{
		{"create needs a token", "POST", "/products", good, false, 401, "bearer token"},
		{"unknown category", "POST", "/products", strings.Replace(good, "toys", "weapons", 1), true, 400, "category"},
		{"negative stock", "POST", "/products", strings.Replace(good, `"stock":5`, `"stock":-5`, 1), true, 400, "stock"},
		{"bad price", "POST", "/products", strings.Replace(good, "19.99", "19.999", 1), true, 400, "two decimals"},
		{"unknown field", "POST", "/products", strings.Replace(good, `"stock":5`, `"stock":5,"hot":true`, 1), true, 400, "unknown field"},
		{"stock needs reason", "POST", "/products/TOYS-0009/stock", `{"delta":5,"reason":"found"}`, true, 400, "reason"},
		{"stock below zero", "POST", "/products/TOYS-0009/stock", `{"delta":-100000,"reason":"purchase"}`, true, 409, "insufficient stock"},
		{"unknown product", "GET", "/products/NOPE-1", ``, false, 404, "not found"},
		{"list bad category", "GET", "/products?category=weapons", ``, false, 400, "category"},
		{"search too short", "GET", "/products/search?q=a", ``, false, 400, "2-100"},
		{"reserve needs the service credential", "POST", "/reservations", `{"order_id":"o1","items":[]}`, false, 401, "services only"},
		{"reserve empty", "POST", "/reservations", `{"order_id":"o1","items":[]}`, true, 400, "items"},
		{"release bad reason", "POST", "/reservations/o1/release", `{"reason":"restock"}`, true, 400, "reason"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := f.do(t, tc.method, tc.target, tc.body, tc.admin)
			if rec.Code != tc.status || !strings.Contains(rec.Body.String(), tc.mentions) {
				t.Fatalf("%d %s; want %d mentioning %q", rec.Code, rec.Body, tc.status, tc.mentions)
			}
		})
	}
	user := f.kit.AsUser(t, httptest.NewRequest("POST", "/products", strings.NewReader(good)), "usr_1", cloudcart.RoleUser)
	user.Header.Set(httpkit.HeaderUserRole, "admin") // believed by nobody
	rec := httptest.NewRecorder()
	if f.h.ServeHTTP(rec, user); rec.Code != 403 || !strings.Contains(rec.Body.String(), "admin role") {
		t.Fatalf("a user's create: %d %s", rec.Code, rec.Body)
	}
	if rec := f.do(t, "POST", "/products", good, true); rec.Code != 201 {
		t.Fatalf("admin create: %d %s", rec.Code, rec.Body)
	}
	if f.value(t, "product_errors_total", map[string]string{"error_type": "forbidden", "endpoint": "/products"}) != 1 {
		t.Fatal("forbidden not counted")
	}
	telemetrytest.Lint(t, f.tel.Registry)
}

func BenchmarkListProducts(b *testing.B) {
	f := mustFixture(b, "sqlite", 300)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		cat := cloudcart.Categories[i%len(cloudcart.Categories)]
		i++
		if rec := f.do(b, "GET", fmt.Sprintf("/products?category=%s&limit=20", cat), "", false); rec.Code != 200 {
			b.Fatal(rec.Code)
		}
	}
}

// TestReplicasSeedOnce starts two replicas of the product service at the
// same moment on one empty database: both come up, and the catalog holds
// the seed once.
func TestReplicasSeedOnce(t *testing.T) {
	for _, backend := range sqlstoretest.Backends(t) {
		t.Run(backend, func(t *testing.T) {
			ctx := context.Background()
			dsn, path := sqlstoretest.MustConfig(t, backend)
			const seed = 40
			errs := make(chan error, 2)
			for range 2 {
				m, err := products.NewMetrics(telemetrytest.MustNew(t).Meter("test"))
				if err != nil {
					t.Fatal(err)
				}
				go func() {
					db, err := sqlstore.Open(ctx, sqlstore.Options{DSN: dsn, Path: path})
					if err != nil {
						errs <- err
						return
					}
					t.Cleanup(func() { db.Close() })
					store, err := sqlstore.NewProductStore(ctx, db)
					if err != nil {
						errs <- err
						return
					}
					svc, err := products.New(ctx, products.Options{Store: store, Metrics: m, SeedSize: seed, Seed: 42, Auth: authntest.MustNew(t).Auth})
					if err == nil {
						t.Cleanup(func() { _ = svc.Close() })
					}
					errs <- err
				}()
			}
			for range 2 {
				if err := <-errs; err != nil {
					t.Fatalf("replica start: %v", err)
				}
			}
			db, err := sqlstore.Open(ctx, sqlstore.Options{DSN: dsn, Path: path})
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			store, err := sqlstore.NewProductStore(ctx, db)
			if err != nil {
				t.Fatal(err)
			}
			if n, err := store.CountProducts(ctx); err != nil || n != seed {
				t.Fatalf("catalog holds %d products (err %v), want the seed's %d", n, err, seed)
			}
		})
	}
}

// TestReservationsExpire: stock reserved for an order that is never
// confirmed comes back once the TTL has passed, counted in
// product_reservations_expired_total; a committed reservation stays.
func TestReservationsExpire(t *testing.T) {
	tel := telemetrytest.MustNew(t)
	m, err := products.NewMetrics(tel.Meter("test"))
	if err != nil {
		t.Fatal(err)
	}
	store, err := sqlstore.NewProductStore(context.Background(), sqlstoretest.MustOpen(t, "sqlite", sqlstore.Options{}))
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	clock := func() time.Time { return now }
	svc, err := products.New(context.Background(), products.Options{Store: store, Metrics: m, Auth: authntest.MustNew(t).Auth,
		Now: clock, ReservationTTL: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := store.CreateProducts(ctx, &cloudcart.Product{SKU: "X-1", Name: "X", Category: "toys", Price: 100, Stock: 14, LowStockThreshold: 1}); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"ord_ghost", "ord_real"} {
		if _, err := svc.Reserve(ctx, id, []cloudcart.ReservationItem{{SKU: "X-1", Qty: 5}}); err != nil {
			t.Fatal(err)
		}
	}
	if err := svc.Commit(ctx, "ord_real"); err != nil {
		t.Fatal(err)
	}
	stock := func() int { p, _ := store.FindProductBySKU(ctx, "X-1"); return p.Stock }
	if n := svc.ExpireReservations(ctx); n != 0 || stock() != 4 {
		t.Fatalf("before the TTL: released %d, stock %d", n, stock())
	}
	now = now.Add(time.Minute)
	if n := svc.ExpireReservations(ctx); n != 1 || stock() != 9 {
		t.Fatalf("after the TTL: released %d, stock %d; want 1 and 9", n, stock())
	}
	if v := telemetrytest.Value(t, tel.Registry, "product_reservations_expired_total", nil); v != 1 {
		t.Fatalf("product_reservations_expired_total = %v", v)
	}
	if v := telemetrytest.Value(t, tel.Registry, "product_stock_updates_total", map[string]string{"reason": "cancellation"}); v != 1 {
		t.Fatalf("cancellation stock updates = %v", v)
	}
}

// TestReservationAPI: POST /reservations prices, checks and reserves in
// one step (a stale expected price refuses it and takes no stock); GET
// /reservations lists held ones; POST /reservations/commit commits a batch
// and says which ids it could not; all are for services only.
func TestReservationAPI(t *testing.T) {
	f := mustFixture(t, "sqlite", 20)
	var p cloudcart.Product
	_ = json.Unmarshal(f.do(t, "GET", "/products/TOYS-0009", "", false).Body.Bytes(), &p)
	reserve := func(id string, price cloudcart.Money) *httptest.ResponseRecorder {
		body := fmt.Sprintf(`{"order_id":%q,"items":[{"sku":"TOYS-0009","qty":1,"price":%s},{"sku":"TOYS-0009","qty":1}]}`, id, price)
		return f.do(t, "POST", "/reservations", body, true)
	}
	stock := func() int {
		var q cloudcart.Product
		_ = json.Unmarshal(f.do(t, "GET", "/products/TOYS-0009", "", false).Body.Bytes(), &q)
		return q.Stock
	}
	if rec := reserve("ord_stale", p.Price+1); rec.Code != 409 || !strings.Contains(rec.Body.String(), "price of TOYS-0009 is "+p.Price.String()) || stock() != p.Stock {
		t.Fatalf("stale price: %d %s, stock %d of %d", rec.Code, rec.Body, stock(), p.Stock)
	}
	rec := reserve("ord_1", p.Price)
	var r cloudcart.Reservation
	_ = json.Unmarshal(rec.Body.Bytes(), &r)
	if rec.Code != 201 || r.Prices["TOYS-0009"] != p.Price || len(r.Items) != 1 || r.Items[0].Qty != 2 || stock() != p.Stock-2 {
		t.Fatalf("reserve: %d %s, stock %d", rec.Code, rec.Body, stock())
	}
	if rec := f.do(t, "GET", "/reservations?min_age_ms=0", "", false); rec.Code != 401 {
		t.Fatalf("anonymous list: %d", rec.Code)
	}
	if rec := f.do(t, "GET", "/reservations?min_age_ms=0", "", true); rec.Code != 200 || rec.Body.String() != `{"order_ids":["ord_1"]}`+"\n" {
		t.Fatalf("held: %d %q", rec.Code, rec.Body)
	}
	if rec := f.do(t, "GET", "/reservations?min_age_ms=60000", "", true); rec.Code != 200 || !strings.Contains(rec.Body.String(), `"order_ids":[]`) {
		t.Fatalf("held a minute: %d %s", rec.Code, rec.Body)
	}
	rec = f.do(t, "POST", "/reservations/commit", `{"order_ids":["ord_1","ord_none"]}`, true)
	var res products.CommitManyResponse
	_ = json.Unmarshal(rec.Body.Bytes(), &res)
	if rec.Code != 200 || len(res.Committed) != 1 || res.Committed[0] != "ord_1" || res.Errors["ord_none"].Code != cloudcart.ENOTFOUND {
		t.Fatalf("commit batch: %d %s", rec.Code, rec.Body)
	}
	if rec := f.do(t, "POST", "/reservations/commit", `{"order_ids":[]}`, true); rec.Code != 400 {
		t.Fatalf("empty batch: %d", rec.Code)
	}
	if rec := f.do(t, "GET", "/reservations?min_age_ms=0", "", true); !strings.Contains(rec.Body.String(), `"order_ids":[]`) {
		t.Fatalf("held after commit: %s", rec.Body)
	}
}
