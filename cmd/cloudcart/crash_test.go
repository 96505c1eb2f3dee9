package main_test

import (
	"database/sql"
	"encoding/json"
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	_ "modernc.org/sqlite"
)

// TestKillOrdersMidBurst runs the product and order services as separate
// processes, SIGKILLs the order service in the middle of a burst of orders,
// restarts it, and checks from both databases that no confirmed order was
// lost and no stock is held by an order that does not exist or failed.
func TestKillOrdersMidBurst(t *testing.T) {
	productsDir, ordersDir := t.TempDir(), t.TempDir()
	products := mustStart(t, "serve", "products", "--bind", "127.0.0.1", "--data-dir", productsDir, "--products.seed-size", "50")
	purl := products.urls["products"]
	ordersArgs := []string{"serve", "orders", "--bind", "127.0.0.1", "--data-dir", ordersDir,
		"--orders.products-url", purl, "--orders.pending-timeout", "1s", "--orders.payment-failure-rate", "0.1",
		"--orders.ship-after", "1h"}
	orders := mustStart(t, ordersArgs...)

	var page struct {
		Products []struct {
			SKU   string
			Stock int
		}
	}
	getInto(t, purl+"/products?limit=10", &page)
	initial := map[string]int{}
	for _, p := range page.Products {
		initial[p.SKU] = p.Stock
	}

	// The burst: clients order until the service dies under them.
	var (
		mu        sync.Mutex
		confirmed []string
		wg        sync.WaitGroup
		stop      = make(chan struct{})
	)
	client := &http.Client{Timeout: 5 * time.Second}
	for i := range 16 {
		wg.Go(func() {
			for n := 0; ; n++ {
				select {
				case <-stop:
					return
				default:
				}
				p := page.Products[(i+n)%len(page.Products)]
				body := fmt.Sprintf(`{"customer":"c%d","items":[{"sku":%q,"qty":1}]}`, i, p.SKU)
				req, _ := http.NewRequest(http.MethodPost, orders.urls["orders"]+"/orders", strings.NewReader(body))
				req.Header.Set("Content-Type", "application/json")
				resp, err := client.Do(asService(req))
				if err != nil {
					continue // the process is gone
				}
				var o struct{ ID string }
				_ = json.NewDecoder(resp.Body).Decode(&o)
				resp.Body.Close()
				if resp.StatusCode == http.StatusCreated {
					mu.Lock()
					confirmed = append(confirmed, o.ID)
					mu.Unlock()
				}
			}
		})
	}
	time.Sleep(700 * time.Millisecond)
	_ = orders.cmd.Process.Kill() // SIGKILL: no shutdown, no cleanup
	_ = orders.cmd.Wait()
	close(stop)
	wg.Wait()
	if len(confirmed) == 0 {
		t.Fatal("no order was confirmed before the kill; the burst is too short to test anything")
	}

	// Restart on the same data; the sweep fails orders the kill left
	// pending and gives their stock back.
	orders = mustStart(t, ordersArgs...)
	mustEventually(t, 20*time.Second, "no pending order left", func() bool {
		var p struct{ Total int }
		getInto(t, orders.urls["orders"]+"/orders?status=pending", &p)
		return p.Total == 0
	})
	for _, id := range confirmed {
		var o struct{ Status string }
		getInto(t, orders.urls["orders"]+"/orders/"+id, &o)
		if o.Status != "confirmed" {
			t.Errorf("order %s was confirmed to its client but is %q after the crash", id, o.Status)
		}
	}
	orders.stop(t)
	products.stop(t)

	// Read both databases: every reservation still holding stock belongs to
	// a confirmed order, and stock + held = initial stock.
	odb := mustSQLite(t, filepath.Join(ordersDir, "orders.db"))
	pdb := mustSQLite(t, filepath.Join(productsDir, "products.db"))
	status := map[string]string{}
	rows, err := odb.Query(`SELECT id, status FROM orders`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var id, st string
		_ = rows.Scan(&id, &st)
		status[id] = st
	}
	rows.Close()
	held := map[string]int{}
	rows, err = pdb.Query(`SELECT r.order_id, i.sku, i.qty FROM reservations r JOIN reservation_items i ON i.order_id = r.order_id
		WHERE r.state IN ('reserved', 'committed')`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var id, sku string
		var qty int
		_ = rows.Scan(&id, &sku, &qty)
		if status[id] != "confirmed" {
			t.Errorf("stock of %s held by order %s, which is %q", sku, id, status[id])
		}
		held[sku] += qty
	}
	rows.Close()
	for sku, before := range initial {
		var now int
		if err := pdb.QueryRow(`SELECT stock FROM products WHERE sku = $1`, sku).Scan(&now); err != nil {
			t.Fatal(err)
		}
		if now+held[sku] != before {
			t.Errorf("%s: stock %d + held %d != initial %d", sku, now, held[sku], before)
		}
	}
	t.Logf("%d orders confirmed before the kill; %d orders in the database", len(confirmed), len(status))
}

func mustSQLite(tb testing.TB, path string) *sql.DB {
	tb.Helper()
	db, err := sql.Open("sqlite", "file:"+path+"?mode=ro")
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { db.Close() })
	return db
}

func getInto(tb testing.TB, url string, v any) {
	tb.Helper()
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	resp, err := http.DefaultClient.Do(asService(req))
	if err != nil {
		tb.Fatal(err)
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		tb.Fatalf("GET %s: %v", url, err)
	}
}
