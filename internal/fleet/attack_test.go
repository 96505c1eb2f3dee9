package fleet_test

import (
	"testing"
	"time"

	"github.com/cloudcart/cloudcart/internal/fleet"
	"github.com/cloudcart/cloudcart/internal/fleet/fleettest"
)

// TestAttackMatrix runs the authorization attack matrix (docs/security.md)
// against the in-process fleet with `cloudcart serve`'s defaults: no demo
// endpoints. cmd/cloudcart runs the same matrix against serve processes.
func TestAttackMatrix(t *testing.T) {
	const ttl = 2 * time.Second
	f := mustFleetConfig(t, func(c *fleet.Config) {
		c.Products.ReservationTTL = ttl
		c.Orders.DemoEndpoints = false // serve's default
		c.Gateway.RateLimit = -1 // the matrix is many requests from one client
	})
	urls := map[string]string{}
	for _, u := range f.Units() {
		urls[u.Service.Name] = u.Server.URL()
	}
	fleettest.AttackMatrix(t, fleettest.Target{URLs: urls, ServiceToken: fleettest.ServiceToken,
		AdminEmail: testAdminEmail, AdminPassword: testAdminPassword, ReservationTTL: ttl})
}
