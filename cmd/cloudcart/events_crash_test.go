package main_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/cloudcart/cloudcart/internal/freeport"
)

// only returns the URL of a single-service process.
func (p *proc) only(tb testing.TB) string {
	tb.Helper()
	if len(p.urls) != 1 {
		tb.Fatalf("want one service, got %v", p.urls)
	}
	for _, u := range p.urls {
		return u
	}
	return ""
}

// TestKillOrdersEventsExactlyOnce runs the product, notification and order
// services as separate processes on one bus (the notifier's embedded NATS,
// listening), SIGKILLs the order service in the middle of 1,000 order
// attempts, restarts it, and checks that every order committed in its
// database has exactly one order.created event in the stream and exactly
// one order.created notification: the outbox neither lost nor doubled an
// event across the crash.
func TestKillOrdersEventsExactlyOnce(t *testing.T) {
	if testing.Short() {
		t.Skip("starts three processes and places 1,000 orders")
	}
	natsURL := "nats://" + freeport.Addr(t)
	notifier := mustStart(t, "serve", "notifier", "--bind", "127.0.0.1", "--data-dir", t.TempDir(),
		"--nats.listen", strings.TrimPrefix(natsURL, "nats://"))
	nurl := notifier.only(t)
	products := mustStart(t, "serve", "products", "--bind", "127.0.0.1", "--data-dir", t.TempDir(),
		"--products.seed-size", "50", "--nats.url", natsURL)
	purl := products.only(t)
	ordersDir := t.TempDir()
	ordersArgs := []string{"serve", "orders", "--bind", "127.0.0.1", "--data-dir", ordersDir, "--nats.url", natsURL,
		"--orders.products-url", purl, "--orders.pending-timeout", "1s", "--orders.payment-failure-rate", "0.1",
		"--orders.ship-after", "1h"}
	orders := mustStart(t, ordersArgs...)
	var ordersURL atomic.Pointer[string]
	ordersURL.Store(new(orders.only(t)))

	var page struct{ Products []struct{ SKU string } }
	getInto(t, purl+"/products?limit=50", &page)
	if len(page.Products) == 0 {
		t.Fatal("no products")
	}

	// The burst: 16 clients share 1,000 attempts, each with its own
	// Idempotency-Key. An attempt cut off by the kill is retried with the
	// same key once the service is back, as a careful client would.
	const attempts, killAt, clients = 1000, 400, 16
	var (
		next     atomic.Int64
		answered sync.Map // status code → count
		wg       sync.WaitGroup
		killNow  = make(chan struct{})
	)
	client := &http.Client{Timeout: 5 * time.Second}
	for i := range clients {
		wg.Go(func() {
			for {
				n := next.Add(1)
				if n > attempts {
					return
				}
				if n == killAt {
					close(killNow)
				}
				p := page.Products[int(n)%len(page.Products)]
				body := fmt.Sprintf(`{"customer":"c%d","items":[{"sku":%q,"qty":1}]}`, i, p.SKU)
				for try := 0; ; try++ {
					req, _ := http.NewRequest("POST", *ordersURL.Load()+"/orders", strings.NewReader(body))
					req.Header.Set("Content-Type", "application/json")
					req.Header.Set("Idempotency-Key", fmt.Sprintf("crash-%d", n))
					resp, err := client.Do(asService(req))
					if err == nil {
						_, _ = io.Copy(io.Discard, resp.Body)
						resp.Body.Close()
						c, _ := answered.LoadOrStore(resp.StatusCode, new(atomic.Int64))
						c.(*atomic.Int64).Add(1)
						break
					}
					if try == 300 { // 15 s without an order service
						t.Errorf("attempt %d: %v", n, err)
						break
					}
					time.Sleep(50 * time.Millisecond)
				}
			}
		})
	}
	<-killNow
	_ = orders.cmd.Process.Kill() // SIGKILL: no shutdown, no last relay flush
	_ = orders.cmd.Wait()
	orders = mustStart(t, ordersArgs...)
	ordersURL.Store(new(orders.only(t)))
	wg.Wait()

	// The sweep fails what the kill left pending; then a graceful stop
	// runs the relay's last flush, and the outbox must be empty.
	mustEventually(t, 20*time.Second, "no pending order left", func() bool {
		var p struct{ Total int }
		getInto(t, *ordersURL.Load()+"/orders?status=pending", &p)
		return p.Total == 0
	})
	orders.stop(t)
	odb := mustSQLite(t, filepath.Join(ordersDir, "orders.db"))
	var unsent int
	if err := odb.QueryRow(`SELECT COUNT(*) FROM event_outbox WHERE sent_at IS NULL`).Scan(&unsent); err != nil {
		t.Fatal(err)
	}
	if unsent != 0 {
		t.Fatalf("%d events still unsent in the outbox after a graceful stop", unsent)
	}
	var interrupted int
	if err := odb.QueryRow(`SELECT COUNT(*) FROM orders WHERE failure_reason LIKE 'processing was interrupted%'`).Scan(&interrupted); err != nil {
		t.Fatal(err)
	}
	committed := map[string]string{}
	rows, err := odb.Query(`SELECT id, status FROM orders`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var id, st string
		if err := rows.Scan(&id, &st); err != nil {
			t.Fatal(err)
		}
		if st == "pending" {
			t.Errorf("order %s is still pending", id)
		}
		committed[id] = st
	}
	rows.Close()
	if len(committed) < attempts/2 {
		t.Fatalf("only %d orders committed out of %d attempts", len(committed), attempts)
	}

	// The stream: order.created events by Nats-Msg-Id and by order id.
	byMsgID, byOrder := mustOrderCreatedEvents(t, natsURL)
	for id, n := range byMsgID {
		if n != 1 {
			t.Errorf("event %s stored %d times", id, n)
		}
	}
	for id := range committed {
		if byOrder[id] != 1 {
			t.Errorf("order %s (%s): %d order.created events in %s, want 1", id, committed[id], byOrder[id], "CLOUDCART_EVENTS")
		}
	}
	for id, n := range byOrder {
		if _, ok := committed[id]; !ok {
			t.Errorf("order.created ×%d for order %s, which is not in the database", n, id)
		}
	}

	// The notifier: one order.created notification per committed order.
	var notified map[string]int
	mustEventually(t, 20*time.Second, "a notification for every committed order", func() bool {
		notified = orderNotifications(t, nurl)
		return len(notified) >= len(committed)
	})
	time.Sleep(500 * time.Millisecond) // a late duplicate would show now
	notified = orderNotifications(t, nurl)
	for id := range committed {
		if notified[id] != 1 {
			t.Errorf("order %s: %d order.created notifications, want 1", id, notified[id])
		}
	}
	if len(notified) != len(committed) {
		t.Errorf("%d orders notified, %d committed", len(notified), len(committed))
	}
	var codes []string
	answered.Range(func(k, v any) bool {
		codes = append(codes, fmt.Sprintf("%v×%d", k, v.(*atomic.Int64).Load()))
		return true
	})
	t.Logf("%d attempts (answers %v); %d orders committed, %d of them left pending by the kill; %d order.created events; %d orders notified",
		attempts, codes, len(committed), interrupted, len(byMsgID), len(notified))
	products.stop(t) // before the bus's process, so its relay's last flush reaches the bus
	notifier.stop(t)
}

