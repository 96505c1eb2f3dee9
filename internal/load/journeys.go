package load

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/cloudcart/cloudcart/internal/cloudcart"
)

// What a journey does to the catalog. The generator orders only products
// with stock to spare, so healthy load neither sells a product out (an
// order refused for stock counts as a failed order) nor pushes one below
// its low-stock threshold (the LowStock alert): stock must stay at least
// stockReserve above the threshold after the order. Product pages come
// from the gateway's 5 s cache, and other journeys buy too: the reserve
// covers both.
const (
	stockReserve = 5
	// cancelWithin bounds the pause before a cancellation: an order ships
	// after 5 s (orders.ship-after) and a shipped order cannot be cancelled.
	cancelWithin = time.Second
	// retryAfter is the pause before an order is retried, with the same
	// Idempotency-Key, after a 502, 503, 504 or no answer.
	retryAfter = 500 * time.Millisecond
	// maxBody bounds what is read of an answer.
	maxBody = 4 << 20

	userAgent    = "cloudcart-load"
	userPassword = "cloudcart load generator" // every simulated user's
)

// searchTerms are words of the seeded catalog's product names, and two that
// find nothing: people search for what a shop does not sell.
var searchTerms = []string{
	"atlas", "cookbook", "handbook", "wireless", "speaker", "keyboard", "planter", "hose",
	"organic", "coffee", "honey", "tea", "linen", "lamp", "candle", "skillet", "knife", "kettle",
	"tent", "backpack", "headlamp", "racket", "gloves", "mat", "wooden", "puzzle", "robot", "kite",
	"merino", "jacket", "scarf", "socks", "unicorn", "teleporter",
}

// Endpoints of the gateway the journeys call, the keys of per-endpoint
// statistics: method and route template.
type endpoint int

const (
	epRegister endpoint = iota
	epLogin
	epCategories
	epProducts
	epSearch
	epProduct
	epPlaceOrder
	epOrders
	epOrder
	epCancel
	epMe
	numEndpoints
)

var endpointNames = [numEndpoints]string{
	epRegister:   "POST /api/auth/register",
	epLogin:      "POST /api/auth/login",
	epCategories: "GET /api/categories",
	epProducts:   "GET /api/products",
	epSearch:     "GET /api/products/search",
	epProduct:    "GET /api/products/{sku}",
	epPlaceOrder: "POST /api/orders",
	epOrders:     "GET /api/orders",
	epOrder:      "GET /api/orders/{id}",
	epCancel:     "POST /api/orders/{id}/cancel",
	epMe:         "GET /api/users/me",
}

func (e endpoint) String() string { return endpointNames[e] }

// user is a simulated user: an account registered on first use and a
// token reused until it expires or is refused.
type user struct {
	mu         sync.Mutex // held while logging in: one login per user
	email      string
	registered bool
	token      string
	expires    time.Time
}

// newUser is simulated user i. Its email is the same in every run, so a
// fleet that keeps its data between runs keeps one account per simulated
// user: registering again answers 202 as the first time did, and the user logs in.
func newUser(i int) *user {
	return &user{email: fmt.Sprintf("load-user-%03d@example.com", i+1)}
}

// forget drops a token the gateway refused.
func (u *user) forget(token string) {
	u.mu.Lock()
	if u.token == token {
		u.token = ""
	}
	u.mu.Unlock()
}

// journeyRand is journey i's random stream: every choice of the journey
// comes from it, so the seed decides them whatever the timing.
func journeyRand(seed int64, i int) *rand.Rand {
	return rand.New(rand.NewPCG(uint64(seed), uint64(i)*0x9e3779b97f4a7c15+1))
}

// errInterrupted: the grace period ended while the journey was running.
var errInterrupted = errors.New("interrupted")

// stepError is a journey's unexpected answer.
type stepError struct {
	ep     endpoint
	status int // 0: no answer
	err    error
}

