// Package otlpin is CloudCart's OTLP/HTTP receiver: POST /v1/traces into
// the trace store (internal/tracestore) and POST /v1/metrics into the
// embedded Prometheus through upstream's own OTLP translation
// (promengine.Engine.OTLPMetricsHandler). Any OpenTelemetry SDK configured
// with OTEL_EXPORTER_OTLP_ENDPOINT=http://localhost:4318 (and
// OTEL_EXPORTER_OTLP_PROTOCOL=http/protobuf or http/json) can send to it,
// with no Collector in between.
package otlpin

import (
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"strconv"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"

	"github.com/cloudcart/cloudcart/internal/httpkit"
	"github.com/cloudcart/cloudcart/internal/tracestore"
)

// DefaultMaxBodyBytes bounds a request body, after decompression: the OTel
// SDKs' batches (512 spans, a few hundred metric points) stay far below.
const DefaultMaxBodyBytes = 16 << 20

// Options configure a Receiver.
type Options struct {
	Traces  *tracestore.Store // nil: /v1/traces answers 404
	Metrics http.Handler      // Prometheus's OTLP write handler; nil: /v1/metrics answers 404
	// MaxBodyBytes bounds the body, compressed and decompressed;
	// DefaultMaxBodyBytes if 0. Larger requests get 413.
	MaxBodyBytes int64
	Logger       *slog.Logger
	// Registerer receives cloudcart_otlp_requests_total; nil keeps it private.
	Registerer prometheus.Registerer
}

// Receiver serves the OTLP/HTTP paths.
type Receiver struct {
	opts     Options
	log      *slog.Logger
	requests *prometheus.CounterVec
	mux      *http.ServeMux
}

// New builds a receiver.
func New(o Options) (*Receiver, error) {
	if o.MaxBodyBytes <= 0 {
		o.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	rc := &Receiver{opts: o, log: o.Logger.With("component", "otlp-receiver"), mux: http.NewServeMux()}
	rc.requests = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "cloudcart_otlp_requests_total",
		Help: "OTLP/HTTP export requests received, by signal (traces, metrics) and status code class (2xx, 4xx, 5xx).",
	}, []string{"signal", "code"})
	for _, sig := range []string{"traces", "metrics"} {
		for _, c := range []string{"2xx", "4xx", "5xx"} {
			rc.requests.WithLabelValues(sig, c)
		}
	}
	if o.Registerer != nil {
		if err := o.Registerer.Register(rc.requests); err != nil {
			return nil, err
		}
	}
	if o.Traces != nil {
		rc.mux.Handle("POST /v1/traces", rc.counted("traces", http.HandlerFunc(rc.traces)))
	}
	if o.Metrics != nil {
		rc.mux.Handle("POST /v1/metrics", rc.counted("metrics", http.HandlerFunc(rc.metrics)))
	}
	return rc, nil
}

// Handler serves POST /v1/traces and /v1/metrics.
func (rc *Receiver) Handler() http.Handler { return rc.mux }

const (
	contentProto = "application/x-protobuf"
	contentJSON  = "application/json"
)

// traces stores the spans of an ExportTraceServiceRequest. Spans without a
// valid trace or span id are rejected and reported in the response's
// partial_success, as OTLP specifies.
func (rc *Receiver) traces(w http.ResponseWriter, r *http.Request) {
	body, ctype, ok := rc.read(w, r)
	if !ok {
		return
	}
	req := ptraceotlp.NewExportRequest()
	var err error
	if ctype == contentJSON {
		err = req.UnmarshalJSON(body)
	} else {
		err = req.UnmarshalProto(body)
	}
	if err != nil {
		fail(w, http.StatusBadRequest, fmt.Sprintf("malformed OTLP %s trace export: %v", ctype, err))
		return
	}
	spans, rejected := fromOTLP(req.Traces())
	rc.opts.Traces.Add(spans)
	resp := ptraceotlp.NewExportResponse()
	if rejected > 0 {
		rc.opts.Traces.AddRejected(rejected)
		resp.PartialSuccess().SetRejectedSpans(int64(rejected))
		resp.PartialSuccess().SetErrorMessage("spans without a valid trace id or span id were rejected")
	}
	var out []byte
	if ctype == contentJSON {
		out, err = resp.MarshalJSON()
	} else {
		out, err = resp.MarshalProto()
	}
	if err != nil {
		fail(w, http.StatusInternalServerError, "encoding the response failed")
		return
	}
	w.Header().Set("Content-Type", ctype)
	_, _ = w.Write(out)
}

