package token_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/cloudcart/cloudcart/internal/cloudcart"
	"github.com/cloudcart/cloudcart/internal/users/token"
)

// RFC 8037 appendix A.3: the thumbprint of the example Ed25519 key.
func TestThumbprintRFC8037(t *testing.T) {
	x, _ := base64.RawURLEncoding.DecodeString("11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo")
	if got := token.Thumbprint(ed25519.PublicKey(x)); got != "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k" {
		t.Fatalf("thumbprint %s", got)
	}
}

func mustSigner(tb testing.TB, key ed25519.PrivateKey, mod func(*token.SignerOptions)) *token.Signer {
	tb.Helper()
	o := token.SignerOptions{Issuer: "iss", Audience: "aud", TTL: time.Hour}
	if mod != nil {
		mod(&o)
	}
	s, err := token.NewSigner(key, o)
	if err != nil {
		tb.Fatal(err)
	}
	return s
}

func newKey() ed25519.PrivateKey {
	_, k, _ := ed25519.GenerateKey(rand.Reader)
	return k
}

func TestVerifyReasons(t *testing.T) {
	key := newKey()
	s := mustSigner(t, key, nil)
	v, err := token.NewVerifier(token.StaticKeys{s.KeyID(): s.PublicKey()}, token.VerifierOptions{Issuer: "iss", Audience: "aud"})
	if err != nil {
		t.Fatal(err)
	}
	issue := func(s *token.Signer, role cloudcart.Role) string {
		tok, _, err := s.Issue("usr_1", role)
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	forge := func(c jwt.MapClaims) string {
		tok := jwt.NewWithClaims(jwt.SigningMethodEdDSA, c)
		tok.Header["kid"] = s.KeyID()
		raw, err := tok.SignedString(key)
		if err != nil {
			t.Fatal(err)
		}
		return raw
	}
	now := time.Now().Unix()
	good := jwt.MapClaims{"iss": "iss", "aud": "aud", "sub": "usr_1", "role": "user", "iat": now, "exp": now + 60}
	with := func(k string, v any) jwt.MapClaims {
		c := jwt.MapClaims{}
		for kk, vv := range good {
			c[kk] = vv
		}
		if v == nil {
			delete(c, k)
		} else {
			c[k] = v
		}
		return c
	}
	noKid := jwt.NewWithClaims(jwt.SigningMethodEdDSA, good)
	noKidRaw, _ := noKid.SignedString(key)
	rs256 := "eyJhbGciOiJSUzI1NiIsImtpZCI6IngifQ." + base64.RawURLEncoding.EncodeToString([]byte(`{"sub":"x"}`)) + ".c2ln"

	for _, tc := range []struct {
		name string
		raw  string
		want token.Reason // "" means valid
	}{
		{"valid", issue(s, cloudcart.RoleAdmin), ""},
		{"forged but equivalent", forge(good), ""},
		{"empty", "", token.Missing},
		{"two segments", "a.b", token.Malformed},
		{"bad base64", "@@.@@.@@", token.Malformed},
		{"RS256", rs256, token.BadAlgorithm},
		{"no kid", noKidRaw, token.UnknownKid},
		{"other key", issue(mustSigner(t, newKey(), nil), cloudcart.RoleUser), token.UnknownKid},
		{"no exp", forge(with("exp", nil)), token.MissingClaim},
		{"no sub", forge(with("sub", nil)), token.MissingClaim},
		{"expired", forge(with("exp", now-3600)), token.Expired},
		{"issued in the future", forge(with("iat", now+3600)), token.NotYetValid},
		{"not before in the future", forge(with("nbf", now+3600)), token.NotYetValid},
		{"wrong issuer", forge(with("iss", "other")), token.WrongIssuer},
		{"wrong audience", forge(with("aud", []string{"x", "y"})), token.WrongAudience},
		{"unknown role", forge(with("role", "root")), token.InvalidClaims},
		{"oversized", strings.Repeat("a", token.MaxBytes+1), token.Oversized},
	} {
		t.Run(tc.name, func(t *testing.T) {
			id, err := v.Verify(context.Background(), tc.raw)
			if got := token.ReasonOf(err); got != tc.want {
				t.Fatalf("reason %q, want %q (err %v)", got, tc.want, err)
			}
			if tc.want == "" && id.UserID != "usr_1" {
				t.Fatalf("identity %+v", id)
			}
		})
	}
}

// TestOversizedTokenIsCheap: a huge token is refused by its length alone,
// without allocating, whatever its size.
func TestOversizedTokenIsCheap(t *testing.T) {
	s := mustSigner(t, newKey(), nil)
	v, _ := token.NewVerifier(token.StaticKeys{s.KeyID(): s.PublicKey()}, token.VerifierOptions{Issuer: "iss", Audience: "aud"})
	dots := strings.Repeat(".", 64<<10)
	var err error
	allocs := testing.AllocsPerRun(100, func() { _, err = v.Verify(context.Background(), dots) })
	if token.ReasonOf(err) != token.Oversized {
		t.Fatal(err)
	}
	if allocs > 0 {
		t.Fatalf("%v allocations to refuse a 64 KB token", allocs)
	}
}

func TestFromHeader(t *testing.T) {
	for _, tc := range []struct {
		in, tok string
		reason  token.Reason
	}{
		{"Bearer abc", "abc", ""}, {"bearer abc", "abc", ""}, {"", "", token.Missing},
		{"Basic abc", "", token.Malformed}, {"Bearer", "", token.Malformed}, {"Bearer ", "", token.Malformed},
	} {
		tok, err := token.FromHeader(tc.in)
		if tok != tc.tok || token.ReasonOf(err) != tc.reason {
			t.Errorf("FromHeader(%q) = %q, %v", tc.in, tok, err)
		}
	}
}

func TestJWKRejectsOtherKeys(t *testing.T) {
	for _, k := range []token.JWK{
		{Kty: "RSA", Kid: "r"}, {Kty: "OKP", Crv: "X25519", X: "AAAA", Kid: "x"},
		{Kty: "OKP", Crv: "Ed25519", X: "short", Kid: "s"}, {Kty: "OKP", Crv: "Ed25519", Alg: "ES256", Kid: "a"},
	} {
		if _, err := k.PublicKey(); err == nil {
			t.Errorf("%+v accepted", k)
		}
	}
}

func TestRemoteKeys(t *testing.T) {
	s := mustSigner(t, newKey(), nil)
	var (
		hits   atomic.Int64
		broken atomic.Bool
	)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		if broken.Load() {
			http.Error(w, "down", http.StatusInternalServerError)
			return
		}
		_ = json.NewEncoder(w).Encode(s.KeySet())
	}))
	defer srv.Close()
	now := time.Now()
	var clock atomic.Int64
	rk := &token.RemoteKeys{URL: srv.URL, MinRefresh: time.Second, MaxAge: time.Minute,
		Now: func() time.Time { return now.Add(time.Duration(clock.Load())) }}
	ctx := context.Background()
	if _, err := rk.PublicKey(ctx, s.KeyID()); err != nil || hits.Load() != 1 {
		t.Fatalf("first lookup: %v, %d fetches", err, hits.Load())
	}
	if _, err := rk.PublicKey(ctx, "nope"); err != token.ErrUnknownKey || hits.Load() != 1 {
		t.Fatalf("unknown kid inside MinRefresh: %v, %d fetches; want no fetch", err, hits.Load())
	}
	clock.Add(int64(2 * time.Second))
	if _, err := rk.PublicKey(ctx, "nope"); err != token.ErrUnknownKey || hits.Load() != 2 {
		t.Fatalf("unknown kid after MinRefresh: %v, %d fetches; want one more", err, hits.Load())
	}
	broken.Store(true)
	clock.Add(int64(2 * time.Minute)) // the set is stale and the server down
	if _, err := rk.PublicKey(ctx, s.KeyID()); err != nil {
		t.Fatalf("stale set not used while the key server is down: %v", err)
	}
	fresh := &token.RemoteKeys{URL: srv.URL}
	if _, err := fresh.PublicKey(ctx, s.KeyID()); err != token.ErrKeysUnavailable {
		t.Fatalf("no set ever fetched: %v, want ErrKeysUnavailable", err)
	}
}

