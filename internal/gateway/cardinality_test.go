package gateway_test

import (
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"testing"

	"github.com/cloudcart/cloudcart/internal/cloudcart"
	"github.com/cloudcart/cloudcart/internal/gateway"
	"github.com/cloudcart/cloudcart/internal/users/token"
)

// TestSeriesStayBounded sends 10,000 requests with random paths, methods,
// user agents, X-Forwarded-For addresses and tokens, and checks that no
// random value became a label and that the gateway's series count stays
// within the bound its closed label sets allow, however much traffic comes:
//
//	http_requests_total, http_request_duration_seconds   M·R·S each
//	request_payload_bytes, response_payload_bytes        R each
//	upstream_service_latency_seconds                     U·R
//	upstream_service_errors_total                        U·(S+3)
//	jwt_validation_failures_total                        13 reasons
//	rate_limit_exceeded_total, cache_hits/misses_total   2 + 1 + 1
//	http_requests_in_flight                              1
//
// with M = 8 methods, R = 13 route labels (12 templates + unmatched),
// U = 4 upstreams and S = 8 statuses this traffic can produce (200, 401,
// 403, 404, 405, 429, 503, 413): 2·832 + 26 + 52 + 44 + 13 + 4 + 1 = 1,804.
// The rate limiter's table is bounded too, at its MaxClients.
func TestSeriesStayBounded(t *testing.T) {
	const (
		requests   = 10_000
		maxClients = 500
		M, R, U, S = 8, 13, 4, 8
		bound      = 2*M*R*S + 2*R + U*R + U*(S+3) + 13 + 2 + 1 + 1 + 1
	)
	if got := len(token.Reasons); got != 13 {
		t.Fatalf("the bound assumes 13 token reasons, there are %d", got)
	}
	f := mustFixture(t, func(o *gateway.Options) {
		o.RateLimit = gateway.RateLimit{Rate: 5, Burst: 5, MaxClients: maxClients}
		o.Cache = gateway.Cache{MaxBytes: 64 << 10}
	})
	if n := len(f.gw.Routes()); n != R-1 {
		t.Fatalf("the bound assumes %d route templates, the gateway has %d", R-1, n)
	}
	valid := f.mustToken(t, "usr_rand", cloudcart.RoleUser)
	prefixes := []string{"/api/products/", "/api/categories", "/api/orders/", "/api/users/", "/api/chaos/", "/api/auth/", "/api/", "/", "/.well-known/", "/api/products", "/api/orders"}
	methods := []string{"GET", "GET", "GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "HEAD", "BREW"}
	var wg sync.WaitGroup
	work := make(chan int)
	for w := range 4 {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(w), 42))
			for range work {
				path := prefixes[rng.IntN(len(prefixes))]
				if rng.IntN(4) > 0 {
					path += fmt.Sprintf("zz%x/%x", rng.Uint64(), rng.Uint32())
				}
				req, _ := http.NewRequest(methods[rng.IntN(len(methods))], f.url+path+fmt.Sprintf("?q=zz%x", rng.Uint32()), nil)
				req.Header.Set("User-Agent", fmt.Sprintf("zz-agent/%x", rng.Uint64()))
				req.Header.Set("X-Forwarded-For", randomAddr(rng).String())
				switch rng.IntN(3) {
				case 0:
					req.Header.Set("Authorization", "Bearer "+valid)
				case 1:
					req.Header.Set("Authorization", fmt.Sprintf("Bearer zz%x", rng.Uint64()))
				}
				resp, err := f.client.Do(req)
				if err != nil {
					t.Error(err)
					return
				}
				resp.Body.Close()
			}
		})
	}
	for i := range requests {
		work <- i
	}
	close(work)
	wg.Wait()

	mfs, err := f.tel.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	total := 0
	for _, mf := range mfs {
		name := mf.GetName()
		if strings.HasPrefix(name, "go_") || strings.HasPrefix(name, "process_") || strings.HasPrefix(name, "promhttp_") || name == "target_info" {
			continue
		}
		total += len(mf.GetMetric())
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				v := l.GetValue()
				if _, err := netip.ParseAddr(v); err == nil || strings.Contains(v, "zz") || l.GetName() == "otel_metric_overflow" {
					t.Errorf("%s has label %s=%q from request data", name, l.GetName(), v)
				}
			}
		}
	}
	t.Logf("%d requests: %d series (bound %d), %d clients tracked (bound %d)", requests, total, bound, f.gw.TrackedClients(), maxClients)
	if total > bound {
		t.Fatalf("%d series after %d random requests, over the bound of %d", total, requests, bound)
	}
	if n := f.gw.TrackedClients(); n > maxClients {
		t.Fatalf("rate limiter tracks %d clients, over its bound of %d", n, maxClients)
	}
}

func randomAddr(rng *rand.Rand) netip.Addr {
	if rng.IntN(4) == 0 {
		var b [16]byte
		for i := range b {
			b[i] = byte(rng.Uint32())
		}
		return netip.AddrFrom16(b)
	}
	return netip.AddrFrom4([4]byte{byte(rng.IntN(223) + 1), byte(rng.Uint32()), byte(rng.Uint32()), byte(rng.Uint32())})
}
