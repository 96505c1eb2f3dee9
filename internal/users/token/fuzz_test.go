package token_test

import (
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"strings"
	"testing"
	"time"

	"github.com/cloudcart/cloudcart/internal/cloudcart"
	"github.com/cloudcart/cloudcart/internal/users/token"
)

// FuzzVerify: whatever arrives in "Authorization: Bearer ...", the
// verifier either refuses it with a named reason (a 401 to the caller) or
// returns the identity of a token this key signed; it never panics.
func FuzzVerify(f *testing.F) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	key := ed25519.NewKeyFromSeed(make([]byte, ed25519.SeedSize))
	other := ed25519.NewKeyFromSeed([]byte(strings.Repeat("x", ed25519.SeedSize)))
	clock := func() time.Time { return now }
	s := mustSigner(f, key, func(o *token.SignerOptions) { o.Now = clock })
	so := mustSigner(f, other, func(o *token.SignerOptions) { o.Now = clock })
	v, err := token.NewVerifier(token.StaticKeys{s.KeyID(): s.PublicKey()}, token.VerifierOptions{Issuer: "iss", Audience: "aud", Now: clock})
	if err != nil {
		f.Fatal(err)
	}
	good, _, _ := s.Issue("usr_1", cloudcart.RoleUser)
	admin, _, _ := s.Issue("usr_2", cloudcart.RoleAdmin)
	forged, _, _ := so.Issue("usr_1", cloudcart.RoleAdmin)
	parts := strings.Split(good, ".")
	b64 := base64.RawURLEncoding.EncodeToString
	for _, seed := range []string{
		"Bearer " + good, "Bearer " + admin, "Bearer " + forged, "bearer " + good, "Basic dXNlcjpwYXNz", "", "Bearer ",
		"Bearer " + b64([]byte(`{"alg":"none","typ":"JWT"}`)) + "." + parts[1] + ".",
		"Bearer " + b64([]byte(`{"alg":"HS256","kid":"`+s.KeyID()+`"}`)) + "." + parts[1] + "." + parts[2],
		"Bearer " + parts[0] + "." + b64([]byte(`{"sub":"usr_1","role":"admin","iss":"iss","aud":"aud","exp":99999999999,"iat":1}`)) + "." + parts[2],
		"Bearer " + parts[0] + "." + parts[1], "Bearer a.b.c.d", "Bearer " + strings.Repeat("A", token.MaxBytes+1),
	} {
		f.Add(seed)
	}
	ctx := context.Background()
	f.Fuzz(func(t *testing.T, header string) {
		raw, err := token.FromHeader(header)
		if err == nil {
			var id token.Identity
			id, err = v.Verify(ctx, raw)
			if err == nil {
				if id.UserID == "" || !id.Role.Valid() {
					t.Fatalf("accepted %q with identity %+v", header, id)
				}
				if raw != good && raw != admin {
					// Only a token signed by the key passes. JWT's
					// base64 padding bits admit a few other spellings
					// of the same signature; they must carry the same
					// claims as a token the signer issued.
					if id.UserID != "usr_1" && id.UserID != "usr_2" {
						t.Fatalf("accepted a token the signer never issued: %q -> %+v", header, id)
					}
				}
				return
			}
		}
		if token.ReasonOf(err) == "" {
			t.Fatalf("refused %q without a reason: %v", header, err)
		}
		if code := cloudcart.ErrorCode(token.AsDomainError(err)); code != cloudcart.EUNAUTHORIZED {
			t.Fatalf("refused %q as %s, want unauthorized", header, code)
		}
	})
}