func (e *stepError) Error() string {
	if e.status == 0 {
		return fmt.Sprintf("%s: %v", e.ep, e.err)
	}
	if e.err != nil {
		return fmt.Sprintf("%s: %d: %v", e.ep, e.status, e.err)
	}
	return fmt.Sprintf("%s: unexpected status %d", e.ep, e.status)
}

func (e *stepError) Unwrap() error { return e.err }

// journey runs journey i, meant to start at due.
func (g *Generator) journey(ctx context.Context, i int, due time.Time) {
	rng := journeyRand(g.cfg.Seed, i)
	t := &trip{g: g, ctx: ctx, rng: rng, index: i, name: g.mix.pick(rng), due: due}
	g.stats.started(t.name)
	var err error
	switch t.name {
	case Browse:
		err = t.browse()
	case Search:
		err = t.search()
	case Order:
		err = t.order(false)
	case OrderCancel:
		err = t.order(true)
	case Account:
		err = t.account()
	}
	if err != nil && !errors.Is(err, errInterrupted) {
		g.log.DebugContext(ctx, "journey failed", "journey", t.name, "index", i, "err", err)
	}
	g.stats.finished(t.name, err, g.now().Sub(due))
}

// trip is one journey under way.
type trip struct {
	g     *Generator
	ctx   context.Context
	rng   *rand.Rand
	index int
	name  string
	// due is when the next request is meant to start: the journey's
	// scheduled start, then the end of the previous request plus the think
	// time. Latency is measured from it, so a late generator shows up as
	// latency instead of vanishing (coordinated omission).
	due time.Time
}

// request is one call of a journey.
type request struct {
	ep     endpoint
	method string
	path   string
	body   any // sent as JSON when not nil
	token  string
	key    string // Idempotency-Key
}

