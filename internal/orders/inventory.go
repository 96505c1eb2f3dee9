package orders

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
	"strconv"
	"strings"
	"time"

	"github.com/cloudcart/cloudcart/internal/cloudcart"
	"github.com/cloudcart/cloudcart/internal/httpkit"
)

// Inventory is the order service's view of the product service.
type Inventory interface {
	// Reserve prices, checks and reserves an order's items in one atomic
	// step and returns the catalog price of every SKU: EINVALID for an
	// unknown SKU, ECONFLICT when there is not enough stock or an item's
	// expected Price is not the catalog's (nothing is reserved then).
	// Reserving the same order id again returns the first reservation.
	Reserve(ctx context.Context, orderID string, items []cloudcart.ReservationItem) (map[string]cloudcart.Money, error)
	// Commit makes reservations final, many in one call, and returns
	// each one's outcome: nil, or ECONFLICT when it was released (it
	// expired, or its order was cancelled or failed meanwhile).
	Commit(ctx context.Context, orderIDs []string) (map[string]error, error)
	Release(ctx context.Context, orderID string, reason cloudcart.StockReason) error
	// Held returns the order ids of up to limit reservations held for at
	// least minAge: the sweep releases those of orders never recorded.
	Held(ctx context.Context, minAge time.Duration, limit int) ([]string, error)
	// Sample returns up to n catalog items for /simulate.
	Sample(ctx context.Context, n int, rng *rand.Rand) ([]cloudcart.Item, error)
}

// Standalone is the inventory of an order service running without a
// product service (reference 001's single service): every SKU exists at
// the price the client sends, and there is no stock to reserve.
type Standalone struct{}

func (Standalone) Reserve(context.Context, string, []cloudcart.ReservationItem) (map[string]cloudcart.Money, error) {
	return nil, nil // prices stay as sent
}
func (Standalone) Commit(_ context.Context, ids []string) (map[string]error, error) {
	return make(map[string]error, len(ids)), nil
}
func (Standalone) Release(context.Context, string, cloudcart.StockReason) error { return nil }
func (Standalone) Held(context.Context, time.Duration, int) ([]string, error)   { return nil, nil }
func (Standalone) Sample(_ context.Context, n int, rng *rand.Rand) ([]cloudcart.Item, error) {
	return catalog, nil
}

// ProductClient is the Inventory over the product service's HTTP API.
type ProductClient struct {
	base   string
	client *http.Client
}

// NewProductClient talks to the product service at base. The client should
// use an httpkit.Transport so calls carry the trace.
func NewProductClient(base string, client *http.Client) *ProductClient {
	return &ProductClient{base: base, client: client}
}

type productPage struct {
	Products []*cloudcart.Product `json:"products"`
}

type reserveRequest struct {
	OrderID string                      `json:"order_id"`
	Items   []cloudcart.ReservationItem `json:"items"`
}

// Reserve is POST /reservations: one call and one transaction of the
// product service price, check and reserve the items.
func (c *ProductClient) Reserve(ctx context.Context, orderID string, items []cloudcart.ReservationItem) (map[string]cloudcart.Money, error) {
	var r cloudcart.Reservation
	err := c.do(ctx, http.MethodPost, "/reservations", reserveRequest{OrderID: orderID, Items: items}, &r)
	if cloudcart.ErrorCode(err) == cloudcart.ENOTFOUND { // an unknown SKU is the order's mistake
		return nil, cloudcart.Errorf(cloudcart.EINVALID, "%s", strings.Replace(cloudcart.ErrorMessage(err), "not found", "does not exist", 1))
	}
	if err != nil {
		return nil, err
	}
	return r.Prices, nil
}

// Held is GET /reservations?min_age_ms=&limit=.
func (c *ProductClient) Held(ctx context.Context, minAge time.Duration, limit int) ([]string, error) {
	var out struct {
		OrderIDs []string `json:"order_ids"`
	}
	err := c.do(ctx, http.MethodGet, fmt.Sprintf("/reservations?min_age_ms=%d&limit=%d", minAge.Milliseconds(), limit), nil, &out)
	return out.OrderIDs, err
}

