package orders

import (
	"context"
	"errors"
	"math/rand/v2"
	"net/http"
	"strconv"
	"time"

	"github.com/cloudcart/cloudcart/internal/cloudcart"
	"github.com/cloudcart/cloudcart/internal/httpkit"
)

// Handler returns the service's routes on a new mux. Wrap it with the
// httpkit middleware; /healthz, /readyz and /metrics come from the server.
func (s *Service) Handler() *http.ServeMux {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /orders", s.handle("/orders", s.createOrder))
	mux.HandleFunc("GET /orders", s.handle("/orders", s.listOrders))
	mux.HandleFunc("GET /orders/{id}", s.handle("/orders/{id}", s.getOrder))
	mux.HandleFunc("POST /simulate", s.handle("/simulate", s.simulate))
	mux.HandleFunc("GET /health", s.handle("/health", s.health))
	return mux
}

// handle turns a handler's error into the JSON error response, counting it
// in order_errors_total unless the worker already did.
func (s *Service) handle(endpoint string, fn func(http.ResponseWriter, *http.Request) error) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		err := fn(w, r)
		if err == nil {
			return
		}
		if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
			err = cloudcart.Errorf(cloudcart.EUNAVAILABLE, "request ended before the order finished; see GET /orders")
		}
		var c counted
		if !errors.As(err, &c) {
			s.countError(r.Context(), errorType(err), endpoint)
		}
		if cloudcart.ErrorCode(err) == cloudcart.EUNAVAILABLE {
			w.Header().Set("Retry-After", "1")
		}
		httpkit.Error(w, r, s.log, err)
	}
}

// errorType maps a domain error onto the closed set of error_type values.
func errorType(err error) string {
	switch cloudcart.ErrorCode(err) {
	case cloudcart.EINVALID, cloudcart.ETOOLARGE:
		return "validation"
	case cloudcart.ENOTFOUND:
		return "not_found"
	case cloudcart.EUNAVAILABLE:
		return "unavailable"
	case cloudcart.ECONFLICT:
		return "conflict"
	case cloudcart.EPAYMENT:
		return "payment_declined"
	}
	return "internal"
}

type orderRequest struct {
	Customer string           `json:"customer"`
	Items    []cloudcart.Item `json:"items"`
}

func (s *Service) createOrder(w http.ResponseWriter, r *http.Request) error {
	fail, err := boolParam(r, "fail")
	if err != nil {
		return err
	}
	var req orderRequest
	if err := httpkit.DecodeJSON(r, &req); err != nil {
		if cloudcart.ErrorCode(err) == cloudcart.EINVALID && r.ContentLength == 0 {
			return cloudcart.Errorf(cloudcart.EINVALID, "body must be a JSON order {customer, items: [{sku, qty, price}]}; for synthetic orders use POST /simulate")
		}
		return err
	}
	o := &cloudcart.Order{Customer: req.Customer, Items: req.Items}
	if err := s.PlaceOrder(r.Context(), o, fail, "/orders"); err != nil {
		return err
	}
	w.Header().Set("Location", "/orders/"+o.ID)
	httpkit.WriteJSON(w, http.StatusCreated, o)
	return nil
}

func (s *Service) getOrder(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("id")
	if len(id) > 64 {
		return cloudcart.Errorf(cloudcart.EINVALID, "order id must be at most 64 characters")
	}
	o, err := s.GetOrder(r.Context(), id)
	if err != nil {
		return err
	}
	httpkit.WriteJSON(w, http.StatusOK, o)
	return nil
}

type orderPage struct {
	Orders []*cloudcart.Order `json:"orders"`
	Total  int                `json:"total"`
	Limit  int                `json:"limit"`
	Offset int                `json:"offset"`
}

func (s *Service) listOrders(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	f := cloudcart.OrderFilter{Status: cloudcart.OrderStatus(q.Get("status")), Customer: q.Get("customer")}
	if f.Status != "" && !f.Status.Valid() {
		return cloudcart.Errorf(cloudcart.EINVALID, "status %q is not one of pending, confirmed, shipped, delivered, cancelled, failed", truncate(string(f.Status)))
	}
	var err error
	if f.Limit, err = intParam(r, "limit", 50, 1, 500); err != nil {
		return err
	}
	if f.Offset, err = intParam(r, "offset", 0, 0, 1_000_000); err != nil {
		return err
	}
	orders, total, err := s.ListOrders(r.Context(), f)
	if err != nil {
		return err
	}
	if orders == nil {
		orders = []*cloudcart.Order{}
	}
	httpkit.WriteJSON(w, http.StatusOK, orderPage{Orders: orders, Total: total, Limit: f.Limit, Offset: f.Offset})
	return nil
}

func (s *Service) simulate(w http.ResponseWriter, r *http.Request) error {
	count, err := intParam(r, "count", 20, 1, MaxSimulate)
	if err != nil {
		return err
	}
	rate := 0.0
	if v := r.URL.Query().Get("error_rate"); v != "" {
		rate, err = strconv.ParseFloat(v, 64)
		if err != nil || !(rate >= 0 && rate <= 1) {
			return cloudcart.Errorf(cloudcart.EINVALID, "error_rate must be a number between 0 and 1, got %q", truncate(v))
		}
	}
	// Ten thousand orders can outlast the server's write timeout.
	_ = http.NewResponseController(w).SetWriteDeadline(time.Now().Add(5 * time.Minute))
	res, err := s.Simulate(r.Context(), count, rate, rand.New(rand.NewPCG(rand.Uint64(), rand.Uint64())))
	if err != nil {
		return err
	}
	httpkit.WriteJSON(w, http.StatusOK, res)
	return nil
}

func (s *Service) health(w http.ResponseWriter, r *http.Request) error {
	httpkit.WriteJSON(w, http.StatusOK, map[string]any{"status": "ok", "service": "order-service", "queue_depth": s.QueueDepth()})
	return nil
}

func intParam(r *http.Request, name string, def, lo, hi int) (int, error) {
	v := r.URL.Query().Get(name)
	if v == "" {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < lo || n > hi {
		return 0, cloudcart.Errorf(cloudcart.EINVALID, "%s must be an integer between %d and %d, got %q", name, lo, hi, truncate(v))
	}
	return n, nil
}

func boolParam(r *http.Request, name string) (bool, error) {
	switch v := r.URL.Query().Get(name); v {
	case "", "false", "0":
		return false, nil
	case "true", "1":
		return true, nil
	default:
		return false, cloudcart.Errorf(cloudcart.EINVALID, "%s must be true or false, got %q", name, truncate(v))
	}
}

func truncate(s string) string {
	if len(s) > 32 {
		return s[:32] + "…"
	}
	return s
}
