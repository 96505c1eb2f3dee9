package products

import (
	"context"
	"net/http"
	"time"

	"github.com/cloudcart/cloudcart/internal/cloudcart"
	"github.com/cloudcart/cloudcart/internal/httpkit"
)

// Handler returns the service's routes. Catalog reads are public; changes
// need an admin's verified bearer token; reservations are for services
// only (the service credential). Identity headers are never read.
func (s *Service) Handler() *http.ServeMux {
	mux := http.NewServeMux()
	h := httpkit.Handlers{Log: s.log, CountError: s.countError, Route: s.m.primeRoute}
	h.HandleFunc(mux, "GET /products", s.list, "category", httpkit.Repeatable("sku"), "limit", "offset")
	h.HandleFunc(mux, "GET /products/search", s.search, "q", "limit")
	h.HandleFunc(mux, "GET /products/top", s.topViewed)
	h.HandleFunc(mux, "GET /products/{sku}", s.get)
	h.HandleFunc(mux, "GET /categories", s.categories)
	h.HandleFunc(mux, "POST /products", s.create)
	h.HandleFunc(mux, "PUT /products/{sku}", s.update)
	h.HandleFunc(mux, "POST /products/{sku}/stock", s.adjustStock)
	h.HandleFunc(mux, "POST /reservations", s.serviceOnly(s.reserve))
	h.HandleFunc(mux, "GET /reservations", s.serviceOnly(s.heldReservations), "min_age_ms", "limit")
	h.HandleFunc(mux, "GET /reservations/{order}", s.serviceOnly(s.getReservation))
	h.HandleFunc(mux, "POST /reservations/{order}/commit", s.serviceOnly(s.commit))
	h.HandleFunc(mux, "POST /reservations/commit", s.serviceOnly(s.commitMany))
	h.HandleFunc(mux, "POST /reservations/{order}/release", s.serviceOnly(s.release))
	return mux
}

func (s *Service) countError(ctx context.Context, errorType, endpoint string) {
	s.m.errors.Add(ctx, errorType, endpoint)
}

// serviceOnly runs fn only for callers with the service credential.
func (s *Service) serviceOnly(fn func(http.ResponseWriter, *http.Request) error) func(http.ResponseWriter, *http.Request) error {
	return func(w http.ResponseWriter, r *http.Request) error {
		if _, err := s.auth.Service(r); err != nil {
			return err
		}
		return fn(w, r)
	}
}

type productPage struct {
	Products []*cloudcart.Product `json:"products"`
	Total    int                  `json:"total"`
	Limit    int                  `json:"limit"`
	Offset   int                  `json:"offset"`
}

func page(ps []*cloudcart.Product, total, limit, offset int) productPage {
	if ps == nil {
		ps = []*cloudcart.Product{}
	}
	return productPage{Products: ps, Total: total, Limit: limit, Offset: offset}
}

func (s *Service) list(w http.ResponseWriter, r *http.Request) error {
	var (
		f   cloudcart.ProductFilter
		err error
	)
	if f.Category, err = httpkit.StringParam(r, "category", 64); err != nil {
		return err
	}
	if f.SKUs, err = httpkit.StringsParam(r, "sku", cloudcart.MaxOrderItems, 64); err != nil {
		return err
	}
	if f.Limit, err = httpkit.IntParam(r, "limit", 20, 1, 100); err != nil {
		return err
	}
	if f.Offset, err = httpkit.IntParam(r, "offset", 0, 0, 100_000); err != nil {
		return err
	}
	ps, total, err := s.List(r.Context(), f)
	if err != nil {
		return err
	}
	httpkit.WriteJSON(w, http.StatusOK, page(ps, total, f.Limit, f.Offset))
	return nil
}

func (s *Service) search(w http.ResponseWriter, r *http.Request) error {
	limit, err := httpkit.IntParam(r, "limit", 20, 1, MaxSearchResults)
	if err != nil {
		return err
	}
	q, err := httpkit.StringParam(r, "q", 100)
	if err != nil {
		return err
	}
	ps, total, err := s.Search(r.Context(), q, limit)
	if err != nil {
		return err
	}
	httpkit.WriteJSON(w, http.StatusOK, page(ps, total, limit, 0))
	return nil
}

func (s *Service) topViewed(w http.ResponseWriter, r *http.Request) error {
	httpkit.WriteJSON(w, http.StatusOK, map[string]any{"window": "5m", "products": s.top.Top(10)})
	return nil
}

func (s *Service) get(w http.ResponseWriter, r *http.Request) error {
	p, err := s.Get(r.Context(), r.PathValue("sku"))
	if err != nil {
		return err
	}
	httpkit.WriteJSON(w, http.StatusOK, p)
	return nil
}

func (s *Service) categories(w http.ResponseWriter, r *http.Request) error {
	httpkit.WriteJSON(w, http.StatusOK, map[string][]string{"categories": cloudcart.Categories})
	return nil
}

type productRequest struct {
	SKU               string          `json:"sku"`
	Name              string          `json:"name"`
	Description       string          `json:"description"`
	Category          string          `json:"category"`
	Price             cloudcart.Money `json:"price"`
	Stock             int             `json:"stock"`
	LowStockThreshold int             `json:"low_stock_threshold"`
}

