package authn_test

import (
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cloudcart/cloudcart/internal/authn"
	"github.com/cloudcart/cloudcart/internal/authn/authntest"
	"github.com/cloudcart/cloudcart/internal/cloudcart"
	"github.com/cloudcart/cloudcart/internal/httpkit"
)

func TestCaller(t *testing.T) {
	kit := authntest.MustNew(t)
	other := authntest.MustNew(t) // a signer the Authenticator does not trust
	req := func(h ...string) *http.Request {
		r := httptest.NewRequest("GET", "/", nil)
		for i := 0; i+1 < len(h); i += 2 {
			r.Header.Set(h[i], h[i+1])
		}
		return r
	}
	for _, tc := range []struct {
		name   string
		r      *http.Request
		want   authn.Caller
		status string // error code, "" for none
	}{
		{"nothing", req(), authn.Caller{}, ""},
		{"identity headers are not credentials", req(httpkit.HeaderUserID, "usr_1", httpkit.HeaderUserRole, "admin"), authn.Caller{}, ""},
		{"user", kit.AsUser(t, req(), "usr_1", cloudcart.RoleUser), authn.Caller{UserID: "usr_1", Role: cloudcart.RoleUser}, ""},
		{"admin and service", authntest.AsService(kit.AsUser(t, req(), "usr_2", cloudcart.RoleAdmin)), authn.Caller{UserID: "usr_2", Role: cloudcart.RoleAdmin, Service: true}, ""},
		{"service", authntest.AsService(req()), authn.Caller{Service: true}, ""},
		{"foreign signer", other.AsUser(t, req(), "usr_1", cloudcart.RoleAdmin), authn.Caller{}, cloudcart.EUNAUTHORIZED},
		{"garbage token", req("Authorization", "Bearer a.b.c"), authn.Caller{}, cloudcart.EUNAUTHORIZED},
		{"basic auth", req("Authorization", "Basic dXNlcjpwYXNz"), authn.Caller{}, cloudcart.EUNAUTHORIZED},
		{"wrong secret", req(authn.HeaderServiceToken, strings.Repeat("x", 40)), authn.Caller{}, cloudcart.EUNAUTHORIZED},
		{"secret prefix", req(authn.HeaderServiceToken, authntest.ServiceToken[:20]), authn.Caller{}, cloudcart.EUNAUTHORIZED},
		{"empty secret", req(authn.HeaderServiceToken, ""), authn.Caller{}, cloudcart.EUNAUTHORIZED},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := kit.Auth.Caller(tc.r)
			if cloudcart.ErrorCode(err) != tc.status || (err == nil && got != tc.want) {
				t.Fatalf("Caller = %+v, %v; want %+v, code %q", got, err, tc.want, tc.status)
			}
		})
	}
	if _, err := kit.Auth.Admin(kit.AsUser(t, req(), "usr_1", cloudcart.RoleUser)); cloudcart.ErrorCode(err) != cloudcart.EFORBIDDEN {
		t.Errorf("Admin(user) = %v", err)
	}
	if _, err := kit.Auth.Admin(authntest.AsService(req())); cloudcart.ErrorCode(err) != cloudcart.EUNAUTHORIZED {
		t.Errorf("Admin(service) = %v: a service is not an admin user", err)
	}
	if _, err := kit.Auth.Service(kit.AsUser(t, req(), "usr_2", cloudcart.RoleAdmin)); cloudcart.ErrorCode(err) != cloudcart.EUNAUTHORIZED {
		t.Errorf("Service(admin) = %v: an admin is not a service", err)
	}
}

func TestLoadServiceToken(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	path := filepath.Join(dir, authn.ServiceTokenFile)
	tok, created, err := authn.LoadServiceToken("", path)
	if err != nil || !created || len(tok) < authn.MinServiceTokenLen {
		t.Fatalf("first start: %q %v %v", tok, created, err)
	}
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("token file mode: %v %v", fi.Mode(), err)
	}
	again, created, err := authn.LoadServiceToken("", path)
	if err != nil || created || again != tok {
		t.Fatalf("second start: %q %v %v", again, created, err)
	}
	if _, _, err := authn.LoadServiceToken("short", path); err == nil {
		t.Fatal("a short given token was accepted")
	}
	given := strings.Repeat("g", authn.MinServiceTokenLen)
	if got, _, err := authn.LoadServiceToken(given, path); err != nil || got != given {
		t.Fatalf("given token: %q %v", got, err)
	}
	if err := os.WriteFile(path, []byte("tiny\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, _, err := authn.LoadServiceToken("", path); err == nil {
		t.Fatal("a file with a short token was accepted")
	}
}

func TestServiceTransport(t *testing.T) {
	kit := authntest.MustNew(t)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, err := kit.Auth.Service(r); err != nil {
			httpkit.Error(w, r, nil, err)
		}
	}))
	defer srv.Close()
	for token, want := range map[string]int{authntest.ServiceToken: 200, strings.Repeat("n", 40): 401} {
		c := &http.Client{Transport: &authn.ServiceTransport{Token: token}}
		resp, err := c.Get(srv.URL)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Errorf("token %.8s…: %d, want %d", token, resp.StatusCode, want)
		}
	}
}
