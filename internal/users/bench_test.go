package users_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/cloudcart/cloudcart/internal/services"
	"github.com/cloudcart/cloudcart/internal/sqlstore"
	"github.com/cloudcart/cloudcart/internal/sqlstore/sqlstoretest"
	"github.com/cloudcart/cloudcart/internal/telemetry/telemetrytest"
	"github.com/cloudcart/cloudcart/internal/users"
	"github.com/cloudcart/cloudcart/internal/users/token"
)

// BenchmarkLogin measures Login (store lookup, one bcrypt comparison,
// token signing) at the minimum and the default bcrypt cost, one login at
// a time and with every CPU logging in. bcrypt dominates: each cost step
// doubles the time.
func BenchmarkLogin(b *testing.B) {
	for _, cost := range []int{users.MinBcryptCost, users.DefaultBcryptCost} {
		tel := telemetrytest.MustNew(b)
		m, _ := users.NewMetrics(tel.Meter("bench"))
		db := sqlstoretest.MustOpen(b, "sqlite", sqlstore.Options{Metrics: sqlstoretest.MustMetrics(b, tel.Meter("bench"), sqlstore.MetricsOptions{Prefix: services.All.MustLookup("users").Prefix, ConnectionErrors: true})})
		store, err := sqlstore.NewUserStore(context.Background(), db)
		if err != nil {
			b.Fatal(err)
		}
		signer, _ := token.NewSigner(testKey, token.SignerOptions{Issuer: "i", Audience: "a", TTL: time.Hour})
		svc, err := users.New(users.Options{Store: store, Metrics: m, Signer: signer, BcryptCost: cost})
		if err != nil {
			b.Fatal(err)
		}
		ctx := context.Background()
		if _, err := svc.Register(ctx, "bench@example.com", "Bench", pw); err != nil {
			b.Fatal(err)
		}
		b.Run(fmt.Sprintf("cost=%d", cost), func(b *testing.B) {
			for b.Loop() {
				if _, err := svc.Login(ctx, "bench@example.com", pw); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "logins/s")
		})
		b.Run(fmt.Sprintf("cost=%d/parallel", cost), func(b *testing.B) {
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if _, err := svc.Login(ctx, "bench@example.com", pw); err != nil {
						b.Error(err)
						return
					}
				}
			})
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "logins/s")
		})
	}
}
