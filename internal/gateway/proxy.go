package gateway

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/cloudcart/cloudcart/internal/cloudcart"
	"github.com/cloudcart/cloudcart/internal/httpkit"
)

// upstream is one service behind the gateway.
type upstream struct {
	name      string
	target    *url.URL // nil: not deployed
	transport *httpkit.Transport
	proxy     *httputil.ReverseProxy
}

// newBaseTransport is the connection pool to upstreams: short dial timeout
// (a dead host fails fast as 502), response-header timeout equal to the
// upstream timeout, no environment proxy for fleet-internal calls.
func newBaseTransport(timeout time.Duration) *http.Transport {
	return &http.Transport{
		DialContext:           (&net.Dialer{Timeout: dialTimeout, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:          512,
		MaxIdleConnsPerHost:   128,
		IdleConnTimeout:       90 * time.Second,
		ResponseHeaderTimeout: timeout,
		ExpectContinueTimeout: time.Second,
	}
}

func (g *Gateway) newUpstream(name, rawURL string, base http.RoundTripper, tracer trace.Tracer, prop propagation.TextMapPropagator) (*upstream, error) {
	up := &upstream{name: name}
	up.transport = &httpkit.Transport{Base: base, Tracer: tracer, Propagator: prop, Observe: g.observe(name)}
	if rawURL == "" {
		return up, nil
	}
	u, err := url.Parse(rawURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" {
		return nil, fmt.Errorf("%s upstream URL %q must be http(s)://host[:port][/path]", name, rawURL)
	}
	u.Path = strings.TrimSuffix(u.Path, "/")
	up.target = u
	up.proxy = &httputil.ReverseProxy{
		Rewrite:        g.rewrite(up),
		Transport:      up.transport,
		ModifyResponse: g.modifyResponse,
		ErrorHandler:   g.proxyError,
		ErrorLog:       slog.NewLogLogger(g.log.Handler(), slog.LevelWarn),
		BufferPool:     copyBuffers,
	}
	return up, nil
}

// copyBuffers recycles the proxy's 32 KiB body-copy buffers, which would
// otherwise be most of the gateway's garbage per request.
var copyBuffers = &bufferPool{pool: sync.Pool{New: func() any { return new([32 << 10]byte) }}}

type bufferPool struct{ pool sync.Pool }

func (p *bufferPool) Get() []byte  { return p.pool.Get().(*[32 << 10]byte)[:] }
func (p *bufferPool) Put(b []byte) { p.pool.Put((*[32 << 10]byte)(b)) }

// observe records upstream_service_latency_seconds and
// upstream_service_errors_total for every call to the named upstream. It
// runs in the instrumented transport, once per round trip.
func (g *Gateway) observe(name string) func(*http.Request, *http.Response, error, time.Duration) {
	return func(req *http.Request, resp *http.Response, err error, elapsed time.Duration) {
		ctx := req.Context()
		call := callFrom(ctx)
		if call == nil || errors.Is(ctx.Err(), context.Canceled) || errors.Is(err, context.Canceled) {
			return // the client gave up; says nothing about the upstream
		}
		g.m.UpstreamLatency.Record(ctx, elapsed.Seconds(), call.route.latency)
		switch {
		case err != nil && isTimeout(err):
			g.m.upstreamError(ctx, name, codeTimeout)
		case err != nil:
			g.m.upstreamError(ctx, name, codeConnection)
		case resp.StatusCode >= 400:
			g.m.upstreamError(ctx, name, strconv.Itoa(resp.StatusCode))
		}
	}
}

// proxy forwards the request to the route's upstream within the upstream
// timeout. A body of unknown length is read (up to the limit) first, so an
// oversized body is a 413 here, not half a request upstream.
func (g *Gateway) proxy(w http.ResponseWriter, r *http.Request, call *proxyCall) {
	up := call.route.up
	if up.target == nil {
		g.m.upstreamError(r.Context(), up.name, codeNoUpstream)
		writeError(w, http.StatusServiceUnavailable, cloudcart.EUNAVAILABLE,
			fmt.Sprintf("the %s service is not deployed in this fleet (set --gateway.%s-url)", up.name, up.name))
		return
	}
	ctx, cancel := context.WithTimeout(context.WithValue(r.Context(), callKey{}, call), g.timeout)
	defer cancel()
	out := r.WithContext(ctx)
	if r.ContentLength < 0 {
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, g.maxBody))
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			writeError(w, http.StatusRequestEntityTooLarge, cloudcart.ETOOLARGE, fmt.Sprintf("body must be at most %d bytes", g.maxBody))
			return
		} else if err != nil {
			writeError(w, http.StatusBadRequest, cloudcart.EINVALID, "could not read the request body")
			return
		}
		out.Body, out.ContentLength = io.NopCloser(bytes.NewReader(body)), int64(len(body))
	}
	up.proxy.ServeHTTP(w, out)
}

