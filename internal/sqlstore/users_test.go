package sqlstore_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/cloudcart/cloudcart/internal/cloudcart"
	"github.com/cloudcart/cloudcart/internal/sqlstore"
	"github.com/cloudcart/cloudcart/internal/sqlstore/sqlstoretest"
)

func mustUserStore(tb testing.TB, backend string) (*sqlstore.UserStore, *sqlstore.DB) {
	tb.Helper()
	db := sqlstoretest.MustOpen(tb, backend, sqlstore.Options{})
	s, err := sqlstore.NewUserStore(context.Background(), db)
	if err != nil {
		tb.Fatal(err)
	}
	return s, db
}

func newUser(email string, role cloudcart.Role, active bool, at time.Time) *cloudcart.User {
	return &cloudcart.User{ID: cloudcart.NewID("usr", at), Email: email, Name: "N", Role: role, Active: active,
		PasswordHash: "$2a$04$hash", CreatedAt: at, UpdatedAt: at}
}

func TestUserStore(t *testing.T) {
	for _, backend := range sqlstoretest.Backends(t) {
		t.Run(backend, func(t *testing.T) {
			ctx := context.Background()
			t.Run("create and find by id and email", func(t *testing.T) {
				s, _ := mustUserStore(t, backend)
				at := time.Date(2026, 1, 2, 3, 4, 5, 123456000, time.UTC)
				u := newUser("a@example.com", cloudcart.RoleAdmin, true, at)
				if err := s.CreateUser(ctx, u); err != nil {
					t.Fatal(err)
				}
				for _, find := range []func() (*cloudcart.User, error){
					func() (*cloudcart.User, error) { return s.FindUserByID(ctx, u.ID) },
					func() (*cloudcart.User, error) { return s.FindUserByEmail(ctx, "a@example.com") },
				} {
					got, err := find()
					if err != nil {
						t.Fatal(err)
					}
					if *got != *u {
						t.Fatalf("round trip changed the user:\n got %+v\nwant %+v", got, u)
					}
				}
			})
			t.Run("not found", func(t *testing.T) {
				s, _ := mustUserStore(t, backend)
				if _, err := s.FindUserByEmail(ctx, "x@example.com"); cloudcart.ErrorCode(err) != cloudcart.ENOTFOUND {
					t.Fatalf("err = %v", err)
				}
				if err := s.UpdateUser(ctx, newUser("x@example.com", cloudcart.RoleUser, true, time.Now())); cloudcart.ErrorCode(err) != cloudcart.ENOTFOUND {
					t.Fatalf("update of a missing user: %v", err)
				}
			})
			t.Run("email is unique on create and update", func(t *testing.T) {
				s, _ := mustUserStore(t, backend)
				a, b := newUser("a@example.com", cloudcart.RoleUser, true, time.Now()), newUser("b@example.com", cloudcart.RoleUser, true, time.Now())
				_ = s.CreateUser(ctx, a)
				_ = s.CreateUser(ctx, b)
				dup := newUser("a@example.com", cloudcart.RoleUser, true, time.Now())
				if err := s.CreateUser(ctx, dup); cloudcart.ErrorCode(err) != cloudcart.ECONFLICT {
					t.Fatalf("duplicate create: %v", err)
				}
				b.Email = "a@example.com"
				if err := s.UpdateUser(ctx, b); cloudcart.ErrorCode(err) != cloudcart.ECONFLICT {
					t.Fatalf("update onto a taken email: %v", err)
				}
			})
			t.Run("update writes every mutable field", func(t *testing.T) {
				s, _ := mustUserStore(t, backend)
				u := newUser("a@example.com", cloudcart.RoleUser, true, time.Now().UTC().Truncate(time.Microsecond))
				_ = s.CreateUser(ctx, u)
				u.Email, u.Name, u.Role, u.Active, u.PasswordHash = "z@example.com", "Zed", cloudcart.RoleAdmin, false, "$2a$04$other"
				u.UpdatedAt = u.UpdatedAt.Add(time.Minute)
				if err := s.UpdateUser(ctx, u); err != nil {
					t.Fatal(err)
				}
				if got, _ := s.FindUserByID(ctx, u.ID); *got != *u {
					t.Fatalf("got %+v, want %+v", got, u)
				}
			})
			t.Run("list, filter and count", func(t *testing.T) {
				s, _ := mustUserStore(t, backend)
				if n, err := s.CountUsers(ctx); err != nil || n != (cloudcart.UserCounts{}) {
					t.Fatalf("empty: %+v %v", n, err)
				}
				base := time.Now().Add(-time.Hour)
				for i := range 7 {
					role, active := cloudcart.RoleUser, i%3 != 0
					if i < 2 {
						role = cloudcart.RoleAdmin
					}
					if err := s.CreateUser(ctx, newUser(fmt.Sprintf("u%d@example.com", i), role, active, base.Add(time.Duration(i)*time.Second))); err != nil {
						t.Fatal(err)
					}
				}
				n, err := s.CountUsers(ctx)
				if err != nil || n != (cloudcart.UserCounts{Total: 7, Active: 4, Admins: 2}) {
					t.Fatalf("counts %+v %v", n, err)
				}
				page, total, err := s.FindUsers(ctx, cloudcart.UserFilter{Limit: 3, Offset: 1})
				if err != nil || total != 7 || len(page) != 3 || page[0].Email != "u1@example.com" {
					t.Fatalf("page %v total %d err %v", page, total, err)
				}
				inactive := false
				_, n1, _ := s.FindUsers(ctx, cloudcart.UserFilter{Active: &inactive})
				_, n2, _ := s.FindUsers(ctx, cloudcart.UserFilter{Role: cloudcart.RoleAdmin, Active: &inactive})
				if n1 != 3 || n2 != 1 {
					t.Fatalf("inactive %d, inactive admins %d; want 3 and 1", n1, n2)
				}
			})
			t.Run("migrations are idempotent", func(t *testing.T) {
				_, db := mustUserStore(t, backend)
				if _, err := sqlstore.NewUserStore(ctx, db); err != nil {
					t.Fatalf("second migration run: %v", err)
				}
			})
		})
	}
}
