// Package token issues and verifies CloudCart's access tokens: JWTs signed
// with Ed25519 (JWS alg "EdDSA") carrying iss, aud, sub, role, iat and exp,
// with a key id (kid) in the header. Public keys are published as a JWK Set
// (RFC 8037 OKP keys, kid = RFC 7638 thumbprint).
//
// The user service signs and verifies with its own key; the gateway
// verifies against the user service's published JWK Set. Both use the same
// Verifier, so a token is judged, and its failure named, the same way
// wherever it is checked.
package token

import (
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/cloudcart/cloudcart/internal/cloudcart"
)

// Algorithm is the only JWS algorithm CloudCart issues or accepts.
const Algorithm = "EdDSA"

// MaxBytes bounds the length of a token before any parsing: CloudCart's
// tokens are about 400 bytes, and a longer one is refused without decoding.
const MaxBytes = 4 << 10

// Claims are the JWT claims of an access token.
type Claims struct {
	Role cloudcart.Role `json:"role"`
	jwt.RegisteredClaims
}

// Validate is called by the parser after the registered claims pass: a
// token must name its user and a known role.
func (c Claims) Validate() error {
	if c.Subject == "" {
		return fmt.Errorf("%w: sub", jwt.ErrTokenRequiredClaimMissing)
	}
	if !c.Role.Valid() {
		return fmt.Errorf("role %q is not a known role", c.Role)
	}
	return nil
}

// Identity is who a verified token says the caller is.
type Identity struct {
	UserID    string
	Role      cloudcart.Role
	ExpiresAt time.Time
}

// Signer issues access tokens with one Ed25519 key.
type Signer struct {
	key      ed25519.PrivateKey
	kid      string
	issuer   string
	audience string
	ttl      time.Duration
	now      func() time.Time
}

// SignerOptions configure NewSigner. Issuer, Audience and TTL are required.
type SignerOptions struct {
	Issuer, Audience string
	TTL              time.Duration
	Now              func() time.Time // time.Now if nil
}

// NewSigner returns a Signer for key.
func NewSigner(key ed25519.PrivateKey, o SignerOptions) (*Signer, error) {
	if len(key) != ed25519.PrivateKeySize {
		return nil, errors.New("token: signing key must be an Ed25519 private key")
	}
	if o.Issuer == "" || o.Audience == "" || o.TTL <= 0 {
		return nil, errors.New("token: issuer, audience and a positive TTL are required")
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	pub := key.Public().(ed25519.PublicKey)
	return &Signer{key: key, kid: Thumbprint(pub), issuer: o.Issuer, audience: o.Audience, ttl: o.TTL, now: o.Now}, nil
}

// Issue signs a token for the user, valid for the signer's TTL.
func (s *Signer) Issue(userID string, role cloudcart.Role) (string, time.Time, error) {
	now := s.now().Truncate(time.Second)
	exp := now.Add(s.ttl)
	t := jwt.NewWithClaims(jwt.SigningMethodEdDSA, Claims{
		Role: role,
		RegisteredClaims: jwt.RegisteredClaims{
			Issuer:    s.issuer,
			Subject:   userID,
			Audience:  jwt.ClaimStrings{s.audience},
			IssuedAt:  jwt.NewNumericDate(now),
			ExpiresAt: jwt.NewNumericDate(exp),
		},
	})
	t.Header["kid"] = s.kid
	raw, err := t.SignedString(s.key)
	if err != nil {
		return "", time.Time{}, fmt.Errorf("sign token: %w", err)
	}
	return raw, exp, nil
}

// KeyID is the kid of the signing key.
func (s *Signer) KeyID() string { return s.kid }

// PublicKey is the signing key's public half.
func (s *Signer) PublicKey() ed25519.PublicKey { return s.key.Public().(ed25519.PublicKey) }

// Issuer and Audience are the iss and aud the signer writes.
func (s *Signer) Issuer() string   { return s.issuer }
func (s *Signer) Audience() string { return s.audience }

// KeySet is the JWK Set publishing the signer's public key.
func (s *Signer) KeySet() KeySet { return KeySet{Keys: []JWK{PublicJWK(s.PublicKey())}} }

// KeySet is a JSON Web Key Set (RFC 7517), as served at
// /.well-known/jwks.json.
type KeySet struct {
	Keys []JWK `json:"keys"`
}

// JWK is one public key: an RFC 8037 OKP key of curve Ed25519.
type JWK struct {
	Kty string `json:"kty"`           // "OKP"
	Crv string `json:"crv"`           // "Ed25519"
	X   string `json:"x"`             // base64url public key
	Kid string `json:"kid"`           // RFC 7638 thumbprint
	Use string `json:"use,omitempty"` // "sig"
	Alg string `json:"alg,omitempty"` // "EdDSA"
}

// PublicJWK describes pub as a JWK.
func PublicJWK(pub ed25519.PublicKey) JWK {
	return JWK{Kty: "OKP", Crv: "Ed25519", X: base64.RawURLEncoding.EncodeToString(pub), Kid: Thumbprint(pub), Use: "sig", Alg: Algorithm}
}

// Thumbprint is the RFC 7638 JWK thumbprint of an Ed25519 public key, the
// key's kid: it changes exactly when the key does.
func Thumbprint(pub ed25519.PublicKey) string {
	// Required members only, in lexicographic order, no whitespace.
	sum := sha256.Sum256([]byte(`{"crv":"Ed25519","kty":"OKP","x":"` + base64.RawURLEncoding.EncodeToString(pub) + `"}`))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// PublicKey returns the Ed25519 key of a JWK, or an error if it is not one
// CloudCart can verify with.
func (k JWK) PublicKey() (ed25519.PublicKey, error) {
	if k.Kty != "OKP" || k.Crv != "Ed25519" || (k.Alg != "" && k.Alg != Algorithm) || (k.Use != "" && k.Use != "sig") {
		return nil, fmt.Errorf("key %q is not an Ed25519 signing key", k.Kid)
	}
	b, err := base64.RawURLEncoding.DecodeString(k.X)
	if err != nil || len(b) != ed25519.PublicKeySize {
		return nil, fmt.Errorf("key %q: x is not a base64url 32-byte key", k.Kid)
	}
	return ed25519.PublicKey(b), nil
}

// KeySource finds a public key by kid. It returns ErrUnknownKey when it has
// no such key and ErrKeysUnavailable when it cannot tell.
type KeySource interface {
	PublicKey(ctx context.Context, kid string) (ed25519.PublicKey, error)
}

var (
	ErrUnknownKey      = errors.New("no key with this kid")
	ErrKeysUnavailable = errors.New("verification keys unavailable")
)

// StaticKeys is a fixed key source, e.g. the user service's own key.
type StaticKeys map[string]ed25519.PublicKey

// PublicKey implements KeySource.
func (s StaticKeys) PublicKey(_ context.Context, kid string) (ed25519.PublicKey, error) {
	if k, ok := s[kid]; ok {
		return k, nil
	}
	return nil, ErrUnknownKey
}
