package gateway_test

import (
	"io"
	"net/http"
	"testing"

	"github.com/cloudcart/cloudcart/internal/cloudcart"
	"github.com/cloudcart/cloudcart/internal/gateway"
)

// BenchmarkProxy compares one GET sent straight to an upstream with the
// same GET through the gateway (loopback TCP, keep-alive, both sides in
// this process): the difference is the gateway's per-request overhead.
// "public" is a public route (routing, rate limit, metrics, server and
// client spans, proxying); "authenticated" adds bearer-token verification
// (Ed25519) and the identity headers.
func BenchmarkProxy(b *testing.B) {
	f := mustFixture(b, func(o *gateway.Options) { o.Cache = gateway.Cache{TTL: -1} })
	tok := f.mustToken(b, "usr_bench", cloudcart.RoleUser)
	for _, bc := range []struct {
		name, url, auth string
	}{
		{"direct", f.users.srv.URL + "/users/me", ""},
		{"gateway-public", f.url + "/api/products/p1", ""},
		{"gateway-authenticated", f.url + "/api/users/me", "Bearer " + tok},
	} {
		b.Run(bc.name, func(b *testing.B) {
			req, _ := http.NewRequest("GET", bc.url, nil)
			if bc.auth != "" {
				req.Header.Set("Authorization", bc.auth)
			}
			b.ReportAllocs()
			for b.Loop() {
				resp, err := f.client.Do(req)
				if err != nil {
					b.Fatal(err)
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					b.Fatalf("status %d", resp.StatusCode)
				}
			}
		})
	}
}
