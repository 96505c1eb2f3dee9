package load_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/cloudcart/cloudcart/internal/cloudcart"
)

// shop is a fake of the gateway's API, just enough for the journeys: a
// catalog of 30 products per category (perCategory with mustShopOf), accounts, tokens and orders. It
// fails the test on a request the real API would refuse for the
// generator's fault, and logs every request.
type shop struct {
	tb          testing.TB
	srv         *httptest.Server
	perCategory int
	products    []fakeProduct // the catalog, built once

	// refuseFirstToken: every user's first token is answered 401, as if it
	// had expired, so the generator must log in again.
	refuseFirstToken bool
	// legacyRegister answers registration as fleets before the uniform
	// answer did, and as the generator still accepts: 201 for a new
	// email, 409 for a taken one.
	legacyRegister bool

	mu       sync.Mutex
	log      []string       // "METHOD /path?query body", in arrival order
	hits     map[string]int // by route pattern
	accounts map[string]int // email → logins so far
	tokens   map[string]int // token → its number for its user (1, 2, ...)
	keys     map[string]bool
	orders   int
	ordered  []string // SKUs, in arrival order
	stock    map[string]int
}

func mustShop(tb testing.TB) *shop {
	tb.Helper()
	return mustShopOf(tb, 30)
}

// mustShopOf is a shop with perCategory products in each category.
func mustShopOf(tb testing.TB, perCategory int) *shop {
	tb.Helper()
	s := &shop{tb: tb, perCategory: perCategory, hits: map[string]int{}, accounts: map[string]int{}, tokens: map[string]int{},
		keys: map[string]bool{}, stock: map[string]int{}}
	s.products = s.build()
	for _, p := range s.catalog() {
		s.stock[p.SKU] = p.Stock
	}
	mux := http.NewServeMux()
	handle := func(pattern string, h func(w http.ResponseWriter, r *http.Request, body []byte)) {
		mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
			body, _ := io.ReadAll(r.Body)
			s.mu.Lock()
			s.log = append(s.log, r.Method+" "+r.URL.RequestURI()+" "+string(body))
			s.hits[pattern]++
			s.mu.Unlock()
			if r.Header.Get("User-Agent") != "cloudcart-load" {
				tb.Errorf("%s %s: User-Agent %q", r.Method, r.URL, r.Header.Get("User-Agent"))
			}
			h(w, r, body)
		})
	}
	handle("POST /api/auth/register", s.register)
	handle("POST /api/auth/login", s.login)
	handle("GET /api/categories", func(w http.ResponseWriter, r *http.Request, _ []byte) {
		writeJSON(w, 200, map[string][]string{"categories": cloudcart.Categories})
	})
	handle("GET /api/products", s.list)
	handle("GET /api/products/search", s.search)
	handle("GET /api/products/{sku}", s.product)
	handle("POST /api/orders", s.authed(s.placeOrder))
	handle("GET /api/orders", s.authed(func(w http.ResponseWriter, r *http.Request, _ []byte) {
		if !strings.HasPrefix(r.URL.Query().Get("customer"), "load-user-") {
			tb.Errorf("GET /api/orders without the customer: %s", r.URL)
		}
		writeJSON(w, 200, map[string]any{"orders": []any{}, "total": 0})
	}))
	handle("GET /api/orders/{id}", s.authed(func(w http.ResponseWriter, r *http.Request, _ []byte) {
		writeJSON(w, 200, map[string]string{"id": r.PathValue("id"), "status": "confirmed"})
	}))
	handle("POST /api/orders/{id}/cancel", s.authed(func(w http.ResponseWriter, r *http.Request, _ []byte) {
		writeJSON(w, 200, map[string]string{"id": r.PathValue("id"), "status": "cancelled"})
	}))
	handle("GET /api/users/me", s.authed(func(w http.ResponseWriter, r *http.Request, _ []byte) {
		writeJSON(w, 200, map[string]string{"id": "u", "email": "e"})
	}))
	s.srv = httptest.NewServer(mux)
	tb.Cleanup(s.srv.Close)
	return s
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

type fakeProduct struct {
	SKU               string `json:"sku"`
	Category          string `json:"category"`
	Name              string `json:"name"`
	Price             int    `json:"price"`
	Stock             int    `json:"stock"`
	LowStockThreshold int    `json:"low_stock_threshold"`
}

// catalog: every fifth product is short of stock (12, threshold 10), one
// has none.
func (s *shop) catalog() []fakeProduct { return s.products }

func (s *shop) build() []fakeProduct {
	var out []fakeProduct
	for _, c := range cloudcart.Categories {
		for i := range s.perCategory {
			p := fakeProduct{SKU: fmt.Sprintf("%s-%04d", strings.ToUpper(c[:4]), i+1), Category: c,
				Name: "Wooden Thing", Price: 1000 + i, Stock: 100, LowStockThreshold: 10}
			if i%5 == 0 {
				p.Stock = 12
			}
			if i == 7 {
				p.Stock = 0
			}
			out = append(out, p)
		}
	}
	return out
}

