package fleettest

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cloudcart/cloudcart/internal/authn"
	"github.com/cloudcart/cloudcart/internal/fleet"
	"github.com/cloudcart/cloudcart/internal/users"
)

// The admin every test fleet creates at start, and its chaos token.
const (
	AdminEmail    = "admin@example.com"
	AdminPassword = "admin password 1"
	ChaosToken    = "test-chaos-token-0123456789"
	// ServiceToken is the test fleets' service credential (docs/security.md).
	ServiceToken = "fleet-test-service-token-0123456789abcdef"
)

// Config is the configuration of a whole test fleet in one process
// (internal/fleet's tests, the browser tests of e2e/): free ports, a fresh
// data dir, a small catalog, cheap password hashing, the admin above; on
// the event side the embedded NATS also listening (tests publish to it),
// the chaos token above, a fast aggregator, and local Slack and webhook
// receivers (the webhook fails its first two sends, so the retry path
// always runs).
func Config(tb testing.TB) fleet.Config {
	tb.Helper()
	return newConfig(tb.TempDir(), tb.Cleanup)
}

// newConfig is Config with its data dir and its receivers' cleanup given
// (a test's, or a Shared fleet's).
func newConfig(dataDir string, cleanup func(func())) fleet.Config {
	ports := map[string]int{}
	for _, p := range fleet.Planned {
		ports[p.Name] = 0
	}
	c := fleet.Config{DataDir: dataDir, Bind: "127.0.0.1", Ports: ports, Version: "test", AllInOne: true,
		Products: fleet.ProductsConfig{SeedSize: 300},
		Users:    fleet.UsersConfig{BcryptCost: users.MinBcryptCost, AdminEmail: AdminEmail, AdminPassword: AdminPassword},
		// bcrypt under the race detector on a busy 2-core box can take
		// seconds; a login must not become the gateway's 504.
		Gateway: fleet.GatewayConfig{UpstreamTimeout: 30 * time.Second}}
	c.Bus.Listen = "127.0.0.1:0"
	c.Chaos.Token = ChaosToken
	c.Notifier.SlackWebhookURL = receiver(cleanup, 0)
	c.Notifier.WebhookURL = receiver(cleanup, 2)
	c.Notifier.MaxAttempts = 2
	c.Aggregator.Interval = 250 * time.Millisecond
	// A scrape may take longer than that on a busy machine under the race
	// detector; one that times out would restart the window.
	c.Aggregator.Timeout = 10 * time.Second
	// As under `cloudcart run`: the demo endpoints open (the console's
	// traffic button and scenarios post /simulate anonymously), and a
	// known service credential, which the helpers below send.
	c.Orders.DemoEndpoints = true
	c.ServiceToken = ServiceToken
	return c
}

// do sends req as an internal caller: with the service credential, as
// the tests' direct calls to the services are operators' calls.
func do(tb testing.TB, req *http.Request) *http.Response {
	tb.Helper()
	req.Header.Set(authn.HeaderServiceToken, ServiceToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		tb.Fatal(err)
	}
	return resp
}

func newRequest(tb testing.TB, method, url, body string) *http.Request {
	tb.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		tb.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	return req
}

// receiver is a local stand-in for Slack or a webhook that answers "ok",
// except to its first failFirst posts (500).
func receiver(cleanup func(func()), failFirst int) string {
	var n atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		if n.Add(1) <= int64(failFirst) {
			http.Error(w, "rollup_error", http.StatusInternalServerError)
			return
		}
		_, _ = io.WriteString(w, "ok")
	}))
	cleanup(srv.Close)
	return srv.URL
}

// Post posts a JSON body with the service credential and returns the
// status.
func Post(tb testing.TB, url, body string) int {
	tb.Helper()
	resp := do(tb, newRequest(tb, http.MethodPost, url, body))
	resp.Body.Close()
	return resp.StatusCode
}