// metrics hands the decompressed body to Prometheus's OTLP handler, which
// decodes and translates it. Its plain-text errors become JSON errors.
func (rc *Receiver) metrics(w http.ResponseWriter, r *http.Request) {
	body, ctype, ok := rc.read(w, r)
	if !ok {
		return
	}
	r2 := r.Clone(r.Context())
	r2.Body = io.NopCloser(bytes.NewReader(body))
	r2.ContentLength = int64(len(body))
	r2.Header.Del("Content-Encoding")
	r2.Header.Set("Content-Type", ctype)
	cw := &captureWriter{header: http.Header{}}
	rc.opts.Metrics.ServeHTTP(cw, r2)
	status := cw.status
	if status == 0 {
		status = http.StatusOK
	}
	if status >= 400 {
		msg := strings.TrimSpace(cw.body.String())
		if status == http.StatusBadRequest {
			msg = "malformed or rejected OTLP metric export: " + msg
		}
		fail(w, status, msg)
		return
	}
	for k, v := range cw.header {
		w.Header()[k] = v
	}
	w.WriteHeader(status)
	_, _ = w.Write(cw.body.Bytes())
}

// read returns the body, decompressed, and its content type (protobuf or
// JSON). It answers 413, 415 or 400 itself and returns false.
func (rc *Receiver) read(w http.ResponseWriter, r *http.Request) ([]byte, string, bool) {
	ctype, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || (ctype != contentProto && ctype != contentJSON) {
		fail(w, http.StatusUnsupportedMediaType, fmt.Sprintf("Content-Type %q: want %s or %s", r.Header.Get("Content-Type"), contentProto, contentJSON))
		return nil, "", false
	}
	limit := rc.opts.MaxBodyBytes
	var src io.Reader = http.MaxBytesReader(w, r.Body, limit)
	switch enc := strings.ToLower(r.Header.Get("Content-Encoding")); enc {
	case "", "identity":
	case "gzip":
		gz, err := gzip.NewReader(src)
		if err != nil {
			if tooLarge(err) {
				fail(w, http.StatusRequestEntityTooLarge, "body larger than "+strconv.FormatInt(limit, 10)+" bytes")
			} else {
				fail(w, http.StatusBadRequest, "Content-Encoding gzip: "+err.Error())
			}
			return nil, "", false
		}
		defer gz.Close()
		src = gz
	default:
		fail(w, http.StatusUnsupportedMediaType, fmt.Sprintf("Content-Encoding %q: want gzip or none", enc))
		return nil, "", false
	}
	// One byte more than the limit tells a body at the limit from a larger one.
	body, err := io.ReadAll(io.LimitReader(src, limit+1))
	switch {
	case tooLarge(err) || int64(len(body)) > limit:
		fail(w, http.StatusRequestEntityTooLarge, "body larger than "+strconv.FormatInt(limit, 10)+" bytes (after decompression)")
		return nil, "", false
	case err != nil:
		fail(w, http.StatusBadRequest, "reading the body: "+err.Error())
		return nil, "", false
	}
	return body, ctype, true
}

func tooLarge(err error) bool {
	var mbe *http.MaxBytesError
	return errors.As(err, &mbe)
}

func fail(w http.ResponseWriter, status int, msg string) {
	code := "invalid"
	switch status {
	case http.StatusRequestEntityTooLarge:
		code = "too_large"
	case http.StatusUnsupportedMediaType:
		code = "unsupported_media_type"
	}
	if status >= 500 {
		code = "unavailable"
	}
	httpkit.WriteJSON(w, status, httpkit.ErrorResponse{Error: httpkit.ErrorBody{Code: code, Message: msg}})
}

// counted counts requests by signal and status class.
func (rc *Receiver) counted(signal string, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sw := &statusWriter{ResponseWriter: w, status: http.StatusOK}
		next.ServeHTTP(sw, r)
		rc.requests.WithLabelValues(signal, strconv.Itoa(sw.status/100)+"xx").Inc()
	})
}

type statusWriter struct {
	http.ResponseWriter
	status int
}

func (s *statusWriter) WriteHeader(code int) {
	s.status = code
	s.ResponseWriter.WriteHeader(code)
}

// captureWriter holds the upstream handler's answer, to be rewritten.
type captureWriter struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func (c *captureWriter) Header() http.Header { return c.header }
func (c *captureWriter) WriteHeader(code int) {
	if c.status == 0 {
		c.status = code
	}
}
func (c *captureWriter) Write(b []byte) (int, error) {
	if c.status == 0 {
		c.status = http.StatusOK
	}
	return c.body.Write(b)
}