func (s *shop) register(w http.ResponseWriter, r *http.Request, body []byte) {
	var req struct{ Email, Name, Password string }
	if err := json.Unmarshal(body, &req); err != nil || req.Email == "" || len(req.Password) < 8 || req.Name == "" {
		s.tb.Errorf("register: %s", body)
		writeJSON(w, 400, nil)
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	accepted := map[string]string{"status": "accepted"} // the same for a new and a taken email
	if _, ok := s.accounts[req.Email]; ok && s.legacyRegister {
		writeJSON(w, 409, map[string]string{"error": "exists"})
		return
	}
	if s.legacyRegister {
		s.accounts[req.Email] = 0
		writeJSON(w, 201, map[string]string{"email": req.Email})
		return
	}
	if _, ok := s.accounts[req.Email]; ok {
		writeJSON(w, 202, accepted)
		return
	}
	s.accounts[req.Email] = 0
	writeJSON(w, 202, accepted)
}

func (s *shop) login(w http.ResponseWriter, r *http.Request, body []byte) {
	var req struct{ Email, Password string }
	_ = json.Unmarshal(body, &req)
	s.mu.Lock()
	defer s.mu.Unlock()
	n, ok := s.accounts[req.Email]
	if !ok {
		s.tb.Errorf("login before register: %s", body)
		writeJSON(w, 401, nil)
		return
	}
	n++
	s.accounts[req.Email] = n
	tok := fmt.Sprintf("tok-%s-%d", req.Email, n)
	s.tokens[tok] = n
	writeJSON(w, 200, map[string]any{"access_token": tok, "token_type": "Bearer", "expires_in": 3600})
}

func (s *shop) authed(h func(http.ResponseWriter, *http.Request, []byte)) func(http.ResponseWriter, *http.Request, []byte) {
	return func(w http.ResponseWriter, r *http.Request, body []byte) {
		tok := strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
		s.mu.Lock()
		n, ok := s.tokens[tok]
		s.mu.Unlock()
		if !ok || (s.refuseFirstToken && n == 1) {
			writeJSON(w, 401, nil)
			return
		}
		h(w, r, body)
	}
}

func (s *shop) list(w http.ResponseWriter, r *http.Request, _ []byte) {
	q := r.URL.Query()
	limit, _ := strconv.Atoi(q.Get("limit"))
	offset, _ := strconv.Atoi(q.Get("offset"))
	if limit < 1 || limit > 100 || offset < 0 || offset > 100_000 {
		s.tb.Errorf("GET %s: limit 1–100 and offset 0–100,000, as the product service takes", r.URL)
	}
	var page []fakeProduct
	for _, p := range s.catalog() {
		if q.Get("category") == "" || p.Category == q.Get("category") {
			page = append(page, p)
		}
	}
	total := len(page)
	page = page[min(offset, len(page)):]
	page = page[:min(limit, len(page))]
	writeJSON(w, 200, map[string]any{"products": page, "total": total})
}

func (s *shop) search(w http.ResponseWriter, r *http.Request, _ []byte) {
	page := []fakeProduct{}
	if q := r.URL.Query().Get("q"); q != "unicorn" && q != "teleporter" {
		page = s.catalog()[:3]
	}
	writeJSON(w, 200, map[string]any{"products": page})
}

func (s *shop) product(w http.ResponseWriter, r *http.Request, _ []byte) {
	for _, p := range s.catalog() {
		if p.SKU == r.PathValue("sku") {
			writeJSON(w, 200, p)
			return
		}
	}
	writeJSON(w, 404, nil)
}

func (s *shop) placeOrder(w http.ResponseWriter, r *http.Request, body []byte) {
	var req struct {
		Customer string
		Items    []struct {
			SKU   string
			Qty   int
			Price *int
		}
	}
	key := r.Header.Get("Idempotency-Key")
	if err := json.Unmarshal(body, &req); err != nil || len(req.Items) != 1 || req.Customer == "" || key == "" {
		s.tb.Errorf("POST /api/orders %q: %s", key, body)
		writeJSON(w, 400, nil)
		return
	}
	it := req.Items[0]
	s.mu.Lock()
	defer s.mu.Unlock()
	s.ordered = append(s.ordered, it.SKU)
	if s.keys[key] {
		s.tb.Errorf("Idempotency-Key %q used twice", key)
	}
	s.keys[key] = true
	if it.Price != nil || it.Qty < 1 || it.Qty > 3 {
		s.tb.Errorf("order item %+v: want a quantity of 1 to 3 and no price (the catalog's applies)", it)
	}
	if st := s.stock[it.SKU]; st-it.Qty < 10+5 {
		s.tb.Errorf("ordered %d of %s with only %d in stock (threshold 10)", it.Qty, it.SKU, st)
	}
	s.orders++
	// The id comes from the journey's index in the key, so that the same
	// seed asks for the same order ids whatever the interleaving.
	writeJSON(w, 201, map[string]string{"id": "ord-" + key[strings.LastIndex(key, "-")+1:], "status": "confirmed"})
}

// orderedSKUs returns the SKUs of the orders the shop took, each once.
func (s *shop) orderedSKUs() map[string]bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[string]bool{}
	for _, sku := range s.ordered {
		out[sku] = true
	}
	return out
}

// placed is the number of orders the shop accepted.
func (s *shop) placed() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.orders
}

func mustListen(tb testing.TB) net.Listener {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	return ln
}

// requests returns the request log, sorted: the same set for the same seed
// whatever the interleaving.
func (s *shop) requests() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Sorted(slices.Values(s.log))
}

func (s *shop) hitsOf(pattern string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.hits[pattern]
}
