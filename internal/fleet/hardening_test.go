package fleet_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cloudcart/cloudcart/internal/bus/bustest"
	"github.com/cloudcart/cloudcart/internal/fleet"
	"github.com/cloudcart/cloudcart/internal/fleet/fleettest"
	"github.com/cloudcart/cloudcart/internal/httpkit"
	"github.com/cloudcart/cloudcart/internal/sqlstore/sqlstoretest"
)

// answer is one HTTP response, read whole.
type answer struct {
	status int
	header http.Header
	body   string
}

func send(tb testing.TB, method, url, tok, body string) answer {
	tb.Helper()
	a := fleettest.Send(tb, method, url, tok, body)
	return answer{a.Status, a.Header, a.Body}
}

// mustRetryable checks a 429/503: Retry-After and a JSON error.
func mustRetryable(tb testing.TB, a answer) {
	tb.Helper()
	var e httpkit.ErrorResponse
	if a.header.Get("Retry-After") == "" || json.Unmarshal([]byte(a.body), &e) != nil || e.Error.Message == "" {
		tb.Fatalf("%d without Retry-After or JSON error: %v %s", a.status, a.header, a.body)
	}
}

// TestLoginFlood: 30 parallel wrong-password logins from one client. The
// gateway's auth limit answers the excess 429, the user service's bounded
// hashing 503, both with Retry-After and counted by reason; nothing else
// but 401. The latency of an authenticated request meanwhile is measured
// and logged, not asserted (docs/security.md has the figures).
func TestLoginFlood(t *testing.T) {
	f := mustFleet(t)
	gw := f.URL("gateway")
	email, tok := mustUser(t, gw)
	me := func() time.Duration {
		start := time.Now()
		if a := send(t, "GET", gw+"/api/users/me", tok, ""); a.status != 200 {
			t.Fatalf("GET /api/users/me: %d %s", a.status, a.body)
		}
		return time.Since(start)
	}
	p50 := func(ds []time.Duration) time.Duration {
		slices.Sort(ds)
		return ds[len(ds)/2]
	}
	var idle []time.Duration
	for range 40 {
		idle = append(idle, me())
		time.Sleep(10 * time.Millisecond)
	}

	const flood = 30
	wrong := fmt.Sprintf(`{"email":%q,"password":"not the password"}`, email)
	var (
		mu       sync.Mutex
		statuses = map[int]int{}
		wg       sync.WaitGroup
		start    = make(chan struct{})
	)
	for range flood {
		wg.Go(func() {
			<-start
			a := send(t, "POST", gw+"/api/auth/login", "", wrong)
			if a.status == 429 || a.status == 503 {
				mustRetryable(t, a)
			}
			mu.Lock()
			statuses[a.status]++
			mu.Unlock()
		})
	}
	var during []time.Duration
	flooding, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		for {
			during = append(during, me())
			select {
			case <-flooding:
				return
			case <-time.After(10 * time.Millisecond):
			}
		}
	}()
	close(start)
	wg.Wait()
	close(flooding)
	<-done
	t.Logf("30 parallel wrong logins: %v", statuses)
	t.Logf("GET /api/users/me p50: idle %v (%d samples), during the flood %v (%d samples)", p50(idle), len(idle), p50(during), len(during))
	for s := range statuses {
		if s != 401 && s != 429 && s != 503 {
			t.Errorf("status %d among the answers %v", s, statuses)
		}
	}
	if statuses[429]+statuses[503] == 0 {
		t.Fatalf("no 429 or 503 under %d parallel logins: %v", flood, statuses)
	}
	if got := unitValue(t, f, "gateway", "rate_limit_exceeded_total", map[string]string{"client_class": "auth"}); got != float64(statuses[429]) {
		t.Errorf("rate_limit_exceeded_total{client_class=auth} = %v, want %d", got, statuses[429])
	}
	if got := unitValue(t, f, "users", "user_password_work_rejected_total", nil); got != float64(statuses[503]) {
		t.Errorf("user_password_work_rejected_total = %v, want %d", got, statuses[503])
	}
}

