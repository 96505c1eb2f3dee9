package token

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/cloudcart/cloudcart/internal/cloudcart"
)

// Reason names why a token was refused. The set is closed (Reasons), so it
// can label a metric.
type Reason string

const (
	Missing         Reason = "missing"          // no bearer token where one is required
	Oversized       Reason = "oversized"        // longer than MaxBytes; not parsed at all
	Malformed       Reason = "malformed"        // not three base64url JSON segments
	BadAlgorithm    Reason = "bad_algorithm"    // alg is not EdDSA (none, HS256, RS256, ...)
	UnknownKid      Reason = "unknown_kid"      // no published key has the token's kid
	KeysUnavailable Reason = "keys_unavailable" // the key set could not be fetched
	BadSignature    Reason = "bad_signature"    // the signature does not verify
	MissingClaim    Reason = "missing_claim"    // exp or sub absent
	Expired         Reason = "expired"
	NotYetValid     Reason = "not_yet_valid" // iat or nbf in the future
	WrongIssuer     Reason = "wrong_issuer"
	WrongAudience   Reason = "wrong_audience"
	InvalidClaims   Reason = "invalid_claims" // any other claim problem, e.g. an unknown role
)

// Reasons is every Reason, for starting counters at zero.
var Reasons = []Reason{Missing, Oversized, Malformed, BadAlgorithm, UnknownKid, KeysUnavailable, BadSignature,
	MissingClaim, Expired, NotYetValid, WrongIssuer, WrongAudience, InvalidClaims}

// Error is a refused token: the reason and the underlying cause.
type Error struct {
	Reason Reason
	Err    error
}

func (e *Error) Error() string {
	if e.Err == nil {
		return "token refused: " + string(e.Reason)
	}
	return fmt.Sprintf("token refused: %s: %v", e.Reason, e.Err)
}

func (e *Error) Unwrap() error { return e.Err }

// ReasonOf returns the reason of a verification error, or "" if err is not
// one.
func ReasonOf(err error) Reason {
	var e *Error
	if errors.As(err, &e) {
		return e.Reason
	}
	return ""
}

// Verifier checks tokens: size, algorithm allow-list (EdDSA only), key by
// kid, signature, then claims (exp required, iss and aud must match, sub
// and a known role present).
//
// A token that verified is remembered (at most MaxRemembered), with the
// key that verified it: presented again, it is accepted without parsing
// or checking the signature again (an Ed25519 verification is most of a
// request's authentication cost, and a client sends the same token with
// every request, to the gateway and on to the services) — but only while
// its time claims still hold and the key source still gives the same key
// for its kid, so a removed or rotated key refuses it exactly as a full
// verification would. Refused tokens are never remembered.
type Verifier struct {
	keys   KeySource
	parser *jwt.Parser
	now    func() time.Time
	leeway time.Duration

	mu   sync.Mutex
	seen map[string]verified // raw token → what verified it
}

// verified is what a successful verification established.
type verified struct {
	id        Identity
	kid       string
	key       ed25519.PublicKey
	notBefore time.Time // the latest of iat and nbf
}

// MaxRemembered bounds the tokens a Verifier remembers (about 500 bytes
// each); past it, an arbitrary one is forgotten for each new one.
const MaxRemembered = 4096

// VerifierOptions configure NewVerifier. Issuer and Audience are required.
type VerifierOptions struct {
	Issuer, Audience string
	Leeway           time.Duration    // clock skew allowed on exp/iat; DefaultLeeway if 0
	Now              func() time.Time // time.Now if nil
}

// DefaultLeeway is the clock skew tolerated between signer and verifier.
const DefaultLeeway = 10 * time.Second

// NewVerifier returns a Verifier using keys.
func NewVerifier(keys KeySource, o VerifierOptions) (*Verifier, error) {
	if keys == nil || o.Issuer == "" || o.Audience == "" {
		return nil, errors.New("token: key source, issuer and audience are required")
	}
	if o.Leeway == 0 {
		o.Leeway = DefaultLeeway
	}
	opts := []jwt.ParserOption{
		jwt.WithValidMethods([]string{Algorithm}),
		jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(),
		jwt.WithIssuer(o.Issuer),
		jwt.WithAudience(o.Audience),
		jwt.WithLeeway(o.Leeway),
		jwt.WithStrictDecoding(),
	}
	now := time.Now
	if o.Now != nil {
		now = o.Now
		opts = append(opts, jwt.WithTimeFunc(o.Now))
	}
	return &Verifier{keys: keys, parser: jwt.NewParser(opts...), now: now, leeway: o.Leeway, seen: map[string]verified{}}, nil
}

var (
	errMissing   = &Error{Reason: Missing}
	errOversized = &Error{Reason: Oversized, Err: fmt.Errorf("token is longer than %d bytes", MaxBytes)}
)