// Get gets url with the service credential and returns the status.
func Get(tb testing.TB, url string) int {
	tb.Helper()
	resp := do(tb, newRequest(tb, http.MethodGet, url, ""))
	resp.Body.Close()
	return resp.StatusCode
}

// GetJSON decodes the JSON answer of url (asked with the service
// credential) into v, whatever the status.
func GetJSON(tb testing.TB, url string, v any) {
	tb.Helper()
	resp := do(tb, newRequest(tb, http.MethodGet, url, ""))
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		tb.Fatalf("GET %s: %v", url, err)
	}
}

// MustGetJSON decodes the JSON answer of url (asked with the service
// credential) into v; a status other than 200 fails the test.
func MustGetJSON(tb testing.TB, url string, v any) {
	tb.Helper()
	resp := do(tb, newRequest(tb, http.MethodGet, url, ""))
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		tb.Fatalf("GET %s: %d", url, resp.StatusCode)
	}
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		tb.Fatal(err)
	}
}

// Answer is one HTTP response, read whole.
type Answer struct {
	Status int
	Header http.Header
	Body   string
}

// Send sends a request with an optional bearer token and reads the whole
// answer.
func Send(tb testing.TB, method, url, tok, body string) Answer {
	tb.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		tb.Fatal(err)
	}
	if tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		tb.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return Answer{resp.StatusCode, resp.Header, string(b)}
}

// Call sends a JSON request with an optional bearer token and decodes a
// JSON answer into out (when not nil), returning the status.
func Call(tb testing.TB, method, url, tok, body string, out any) int {
	tb.Helper()
	a := Send(tb, method, url, tok, body)
	if out != nil {
		if err := json.Unmarshal([]byte(a.Body), out); err != nil {
			tb.Fatalf("%s %s: %d %s", method, url, a.Status, a.Body)
		}
	}
	return a.Status
}

var userSeq atomic.Int64

// MustUser registers a new user through the gateway gw and logs in.
func MustUser(tb testing.TB, gw string) (email, tok string) {
	tb.Helper()
	email = fmt.Sprintf("user%d@example.com", userSeq.Add(1))
	if c := Call(tb, "POST", gw+"/api/auth/register", "", `{"email":"`+email+`","name":"Test","password":"correct horse battery"}`, nil); c != http.StatusAccepted {
		tb.Fatalf("register: %d", c)
	}
	return email, MustLogin(tb, gw, email, "correct horse battery")
}

// MustLogin logs in through the gateway gw and returns the access token.
func MustLogin(tb testing.TB, gw, email, password string) string {
	tb.Helper()
	var login struct {
		AccessToken string `json:"access_token"`
	}
	if c := Call(tb, "POST", gw+"/api/auth/login", "", `{"email":"`+email+`","password":"`+password+`"}`, &login); c != http.StatusOK {
		tb.Fatalf("login %s: %d", email, c)
	}
	return login.AccessToken
}

// OrderBody is the body of an order of one unit of the catalog's first
// product at its listed price, read through the gateway gw.
func OrderBody(tb testing.TB, gw string) string {
	tb.Helper()
	var page struct {
		Products []struct {
			SKU   string          `json:"sku"`
			Price json.RawMessage `json:"price"`
		} `json:"products"`
	}
	if c := Call(tb, "GET", gw+"/api/products?limit=1", "", "", &page); c != http.StatusOK || len(page.Products) == 0 {
		tb.Fatalf("GET /api/products: %d %+v", c, page)
	}
	p := page.Products[0]
	return fmt.Sprintf(`{"customer":"alice","items":[{"sku":%q,"qty":1,"price":%s}]}`, p.SKU, p.Price)
}

// MustPlaceOrder places an order of one catalog product (OrderBody)
// through the gateway gw and returns its id.
func MustPlaceOrder(tb testing.TB, gw, tok string) string {
	tb.Helper()
	var o struct{ ID, Status string }
	if c := Call(tb, "POST", gw+"/api/orders", tok, OrderBody(tb, gw), &o); c != http.StatusCreated || o.ID == "" {
		tb.Fatalf("POST /api/orders: %d %+v", c, o)
	}
	return o.ID
}