// swapKeys is a key source whose keys the test changes between calls.
type swapKeys struct {
	mu   sync.Mutex
	keys token.StaticKeys
}

func (s *swapKeys) set(k token.StaticKeys) { s.mu.Lock(); s.keys = k; s.mu.Unlock() }

func (s *swapKeys) PublicKey(ctx context.Context, kid string) (ed25519.PublicKey, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.keys.PublicKey(ctx, kid)
}

// TestRememberedTokenIsJudgedAgain: a token that verified is remembered
// (not verified again in full), yet each use still refuses it once its
// kid names another key or none, or once it expired, exactly as a first
// verification would; and it is accepted again when the key comes back.
func TestRememberedTokenIsJudgedAgain(t *testing.T) {
	key := newKey()
	now := time.Now()
	clock := func() time.Time { return now }
	s := mustSigner(t, key, func(o *token.SignerOptions) { o.TTL, o.Now = time.Minute, clock })
	good := token.StaticKeys{s.KeyID(): s.PublicKey()}
	keys := &swapKeys{keys: good}
	v, err := token.NewVerifier(keys, token.VerifierOptions{Issuer: "iss", Audience: "aud", Now: clock})
	if err != nil {
		t.Fatal(err)
	}
	raw, exp, err := s.Issue("usr_1", cloudcart.RoleUser)
	if err != nil {
		t.Fatal(err)
	}
	check := func(step string, want token.Reason) {
		t.Helper()
		id, err := v.Verify(context.Background(), raw)
		if got := token.ReasonOf(err); got != want {
			t.Fatalf("%s: reason %q, want %q (err %v)", step, got, want, err)
		}
		if want == "" && (id.UserID != "usr_1" || id.Role != cloudcart.RoleUser || !id.ExpiresAt.Equal(exp)) {
			t.Fatalf("%s: identity %+v", step, id)
		}
	}
	check("first", "")
	check("remembered", "")
	keys.set(token.StaticKeys{s.KeyID(): mustSigner(t, newKey(), nil).PublicKey()})
	check("kid now names another key", token.BadSignature)
	keys.set(token.StaticKeys{})
	check("kid withdrawn", token.UnknownKid)
	keys.set(good)
	check("key back", "")
	now = exp.Add(token.DefaultLeeway - time.Second)
	check("within the leeway after exp", "")
	now = exp.Add(token.DefaultLeeway)
	check("expired", token.Expired)
}

// BenchmarkVerify: a token seen for the first time (parsed, signature
// checked), and the same token again (remembered: time claims and key
// checked only).
func BenchmarkVerify(b *testing.B) {
	s := mustSigner(b, newKey(), nil)
	keys := token.StaticKeys{s.KeyID(): s.PublicKey()}
	raw, _, err := s.Issue("usr_1", cloudcart.RoleUser)
	if err != nil {
		b.Fatal(err)
	}
	newVerifier := func() *token.Verifier {
		v, err := token.NewVerifier(keys, token.VerifierOptions{Issuer: "iss", Audience: "aud"})
		if err != nil {
			b.Fatal(err)
		}
		return v
	}
	b.Run("first", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := newVerifier().Verify(context.Background(), raw); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("remembered", func(b *testing.B) {
		v := newVerifier()
		b.ReportAllocs()
		for b.Loop() {
			if _, err := v.Verify(context.Background(), raw); err != nil {
				b.Fatal(err)
			}
		}
	})
}