// rewrite maps a gateway request onto the upstream: /api/<svc>/... becomes
// /<svc>/... on the service's base URL. Identity headers are the gateway's
// alone: a client's copies are dropped, and set only for a verified token.
func (g *Gateway) rewrite(up *upstream) func(*httputil.ProxyRequest) {
	return func(pr *httputil.ProxyRequest) {
		in, out := pr.In, pr.Out
		call := callFrom(in.Context())
		out.URL.Scheme, out.URL.Host = up.target.Scheme, up.target.Host
		out.URL.Path = up.target.Path + strings.TrimPrefix(in.URL.Path, call.route.strip)
		out.URL.RawPath = ""
		if in.URL.RawPath != "" {
			out.URL.RawPath = up.target.Path + strings.TrimPrefix(in.URL.RawPath, call.route.strip)
		}
		out.Host = ""
		if peer, _, err := net.SplitHostPort(in.RemoteAddr); err == nil && isTrustedString(peer, g.trusted) {
			out.Header["X-Forwarded-For"] = in.Header["X-Forwarded-For"]
		}
		pr.SetXForwarded()
		out.Header.Del(httpkit.HeaderUserID)
		out.Header.Del(httpkit.HeaderUserRole)
		if call.identity.UserID != "" {
			out.Header.Set(httpkit.HeaderUserID, call.identity.UserID)
			out.Header.Set(httpkit.HeaderUserRole, string(call.identity.Role))
		}
		if call.route.cacheable {
			// A cacheable answer must not depend on who asked, and must be
			// stored decoded so any client can be served from it.
			out.Header.Del("Authorization")
			out.Header.Del("Cookie")
			out.Header.Del("Accept-Encoding")
		}
	}
}

// modifyResponse empties the cache after a product write and stores
// cacheable answers.
func (g *Gateway) modifyResponse(resp *http.Response) error {
	call := callFrom(resp.Request.Context())
	if call == nil || g.cache == nil {
		return nil
	}
	if call.route.invalidates && resp.StatusCode < 400 {
		g.cache.purge()
	}
	if call.cacheKey == "" {
		return nil
	}
	resp.Header.Set("X-Cache", "MISS")
	cc := strings.ToLower(resp.Header.Get("Cache-Control"))
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Set-Cookie") != "" || resp.Header.Get("Content-Encoding") != "" ||
		resp.Header.Get("Vary") == "*" || strings.Contains(cc, "no-store") || strings.Contains(cc, "private") || strings.Contains(cc, "no-cache") {
		return nil
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, g.cache.entry+1))
	if err != nil {
		return err
	}
	if int64(len(body)) > g.cache.entry {
		resp.Body = struct {
			io.Reader
			io.Closer
		}{io.MultiReader(bytes.NewReader(body), resp.Body), resp.Body}
		return nil
	}
	resp.Body.Close()
	resp.Body = io.NopCloser(bytes.NewReader(body))
	h := resp.Header.Clone()
	h.Del("X-Cache")
	h.Del("Date")
	g.cache.put(call.cacheKey, h, body)
	return nil
}

// proxyError answers a failed upstream call: 504 when the upstream did not
// answer in time, 502 when it could not be reached or broke off, 413 for a
// body over the limit. A client that went away gets nothing (recorded as
// 499, nginx's "client closed request", so it burns no error budget).
func (g *Gateway) proxyError(w http.ResponseWriter, r *http.Request, err error) {
	call := callFrom(r.Context())
	name := call.route.up.name
	var mbe *http.MaxBytesError
	switch {
	case errors.Is(r.Context().Err(), context.Canceled):
		w.WriteHeader(499)
	case errors.As(err, &mbe):
		writeError(w, http.StatusRequestEntityTooLarge, cloudcart.ETOOLARGE, fmt.Sprintf("body must be at most %d bytes", mbe.Limit))
	case isTimeout(err) || errors.Is(r.Context().Err(), context.DeadlineExceeded):
		writeError(w, http.StatusGatewayTimeout, "upstream_timeout",
			fmt.Sprintf("the %s service did not answer within %s", name, g.timeout))
	default:
		g.log.WarnContext(r.Context(), "upstream unreachable", "service", name, "err", err)
		writeError(w, http.StatusBadGateway, "bad_gateway", fmt.Sprintf("the %s service is unreachable", name))
	}
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout())
}

func isTrustedString(host string, trusted []netip.Prefix) bool {
	a, err := netip.ParseAddr(host)
	return err == nil && isTrusted(a.Unmap(), trusted)
}
