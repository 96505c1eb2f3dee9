package orders

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"math/rand/v2"
	"net/http"
	"time"

	"github.com/cloudcart/cloudcart/internal/authn"
	"github.com/cloudcart/cloudcart/internal/cloudcart"
	"github.com/cloudcart/cloudcart/internal/httpkit"
)

// Handler returns the service's routes on a new mux. Wrap it with the
// httpkit middleware; /healthz, /readyz and /metrics come from the server.
//
// Who may call what (docs/security.md): every route but /slow and /health
// verifies its caller with authn. A user (bearer token) places orders it
// owns and sees, cancels and replays only those; an admin or a service
// (service credential) sees all. POST /orders and POST /simulate also
// accept anonymous callers when DemoEndpoints is on.
func (s *Service) Handler() *http.ServeMux {
	mux := http.NewServeMux()
	h := httpkit.Handlers{Log: s.log, CountError: s.countError, Route: s.m.primeRoute}
	h.HandleFunc(mux, "POST /orders", s.createOrder, "fail")
	h.HandleFunc(mux, "GET /orders", s.listOrders, "status", "customer", "user_id", "limit", "offset")
	h.HandleFunc(mux, "GET /orders/{id}", s.getOrder)
	h.HandleFunc(mux, "POST /orders/{id}/cancel", s.cancel)
	h.HandleFunc(mux, "POST /simulate", s.simulate, "count", "error_rate")
	h.HandleFunc(mux, "GET /slow", s.slow, "ms")
	if s.users != nil {
		mux.Handle("GET /users", s.users)
	}
	h.HandleFunc(mux, "GET /health", s.health)
	return mux
}

type orderRequest struct {
	Customer string           `json:"customer"`
	Items    []cloudcart.Item `json:"items"`
}

// demoCaller is the caller of a route that anonymous callers may use when
// the demo endpoints are on; otherwise anonymous is errAnonymous.
func (s *Service) demoCaller(r *http.Request, errAnonymous error) (authn.Caller, error) {
	c, err := s.auth.Caller(r)
	if err == nil && c.Anonymous() && !s.demo {
		err = errAnonymous
	}
	return c, err
}

func (s *Service) createOrder(w http.ResponseWriter, r *http.Request) error {
	c, err := s.demoCaller(r, authn.ErrNeedUser)
	if err != nil {
		return err
	}
	fail, err := httpkit.BoolParam(r, "fail")
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
	customer := req.Customer
	if customer == "" {
		customer = c.UserID // a display name; the owner is UserID
	}
	o := &cloudcart.Order{UserID: c.UserID, Customer: customer, Items: req.Items}
	key := r.Header.Get("Idempotency-Key")
	if key != "" {
		if len(key) > 128 {
			return cloudcart.Errorf(cloudcart.EINVALID, "Idempotency-Key must be at most 128 characters")
		}
		o.IdempotencyKey, o.RequestHash = key, requestHash(req, fail)
		if prev, err := s.store.FindOrderByIdempotencyKey(r.Context(), c.UserID, key); err == nil {
			return replay(w, prev, o.RequestHash)
		} else if cloudcart.ErrorCode(err) != cloudcart.ENOTFOUND {
			return err
		}
	}
	err = s.PlaceOrder(r.Context(), o, fail, httpkit.RouteLabel(r.Pattern))
	if errors.Is(err, cloudcart.ErrIdempotencyKeyUsed) { // a concurrent retry won
		prev, ferr := s.store.FindOrderByIdempotencyKey(r.Context(), c.UserID, key)
		if ferr != nil {
			return ferr
		}
		return replay(w, prev, o.RequestHash)
	}
	if err != nil {
		return err
	}
	w.Header().Set("Location", "/orders/"+o.ID)
	httpkit.WriteJSON(w, http.StatusCreated, o)
	return nil
}

