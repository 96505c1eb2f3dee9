// Package authntest gives tests of any service real credentials: a signing
// key, tokens it signs, an Authenticator that verifies them, and a service
// credential.
package authntest

import (
	"crypto/ed25519"
	"crypto/rand"
	"net/http"
	"testing"
	"time"

	"github.com/cloudcart/cloudcart/internal/authn"
	"github.com/cloudcart/cloudcart/internal/cloudcart"
	"github.com/cloudcart/cloudcart/internal/users/token"
)

// ServiceToken is the service credential of every Kit.
const ServiceToken = "authntest-service-token-0123456789abcdef"

// Kit is a signer and the Authenticator that trusts it.
type Kit struct {
	Signer *token.Signer
	Auth   *authn.Authenticator
}

// MustNew returns a Kit with a fresh Ed25519 key.
func MustNew(tb testing.TB) *Kit {
	tb.Helper()
	_, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	signer, err := token.NewSigner(key, token.SignerOptions{Issuer: "authntest", Audience: "cloudcart", TTL: time.Hour})
	if err != nil {
		tb.Fatal(err)
	}
	auth, err := authn.New(authn.Options{Keys: token.StaticKeys{signer.KeyID(): signer.PublicKey()},
		Issuer: "authntest", Audience: "cloudcart", ServiceToken: ServiceToken})
	if err != nil {
		tb.Fatal(err)
	}
	return &Kit{Signer: signer, Auth: auth}
}

// MustToken signs an access token for userID with role.
func (k *Kit) MustToken(tb testing.TB, userID string, role cloudcart.Role) string {
	tb.Helper()
	t, _, err := k.Signer.Issue(userID, role)
	if err != nil {
		tb.Fatal(err)
	}
	return t
}

// AsUser sets r's bearer token to one for userID with role.
func (k *Kit) AsUser(tb testing.TB, r *http.Request, userID string, role cloudcart.Role) *http.Request {
	tb.Helper()
	r.Header.Set("Authorization", "Bearer "+k.MustToken(tb, userID, role))
	return r
}

// AsService sets r's service credential.
func AsService(r *http.Request) *http.Request {
	r.Header.Set(authn.HeaderServiceToken, ServiceToken)
	return r
}
