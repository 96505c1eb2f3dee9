package gateway_test

import (
	"math"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cloudcart/cloudcart/internal/cloudcart"
	"github.com/cloudcart/cloudcart/internal/gateway"
)

func TestLimiterTokenBucket(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	clock := func() time.Time { return now }
	l := gateway.NewLimiter(gateway.RateLimit{Rate: 10, Burst: 3}, clock)
	for i := range 3 {
		if ok, _ := l.Allow("a"); !ok {
			t.Fatalf("burst request %d refused", i)
		}
	}
	ok, wait := l.Allow("a")
	if ok || wait != 100*time.Millisecond {
		t.Fatalf("over burst: ok=%v wait=%s, want refused with 100ms", ok, wait)
	}
	if ok, _ := l.Allow("b"); !ok {
		t.Fatal("another client shares a's bucket")
	}
	now = now.Add(250 * time.Millisecond) // 2.5 tokens back
	granted := 0
	for range 5 {
		if ok, _ := l.Allow("a"); ok {
			granted++
		}
	}
	if granted != 2 {
		t.Fatalf("after 250 ms at 10/s: %d granted, want 2", granted)
	}
	now = now.Add(time.Hour)
	granted = 0
	for range 10 {
		if ok, _ := l.Allow("a"); ok {
			granted++
		}
	}
	if granted != 3 {
		t.Fatalf("after an idle hour: %d granted, want the burst of 3", granted)
	}
}

func TestLimiterIsBounded(t *testing.T) {
	l := gateway.NewLimiter(gateway.RateLimit{Rate: 1, Burst: 1, MaxClients: 100}, nil)
	for i := range 10_000 {
		l.Allow(strconv.Itoa(i))
	}
	if n := l.Len(); n != 100 {
		t.Fatalf("%d clients tracked, want the bound of 100", n)
	}
	if ok, _ := gateway.NewLimiter(gateway.RateLimit{}, nil).Allow("x"); !ok {
		t.Fatal("a disabled limiter refused")
	}
}

func TestClientIP(t *testing.T) {
	trusted, _ := gateway.ParseTrustedProxies([]string{"10.0.0.0/8", "127.0.0.1"})
	for _, tc := range []struct {
		name, remote string
		xff          []string
		want         string
	}{
		{"direct client", "198.51.100.1:5555", nil, "198.51.100.1"},
		{"untrusted peer: header ignored", "198.51.100.1:5555", []string{"1.2.3.4"}, "198.51.100.1"},
		{"trusted peer: client from the header", "10.0.0.5:80", []string{"203.0.113.9"}, "203.0.113.9"},
		{"spoofed left entries are skipped", "10.0.0.5:80", []string{"6.6.6.6, 203.0.113.9"}, "203.0.113.9"},
		{"chain of trusted proxies", "127.0.0.1:80", []string{"203.0.113.9, 10.1.1.1", "10.2.2.2"}, "203.0.113.9"},
		{"garbage stops at the last trusted hop", "10.0.0.5:80", []string{"not-an-ip"}, "10.0.0.5"},
		{"all trusted: the leftmost", "10.0.0.5:80", []string{"10.9.9.9"}, "10.9.9.9"},
		{"IPv4-mapped IPv6 peer", "[::ffff:10.0.0.5]:80", []string{"203.0.113.9"}, "203.0.113.9"},
		{"IPv6 client", "[2001:db8::1]:80", nil, "2001:db8::1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest("GET", "/", nil)
			r.RemoteAddr = tc.remote
			for _, v := range tc.xff {
				r.Header.Add("X-Forwarded-For", v)
			}
			if got := gateway.ClientIP(r, trusted); got != netip.MustParseAddr(tc.want) {
				t.Fatalf("client %s, want %s", got, tc.want)
			}
		})
	}
}