// Commit is POST /reservations/commit: one call and one transaction of
// the product service for the whole batch.
func (c *ProductClient) Commit(ctx context.Context, orderIDs []string) (map[string]error, error) {
	var res struct {
		Committed []string                     `json:"committed"`
		Errors    map[string]httpkit.ErrorBody `json:"errors"`
	}
	if err := c.do(ctx, http.MethodPost, "/reservations/commit", map[string][]string{"order_ids": orderIDs}, &res); err != nil {
		return nil, err
	}
	out := make(map[string]error, len(orderIDs))
	for _, id := range res.Committed {
		out[id] = nil
	}
	for id, e := range res.Errors {
		out[id] = &cloudcart.Error{Code: e.Code, Message: e.Message}
	}
	return out, nil
}

func (c *ProductClient) Release(ctx context.Context, orderID string, reason cloudcart.StockReason) error {
	return c.do(ctx, http.MethodPost, "/reservations/"+url.PathEscape(orderID)+"/release", map[string]any{"reason": reason}, nil)
}

// Sample returns a random page of in-stock products as order items.
func (c *ProductClient) Sample(ctx context.Context, n int, rng *rand.Rand) ([]cloudcart.Item, error) {
	var page productPage
	if err := c.do(ctx, http.MethodGet, fmt.Sprintf("/products?limit=%d&offset=%d", n, rng.IntN(200)), nil, &page); err != nil {
		return nil, err
	}
	var out []cloudcart.Item
	for _, p := range page.Products {
		if p.Stock > 3 {
			out = append(out, cloudcart.Item{SKU: p.SKU, Price: p.Price})
		}
	}
	if len(out) == 0 {
		return nil, cloudcart.Errorf(cloudcart.EUNAVAILABLE, "no product in stock to simulate orders with")
	}
	return out, nil
}

// do calls the product service and maps its JSON errors back to domain
// errors; a transport failure or a 5xx is EUNAVAILABLE.
func (c *ProductClient) do(ctx context.Context, method, path string, in, out any) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(b)
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, body)
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.client.Do(req)
	if err != nil {
		return &cloudcart.Error{Code: cloudcart.EUNAVAILABLE, Message: "product service unavailable", Err: err}
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 300 {
		var e httpkit.ErrorResponse
		_ = json.NewDecoder(io.LimitReader(resp.Body, 64<<10)).Decode(&e)
		if resp.StatusCode >= 500 || e.Error.Code == "" {
			cause := fmt.Errorf("%s %s: %d %s", method, path, resp.StatusCode, e.Error.Message)
			if resp.StatusCode == http.StatusServiceUnavailable && e.Error.Code == cloudcart.EUNAVAILABLE && e.Error.Message != "" {
				// The product service said why (its storage is full, say)
				// and when to retry: pass both on, the caller's next step
				// is the same.
				secs, _ := strconv.Atoi(resp.Header.Get("Retry-After"))
				return &cloudcart.Error{Code: cloudcart.EUNAVAILABLE, Message: "product service unavailable: " + e.Error.Message,
					Err: retryAfter{cause, time.Duration(max(secs, 1)) * time.Second}}
			}
			return &cloudcart.Error{Code: cloudcart.EUNAVAILABLE, Message: "product service unavailable", Err: cause}
		}
		return &cloudcart.Error{Code: e.Error.Code, Message: e.Error.Message}
	}
	if out != nil {
		if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
			return errors.Join(cloudcart.Errorf(cloudcart.EUNAVAILABLE, "product service sent a bad answer"), err)
		}
	}
	return nil
}

// retryAfter carries an upstream's Retry-After to httpkit.Error.
type retryAfter struct {
	error
	after time.Duration
}

func (r retryAfter) Unwrap() error { return r.error }

// RetryAfter is when the upstream said to retry.
func (r retryAfter) RetryAfter() time.Duration { return r.after }
