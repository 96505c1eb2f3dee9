package console_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	"github.com/cloudcart/cloudcart/internal/console"
)

// chaosStub answers the console's calls to the chaos service in memory:
// GET /chaos/settings with settings, anything else by echoing the body.
type chaosStub struct {
	mu       sync.Mutex
	settings []byte
	puts     [][]byte
}

func (s *chaosStub) RoundTrip(r *http.Request) (*http.Response, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	body := s.settings
	if r.Method != http.MethodGet {
		b, _ := io.ReadAll(r.Body)
		s.puts = append(s.puts, b)
		body = []byte(`{"ok":true}`)
	}
	return &http.Response{StatusCode: 200, Body: io.NopCloser(bytes.NewReader(body)), Header: http.Header{}}, nil
}

// FuzzConsoleJSON: the console's JSON inputs, a target's faults from the
// browser and the settings the chaos service answers (read back to apply
// a scenario), never panic it, every answer is JSON and what it forwards
// to the chaos service is JSON.
func FuzzConsoleJSON(f *testing.F) {
	f.Add([]byte(`{"error":{"rate":0.5,"status":503}}`), []byte(`{"enabled":true,"targets":{"users":{"latency":{"probability":0.1,"fixed_ms":5}}}}`))
	f.Add([]byte(`{"latency":{"probability":1,"fixed_ms":100,"jitter_ms":50},"routes":{"/orders":{"outage":true}}}`), []byte(`{}`))
	f.Add([]byte(`{"nonsense":1}`), []byte(`not json`))
	f.Add([]byte(`{"error":{"rate":"x"}}{}`), []byte(`{"targets":{"orders":null}}`))
	f.Add([]byte(``), []byte(`{"targets":{"*":{"routes":{"":{}}}},"payment_failure_rate":1e308}`))
	stub := &chaosStub{}
	c, err := console.New(console.Options{ChaosURL: "http://chaos.test", ChaosToken: token,
		ListenAddr: "127.0.0.1:9090", Client: &http.Client{Transport: stub}})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, faults, settings []byte) {
		stub.mu.Lock()
		stub.settings, stub.puts = settings, nil
		stub.mu.Unlock()
		for _, req := range []*http.Request{
			httptest.NewRequest("PUT", "http://127.0.0.1:9090/console/api/chaos/targets/orders", bytes.NewReader(faults)),
			httptest.NewRequest("POST", "http://127.0.0.1:9090/console/api/chaos/scenarios/orders-errors", nil),
		} {
			req.Header.Set("X-CloudCart-Console", "1")
			rec := httptest.NewRecorder()
			c.Handler().ServeHTTP(rec, req)
			if !json.Valid(rec.Body.Bytes()) {
				t.Fatalf("%s %s: %d %q is not JSON", req.Method, req.URL.Path, rec.Code, rec.Body.String())
			}
			if rec.Code >= 500 && rec.Code != http.StatusBadGateway {
				t.Fatalf("%s %s: %d %s", req.Method, req.URL.Path, rec.Code, rec.Body.String())
			}
		}
		stub.mu.Lock()
		defer stub.mu.Unlock()
		for _, p := range stub.puts {
			var v map[string]any
			if err := json.Unmarshal(p, &v); err != nil {
				t.Fatalf("forwarded %q, not JSON", p)
			}
		}
	})
}