func (s *Service) create(w http.ResponseWriter, r *http.Request) error {
	if _, err := s.auth.Admin(r); err != nil {
		return err
	}
	var req productRequest
	if err := httpkit.DecodeJSON(r, &req); err != nil {
		return err
	}
	p := cloudcart.Product{SKU: req.SKU, Name: req.Name, Description: req.Description, Category: req.Category,
		Price: req.Price, Stock: req.Stock, LowStockThreshold: req.LowStockThreshold}
	if err := s.Create(r.Context(), &p); err != nil {
		return err
	}
	w.Header().Set("Location", "/products/"+p.SKU)
	httpkit.WriteJSON(w, http.StatusCreated, p)
	return nil
}

func (s *Service) update(w http.ResponseWriter, r *http.Request) error {
	if _, err := s.auth.Admin(r); err != nil {
		return err
	}
	var req productRequest
	if err := httpkit.DecodeJSON(r, &req); err != nil {
		return err
	}
	cur, err := s.store.FindProductBySKU(r.Context(), r.PathValue("sku"))
	if err != nil {
		return err
	}
	if req.SKU != "" && req.SKU != cur.SKU {
		return cloudcart.Errorf(cloudcart.EINVALID, "sku cannot change")
	}
	if req.Stock != 0 {
		return cloudcart.Errorf(cloudcart.EINVALID, "stock changes go through POST /products/{sku}/stock with a reason")
	}
	cur.Name, cur.Description, cur.Category, cur.Price = req.Name, req.Description, req.Category, req.Price
	if req.LowStockThreshold != 0 {
		cur.LowStockThreshold = req.LowStockThreshold
	}
	if err := s.Update(r.Context(), cur); err != nil {
		return err
	}
	httpkit.WriteJSON(w, http.StatusOK, cur)
	return nil
}

type stockRequest struct {
	Delta  int                   `json:"delta"`
	Reason cloudcart.StockReason `json:"reason"`
}

func (s *Service) adjustStock(w http.ResponseWriter, r *http.Request) error {
	if _, err := s.auth.Admin(r); err != nil {
		return err
	}
	var req stockRequest
	if err := httpkit.DecodeJSON(r, &req); err != nil {
		return err
	}
	p, err := s.AdjustStock(r.Context(), r.PathValue("sku"), req.Delta, req.Reason)
	if err != nil {
		return err
	}
	httpkit.WriteJSON(w, http.StatusOK, p)
	return nil
}

type reserveRequest struct {
	OrderID string                      `json:"order_id"`
	Items   []cloudcart.ReservationItem `json:"items"`
}

func (s *Service) reserve(w http.ResponseWriter, r *http.Request) error {
	var req reserveRequest
	if err := httpkit.DecodeJSON(r, &req); err != nil {
		return err
	}
	res, err := s.Reserve(r.Context(), req.OrderID, req.Items)
	if err != nil {
		return err
	}
	httpkit.WriteJSON(w, http.StatusCreated, res)
	return nil
}

// heldReservations lists the order ids of reservations still held after
// min_age_ms: the order service's sweep releases those of orders it never
// recorded.
func (s *Service) heldReservations(w http.ResponseWriter, r *http.Request) error {
	age, err := httpkit.IntParam(r, "min_age_ms", 0, 0, 86_400_000)
	if err != nil {
		return err
	}
	limit, err := httpkit.IntParam(r, "limit", 100, 1, 500)
	if err != nil {
		return err
	}
	ids, err := s.HeldReservations(r.Context(), time.Duration(age)*time.Millisecond, limit)
	if err != nil {
		return err
	}
	if ids == nil {
		ids = []string{}
	}
	httpkit.WriteJSON(w, http.StatusOK, map[string][]string{"order_ids": ids})
	return nil
}

func (s *Service) getReservation(w http.ResponseWriter, r *http.Request) error {
	res, err := s.Reservation(r.Context(), r.PathValue("order"))
	if err != nil {
		return err
	}
	httpkit.WriteJSON(w, http.StatusOK, res)
	return nil
}

func (s *Service) commit(w http.ResponseWriter, r *http.Request) error {
	if err := s.Commit(r.Context(), r.PathValue("order")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

type commitManyRequest struct {
	OrderIDs []string `json:"order_ids"`
}

// CommitManyResponse is POST /reservations/commit's answer: the order ids
// committed (or already committed), and the error of each one that was not.
type CommitManyResponse struct {
	Committed []string                     `json:"committed"`
	Errors    map[string]httpkit.ErrorBody `json:"errors,omitempty"`
}

// commitMany commits a batch of reservations in one transaction.
func (s *Service) commitMany(w http.ResponseWriter, r *http.Request) error {
	var req commitManyRequest
	if err := httpkit.DecodeJSON(r, &req); err != nil {
		return err
	}
	res, err := s.CommitReservations(r.Context(), req.OrderIDs)
	if err != nil {
		return err
	}
	out := CommitManyResponse{Committed: []string{}}
	for _, id := range req.OrderIDs {
		if err := res[id]; err != nil {
			if out.Errors == nil {
				out.Errors = map[string]httpkit.ErrorBody{}
			}
			out.Errors[id] = httpkit.ErrorBody{Code: cloudcart.ErrorCode(err), Message: cloudcart.ErrorMessage(err)}
			continue
		}
		out.Committed = append(out.Committed, id)
	}
	httpkit.WriteJSON(w, http.StatusOK, out)
	return nil
}

type releaseRequest struct {
	Reason cloudcart.StockReason `json:"reason"`
}

func (s *Service) release(w http.ResponseWriter, r *http.Request) error {
	req := releaseRequest{Reason: cloudcart.StockCancellation}
	if r.ContentLength != 0 {
		if err := httpkit.DecodeJSON(r, &req); err != nil {
			return err
		}
	}
	if err := s.Release(r.Context(), r.PathValue("order"), req.Reason); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
