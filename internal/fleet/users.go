package fleet

import (
	"cmp"
	"context"
	"errors"
	"path/filepath"
	"time"

	"github.com/cloudcart/cloudcart/internal/cloudcart"
	"github.com/cloudcart/cloudcart/internal/httpkit"
	"github.com/cloudcart/cloudcart/internal/sqlstore"
	"github.com/cloudcart/cloudcart/internal/users"
	"github.com/cloudcart/cloudcart/internal/users/token"
)

// Token defaults shared by the user service (which signs) and the gateway
// (which verifies).
const (
	DefaultTokenIssuer   = "cloudcart-user-service"
	DefaultTokenAudience = "cloudcart"
	DefaultTokenTTL      = time.Hour
)

// UsersConfig configures the user service. The gateway reads TokenIssuer
// and TokenAudience too: it accepts exactly the tokens the service issues.
type UsersConfig struct {
	// KeyFile is the Ed25519 signing key (PKCS#8 PEM). Empty means
	// <data-dir>/users-signing-key.pem, generated (mode 0600) on first start.
	// Replicas sharing a database must share the key, so give it by flag.
	KeyFile       string
	TokenTTL      time.Duration
	TokenIssuer   string
	TokenAudience string
	BcryptCost    int // users.DefaultBcryptCost if 0; at least users.MinBcryptCost
	// AdminEmail and AdminPassword, when both set, create that admin at
	// start unless the email is taken.
	AdminEmail, AdminPassword string
}

func (c UsersConfig) issuer() string   { return cmp.Or(c.TokenIssuer, DefaultTokenIssuer) }
func (c UsersConfig) audience() string { return cmp.Or(c.TokenAudience, DefaultTokenAudience) }

// buildUsers assembles the user service: telemetry, instrumented store,
// signing key, service, HTTP server.
func buildUsers(ctx context.Context, env *Env, u *Unit) error {
	meter, tracer := u.Telemetry.Meter("cloudcart/users"), u.Telemetry.Tracer("cloudcart/users")
	m, err := users.NewMetrics(meter)
	if err != nil {
		return err
	}
	db, err := u.openDB(ctx, env, sqlstore.Options{
		Tracer:           tracer,
		QueryDuration:    m.DBQueryDuration,
		ConnectionErrors: m.DBConnectionErrors,
	})
	if err != nil {
		return err
	}
	store, err := sqlstore.NewUserStore(ctx, db)
	if err != nil {
		return err
	}
	if store.Events, _, err = startOutbox(ctx, env, u, db, "user", cloudcart.EventUserRegistered, cloudcart.EventUserRegistrationAttempted); err != nil {
		return err
	}
	keyFile := env.Users.KeyFile
	if keyFile == "" {
		keyFile = filepath.Join(env.DataDir, "users-signing-key.pem")
	}
	key, created, err := users.LoadOrCreateKey(keyFile, env.Users.KeyFile == "")
	if err != nil {
		return err
	}
	signer, err := token.NewSigner(key, token.SignerOptions{
		Issuer: env.Users.issuer(), Audience: env.Users.audience(), TTL: cmp.Or(env.Users.TokenTTL, DefaultTokenTTL),
	})
	if err != nil {
		return err
	}
	if created {
		env.Log.Info("generated token signing key", "file", keyFile, "kid", signer.KeyID())
	}
	svc, err := users.New(users.Options{
		Store: store, Metrics: m, Signer: signer, Meter: meter, Tracer: tracer, Logger: env.Log,
		BcryptCost: env.Users.BcryptCost,
	})
	if err != nil {
		return err
	}
	u.Closers = append(u.Closers, svc.Close)
	switch a := env.Users; {
	case a.AdminEmail != "" && a.AdminPassword != "":
		admin, err := svc.EnsureAdmin(ctx, a.AdminEmail, "Administrator", a.AdminPassword)
		if err != nil {
			return err
		}
		env.Log.Info("admin account ready", "user_id", admin.ID)
	case a.AdminEmail != "" || a.AdminPassword != "":
		return errors.New("--users.admin-email and --users.admin-password go together")
	}
	return u.serve(env, httpkit.ServiceMetricNames("user", "user.request.duration"), svc.Handler(), true, httpkit.Check{Name: "database", Check: db.Writable})
}
