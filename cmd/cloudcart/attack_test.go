package main_test

import (
	"net"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/cloudcart/cloudcart/internal/fleet/fleettest"
	"github.com/cloudcart/cloudcart/internal/freeport"
	"github.com/cloudcart/cloudcart/internal/users"
)

// TestAttackMatrixServe runs the authorization attack matrix
// (docs/security.md) against `cloudcart serve` processes with their
// defaults (no demo endpoints), each on its own data directory, sharing
// only the service credential (CLOUDCART_SERVICE_TOKEN) as compose and
// Kubernetes do.
func TestAttackMatrixServe(t *testing.T) {
	if testing.Short() {
		t.Skip("starts five processes")
	}
	const (
		ttl        = 2 * time.Second
		adminEmail = "admin@attack.example"
		adminPass  = "attack matrix admin password"
	)
	names := []string{"users", "products", "orders", "chaos", "gateway"}
	addrs := map[string]string{}
	for _, n := range names {
		addrs[n] = freeport.Addr(t)
	}
	env := []string{
		"CLOUDCART_BIND=127.0.0.1",
		"CLOUDCART_USERS_ADMIN_EMAIL=" + adminEmail,
		"CLOUDCART_USERS_ADMIN_PASSWORD=" + adminPass,
		"CLOUDCART_USERS_BCRYPT_COST=" + strconv.Itoa(users.MinBcryptCost),
		"CLOUDCART_PRODUCTS_SEED_SIZE=50",
		"CLOUDCART_PRODUCTS_RESERVATION_TTL=" + ttl.String(),
		"CLOUDCART_ORDERS_PRODUCTS_URL=http://" + addrs["products"],
		"CLOUDCART_ORDERS_USERS_URL=http://" + addrs["users"],
		"CLOUDCART_GATEWAY_RATE_LIMIT=0", // the matrix is many requests from one client
		"CLOUDCART_CHAOS_TOKEN=attack-matrix-chaos-token",
		"OTEL_EXPORTER_OTLP_ENDPOINT=", "OTEL_SERVICE_NAME=",
	}
	for n, a := range addrs {
		_, port, _ := net.SplitHostPort(a)
		env = append(env, envName(n+".port")+"="+port)
	}
	logs := t.TempDir()
	urls := map[string]string{}
	for _, n := range names {
		d := startDaemon(t, logs, n, append(slices.Clone(env), "CLOUDCART_DATA_DIR="+t.TempDir()), binary, "serve", n)
		urls[n] = "http://" + addrs[n]
		d.waitOK(t, urls[n]+"/readyz", time.Minute)
	}
	fleettest.AttackMatrix(t, fleettest.Target{URLs: urls, ServiceToken: testServiceToken,
		AdminEmail: adminEmail, AdminPassword: adminPass, ReservationTTL: ttl})
}