// FromHeader extracts the token of an "Authorization: Bearer <token>"
// header value. An empty value is Missing; any other shape Malformed.
func FromHeader(h string) (string, error) {
	if h == "" {
		return "", errMissing
	}
	scheme, tok, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") || tok == "" {
		return "", &Error{Reason: Malformed, Err: errors.New(`authorization header is not "Bearer <token>"`)}
	}
	return tok, nil
}

// Verify checks raw and returns the identity it carries, or an *Error
// naming the reason it was refused.
func (v *Verifier) Verify(ctx context.Context, raw string) (Identity, error) {
	if raw == "" {
		return Identity{}, errMissing
	}
	if len(raw) > MaxBytes {
		return Identity{}, errOversized // refused unread, at no cost
	}
	if id, ok := v.remembered(ctx, raw); ok {
		return id, nil
	}
	var (
		c   Claims
		kid string
		key ed25519.PublicKey
	)
	t, err := v.parser.ParseWithClaims(raw, &c, func(t *jwt.Token) (any, error) {
		kid, _ = t.Header["kid"].(string)
		if kid == "" {
			return nil, ErrUnknownKey
		}
		k, err := v.keys.PublicKey(ctx, kid)
		key = k
		return k, err
	})
	if err != nil {
		return Identity{}, &Error{Reason: classify(t, err), Err: err}
	}
	id := Identity{UserID: c.Subject, Role: c.Role, ExpiresAt: c.ExpiresAt.Time}
	var nb time.Time
	for _, d := range []*jwt.NumericDate{c.IssuedAt, c.NotBefore} {
		if d != nil && d.After(nb) {
			nb = d.Time
		}
	}
	v.remember(raw, verified{id: id, kid: kid, key: key, notBefore: nb})
	return id, nil
}

// remembered returns the identity of a token that verified before, if its
// time claims still hold with the leeway the parser allows and its kid
// still names the key that verified it; otherwise the token is verified
// in full again (which names the reason if it is now refused).
func (v *Verifier) remembered(ctx context.Context, raw string) (Identity, bool) {
	v.mu.Lock()
	r, ok := v.seen[raw]
	v.mu.Unlock()
	if !ok {
		return Identity{}, false
	}
	now := v.now()
	if !now.Before(r.id.ExpiresAt.Add(v.leeway)) || now.Before(r.notBefore.Add(-v.leeway)) {
		v.forget(raw)
		return Identity{}, false
	}
	if k, err := v.keys.PublicKey(ctx, r.kid); err != nil || !k.Equal(r.key) {
		v.forget(raw)
		return Identity{}, false
	}
	return r.id, true
}

func (v *Verifier) remember(raw string, r verified) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if len(v.seen) >= MaxRemembered {
		for k := range v.seen {
			delete(v.seen, k)
			break
		}
	}
	v.seen[raw] = r
}

func (v *Verifier) forget(raw string) {
	v.mu.Lock()
	delete(v.seen, raw)
	v.mu.Unlock()
}

// classify names a parser error. Order matters: the algorithm is judged
// before anything that depends on it, and claim errors, which the parser
// joins, from the most to the least specific.
func classify(t *jwt.Token, err error) Reason {
	if errors.Is(err, jwt.ErrTokenMalformed) {
		return Malformed
	}
	if t == nil {
		return Malformed
	}
	if alg, _ := t.Header["alg"].(string); alg != Algorithm {
		return BadAlgorithm
	}
	switch {
	case errors.Is(err, ErrUnknownKey):
		return UnknownKid
	case errors.Is(err, ErrKeysUnavailable):
		return KeysUnavailable
	case errors.Is(err, jwt.ErrTokenSignatureInvalid):
		return BadSignature
	case errors.Is(err, jwt.ErrTokenRequiredClaimMissing):
		return MissingClaim
	case errors.Is(err, jwt.ErrTokenExpired):
		return Expired
	case errors.Is(err, jwt.ErrTokenNotValidYet), errors.Is(err, jwt.ErrTokenUsedBeforeIssued):
		return NotYetValid
	case errors.Is(err, jwt.ErrTokenInvalidIssuer):
		return WrongIssuer
	case errors.Is(err, jwt.ErrTokenInvalidAudience):
		return WrongAudience
	}
	return InvalidClaims
}

// AsDomainError turns a verification error into the domain error a
// service answers with: EUNAVAILABLE when the keys could not be fetched
// (not the caller's fault), EUNAUTHORIZED otherwise, with a message that
// names the reason without echoing the token.
func AsDomainError(err error) error {
	r := ReasonOf(err)
	switch r {
	case "":
		return err
	case KeysUnavailable:
		return &cloudcart.Error{Code: cloudcart.EUNAVAILABLE, Message: "cannot verify tokens right now: signing keys unavailable", Err: err}
	case Missing:
		return &cloudcart.Error{Code: cloudcart.EUNAUTHORIZED, Message: "this route needs a bearer token (header Authorization: Bearer TOKEN, with TOKEN from POST /api/auth/login)", Err: err}
	}
	return &cloudcart.Error{Code: cloudcart.EUNAUTHORIZED, Message: "invalid token: " + strings.ReplaceAll(string(r), "_", " "), Err: err}
}
