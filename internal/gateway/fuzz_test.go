package gateway_test

import (
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"

	"github.com/cloudcart/cloudcart/internal/gateway"
)

// FuzzClientIP: the trusted-proxy list parses or is refused, and the
// client address is the peer's unless the peer is trusted, in which case
// it is one of the X-Forwarded-For entries or the peer; a client that is
// not a trusted proxy never chooses its own address.
func FuzzClientIP(f *testing.F) {
	for _, s := range [][3]string{
		{"10.0.0.1:1234", "203.0.113.9", "10.0.0.0/8"},
		{"10.0.0.1:1234", "203.0.113.9, 10.0.0.2", "10.0.0.0/8"},
		{"203.0.113.9:80", "1.2.3.4", "10.0.0.0/8"},
		{"[::1]:80", "2001:db8::1, ::1", "::1,127.0.0.1"},
		{"[::ffff:10.0.0.1]:80", "::ffff:1.2.3.4", "10.0.0.1"},
		{"10.0.0.1:1", "garbage, 1.2.3.4", "10.0.0.0/8"},
		{"10.0.0.1:1", "", "0.0.0.0/0,::/0"},
		{"nonsense", "1.2.3.4", ""},
		{"10.0.0.1:1", "1.2.3.4", "10.0.0.0/33, fe80::1%eth0"},
	} {
		f.Add(s[0], s[1], s[2])
	}
	f.Fuzz(func(t *testing.T, remote, xff, trusted string) {
		list, err := gateway.ParseTrustedProxies(strings.Split(trusted, ","))
		if err != nil {
			return
		}
		for _, p := range list {
			if p != p.Masked() || !p.IsValid() {
				t.Fatalf("prefix %v is not valid and masked", p)
			}
		}
		r := httptest.NewRequest("GET", "/", nil)
		r.RemoteAddr = remote
		if xff != "" {
			r.Header.Set("X-Forwarded-For", xff)
		}
		ip := gateway.ClientIP(r, list)
		peer, err := netip.ParseAddrPort(remote)
		if err != nil {
			if ip.IsValid() {
				t.Fatalf("no peer address, yet client %v", ip)
			}
			return
		}
		p := peer.Addr().Unmap()
		trustedPeer := false
		for _, pr := range list {
			trustedPeer = trustedPeer || pr.Contains(p)
		}
		if !trustedPeer && ip != p {
			t.Fatalf("untrusted peer %v became client %v", p, ip)
		}
		if ip == p {
			return
		}
		for _, e := range strings.Split(xff, ",") {
			if a, err := netip.ParseAddr(strings.TrimSpace(e)); err == nil && a.Unmap() == ip {
				return
			}
		}
		t.Fatalf("client %v is neither the peer %v nor in X-Forwarded-For %q", ip, p, xff)
	})
}