// TestRateLimitOverTenSeconds: a client sending faster than its rate gets
// exactly its rate (plus the burst) through over 10 s, within 3%, and 429s
// with Retry-After for the rest, while another client at a modest pace is
// never refused. Clients are told apart by X-Forwarded-For from a trusted
// proxy (the test's loopback address).
func TestRateLimitOverTenSeconds(t *testing.T) {
	if testing.Short() {
		t.Skip("takes 10 s")
	}
	const (
		rate   = 100 // per second
		burst  = 10
		window = 10 * time.Second
	)
	f := mustFixture(t, func(o *gateway.Options) {
		o.RateLimit = gateway.RateLimit{Rate: rate, Burst: burst}
		o.Cache = gateway.Cache{TTL: -1}
	})
	send := func(client string) (int, string) {
		req, _ := http.NewRequest("GET", f.url+"/api/products", nil)
		req.Header.Set("X-Forwarded-For", client)
		resp, err := f.client.Do(req)
		if err != nil {
			t.Error(err)
			return 0, ""
		}
		resp.Body.Close()
		return resp.StatusCode, resp.Header.Get("Retry-After")
	}
	var (
		okA, limitedA, otherA atomic.Int64
		okB, refusedB         atomic.Int64
		first, last           atomic.Int64 // A's first send and last answer, ns
		wg                    sync.WaitGroup
	)
	start := time.Now()
	deadline := start.Add(window)
	// Client A: about 500 requests per second, 5× its rate, from four
	// senders, so that it stays above its rate when a busy machine makes
	// each request take several milliseconds.
	for range 4 {
		wg.Go(func() {
			tick := time.NewTicker(8 * time.Millisecond)
			defer tick.Stop()
			for ; time.Now().Before(deadline); <-tick.C {
				first.CompareAndSwap(0, time.Now().UnixNano())
				st, retry := send("203.0.113.1")
				for end := time.Now().UnixNano(); ; {
					if l := last.Load(); l >= end || last.CompareAndSwap(l, end) {
						break
					}
				}
				switch {
				case st == http.StatusOK:
					okA.Add(1)
				case st == http.StatusTooManyRequests && retry == "1":
					limitedA.Add(1)
				default:
					otherA.Add(1)
				}
			}
		})
	}
	wg.Go(func() { // client B: 10 requests per second
		for time.Now().Before(deadline) {
			if st, _ := send("203.0.113.2"); st == http.StatusOK {
				okB.Add(1)
			} else {
				refusedB.Add(1)
			}
			time.Sleep(100 * time.Millisecond)
		}
	})
	wg.Wait()
	elapsed := time.Duration(last.Load() - first.Load())
	want := burst + rate*elapsed.Seconds()
	got := float64(okA.Load())
	t.Logf("client A: %d accepted, %d limited in %s (want %.0f accepted); client B: %d accepted", okA.Load(), limitedA.Load(), elapsed, want, okB.Load())
	if otherA.Load() != 0 {
		t.Fatalf("client A got %d answers that were neither 200 nor 429 with Retry-After: 1", otherA.Load())
	}
	if limitedA.Load() < int64(got) {
		t.Fatalf("client A sent only %d over its rate; the test needs it well above", limitedA.Load())
	}
	if math.Abs(got-want)/want > 0.03 {
		t.Fatalf("client A: %v accepted, want %.0f ± 3%%", got, want)
	}
	// B sends every 100 ms after its answer: about 95 requests on a quiet
	// machine, fewer when each takes longer on a busy one; what matters is
	// that it kept sending while A was limited and none was refused.
	if refusedB.Load() != 0 || okB.Load() < 10 {
		t.Fatalf("client B: %d refused, %d accepted; want none refused, at least one a second", refusedB.Load(), okB.Load())
	}
	if v := f.value(t, "rate_limit_exceeded_total", map[string]string{"client_class": "anonymous"}); v != float64(limitedA.Load()) {
		t.Fatalf("rate_limit_exceeded_total = %v, want %d", v, limitedA.Load())
	}
}

// TestRateLimitKeys: an authenticated client is limited by user id
// wherever it comes from; anonymous clients by address.
func TestRateLimitKeys(t *testing.T) {
	frozen := time.Now()
	f := mustFixture(t, func(o *gateway.Options) {
		o.RateLimit = gateway.RateLimit{Rate: 1, Burst: 2}
		o.Now = func() time.Time { return frozen } // no refill during the test
	})
	alice, bob := f.mustToken(t, "usr_alice", cloudcart.RoleUser), f.mustToken(t, "usr_bob", cloudcart.RoleUser)
	status := func(tok, ip string) int {
		h := []string{"X-Forwarded-For", ip}
		if tok != "" {
			h = append(h, bearer(tok)...)
		}
		st, hdr, _ := f.do(t, "GET", "/api/users/me", "", h...)
		if st == http.StatusTooManyRequests && hdr.Get("Retry-After") == "" {
			t.Fatal("429 without Retry-After")
		}
		return st
	}
	for i, tc := range []struct {
		tok, ip string
		want    int
	}{
		{alice, "198.51.100.1", 200}, {alice, "198.51.100.1", 200}, {alice, "198.51.100.1", 429},
		{alice, "198.51.100.2", 429}, // same user, another address: same bucket
		{bob, "198.51.100.1", 200},   // another user, same address: own bucket
		{"", "198.51.100.1", 401},    // anonymous: the address's own bucket, then the missing token
	} {
		if got := status(tc.tok, tc.ip); got != tc.want {
			t.Fatalf("request %d: status %d, want %d", i, got, tc.want)
		}
	}
	if v := f.value(t, "rate_limit_exceeded_total", map[string]string{"client_class": "authenticated"}); v != 2 {
		t.Fatalf("authenticated rejections = %v, want 2", v)
	}
}
