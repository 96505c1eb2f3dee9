package fleet_test

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/cloudcart/cloudcart/internal/httpkit"
)

// TestStrictParameters: a bad query parameter on any service, direct or
// through the gateway, is a 400 JSON error naming the parameter; a path
// the mux would redirect is a JSON 404, never a redirect with an HTML
// body. Good parameters still work.
func TestStrictParameters(t *testing.T) {
	f := mustFleet(t)
	_, tok := mustUser(t, f.URL("gateway"))
	admin := mustLogin(t, f.URL("gateway"), testAdminEmail, testAdminPassword)
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	for _, tc := range []struct {
		service, method, path, tok string
		want                       int
		names                      string // the parameter the message must name
	}{
		{"gateway", "GET", "/api/products?min_price=abc", "", 400, "min_price"},
		{"gateway", "GET", "/api/products?sort=evil", "", 400, "sort"},
		{"gateway", "GET", "/api/products?limit=abc", "", 400, "limit"},
		{"gateway", "GET", "/api/products?limit=0", "", 400, "limit"},
		{"gateway", "GET", "/api/products?limit=5&limit=6", "", 400, "limit"},
		{"gateway", "GET", "/api/products?category=%zz", "", 400, "category"},
		{"gateway", "GET", "/api/products?category=a%00b", "", 400, "category"},
		{"gateway", "GET", "/api/products?limt=5", "", 400, "limt"},
		{"gateway", "GET", "/api/products/top?n=-1", "", 400, "n"},
		{"gateway", "GET", "/api/products/search?q=mug&limit=-1", "", 400, "limit"},
		{"gateway", "GET", "/api/categories?x=1", "", 400, "x"},
		{"gateway", "GET", "/api/orders?limit=%zz", tok, 400, "limit"},
		{"gateway", "GET", "/api/orders?status=evil", tok, 400, "status"},
		{"gateway", "GET", "/api/orders?offset=-1", tok, 400, "offset"},
		{"gateway", "GET", "/api/users/me?debug=1", tok, 400, "debug"},
		{"gateway", "GET", "/api/users?role=root", admin, 400, "role"},
		{"gateway", "GET", "/api/users?active=yes", admin, 400, "active"},
		{"gateway", "POST", "/api/auth/login?x=1", "", 400, "x"},
		{"orders", "POST", "/simulate?error_rate=2", "", 400, "error_rate"},
		{"orders", "POST", "/simulate?count=abc", "", 400, "count"},
		{"orders", "GET", "/slow?ms=-5", "", 400, "ms"},
		{"products", "GET", "/products?sku=" + strings.Repeat("a", 65), "", 400, "sku"},
		{"aggregator", "GET", "/services?window=abc", "", 400, "window"},
		{"notifier", "GET", "/notifications?limit=abc", "", 400, "limit"},
		{"notifier", "GET", "/notifications?sort=evil", "", 400, "sort"},
		{"chaos", "GET", "/chaos/settings?x=1", "", 401, ""}, // the token is checked first
		{"gateway", "GET", "//api//orders", tok, 404, ""},
		{"gateway", "GET", "/api/products/../orders", "", 404, ""},
		{"gateway", "GET", "/api/./products", "", 404, ""},
		{"orders", "GET", "//orders", "", 404, ""},
		{"products", "GET", "/products/%2e%2e/categories", "", 404, ""},
		// Good parameters.
		{"gateway", "GET", "/api/products?category=electronics&limit=5&offset=0", "", 200, ""},
		{"gateway", "GET", "/api/products/search?q=mug&limit=3", "", 200, ""},
		{"gateway", "GET", "/api/orders?limit=10&status=confirmed", tok, 200, ""},
		{"gateway", "GET", "/api/users?role=admin&active=true&limit=5", admin, 200, ""},
		{"notifier", "GET", "/notifications?limit=5&kind=alert", "", 200, ""},
		{"aggregator", "GET", "/services", "", 200, ""},
	} {
		t.Run(tc.service+" "+tc.method+" "+tc.path, func(t *testing.T) {
			req, err := http.NewRequest(tc.method, f.URL(tc.service)+tc.path, nil)
			if err != nil {
				t.Fatal(err)
			}
			req.URL.Opaque = "//" + req.URL.Host + strings.SplitN(tc.path, "?", 2)[0] // keep the path as written
			if tc.tok != "" {
				req.Header.Set("Authorization", "Bearer "+tc.tok)
			}
			resp, err := client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != tc.want {
				t.Fatalf("%d %s, want %d", resp.StatusCode, b, tc.want)
			}
			if tc.want == 200 {
				return
			}
			var e httpkit.ErrorResponse
			if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") || json.Unmarshal(b, &e) != nil || e.Error.Message == "" {
				t.Fatalf("not a JSON error (%s): %s", ct, b)
			}
			if tc.names != "" && !strings.Contains(e.Error.Message, tc.names) {
				t.Fatalf("message %q does not name %s", e.Error.Message, tc.names)
			}
		})
	}
}
