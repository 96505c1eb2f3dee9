// Package httpkittest holds test helpers for code built on httpkit: the
// fuzz body every service runs over its JSON request types.
package httpkittest

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"

	"github.com/cloudcart/cloudcart/internal/cloudcart"
	"github.com/cloudcart/cloudcart/internal/httpkit"
)

// FuzzDecodeJSON fuzzes httpkit.DecodeJSON with each request type (name →
// a constructor of a pointer to a fresh value), seeded with the seeds
// given for each type and a few hostile bodies. The properties: a body is
// either refused with an EINVALID or ETOOLARGE error carrying a message
// (a 4xx naming the problem, never a 500), or decoded into a value that
// encodes as JSON and decodes again to the same encoding.
func FuzzDecodeJSON(f *testing.F, types map[string]func() any, seeds map[string][]string) {
	f.Helper()
	names := make([]string, 0, len(types))
	for n := range types {
		names = append(names, n)
	}
	slices.Sort(names)
	hostile := []string{``, `null`, `[]`, `{}`, `{"a":1}`, `{}{}`, `{} x`, `{"email":"\ud800"}`,
		`{"price":1e400}`, `{"items":[` + string(bytes.Repeat([]byte(`{},`), 100)) + `{}]}`, "\xff\xfe{}",
		`{"name":` + string(bytes.Repeat([]byte("["), 10001)) + `}`}
	for i, n := range names {
		for _, s := range append(seeds[n], hostile...) {
			f.Add(uint8(i), []byte(s))
		}
	}
	const limit = 64 << 10
	decode := func(body []byte, v any) error {
		r := httptest.NewRequest(http.MethodPost, "/", bytes.NewReader(body))
		r.Body = http.MaxBytesReader(httptest.NewRecorder(), r.Body, limit)
		return httpkit.DecodeJSON(r, v)
	}
	f.Fuzz(func(t *testing.T, kind uint8, body []byte) {
		name := names[int(kind)%len(names)]
		v := types[name]()
		if err := decode(body, v); err != nil {
			code := cloudcart.ErrorCode(err)
			if (code != cloudcart.EINVALID && code != cloudcart.ETOOLARGE) || cloudcart.ErrorMessage(err) == "" {
				t.Fatalf("%s %q: %v is not a 4xx with a message", name, body, err)
			}
			return
		}
		out, err := json.Marshal(v)
		if err != nil {
			t.Fatalf("%s %q decoded but does not encode: %v", name, body, err)
		}
		again := types[name]()
		if err := decode(out, again); err != nil {
			t.Fatalf("%s: re-encoded %s does not decode: %v", name, out, err)
		}
		if out2, _ := json.Marshal(again); !bytes.Equal(out, out2) {
			t.Fatalf("%s: round trip changed %s into %s", name, out, out2)
		}
	})
}
