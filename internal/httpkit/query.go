package httpkit

import (
	"fmt"
	"math"
	"net/http"
	"net/url"
	"path"
	"slices"
	"strconv"
	"strings"

	"github.com/cloudcart/cloudcart/internal/cloudcart"
)

// Query parameters are parsed strictly, here and nowhere else: a route
// declares the parameters it accepts (CheckQuery), and reads each with a
// typed helper below. A malformed query string, an unknown or repeated
// parameter, or a value of the wrong type or range is an EINVALID error
// whose message names the parameter, so a typo such as ?limt=5 or
// ?min_price=abc is a 400 rather than a silently different answer.

// Repeatable marks a parameter name in CheckQuery's list that may appear
// more than once (?sku=a&sku=b).
func Repeatable(name string) string { return name + "*" }

// maxQueryParams bounds the pairs one query string may carry.
const maxQueryParams = 64

// CheckQuery parses r's query string strictly and checks that every
// parameter is one of allowed (each at most once unless marked
// Repeatable). With no allowed names, any parameter is refused.
func CheckQuery(r *http.Request, allowed ...string) error {
	vals, err := parseQuery(r.URL.RawQuery)
	if err != nil {
		return err
	}
	for name, vs := range vals {
		switch {
		case slices.Contains(allowed, name):
			if len(vs) > 1 {
				return cloudcart.Errorf(cloudcart.EINVALID, "query parameter %s is given %d times; give it once", quoteName(name), len(vs))
			}
		case slices.Contains(allowed, Repeatable(name)):
		default:
			if len(allowed) == 0 {
				return cloudcart.Errorf(cloudcart.EINVALID, "unknown query parameter %s: this route takes no query parameters", quoteName(name))
			}
			names := make([]string, len(allowed))
			for i, a := range allowed {
				names[i] = strings.TrimSuffix(a, "*")
			}
			return cloudcart.Errorf(cloudcart.EINVALID, "unknown query parameter %s: this route accepts %s", quoteName(name), strings.Join(names, ", "))
		}
	}
	return nil
}

// CheckQueryEncoding checks that r's query string parses, whatever its
// parameters: for a proxy, which forwards them to a service that checks
// them.
func CheckQueryEncoding(r *http.Request) error {
	_, err := parseQuery(r.URL.RawQuery)
	return err
}

// parseQuery is url.ParseQuery, except that an error names the parameter
// whose name or value is badly escaped (url.ParseQuery keeps the pairs it
// could read and drops the rest).
func parseQuery(raw string) (url.Values, error) {
	vals := url.Values{}
	n := 0
	for raw != "" {
		var pair string
		pair, raw, _ = strings.Cut(raw, "&")
		if pair == "" {
			continue
		}
		if n++; n > maxQueryParams {
			return nil, cloudcart.Errorf(cloudcart.EINVALID, "at most %d query parameters", maxQueryParams)
		}
		if strings.Contains(pair, ";") {
			return nil, cloudcart.Errorf(cloudcart.EINVALID, "query parameter %s contains a semicolon; separate parameters with &", quoteName(pair))
		}
		rawName, rawValue, _ := strings.Cut(pair, "=")
		name, err := url.QueryUnescape(rawName)
		if err != nil {
			return nil, cloudcart.Errorf(cloudcart.EINVALID, "query parameter name %s is not valid URL encoding", quoteName(rawName))
		}
		value, err := url.QueryUnescape(rawValue)
		if err != nil {
			return nil, cloudcart.Errorf(cloudcart.EINVALID, "query parameter %s: value %q is not valid URL encoding", quoteName(name), trunc(rawValue))
		}
		vals[name] = append(vals[name], value)
	}
	return vals, nil
}

// value is the parameter's value, "" when absent.
func value(r *http.Request, name string) (string, error) {
	vals, err := parseQuery(r.URL.RawQuery)
	if err != nil {
		return "", err
	}
	return vals.Get(name), nil
}

