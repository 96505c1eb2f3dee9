package httpkit_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/cloudcart/cloudcart/internal/cloudcart"
	"github.com/cloudcart/cloudcart/internal/httpkit"
)

func TestCheckQuery(t *testing.T) {
	allowed := []string{"limit", "q", httpkit.Repeatable("sku")}
	for _, tc := range []struct {
		query   string
		allowed []string
		names   string // "" = accepted; otherwise the message must contain it
	}{
		{"", allowed, ""},
		{"limit=5&q=mug", allowed, ""},
		{"sku=a&sku=b&sku=c", allowed, ""},
		{"limit=", allowed, ""},
		{"&&limit=1&", allowed, ""},
		{"limit=1&limit=2", allowed, `"limit" is given 2 times`},
		{"min_price=abc", allowed, `unknown query parameter "min_price": this route accepts limit, q, sku`},
		{"window=abc", nil, `unknown query parameter "window": this route takes no query parameters`},
		{"limit=%zz", allowed, `query parameter "limit": value "%zz" is not valid URL encoding`},
		{"%zz=1", allowed, `query parameter name "%zz"`},
		{"limit=1;q=2", allowed, "semicolon"},
		{strings.Repeat("q=1&", 65), []string{httpkit.Repeatable("q")}, "at most 64 query parameters"},
	} {
		t.Run(tc.query, func(t *testing.T) {
			r := httptest.NewRequest("GET", "/x?"+tc.query, nil)
			err := httpkit.CheckQuery(r, tc.allowed...)
			if tc.names == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if cloudcart.ErrorCode(err) != cloudcart.EINVALID || !strings.Contains(cloudcart.ErrorMessage(err), tc.names) {
				t.Fatalf("got %v, want EINVALID naming %s", err, tc.names)
			}
		})
	}
}

func TestTypedParams(t *testing.T) {
	req := func(q string) *http.Request { return httptest.NewRequest("GET", "/x?"+q, nil) }
	type result struct {
		v   any
		err error
	}
	for _, tc := range []struct {
		name  string
		got   result
		want  any
		names string
	}{
		{"int absent", pair(httpkit.IntParam(req(""), "n", 7, 1, 10)), 7, ""},
		{"int", pair(httpkit.IntParam(req("n=3"), "n", 7, 1, 10)), 3, ""},
		{"int negative", pair(httpkit.IntParam(req("n=-1"), "n", 7, 1, 10)), nil, "n must be an integer between 1 and 10"},
		{"int text", pair(httpkit.IntParam(req("n=abc"), "n", 7, 1, 10)), nil, `got "abc"`},
		{"int bad escape", pair(httpkit.IntParam(req("n=%zz"), "n", 7, 1, 10)), nil, `"n"`},
		{"float", pair(httpkit.FloatParam(req("r=0.25"), "r", 0, 0, 1)), 0.25, ""},
		{"float NaN", pair(httpkit.FloatParam(req("r=NaN"), "r", 0, 0, 1)), nil, "r must be a number"},
		{"float range", pair(httpkit.FloatParam(req("r=2"), "r", 0, 0, 1)), nil, "between 0 and 1"},
		{"bool", pair(httpkit.BoolParam(req("b=true"), "b")), true, ""},
		{"bool bad", pair(httpkit.BoolParam(req("b=yes"), "b")), nil, "b must be true or false"},
		{"enum default", pair(httpkit.EnumParam(req(""), "sort", "name", "name", "price")), "name", ""},
		{"enum", pair(httpkit.EnumParam(req("sort=price"), "sort", "name", "name", "price")), "price", ""},
		{"enum evil", pair(httpkit.EnumParam(req("sort=evil"), "sort", "name", "name", "price")), nil, `sort must be one of name, price, got "evil"`},
		{"string", pair(httpkit.StringParam(req("q=caf%C3%A9"), "q", 10)), "café", ""},
		{"string long", pair(httpkit.StringParam(req("q="+strings.Repeat("a", 11)), "q", 10)), nil, "q must be at most 10 bytes"},
		{"string control", pair(httpkit.StringParam(req("q=a%00"), "q", 10)), nil, "control characters"},
		{"string bad utf-8", pair(httpkit.StringParam(req("q=%ff"), "q", 10)), nil, "q must be text"},
		{"strings", pairS(httpkit.StringsParam(req("s=a&s=b"), "s", 2, 5)), "a,b", ""},
		{"strings too many", pairS(httpkit.StringsParam(req("s=a&s=b&s=c"), "s", 2, 5)), nil, "at most 2 s parameters"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.names == "" {
				if tc.got.err != nil || tc.got.v != tc.want {
					t.Fatalf("got %v, %v; want %v", tc.got.v, tc.got.err, tc.want)
				}
				return
			}
			if cloudcart.ErrorCode(tc.got.err) != cloudcart.EINVALID || !strings.Contains(cloudcart.ErrorMessage(tc.got.err), tc.names) {
				t.Fatalf("got %v, want EINVALID naming %s", tc.got.err, tc.names)
			}
		})
	}
}

