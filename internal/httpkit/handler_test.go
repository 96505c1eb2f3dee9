package httpkit_test

import (
	"context"
	"database/sql"
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"

	"github.com/cloudcart/cloudcart/internal/cloudcart"
	"github.com/cloudcart/cloudcart/internal/httpkit"
)

// TestHandleFunc: a route is typed once, in its mux pattern. Route hears
// its template at registration, errors are counted under the template the
// mux matched, and a query parameter the route does not declare is a 400
// counted as validation.
func TestHandleFunc(t *testing.T) {
	var routes []string
	type count struct{ errorType, endpoint string }
	var counted []count
	h := httpkit.Handlers{
		CountError: func(_ context.Context, errorType, endpoint string) {
			counted = append(counted, count{errorType, endpoint})
		},
		Route: func(endpoint string) { routes = append(routes, endpoint) },
	}
	mux := http.NewServeMux()
	h.HandleFunc(mux, "GET /orders/{id}", func(w http.ResponseWriter, r *http.Request) error {
		return cloudcart.Errorf(cloudcart.ENOTFOUND, "order %s not found", r.PathValue("id"))
	})
	h.HandleFunc(mux, "GET /orders", func(w http.ResponseWriter, r *http.Request) error {
		w.WriteHeader(http.StatusNoContent)
		return nil
	}, "limit")
	if want := []string{"/orders/{id}", "/orders"}; !slices.Equal(routes, want) {
		t.Errorf("Route heard %q, want %q", routes, want)
	}
	for _, tc := range []struct {
		target string
		status int
	}{
		{"/orders/42", http.StatusNotFound},
		{"/orders?limit=5", http.StatusNoContent},
		{"/orders?color=red", http.StatusBadRequest},
	} {
		w := httptest.NewRecorder()
		mux.ServeHTTP(w, httptest.NewRequest("GET", tc.target, nil))
		if w.Code != tc.status {
			t.Errorf("GET %s: %d, want %d: %s", tc.target, w.Code, tc.status, w.Body)
		}
	}
	if want := []count{{"not_found", "/orders/{id}"}, {"validation", "/orders"}}; !slices.Equal(counted, want) {
		t.Errorf("counted %v, want %v", counted, want)
	}
}

// TestHandleEndedRequest: when the request's context ends mid-work, the
// interrupted call's error is whatever the library returns (database/sql
// reports sql.ErrTxDone once it rolled the transaction back). That is a
// 503 counted as unavailable, never a 500.
func TestHandleEndedRequest(t *testing.T) {
	var counted []string
	h := httpkit.Handlers{CountError: func(_ context.Context, errorType, _ string) { counted = append(counted, errorType) }}
	mux := http.NewServeMux()
	h.HandleFunc(mux, "POST /alerts", func(w http.ResponseWriter, r *http.Request) error {
		return sql.ErrTxDone
	})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	w := httptest.NewRecorder()
	mux.ServeHTTP(w, httptest.NewRequest("POST", "/alerts", nil).WithContext(ctx))
	if w.Code != http.StatusServiceUnavailable {
		t.Errorf("ended request: %d, want 503: %s", w.Code, w.Body)
	}
	w = httptest.NewRecorder()
	mux.ServeHTTP(w, httptest.NewRequest("POST", "/alerts", nil))
	if w.Code != http.StatusInternalServerError {
		t.Errorf("live request: %d, want 500 (the same error is a bug then): %s", w.Code, w.Body)
	}
	if want := []string{"unavailable", "internal"}; !slices.Equal(counted, want) {
		t.Errorf("counted %v, want %v", counted, want)
	}
}
