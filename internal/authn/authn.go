// Package authn is how every CloudCart service decides who is calling it.
// Two credentials exist, and nothing else is believed (identity headers
// such as X-User-Id or X-User-Role are ignored wherever they come from):
//
//   - a user's access token (a JWT the user service signs with Ed25519),
//     sent as "Authorization: Bearer TOKEN". The gateway forwards it
//     untouched and every service verifies it again against the user
//     service's JWK Set (/.well-known/jwks.json), with the same
//     token.Verifier the gateway uses;
//   - the fleet's service credential, a shared secret sent as
//     "X-CloudCart-Service-Token: SECRET" and compared in constant time,
//     which only services (and operators holding the secret) have. It
//     opens the service-only endpoints: the product service's
//     reservations, the order service's internal and operational calls.
//
// The secret is given by flag or environment (CLOUDCART_SERVICE_TOKEN), or
// read from <data-dir>/service.token, generated with mode 0600 on first
// start (LoadServiceToken).
package authn

import (
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"net/http"
	"time"

	"github.com/cloudcart/cloudcart/internal/cloudcart"
	"github.com/cloudcart/cloudcart/internal/users/token"
)

// HeaderServiceToken carries the service credential.
const HeaderServiceToken = "X-CloudCart-Service-Token"

// Caller is who a request comes from, as far as its credentials prove.
// The zero Caller is anonymous.
type Caller struct {
	// UserID and Role come from a verified access token; empty without one.
	UserID string
	Role   cloudcart.Role
	// Service is true when the request carried the service credential.
	Service bool
}

// Anonymous reports whether the request proved nothing.
func (c Caller) Anonymous() bool { return c.UserID == "" && !c.Service }

// Admin reports whether the caller holds the admin role of a verified
// token.
func (c Caller) Admin() bool { return c.UserID != "" && c.Role == cloudcart.RoleAdmin }

// Options build an Authenticator.
type Options struct {
	// Keys are the user service's public keys: JWKS(url, client) in a
	// service, token.StaticKeys in tests. Required.
	Keys             token.KeySource
	Issuer, Audience string // required, as the user service signs them
	// ServiceToken is the fleet's service credential. Empty: no request
	// is ever a service caller.
	ServiceToken string
	Now          func() time.Time
}

// Authenticator verifies the credentials of incoming requests.
type Authenticator struct {
	verifier *token.Verifier
	service  [32]byte
	hasSvc   bool
}

// New builds an Authenticator.
func New(o Options) (*Authenticator, error) {
	v, err := token.NewVerifier(o.Keys, token.VerifierOptions{Issuer: o.Issuer, Audience: o.Audience, Now: o.Now})
	if err != nil {
		return nil, err
	}
	a := &Authenticator{verifier: v}
	if o.ServiceToken != "" {
		a.service, a.hasSvc = sha256.Sum256([]byte(o.ServiceToken)), true
	}
	return a, nil
}

// JWKS is the user service's key set at usersURL, fetched with client
// (http.DefaultClient if nil), cached, and refetched on an unknown kid at
// most once per token.DefaultMinRefresh.
func JWKS(usersURL string, client *http.Client) *token.RemoteKeys {
	return &token.RemoteKeys{URL: usersURL + "/.well-known/jwks.json", Client: client}
}

// Caller verifies r's credentials. A credential that is present must be
// valid: a bad bearer token or a wrong service token is an EUNAUTHORIZED
// error (EUNAVAILABLE when the signing keys cannot be fetched), never
// "anonymous". No credential at all is the anonymous Caller.
func (a *Authenticator) Caller(r *http.Request) (Caller, error) {
	var c Caller
	if v, ok := r.Header[http.CanonicalHeaderKey(HeaderServiceToken)]; ok {
		if len(v) != 1 || !a.serviceToken(v[0]) {
			return Caller{}, cloudcart.Errorf(cloudcart.EUNAUTHORIZED, "the %s header does not hold this fleet's service credential", HeaderServiceToken)
		}
		c.Service = true
	}
	if h := r.Header.Get("Authorization"); h != "" {
		raw, err := token.FromHeader(h)
		var id token.Identity
		if err == nil {
			id, err = a.verifier.Verify(r.Context(), raw)
		}
		if err != nil {
			return Caller{}, token.AsDomainError(err)
		}
		c.UserID, c.Role = id.UserID, id.Role
	}
	return c, nil
}

// serviceToken compares got with the service credential in constant time:
// both sides are hashed first, so neither length nor content leaks.
func (a *Authenticator) serviceToken(got string) bool {
	h := sha256.Sum256([]byte(got))
	return a.hasSvc && subtle.ConstantTimeCompare(h[:], a.service[:]) == 1
}

// Errors for handlers that refuse a caller.
var (
	ErrNeedUser    = cloudcart.Errorf(cloudcart.EUNAUTHORIZED, "this route needs a bearer token (header Authorization: Bearer TOKEN, with TOKEN from POST /api/auth/login)")
	ErrNeedService = cloudcart.Errorf(cloudcart.EUNAUTHORIZED, "this route is for CloudCart services only: it needs the %s header", HeaderServiceToken)
	ErrNeedAdmin   = cloudcart.Errorf(cloudcart.EFORBIDDEN, "this operation needs the admin role")
)

// User returns r's caller if it proved a user (any role).
func (a *Authenticator) User(r *http.Request) (Caller, error) {
	c, err := a.Caller(r)
	if err == nil && c.UserID == "" {
		err = ErrNeedUser
	}
	return c, err
}

// Admin returns r's caller if it proved an admin user.
func (a *Authenticator) Admin(r *http.Request) (Caller, error) {
	c, err := a.User(r)
	if err == nil && !c.Admin() {
		err = ErrNeedAdmin
	}
	return c, err
}

// Service returns r's caller if it carried the service credential.
func (a *Authenticator) Service(r *http.Request) (Caller, error) {
	c, err := a.Caller(r)
	if err == nil && !c.Service {
		err = ErrNeedService
	}
	return c, err
}

// ServiceTransport adds the service credential to every request it sends:
// the HTTP client of a service calling another's service-only endpoints.
type ServiceTransport struct {
	Base  http.RoundTripper // http.DefaultTransport if nil
	Token string
}

// RoundTrip implements http.RoundTripper.
func (t *ServiceTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if t.Token == "" {
		return nil, errors.New("authn: no service token to send")
	}
	r = r.Clone(r.Context())
	r.Header.Set(HeaderServiceToken, t.Token)
	base := t.Base
	if base == nil {
		base = http.DefaultTransport
	}
	return base.RoundTrip(r)
}