// IntParam reads an integer query parameter in [lo, hi], def when absent.
func IntParam(r *http.Request, name string, def, lo, hi int) (int, error) {
	v, err := value(r, name)
	if err != nil || v == "" {
		return def, err
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < lo || n > hi {
		return 0, cloudcart.Errorf(cloudcart.EINVALID, "%s must be an integer between %d and %d, got %q", name, lo, hi, trunc(v))
	}
	return n, nil
}

// FloatParam reads a number query parameter in [lo, hi], def when absent.
func FloatParam(r *http.Request, name string, def, lo, hi float64) (float64, error) {
	v, err := value(r, name)
	if err != nil || v == "" {
		return def, err
	}
	f, err := strconv.ParseFloat(v, 64)
	if err != nil || math.IsNaN(f) || f < lo || f > hi {
		return 0, cloudcart.Errorf(cloudcart.EINVALID, "%s must be a number between %g and %g, got %q", name, lo, hi, trunc(v))
	}
	return f, nil
}

// BoolParam reads a true/false query parameter, false when absent.
func BoolParam(r *http.Request, name string) (bool, error) {
	v, err := value(r, name)
	if err != nil {
		return false, err
	}
	switch v {
	case "", "false", "0":
		return false, nil
	case "true", "1":
		return true, nil
	default:
		return false, cloudcart.Errorf(cloudcart.EINVALID, "%s must be true or false, got %q", name, trunc(v))
	}
}

// EnumParam reads a parameter that must be one of allowed, def when
// absent.
func EnumParam(r *http.Request, name, def string, allowed ...string) (string, error) {
	v, err := value(r, name)
	if err != nil || v == "" {
		return def, err
	}
	if !slices.Contains(allowed, v) {
		return "", cloudcart.Errorf(cloudcart.EINVALID, "%s must be one of %s, got %q", name, strings.Join(allowed, ", "), trunc(v))
	}
	return v, nil
}

// StringParam reads a free-text parameter of at most maxLen bytes of
// valid UTF-8 without control characters, "" when absent.
func StringParam(r *http.Request, name string, maxLen int) (string, error) {
	v, err := value(r, name)
	if err != nil {
		return "", err
	}
	if err := checkText(name, v, maxLen); err != nil {
		return "", err
	}
	return v, nil
}

// StringsParam reads every value of a Repeatable parameter: at most max
// values, each as StringParam.
func StringsParam(r *http.Request, name string, maxValues, maxLen int) ([]string, error) {
	vals, err := parseQuery(r.URL.RawQuery)
	if err != nil {
		return nil, err
	}
	vs := vals[name]
	if len(vs) > maxValues {
		return nil, cloudcart.Errorf(cloudcart.EINVALID, "at most %d %s parameters, got %d", maxValues, name, len(vs))
	}
	for _, v := range vs {
		if err := checkText(name, v, maxLen); err != nil {
			return nil, err
		}
	}
	return vs, nil
}

func checkText(name, v string, maxLen int) error {
	if len(v) > maxLen {
		return cloudcart.Errorf(cloudcart.EINVALID, "%s must be at most %d bytes, got %d", name, maxLen, len(v))
	}
	if !strings.ContainsFunc(v, func(c rune) bool { return c < 0x20 || c == 0x7f || c == '\uFFFD' }) {
		return nil
	}
	return cloudcart.Errorf(cloudcart.EINVALID, "%s must be text without control characters, got %q", name, trunc(v))
}

func quoteName(s string) string { return strconv.Quote(trunc(s)) }

func trunc(s string) string { return truncate(s, 32) }

// CanonicalPaths answers a request whose path is not in canonical form
// (a doubled slash, a "." or ".." segment) with a JSON 404, where an
// http.ServeMux would redirect to the cleaned path with an HTML body: a
// client should not be walked to another resource than the one it named,
// and an API answers JSON.
func CanonicalPaths(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p := r.URL.Path
		if p == "" || p[0] != '/' || r.Method == http.MethodConnect {
			next.ServeHTTP(w, r)
			return
		}
		clean := path.Clean(p)
		if strings.HasSuffix(p, "/") && clean != "/" {
			clean += "/"
		}
		if clean != p {
			WriteJSON(w, http.StatusNotFound, ErrorResponse{Error: ErrorBody{Code: cloudcart.ENOTFOUND,
				Message: fmt.Sprintf("no route for %s %s: the path is not in canonical form (no empty, \".\" or \"..\" segments)",
					truncate(r.Method, 16), truncate(p, 128))}})
			return
		}
		next.ServeHTTP(w, r)
	})
}