// TestLoginFloodDirect sends the flood to the user service itself, past
// the gateway: only the bounded hashing stands in the way, so many more
// wrong logins queue; the excess is 503 with Retry-After.
func TestLoginFloodDirect(t *testing.T) {
	f := mustFleet(t)
	email, _ := mustUser(t, f.URL("gateway"))
	wrong := fmt.Sprintf(`{"email":%q,"password":"not the password"}`, email)
	var (
		mu       sync.Mutex
		statuses = map[int]int{}
		wg       sync.WaitGroup
	)
	for range 60 {
		wg.Go(func() {
			a := send(t, "POST", f.URL("users")+"/auth/login", "", wrong)
			if a.status == 503 {
				mustRetryable(t, a)
			}
			mu.Lock()
			statuses[a.status]++
			mu.Unlock()
		})
	}
	wg.Wait()
	t.Logf("60 parallel wrong logins at the user service: %v", statuses)
	if len(statuses) > 2 || statuses[401]+statuses[503] != 60 || statuses[503] == 0 {
		t.Fatalf("want only 401 and some 503, got %v", statuses)
	}
	full := unitValue(t, f, "users", "user_password_work_rejected_total", map[string]string{"reason": "queue_full"})
	waited := unitValue(t, f, "users", "user_password_work_rejected_total", map[string]string{"reason": "wait_timeout"})
	if full+waited != float64(statuses[503]) || full == 0 {
		t.Errorf("user_password_work_rejected_total: queue_full %v + wait_timeout %v, want %d with some queue_full", full, waited, statuses[503])
	}
}

// TestDiskFull fills the file system under the fleet's databases (a real
// tmpfs; the bus keeps its store elsewhere, as an external NATS would).
// Orders answer 503 with Retry-After naming the cause, the /readyz of
// the service that met the full disk turns not ready, and once space is freed everything
// recovers without a restart. No notification reaches Slack twice.
func TestDiskFull(t *testing.T) {
	data := sqlstoretest.MustTmpfs(t, "96m")
	slack := mustHook(t, 0)
	f := mustFleetConfig(t, func(c *fleet.Config) {
		c.DataDir = data
		c.Bus.URL = bustest.MustServer(t, "embedded")
		c.Bus.Listen = ""
		c.Notifier.SlackWebhookURL = slack.srv.URL
	})
	gw := f.URL("gateway")
	_, tok := mustUser(t, gw)
	before := mustPlaceOrder(t, gw, tok)
	notified := func(id string) int {
		n := 0
		for _, p := range slack.received() {
			if strings.Contains(string(p.body), id) && strings.Contains(string(p.body), "created") {
				n++
			}
		}
		return n
	}
	mustEventually(t, 30*time.Second, "the first order's notification", func() bool { return notified(before) == 1 })

	free := sqlstoretest.Fill(t, data)
	var full answer
	for i := 0; i < 200; i++ {
		a := send(t, "POST", gw+"/api/orders", tok, fleettest.OrderBody(t, gw))
		if a.status == 503 {
			full = a
			break
		}
		if a.status != 201 {
			t.Fatalf("order on a full disk: %d %s (want 201 while space lasts, then 503)", a.status, a.body)
		}
	}
	if full.status != 503 {
		t.Fatal("orders kept succeeding on a full disk")
	}
	mustRetryable(t, full)
	if !strings.Contains(full.body, "storage is full") {
		t.Fatalf("503 does not name the cause: %s", full.body)
	}
	// The service that met the full disk goes not ready: the order
	// service reserves stock before it records the order, so the first
	// write to fail may be the product service's.
	met := "orders"
	if strings.Contains(full.body, "product service unavailable") {
		met = "products"
	}
	if a := send(t, "GET", f.URL(met)+"/readyz", "", ""); a.status != 503 || !strings.Contains(a.body, "disk_full") {
		t.Fatalf("%s /readyz on a full disk: %d %s", met, a.status, a.body)
	}
	time.Sleep(2 * time.Second) // let the notifier meet the full disk too

	free()
	mustEventually(t, 30*time.Second, "orders and products ready again", func() bool {
		return send(t, "GET", f.URL("orders")+"/readyz", "", "").status == 200 &&
			send(t, "GET", f.URL("products")+"/readyz", "", "").status == 200
	})
	after := mustPlaceOrder(t, gw, tok)
	mustEventually(t, 60*time.Second, "the new order's notification", func() bool { return notified(after) >= 1 })
	time.Sleep(2 * time.Second) // a duplicate would come within a dispatcher round or two
	seen := map[string]int{}
	for _, p := range slack.received() {
		seen[string(p.body)]++
	}
	for body, n := range seen {
		if n > 1 {
			t.Errorf("Slack got the same notification %d times: %.200s", n, body)
		}
	}
}