func pair[T any](v T, err error) struct {
	v   any
	err error
} {
	return struct {
		v   any
		err error
	}{v, err}
}

func pairS(v []string, err error) struct {
	v   any
	err error
} {
	return struct {
		v   any
		err error
	}{strings.Join(v, ","), err}
}

// TestCanonicalPaths: paths a ServeMux would redirect get a JSON 404.
func TestCanonicalPaths(t *testing.T) {
	h := httpkit.CanonicalPaths(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(299) }))
	for _, tc := range []struct {
		path string
		want int
	}{
		{"/api/orders", 299}, {"/", 299}, {"/console/static/", 299}, {"/api/orders/", 299},
		{"//api//orders", 404}, {"/api/../orders", 404}, {"/api/./orders", 404}, {"/api/orders/..", 404},
		{"//", 404}, {"/api/orders//", 404},
	} {
		t.Run(tc.path, func(t *testing.T) {
			r := httptest.NewRequest("GET", "http://x/", nil)
			r.URL.Path = tc.path
			w := httptest.NewRecorder()
			h.ServeHTTP(w, r)
			if w.Code != tc.want {
				t.Fatalf("%d, want %d", w.Code, tc.want)
			}
			if tc.want == 404 && (w.Header().Get("Content-Type") != "application/json" || w.Header().Get("Location") != "" ||
				!strings.Contains(w.Body.String(), `"code":"not_found"`)) {
				t.Fatalf("not a JSON 404: %v %s", w.Header(), w.Body)
			}
		})
	}
}

// FuzzQuery: any query string is either refused with an EINVALID error
// or parses, and then every typed helper answers without panicking.
func FuzzQuery(f *testing.F) {
	for _, s := range []string{"limit=5&q=mug", "limit=%zz", "sku=a&sku=b", "a;b", "limit=1e9", "r=NaN", "q=%00", "=&=&", "%", "limit=+5"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, q string) {
		r := httptest.NewRequest("GET", "/", nil)
		r.URL.RawQuery = q
		if err := httpkit.CheckQuery(r, "limit", "q", "r", httpkit.Repeatable("sku")); err != nil {
			if cloudcart.ErrorCode(err) != cloudcart.EINVALID {
				t.Fatalf("%q: %v", q, err)
			}
			return
		}
		if n, err := httpkit.IntParam(r, "limit", 1, 1, 100); err == nil && (n < 1 || n > 100) {
			t.Fatalf("limit %d out of range", n)
		}
		if v, err := httpkit.FloatParam(r, "r", 0, 0, 1); err == nil && !(v >= 0 && v <= 1) {
			t.Fatalf("r %v out of range", v)
		}
		if s, err := httpkit.StringParam(r, "q", 50); err == nil && len(s) > 50 {
			t.Fatalf("q %q too long", s)
		}
		if vs, err := httpkit.StringsParam(r, "sku", 5, 10); err == nil && len(vs) > 5 {
			t.Fatalf("%d skus", len(vs))
		}
	})
}
