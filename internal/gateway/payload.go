package gateway

import (
	"io"
	"net/http"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
)

// payloadOptions are the precomputed labels of one route's payload
// histograms.
type payloadOptions struct{ opt metric.RecordOption }

func newPayloadOptions(label string) payloadOptions {
	return payloadOptions{opt: metric.WithAttributeSet(attribute.NewSet(attribute.String("route", label)))}
}

// measurePayload records request_payload_bytes and response_payload_bytes
// for every request, by the route template the mux matched.
func (g *Gateway) measurePayload(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body := &countingBody{ReadCloser: r.Body}
		if r.Body != nil && r.Body != http.NoBody {
			r.Body = body
		}
		cw := &countingWriter{ResponseWriter: w}
		defer func() {
			opts, ok := g.payload[r.Pattern]
			if !ok {
				opts = g.payload[""]
			}
			in := r.ContentLength
			if in < 0 {
				in = body.n
			}
			ctx := r.Context()
			g.m.RequestPayload.Record(ctx, float64(in), opts.opt)
			g.m.ResponsePayload.Record(ctx, float64(cw.n), opts.opt)
		}()
		next.ServeHTTP(cw, r)
	})
}

type countingBody struct {
	io.ReadCloser
	n int64
}

func (b *countingBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	b.n += int64(n)
	return n, err
}

// countingWriter counts the body bytes written to the client.
type countingWriter struct {
	http.ResponseWriter
	n int64
}

func (w *countingWriter) Write(p []byte) (int, error) {
	n, err := w.ResponseWriter.Write(p)
	w.n += int64(n)
	return n, err
}

// Flush passes streaming responses through; Unwrap lets
// http.ResponseController reach the real writer.
func (w *countingWriter) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

func (w *countingWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