// mustOrderCreatedEvents reads every order.created message of the events
// stream and counts them by Nats-Msg-Id and by the order id in the data.
func mustOrderCreatedEvents(tb testing.TB, natsURL string) (byMsgID, byOrder map[string]int) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	nc, err := nats.Connect(natsURL)
	if err != nil {
		tb.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		tb.Fatal(err)
	}
	const subject = "cloudcart.events.order.created"
	s, err := js.Stream(ctx, "CLOUDCART_EVENTS")
	if err != nil {
		tb.Fatal(err)
	}
	info, err := s.Info(ctx, jetstream.WithSubjectFilter(subject))
	if err != nil {
		tb.Fatal(err)
	}
	want := int(info.State.Subjects[subject])
	cons, err := s.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{FilterSubjects: []string{subject}})
	if err != nil {
		tb.Fatal(err)
	}
	byMsgID, byOrder = map[string]int{}, map[string]int{}
	for got := 0; got < want; {
		batch, err := cons.Fetch(min(want-got, 500), jetstream.FetchMaxWait(5*time.Second))
		if err != nil {
			tb.Fatal(err)
		}
		n := 0
		for m := range batch.Messages() {
			n++
			var e struct {
				ID   string `json:"id"`
				Data struct {
					OrderID string `json:"order_id"`
				} `json:"data"`
			}
			if err := json.Unmarshal(m.Data(), &e); err != nil {
				tb.Fatal(err)
			}
			if id := m.Headers().Get(jetstream.MsgIDHeader); id != e.ID {
				tb.Errorf("Nats-Msg-Id %q is not the event id %q", id, e.ID)
			}
			byMsgID[e.ID]++
			byOrder[e.Data.OrderID]++
		}
		if batch.Error() != nil {
			tb.Fatal(batch.Error())
		}
		if n == 0 {
			tb.Fatalf("stream says %d order.created messages; read %d", want, got)
		}
		got += n
	}
	return byMsgID, byOrder
}

// orderNotifications pages through the notifier's order.created
// notifications and counts them by order id.
func orderNotifications(tb testing.TB, notifierURL string) map[string]int {
	tb.Helper()
	out := map[string]int{}
	before := ""
	for {
		q := url.Values{"kind": {"order.created"}, "limit": {"500"}}
		if before != "" {
			q.Set("before", before)
		}
		var page struct {
			Notifications []struct {
				Fields map[string]string `json:"fields"`
			} `json:"notifications"`
			Next string `json:"next"`
		}
		getInto(tb, notifierURL+"/notifications?"+q.Encode(), &page)
		for _, n := range page.Notifications {
			out[n.Fields["order_id"]]++
		}
		if page.Next == "" {
			return out
		}
		before = page.Next
	}
}