// EdgeTraffic registers and logs in one user and the admin through the
// gateway, then returns a cheap function (no password hashing) that moves
// the gateway's and the user service's metrics, for tests that load the
// fleet repeatedly.
func EdgeTraffic(tb testing.TB, f *fleet.Fleet) func() {
	tb.Helper()
	gw := f.URL("gateway")
	_, tok := MustUser(tb, gw)
	admin := MustLogin(tb, gw, AdminEmail, AdminPassword)
	Call(tb, "PATCH", gw+"/api/users/me", tok, `{"name":"Renamed"}`, nil)
	Call(tb, "POST", gw+"/api/auth/login", "", `{"email":"nobody@example.com","password":"wrong password"}`, nil)
	return func() {
		Call(tb, "GET", gw+"/api/users/me", tok, "", nil)
		Call(tb, "GET", gw+"/api/products?limit=2", "", "", nil)
		Call(tb, "GET", gw+"/api/orders", "not-a-token", "", nil)
		Call(tb, "GET", gw+"/api/nowhere", "", "", nil)
		Call(tb, "GET", gw+"/api/users?limit=1", admin, "", nil)
	}
}

// CommerceTraffic returns a function that exercises the product service
// and the order lifecycle the way shoppers do: list, view, search, order a
// real product, cancel it.
func CommerceTraffic(tb testing.TB, f *fleet.Fleet) func() {
	tb.Helper()
	products, orders := f.URL("products"), f.URL("orders")
	return func() {
		var page struct {
			Products []struct{ SKU string }
		}
		GetJSON(tb, products+"/products?category=toys&limit=5", &page)
		if len(page.Products) == 0 {
			tb.Fatal("no toys in the seeded catalog")
		}
		sku := page.Products[0].SKU
		Get(tb, products+"/products/"+sku)
		Get(tb, products+"/products/search?q=wooden")
		Get(tb, products+"/products/NOPE-0000") // a product error
		resp := do(tb, newRequest(tb, http.MethodPost, orders+"/orders", `{"customer":"shopper","items":[{"sku":"`+sku+`","qty":1}]}`))
		var o struct{ ID string }
		_ = json.NewDecoder(resp.Body).Decode(&o)
		resp.Body.Close()
		if resp.StatusCode == http.StatusCreated {
			Post(tb, orders+"/orders/"+o.ID+"/cancel", "")
		}
	}
}

// TestAlert is an Alertmanager webhook message (version 4) with one alert.
func TestAlert(status string) string {
	ends := "0001-01-01T00:00:00Z"
	if status == "resolved" {
		ends = time.Now().UTC().Format(time.RFC3339)
	}
	return fmt.Sprintf(`{"version":"4","groupKey":"{}:{alertname=\"TestAlert\"}","truncatedAlerts":0,"status":%q,"receiver":"ticket",
		"groupLabels":{"alertname":"TestAlert"},"commonLabels":{"alertname":"TestAlert","severity":"ticket"},"commonAnnotations":{},
		"externalURL":"http://localhost:9093","alerts":[{"status":%q,"labels":{"alertname":"TestAlert","job":"order-service","severity":"ticket"},
		"annotations":{"summary":"a test alert"},"startsAt":"2026-01-01T00:00:00Z","endsAt":%q,
		"generatorURL":"http://localhost:9090/graph","fingerprint":"0123456789abcdef"}]}`, status, status, ends)
}

// WaitFor polls cond until it returns "" or the timeout passes, then fails
// with cond's last answer.
func WaitFor(tb testing.TB, timeout time.Duration, what string, cond func() string) {
	tb.Helper()
	deadline := time.Now().Add(timeout)
	for {
		msg := cond()
		if msg == "" {
			return
		}
		if time.Now().After(deadline) {
			tb.Fatalf("waiting for %s: %s", what, msg)
		}
		time.Sleep(250 * time.Millisecond)
	}
}