// requestHash identifies a request's content for idempotency checks.
func requestHash(req orderRequest, fail bool) string {
	b, _ := json.Marshal(struct {
		R orderRequest
		F bool
	}{req, fail})
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// replay answers a retried request with the first one's outcome.
func replay(w http.ResponseWriter, prev *cloudcart.Order, hash string) error {
	if prev.RequestHash != hash {
		return cloudcart.Errorf(cloudcart.EINVALID, "Idempotency-Key was already used with a different request")
	}
	w.Header().Set("Idempotent-Replayed", "true")
	switch prev.Status {
	case cloudcart.OrderPending:
		return cloudcart.Errorf(cloudcart.ECONFLICT, "the request with this Idempotency-Key is still being processed")
	case cloudcart.OrderFailed:
		return &cloudcart.Error{Code: prev.FailureCode, Message: prev.FailureReason}
	}
	w.Header().Set("Location", "/orders/"+prev.ID)
	httpkit.WriteJSON(w, http.StatusCreated, prev)
	return nil
}

func (s *Service) cancel(w http.ResponseWriter, r *http.Request) error {
	c, err := s.auth.Caller(r)
	if err != nil {
		return err
	}
	if c.Anonymous() {
		return authn.ErrNeedUser
	}
	o, err := s.Cancel(r.Context(), c, r.PathValue("id"))
	if err != nil {
		return err
	}
	httpkit.WriteJSON(w, http.StatusOK, o)
	return nil
}

// MaxSlow bounds GET /slow.
const MaxSlow = 10_000

// slow is reference 003's latency demo: it answers after ms milliseconds.
func (s *Service) slow(w http.ResponseWriter, r *http.Request) error {
	ms, err := httpkit.IntParam(r, "ms", 500, 0, MaxSlow)
	if err != nil {
		return err
	}
	t := time.NewTimer(time.Duration(ms) * time.Millisecond)
	defer t.Stop()
	select {
	case <-t.C:
	case <-r.Context().Done():
		return r.Context().Err()
	}
	httpkit.WriteJSON(w, http.StatusOK, map[string]int{"slept_ms": ms})
	return nil
}

func (s *Service) getOrder(w http.ResponseWriter, r *http.Request) error {
	c, err := s.auth.Caller(r)
	if err != nil {
		return err
	}
	if c.Anonymous() {
		return authn.ErrNeedUser
	}
	id := r.PathValue("id")
	if len(id) > 64 {
		return cloudcart.Errorf(cloudcart.EINVALID, "order id must be at most 64 characters")
	}
	o, err := s.GetOrder(r.Context(), c, id)
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
	c, err := s.auth.Caller(r)
	if err != nil {
		return err
	}
	if c.Anonymous() {
		return authn.ErrNeedUser
	}
	var f cloudcart.OrderFilter
	status, err := httpkit.EnumParam(r, "status", "", orderStatuses...)
	if err != nil {
		return err
	}
	f.Status = cloudcart.OrderStatus(status)
	if f.Customer, err = httpkit.StringParam(r, "customer", 128); err != nil {
		return err
	}
	if f.UserID, err = httpkit.StringParam(r, "user_id", 64); err != nil {
		return err
	}
	if f.Limit, err = httpkit.IntParam(r, "limit", 50, 1, 500); err != nil {
		return err
	}
	if f.Offset, err = httpkit.IntParam(r, "offset", 0, 0, 1_000_000); err != nil {
		return err
	}
	orders, total, err := s.ListOrders(r.Context(), c, f)
	if err != nil {
		return err
	}
	if orders == nil {
		orders = []*cloudcart.Order{}
	}
	httpkit.WriteJSON(w, http.StatusOK, orderPage{Orders: orders, Total: total, Limit: f.Limit, Offset: f.Offset})
	return nil
}

// errSimulate refuses an anonymous POST /simulate outside the demo.
var errSimulate = cloudcart.Errorf(cloudcart.EUNAUTHORIZED, "POST /simulate needs an admin's bearer token or the %s header (or --orders.demo-endpoints)", authn.HeaderServiceToken)

func (s *Service) simulate(w http.ResponseWriter, r *http.Request) error {
	c, err := s.demoCaller(r, errSimulate)
	if err != nil {
		return err
	}
	if c.UserID != "" && !c.Admin() && !c.Service {
		return authn.ErrNeedAdmin
	}
	count, err := httpkit.IntParam(r, "count", 20, 1, MaxSimulate)
	if err != nil {
		return err
	}
	rate, err := httpkit.FloatParam(r, "error_rate", 0, 0, 1)
	if err != nil {
		return err
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
	httpkit.WriteJSON(w, http.StatusOK, map[string]any{"status": "ok", "service": s.name, "queue_depth": s.QueueDepth()})
	return nil
}

// orderStatuses are the values of GET /orders?status=.
var orderStatuses = []string{string(cloudcart.OrderPending), string(cloudcart.OrderConfirmed), string(cloudcart.OrderShipped),
	string(cloudcart.OrderDelivered), string(cloudcart.OrderCancelled), string(cloudcart.OrderFailed)}
