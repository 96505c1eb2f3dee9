package main_test

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"testing"
	"time"

	"github.com/cloudcart/cloudcart/internal/freeport"
)

// The container health check: exit status 0 only for a 2xx answer in time.
func TestHealthcheck(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/readyz":
			w.Write([]byte("ok\n"))
		case "/slow":
			select {
			case <-time.After(5 * time.Second):
			case <-r.Context().Done():
			}
		default:
			http.Error(w, "not ready", http.StatusServiceUnavailable)
		}
	}))
	defer srv.Close()
	refused := freeport.URL(t) + "/readyz" // reserved: nothing will listen on it

	for _, tc := range []struct {
		name   string
		args   []string
		wantOK bool
	}{
		{"2xx", []string{srv.URL + "/readyz"}, true},
		{"503", []string{srv.URL + "/down"}, false},
		{"connection refused", []string{refused}, false},
		{"timeout", []string{"--timeout=100ms", srv.URL + "/slow"}, false},
		{"no URL", nil, false},
		{"not http", []string{"ftp://127.0.0.1/readyz"}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cmd := exec.Command(binary, append([]string{"healthcheck"}, tc.args...)...)
			out, err := cmd.CombinedOutput()
			var exit *exec.ExitError
			switch {
			case tc.wantOK && err != nil:
				t.Fatalf("healthcheck %v: %v\n%s", tc.args, err, out)
			case !tc.wantOK && !errors.As(err, &exit):
				t.Fatalf("healthcheck %v: want exit status 1, got %v\n%s", tc.args, err, out)
			case !tc.wantOK && exit.ExitCode() != 1:
				t.Fatalf("healthcheck %v: exit status %d, want 1\n%s", tc.args, exit.ExitCode(), out)
			}
		})
	}
}
