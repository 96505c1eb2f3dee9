package sqlstore_test

import (
	"context"
	"sync"
	"testing"

	"github.com/cloudcart/cloudcart/internal/sqlstore"
	"github.com/cloudcart/cloudcart/internal/sqlstore/sqlstoretest"
)

// TestConcurrentMigrations starts what a fleet does when all its
// processes come up at once against one empty database: every store of
// every service migrating at the same time, twice over (two replicas
// each). None may fail, and every store must work afterwards.
func TestConcurrentMigrations(t *testing.T) {
	for _, backend := range sqlstoretest.Backends(t) {
		t.Run(backend, func(t *testing.T) {
			ctx := context.Background()
			dsn, path := sqlstoretest.MustConfig(t, backend)
			stores := []func(*sqlstore.DB) error{
				func(db *sqlstore.DB) error { _, err := sqlstore.NewOrderStore(ctx, db); return err },
				func(db *sqlstore.DB) error { _, err := sqlstore.NewProductStore(ctx, db); return err },
				func(db *sqlstore.DB) error { _, err := sqlstore.NewUserStore(ctx, db); return err },
				func(db *sqlstore.DB) error { _, err := sqlstore.NewNotificationStore(ctx, db); return err },
				func(db *sqlstore.DB) error { _, err := sqlstore.NewChaosStore(ctx, db); return err },
			}
			var wg sync.WaitGroup
			errs := make(chan error, 2*len(stores))
			for range 2 {
				for _, newStore := range stores {
					wg.Go(func() {
						// One handle per "process": no shared pool.
						db, err := sqlstore.Open(ctx, sqlstore.Options{DSN: dsn, Path: path})
						if err != nil {
							errs <- err
							return
						}
						defer db.Close()
						errs <- newStore(db)
					})
				}
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				if err != nil {
					t.Errorf("concurrent migration: %v", err)
				}
			}
		})
	}
}
