package scenario

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"sync"
	"time"

	"github.com/cloudcart/cloudcart/internal/cloudcart"
)

// error-spike's burst: reference 001's /simulate, repeated so the error
// ratio stays up until the alert has fired.
const (
	simulateCount     = 10
	simulateErrorRate = 0.5
	simulateEvery     = 2 * time.Second
)

// withChaos makes a cause of a change to the chaos settings: chaos on,
// change applied; undoing it puts the settings found before back as they
// were (switched on or off, every target, the payment failure rate).
func withChaos(change func(*cloudcart.ChaosSettings)) func(context.Context, *env) (func(context.Context) error, error) {
	return func(ctx context.Context, e *env) (func(context.Context) error, error) {
		before, err := e.chaos.settings(ctx)
		if err != nil {
			return nil, err
		}
		next, err := e.chaos.settings(ctx) // a second copy to change
		if err != nil {
			return nil, err
		}
		if next.Targets == nil {
			next.Targets = map[string]cloudcart.ChaosFaults{}
		}
		next.Enabled = true
		change(&next)
		e.now()
		if err := e.chaos.put(ctx, next); err != nil {
			return nil, err
		}
		return func(ctx context.Context) error { return e.chaos.put(ctx, before) }, nil
	}
}

// simulateErrors posts reference 001's /simulate to the order service now
// and every simulateEvery until undone.
func simulateErrors(ctx context.Context, e *env) (func(context.Context) error, error) {
	u := fmt.Sprintf("%s/simulate?count=%d&error_rate=%g", e.orders, simulateCount, simulateErrorRate)
	post := func(ctx context.Context) error {
		return e.doAsService(ctx, http.MethodPost, u)
	}
	e.now()
	if err := post(ctx); err != nil {
		return nil, fmt.Errorf("order service %s: %w", e.orders, err)
	}
	sctx, stop := context.WithCancel(context.WithoutCancel(ctx))
	var wg sync.WaitGroup
	wg.Go(func() {
		t := time.NewTicker(simulateEvery)
		defer t.Stop()
		for {
			select {
			case <-sctx.Done():
				return
			case <-t.C:
			}
			if err := post(sctx); err != nil && sctx.Err() == nil {
				e.log.WarnContext(ctx, "simulate failed", "err", err)
			}
		}
	})
	return func(context.Context) error { stop(); wg.Wait(); return nil }, nil
}

// product is what the scenario needs of the catalog.
type product struct {
	SKU               string `json:"sku"`
	Stock             int    `json:"stock"`
	LowStockThreshold int    `json:"low_stock_threshold"`
}

// catalog lists every product through the gateway.
func (e *env) catalog(ctx context.Context) ([]product, error) {
	var all []product
	for offset := 0; ; offset += 100 {
		var page struct {
			Products []product `json:"products"`
			Total    int       `json:"total"`
		}
		if err := e.do(ctx, http.MethodGet, fmt.Sprintf("%s/api/products?limit=100&offset=%d", e.gateway, offset), "", nil, &page); err != nil {
			return nil, err
		}
		all = append(all, page.Products...)
		if len(page.Products) == 0 || len(all) >= page.Total {
			return all, nil
		}
	}
}

// adminToken logs the admin account in through the gateway.
func (e *env) adminToken(ctx context.Context) (string, error) {
	if e.adminEmail == "" || e.adminPassword == "" {
		return "", errors.New("needs the admin account: start the fleet with --users.admin-email and CLOUDCART_USERS_ADMIN_PASSWORD, and give the scenario the same (--users.admin-email, CLOUDCART_USERS_ADMIN_PASSWORD)")
	}
	var login struct {
		AccessToken string `json:"access_token"`
	}
	body := map[string]string{"email": e.adminEmail, "password": e.adminPassword}
	if err := e.do(ctx, http.MethodPost, e.gateway+"/api/auth/login", "", body, &login); err != nil {
		return "", fmt.Errorf("admin login: %w", err)
	}
	return login.AccessToken, nil
}

// restock adds qty units of sku, as an admin.
func (e *env) restock(ctx context.Context, token, sku string, qty int) error {
	body := map[string]any{"delta": qty, "reason": cloudcart.StockRestock}
	return e.do(ctx, http.MethodPost, e.gateway+"/api/products/"+url.PathEscape(sku)+"/stock", token, body, nil)
}

// restockLowProducts tops up every product already below its low-stock
// threshold (earlier scenarios, reference 001's /simulate and people buy
// from the catalog), so that LowStock is quiet before the cause.
func restockLowProducts(ctx context.Context, e *env) error {
	token, err := e.adminToken(ctx)
	if err != nil {
		return err
	}
	ps, err := e.catalog(ctx)
	if err != nil {
		return err
	}
	for _, p := range ps {
		if p.Stock < p.LowStockThreshold {
			if err := e.restock(ctx, token, p.SKU, p.LowStockThreshold+10-p.Stock); err != nil {
				return fmt.Errorf("restock %s: %w", p.SKU, err)
			}
			e.log.InfoContext(ctx, "restocked a product below its threshold before the scenario", "sku", p.SKU, "stock", p.Stock)
		}
	}
	return nil
}

// drainProduct orders, as the admin, enough of the product nearest its
// threshold to leave one unit less than the threshold; undoing it
// restocks what was bought.
func drainProduct(ctx context.Context, e *env) (func(context.Context) error, error) {
	token, err := e.adminToken(ctx)
	if err != nil {
		return nil, err
	}
	ps, err := e.catalog(ctx)
	if err != nil {
		return nil, err
	}
	var pick *product
	for i, p := range ps {
		if p.Stock >= p.LowStockThreshold && (pick == nil || p.Stock-p.LowStockThreshold < pick.Stock-pick.LowStockThreshold) {
			pick = &ps[i]
		}
	}
	if pick == nil {
		return nil, errors.New("no product is at or above its low-stock threshold")
	}
	qty := pick.Stock - pick.LowStockThreshold + 1
	order := map[string]any{"customer": "scenario-low-stock", "items": []map[string]any{{"sku": pick.SKU, "qty": qty}}}
	e.now()
	for attempt := 1; ; attempt++ {
		err = e.do(ctx, http.MethodPost, e.gateway+"/api/orders", token, order, nil)
		var se *statusError
		if err == nil || !errors.As(err, &se) || se.code != http.StatusPaymentRequired || attempt == 5 {
			break // a declined payment (402) is worth another try
		}
	}
	if err != nil {
		return nil, fmt.Errorf("bulk order of %d × %s: %w", qty, pick.SKU, err)
	}
	e.log.InfoContext(ctx, "bulk order placed", "sku", pick.SKU, "qty", qty, "stock_before", pick.Stock, "threshold", pick.LowStockThreshold)
	return func(ctx context.Context) error {
		token, err := e.adminToken(ctx) // the first may have expired
		if err == nil {
			err = e.restock(ctx, token, pick.SKU, qty)
		}
		return err
	}, nil
}