// do sends r and records it. It returns the status, and an error only when
// there was no answer, or a 2xx answer could not be decoded into out.
func (t *trip) do(r request, out any) (int, error) {
	var body io.Reader
	if r.body != nil {
		b, err := json.Marshal(r.body)
		if err != nil {
			return 0, err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(t.ctx, r.method, t.g.base+r.path, body)
	if err != nil {
		return 0, err
	}
	req.Header.Set("User-Agent", userAgent)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if r.token != "" {
		req.Header.Set("Authorization", "Bearer "+r.token)
	}
	if r.key != "" {
		req.Header.Set("Idempotency-Key", r.key)
	}
	status := 0
	resp, err := t.g.client.Do(req)
	var b []byte
	if err == nil {
		b, err = io.ReadAll(io.LimitReader(resp.Body, maxBody))
		resp.Body.Close()
		if err == nil {
			status = resp.StatusCode
		}
	}
	end := t.g.now()
	if t.ctx.Err() != nil {
		return 0, errInterrupted // cut off by the generator: says nothing of the target
	}
	t.g.stats.record(r.ep, status, end.Sub(t.due))
	t.due = end
	if err != nil {
		return 0, &stepError{ep: r.ep, err: err}
	}
	if out != nil && status >= 200 && status < 300 {
		if err := json.Unmarshal(b, out); err != nil {
			return status, &stepError{ep: r.ep, status: status, err: fmt.Errorf("bad answer: %w", err)}
		}
	}
	return status, nil
}

// get sends a GET and expects 200.
func (t *trip) get(ep endpoint, path string, out any) error {
	st, err := t.do(request{ep: ep, method: http.MethodGet, path: path}, out)
	return t.check(ep, st, err, http.StatusOK)
}

// check turns a request's outcome into the journey's: nil when the status
// is one of ok. Any other 4xx but 429 is a client error, an answer no
// journey expects.
func (t *trip) check(ep endpoint, status int, err error, ok ...int) error {
	if err != nil {
		return err
	}
	if slices.Contains(ok, status) {
		return nil
	}
	if status >= 400 && status < 500 && status != http.StatusTooManyRequests {
		t.g.stats.clientErrors.Add(1)
	}
	return &stepError{ep: ep, status: status}
}

// think pauses for a think time: exponential with mean Config.ThinkTime, at
// most five times the mean and at most limit when limit > 0.
func (t *trip) think(limit time.Duration) error {
	mean := t.g.cfg.ThinkTime
	if mean <= 0 {
		return nil
	}
	d := time.Duration(min(t.rng.ExpFloat64(), 5) * float64(mean))
	if limit > 0 {
		d = min(d, limit)
	}
	t.due = t.due.Add(d)
	wait := t.due.Sub(t.g.now())
	if wait <= 0 {
		return nil
	}
	timer := time.NewTimer(wait)
	defer timer.Stop()
	select {
	case <-t.ctx.Done():
		return errInterrupted
	case <-timer.C:
		return nil
	}
}

// token returns u's token, registering u on first use and logging in when
// it has none or it is about to expire.
func (t *trip) token(u *user) (string, error) {
	if !u.mu.TryLock() {
		// Another journey is logging u in. The wait is that login's
		// latency, already measured, not the next request's.
		u.mu.Lock()
		t.due = later(t.due, t.g.now())
	}
	defer u.mu.Unlock()
	if u.token != "" && t.g.now().Before(u.expires.Add(-time.Minute)) {
		return u.token, nil
	}
	if !u.registered {
		st, err := t.do(request{ep: epRegister, method: http.MethodPost, path: "/api/auth/register",
			body: map[string]string{"email": u.email, "name": "Load Tester", "password": userPassword}}, nil)
		// 202 for a new email and a taken one alike (an earlier run's);
		// 201 and 409 from a fleet older than the uniform answer.
		if err := t.check(epRegister, st, err, http.StatusAccepted, http.StatusCreated, http.StatusConflict); err != nil {
			return "", err
		}
		if st == http.StatusConflict {
			t.g.stats.conflicts.Add(1) // an expected 409 like the others
		}
		u.registered = true
	}
	var login struct {
		AccessToken string `json:"access_token"`
		ExpiresIn   int    `json:"expires_in"`
	}
	st, err := t.do(request{ep: epLogin, method: http.MethodPost, path: "/api/auth/login",
		body: map[string]string{"email": u.email, "password": userPassword}}, &login)
	if err := t.check(epLogin, st, err, http.StatusOK); err != nil {
		return "", err
	}
	if login.AccessToken == "" {
		return "", &stepError{ep: epLogin, status: st, err: errors.New("no access_token")}
	}
	u.token, u.expires = login.AccessToken, t.g.now().Add(time.Duration(login.ExpiresIn)*time.Second)
	return u.token, nil
}

func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// authed sends r with u's token. A 401 (the token expired or the key
// rotated) logs u in again and sends r once more.
func (t *trip) authed(u *user, r request, out any) (int, error) {
	for attempt := 0; ; attempt++ {
		tok, err := t.token(u)
		if err != nil {
			return 0, err
		}
		r.token = tok
		st, err := t.do(r, out)
		if st == http.StatusUnauthorized && attempt == 0 {
			u.forget(tok)
			continue
		}
		return st, err
	}
}

type product struct {
	SKU               string `json:"sku"`
	Stock             int    `json:"stock"`
	LowStockThreshold int    `json:"low_stock_threshold"`
}

// spare reports whether buying qty leaves p's stock comfortably above its
// low-stock threshold.
func (p product) spare(qty int) bool { return p.Stock-qty >= p.LowStockThreshold+stockReserve }

type productPage struct {
	Products []product `json:"products"`
	Total    int       `json:"total"` // of the whole listing, not only this page
}

func productPath(sku string) string { return "/api/products/" + url.PathEscape(sku) }

// browse: the category list, a category page, one to three products.
func (t *trip) browse() error {
	var cats struct {
		Categories []string `json:"categories"`
	}
	if err := t.get(epCategories, "/api/categories", &cats); err != nil {
		return err
	}
	if len(cats.Categories) == 0 {
		return &stepError{ep: epCategories, status: http.StatusOK, err: errors.New("no categories")}
	}
	cat := cats.Categories[t.rng.IntN(len(cats.Categories))]
	offset := 0
	if t.rng.IntN(4) == 0 {
		offset = 20 // the second page
	}
	if err := t.think(0); err != nil {
		return err
	}
	var page productPage
	if err := t.get(epProducts, fmt.Sprintf("/api/products?category=%s&limit=20&offset=%d", url.QueryEscape(cat), offset), &page); err != nil {
		return err
	}
	if len(page.Products) == 0 {
		return nil
	}
	for range 1 + t.rng.IntN(3) {
		p := page.Products[t.rng.IntN(len(page.Products))]
		if err := t.think(0); err != nil {
			return err
		}
		if err := t.get(epProduct, productPath(p.SKU), nil); err != nil {
			return err
		}
	}
	return nil
}

// search: a search, and a look at one of the results.
func (t *trip) search() error {
	q := searchTerms[t.rng.IntN(len(searchTerms))]
	var page productPage
	if err := t.get(epSearch, "/api/products/search?limit=10&q="+url.QueryEscape(q), &page); err != nil {
		return err
	}
	if len(page.Products) == 0 {
		return nil
	}
	p := page.Products[t.rng.IntN(len(page.Products))]
	if err := t.think(0); err != nil {
		return err
	}
	return t.get(epProduct, productPath(p.SKU), nil)
}

// order: a category page, a product with stock to spare, the order, its
// status; with cancel, the cancellation too.
func (t *trip) order(cancel bool) error {
	u := t.g.users[t.rng.IntN(len(t.g.users))]
	cat := cloudcart.Categories[t.rng.IntN(len(cloudcart.Categories))]
	qty := 1
	switch n := t.rng.IntN(10); {
	case n >= 9:
		qty = 3
	case n >= 7:
		qty = 2
	}
	page, err := t.categoryPage(cat)
	if err != nil {
		return err
	}
	var candidates []product
	for _, p := range page.Products {
		if p.spare(qty) {
			candidates = append(candidates, p)
		}
	}
	if len(candidates) == 0 {
		t.g.stats.ordersSkipped.Add(1)
		return nil
	}
	pick := candidates[t.rng.IntN(len(candidates))]
	if err := t.think(0); err != nil {
		return err
	}
	var p product
	if err := t.get(epProduct, productPath(pick.SKU), &p); err != nil {
		return err
	}
	if !p.spare(qty) {
		t.g.stats.ordersSkipped.Add(1)
		return nil
	}
	if err := t.think(0); err != nil {
		return err
	}
	id, err := t.placeOrder(u, p.SKU, qty)
	if err != nil || id == "" {
		return err
	}
	if err := t.think(0); err != nil {
		return err
	}
	var o struct {
		ID string `json:"id"`
	}
	st, err := t.authed(u, request{ep: epOrder, method: http.MethodGet, path: "/api/orders/" + url.PathEscape(id)}, &o)
	if err := t.check(epOrder, st, err, http.StatusOK); err != nil {
		return err
	}
	if !cancel {
		return nil
	}
	if err := t.think(cancelWithin); err != nil {
		return err
	}
	st, err = t.authed(u, request{ep: epCancel, method: http.MethodPost, path: "/api/orders/" + url.PathEscape(id) + "/cancel"}, nil)
	if err := t.check(epCancel, st, err, http.StatusOK, http.StatusConflict); err != nil {
		return err
	}
	if st == http.StatusConflict {
		t.g.stats.conflicts.Add(1) // shipped before the cancellation came
		return nil
	}
	t.g.stats.ordersCancelled.Add(1)
	return nil
}

// orderPageSize is how many products an order journey's category page
// shows.
const orderPageSize = 30

// categoryPage is the category page an order journey picks its product
// from: the first page, or, when the first page's total says the category
// has more, a page chosen at random among all of them, so that orders
// spread over the whole catalog and a larger catalog holds more orders
// (with only the first page, every order came from the same 30 products a
// category and a 5-minute run sold them out whatever the catalog's size).
func (t *trip) categoryPage(cat string) (productPage, error) {
	var page productPage
	if err := t.get(epProducts, categoryPath(cat, 0), &page); err != nil {
		return page, err
	}
	pages := (min(page.Total, maxCategoryOffset) + orderPageSize - 1) / orderPageSize
	if len(page.Products) < orderPageSize || pages <= 1 {
		return page, nil
	}
	n := t.rng.IntN(pages)
	if n == 0 {
		return page, nil
	}
	if err := t.think(0); err != nil {
		return page, err
	}
	var next productPage
	if err := t.get(epProducts, categoryPath(cat, n*orderPageSize), &next); err != nil {
		return page, err
	}
	return next, nil
}

// maxCategoryOffset is the product service's largest page offset.
const maxCategoryOffset = 100_000

func categoryPath(cat string, offset int) string {
	p := "/api/products?limit=" + strconv.Itoa(orderPageSize) + "&category=" + url.QueryEscape(cat)
	if offset > 0 {
		p += "&offset=" + strconv.Itoa(offset)
	}
	return p
}

// placeOrder orders qty of sku for u and returns the order's id; "" when
// the payment was declined (402) or the order lost a race (409), which are
// outcomes, not errors. An order that got no answer, or a 502, 503 or 504,
// is sent once more with the same Idempotency-Key: the order service
// answers a retry with the first attempt's outcome.
func (t *trip) placeOrder(u *user, sku string, qty int) (string, error) {
	r := request{ep: epPlaceOrder, method: http.MethodPost, path: "/api/orders",
		key:  fmt.Sprintf("load-%s-%d", t.g.nonce, t.index),
		body: map[string]any{"customer": u.email, "items": []map[string]any{{"sku": sku, "qty": qty}}}}
	for attempt := 0; ; attempt++ {
		var o struct {
			ID string `json:"id"`
		}
		st, err := t.authed(u, r, &o)
		if errors.Is(err, errInterrupted) {
			return "", err
		}
		switch {
		case err == nil && st == http.StatusCreated:
			t.g.stats.ordersPlaced.Add(1)
			return o.ID, nil
		case err == nil && st == http.StatusPaymentRequired:
			t.g.stats.declined.Add(1)
			return "", nil
		case err == nil && st == http.StatusConflict:
			t.g.stats.conflicts.Add(1)
			return "", nil
		case attempt == 0 && (st == 0 || st == http.StatusBadGateway || st == http.StatusServiceUnavailable || st == http.StatusGatewayTimeout):
			t.g.stats.retries.Add(1)
			timer := time.NewTimer(retryAfter)
			select {
			case <-t.ctx.Done():
				timer.Stop()
				return "", errInterrupted
			case <-timer.C:
			}
			t.due = t.g.now()
			continue
		}
		return "", t.check(epPlaceOrder, st, err, http.StatusCreated)
	}
}

// account: the user's profile and recent orders.
func (t *trip) account() error {
	u := t.g.users[t.rng.IntN(len(t.g.users))]
	st, err := t.authed(u, request{ep: epMe, method: http.MethodGet, path: "/api/users/me"}, nil)
	if err := t.check(epMe, st, err, http.StatusOK); err != nil {
		return err
	}
	if err := t.think(0); err != nil {
		return err
	}
	path := "/api/orders?limit=10&customer=" + url.QueryEscape(u.email)
	st, err = t.authed(u, request{ep: epOrders, method: http.MethodGet, path: path}, nil)
	return t.check(epOrders, st, err, http.StatusOK)
}
