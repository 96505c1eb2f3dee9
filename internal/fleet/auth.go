package fleet

import (
	"cmp"
	"fmt"
	"net/http"
	"path/filepath"

	"github.com/cloudcart/cloudcart/internal/authn"
	"github.com/cloudcart/cloudcart/internal/httpkit"
	"github.com/cloudcart/cloudcart/internal/users/token"
)

// serviceToken resolves the fleet's service credential once, before any
// service is built: the configured one, else <data-dir>/service.token
// (generated with mode 0600 on first start).
func serviceToken(cfg Config) (string, error) {
	file := filepath.Join(cfg.DataDir, authn.ServiceTokenFile)
	tok, created, err := authn.LoadServiceToken(cfg.ServiceToken, file)
	if err != nil {
		return "", err
	}
	if created {
		cfg.Logger.Info("generated the service credential; services of other processes need the same (--service-token or CLOUDCART_SERVICE_TOKEN)", "file", file)
	}
	return tok, nil
}

// usersURL is where a service finds the user service's JWK Set: the
// configured URL, else the in-process user service, else (under serve)
// the user service's port on localhost.
func usersURL(env *Env, configured string) string {
	if v := cmp.Or(configured, env.BuiltURL("users")); v != "" {
		return v
	}
	port, ok := env.Ports["users"]
	if !ok || port == 0 {
		port = 8001
		for _, p := range Planned {
			if p.Name == "users" {
				port = p.Port
			}
		}
	}
	return fmt.Sprintf("http://localhost:%d", port)
}

// newAuthenticator is a service's authn: tokens verified against the user
// service's JWK Set at usersURL (fetched with a traced client, cached), and
// the fleet's service credential.
func newAuthenticator(env *Env, u *Unit, usersURL string) (*authn.Authenticator, error) {
	client := &http.Client{Timeout: token.DefaultFetchTimeout, Transport: &httpkit.Transport{
		Tracer: u.Telemetry.Tracer("cloudcart/authn"), Propagator: u.Telemetry.Propagator}}
	return authn.New(authn.Options{
		Keys:   authn.JWKS(usersURL, client),
		Issuer: env.Users.issuer(), Audience: env.Users.audience(),
		ServiceToken: env.ServiceToken,
	})
}
