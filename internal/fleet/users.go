package fleet

import (
	"cmp"
	"context"
	"errors"
	"flag"
	"fmt"
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

// usersFlags are the user service's flags.
func usersFlags(fs *flag.FlagSet, c *Config) {
	u := &c.Users
	fs.StringVar(&u.KeyFile, "users.key-file", "", "Ed25519 token signing key, PKCS#8 PEM (default: <data-dir>/users-signing-key.pem, generated with mode 0600 on first start)")
	fs.DurationVar(&u.TokenTTL, "users.token-ttl", DefaultTokenTTL, "lifetime of access tokens")
	tokenFlags(fs, c)
	fs.IntVar(&u.BcryptCost, "users.bcrypt-cost", users.DefaultBcryptCost, fmt.Sprintf("bcrypt work factor of new password hashes (at least %d)", users.MinBcryptCost))
	fs.StringVar(&u.AdminEmail, "users.admin-email", "", "create this admin account at start unless the email is taken (needs --users.admin-password)")
	fs.StringVar(&u.AdminPassword, "users.admin-password", "", "password of --users.admin-email (prefer CLOUDCART_USERS_ADMIN_PASSWORD: flags show in ps)")
}

// tokenFlags name the tokens the user service issues and the gateway
// accepts: both read them.
func tokenFlags(fs *flag.FlagSet, c *Config) {
	if fs.Lookup("users.token-issuer") != nil {
		return
	}
	fs.StringVar(&c.Users.TokenIssuer, "users.token-issuer", DefaultTokenIssuer, "iss of access tokens; the gateway accepts only this issuer")
	fs.StringVar(&c.Users.TokenAudience, "users.token-audience", DefaultTokenAudience, "aud of access tokens; the gateway accepts only this audience")
}

// buildUsers assembles the user service: telemetry, instrumented store,
// signing key, service, HTTP server.
func buildUsers(ctx context.Context, env *Env, u *Unit) error {
	meter, tracer := u.Telemetry.Meter("cloudcart/users"), u.Telemetry.Tracer("cloudcart/users")
	m, err := users.NewMetrics(meter)
	if err != nil {
		return err
	}
	dbm, err := sqlstore.NewMetrics(meter, sqlstore.MetricsOptions{Prefix: env.Service.Prefix, ConnectionErrors: true})
	if err != nil {
		return err
	}
	db, err := u.openDB(ctx, env, sqlstore.Options{Tracer: tracer, Metrics: dbm})
	if err != nil {
		return err
	}
	store, err := sqlstore.NewUserStore(ctx, db)
	if err != nil {
		return err
	}
	if store.Events, _, err = startOutbox(ctx, env, u, db, cloudcart.EventUserRegistered, cloudcart.EventUserRegistrationAttempted); err != nil {
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
		env.Log.InfoContext(ctx, "generated token signing key", "file", keyFile, "kid", signer.KeyID())
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
		env.Log.InfoContext(ctx, "admin account ready", "user_id", admin.ID)
	case a.AdminEmail != "" || a.AdminPassword != "":
		return errors.New("--users.admin-email and --users.admin-password go together")
	}
	return u.serve(env, svc.Handler(), httpkit.Check{Name: "database", Check: db.Writable})
}
