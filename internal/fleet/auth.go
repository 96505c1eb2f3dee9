package fleet

import (
	"cmp"
	"flag"
	"net/http"
	"path/filepath"
	"sync"

	"github.com/cloudcart/cloudcart/internal/authn"
	"github.com/cloudcart/cloudcart/internal/httpkit"
	"github.com/cloudcart/cloudcart/internal/users/token"
)

// lazySecret is the fleet's service credential, resolved by the first
// service that needs it: services that neither send nor check it never
// touch the file.
type lazySecret struct {
	mu  sync.Mutex
	tok string
}

// serviceToken is the fleet's service credential: the configured one, else
// the one in the token file (default <data-dir>/service.token), generated
// with mode 0600 on first start.
func (e *Env) serviceToken() (string, error) {
	e.secret.mu.Lock()
	defer e.secret.mu.Unlock()
	if e.secret.tok != "" {
		return e.secret.tok, nil
	}
	file := cmp.Or(e.ServiceTokenFile, filepath.Join(e.DataDir, authn.ServiceTokenFile))
	tok, created, err := authn.LoadServiceToken(e.ServiceToken, file)
	if err != nil {
		return "", err
	}
	if created {
		e.Log.Info("generated the service credential; services in other processes need the same (CLOUDCART_SERVICE_TOKEN or --service-token-file)", "file", file)
	}
	e.secret.tok = tok
	return tok, nil
}

// usersURL is where a service finds the user service's JWK Set: the
// configured URL, else the in-process user service, else (under serve)
// the user service's port on localhost.
func usersURL(env *Env, configured string) string {
	return cmp.Or(configured, env.peerURL("users"))
}

// newAuthenticator is a service's authn: tokens verified against the user
// service's JWK Set at usersURL (fetched with a traced client, cached), and
// the fleet's service credential.
func newAuthenticator(env *Env, u *Unit, usersURL string) (*authn.Authenticator, error) {
	secret, err := env.serviceToken()
	if err != nil {
		return nil, err
	}
	client := &http.Client{Timeout: token.DefaultFetchTimeout, Transport: &httpkit.Transport{
		Tracer: u.Telemetry.Tracer("cloudcart/authn"), Propagator: u.Telemetry.Propagator}}
	return authn.New(authn.Options{
		Keys:   authn.JWKS(usersURL, client),
		Issuer: env.Users.issuer(), Audience: env.Users.audience(),
		ServiceToken: secret,
	})
}

// authFlags are the flags of a service that verifies its callers (authn):
// the tokens' issuer and audience, and the fleet's service credential.
// Each is registered once.
func authFlags(fs *flag.FlagSet, c *Config) {
	tokenFlags(fs, c)
	if fs.Lookup("service-token") != nil {
		return
	}
	fs.StringVar(&c.ServiceToken, "service-token", "", "the fleet's service credential (at least 32 characters), sent by services in X-CloudCart-Service-Token to service-only endpoints; default: read from --service-token-file. Prefer CLOUDCART_SERVICE_TOKEN: flags show in ps")
	fs.StringVar(&c.ServiceTokenFile, "service-token-file", "", "file holding the service credential, e.g. a mounted Docker or Kubernetes secret; generated (mode 0600) if it does not exist (default: <data-dir>/service.token)")
}
