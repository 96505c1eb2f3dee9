package httpkit

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// Defaults for Server. Every CloudCart server sets all of them: a missing
// timeout is how slow clients exhaust a service.
const (
	DefaultReadHeaderTimeout = 5 * time.Second
	DefaultReadTimeout       = 15 * time.Second
	DefaultWriteTimeout      = 30 * time.Second
	DefaultIdleTimeout       = 120 * time.Second
	DefaultShutdownTimeout   = 10 * time.Second
	DefaultMaxBodyBytes      = 1 << 20
)

// Check is a readiness check, e.g. a database ping.
type Check struct {
	Name  string
	Check func(context.Context) error
}

// Server serves one service: its application handler plus /healthz,
// /readyz and /metrics, with timeouts, a body limit and graceful shutdown.
type Server struct {
	Addr         string       // listen address, e.g. "127.0.0.1:8003" or ":0"
	Handler      http.Handler // the service's routes, usually Middleware.Wrap(mux)
	Metrics      http.Handler // served at /metrics
	Logger       *slog.Logger
	Checks       []Check
	MaxBodyBytes int64
	// MaxConns bounds the connections the server holds at once
	// (DefaultMaxConns if 0, no bound if negative); at the cap it accepts
	// a new connection only when one closes.
	MaxConns int

	ReadHeaderTimeout, ReadTimeout, WriteTimeout, IdleTimeout time.Duration
	ShutdownTimeout                                           time.Duration

	ready atomic.Bool

	mu     sync.Mutex
	ln     net.Listener  // nil during an outage
	addr   string        // the bound address, kept through outages
	outage bool          // SetOutage(true) in force
	wake   chan struct{} // tells Serve that outage changed
}

// Listen binds the address. Serve calls it if the caller has not, but
// calling it first lets the caller learn the port of ":0".
func (s *Server) Listen() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ln != nil || s.addr != "" {
		return nil
	}
	ln, err := net.Listen("tcp", s.Addr)
	if err != nil {
		return fmt.Errorf("listen %s: %w", s.Addr, err)
	}
	s.ln, s.addr = ln, ln.Addr().String()
	return nil
}

// URL is the base URL the server listens on (after Listen), also while an
// outage keeps it from listening.
func (s *Server) URL() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.addr == "" {
		return ""
	}
	return "http://" + s.addr
}

// SetReady flips readiness. Serve sets it true once listening, and false
// before shutting down so load balancers stop sending work first.
func (s *Server) SetReady(v bool) { s.ready.Store(v) }

// SetOutage takes the server off the network (down) or puts it back. Down,
// Serve closes the listener and cuts every open connection, so clients get
// "connection refused" and a Prometheus scrape fails (up == 0), as if the
// process had crashed; the process itself, its background work included,
// carries on. Back up, Serve listens on the same address again. The chaos
// fault "outage" drives it.
func (s *Server) SetOutage(down bool) {
	s.mu.Lock()
	changed := s.outage != down
	s.outage = down
	wake := s.wakeLocked()
	s.mu.Unlock()
	if changed {
		select {
		case wake <- struct{}{}:
		default:
		}
	}
}

func (s *Server) wakeLocked() chan struct{} {
	if s.wake == nil {
		s.wake = make(chan struct{}, 1)
	}
	return s.wake
}

func (s *Server) state() (ln net.Listener, down bool, wake chan struct{}) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.ln, s.outage, s.wakeLocked()
}

// Serve serves until ctx is done, then stops accepting, reports not ready,
// and waits up to ShutdownTimeout for requests in flight. SetOutage
// interrupts and resumes serving in between.
func (s *Server) Serve(ctx context.Context) error {
	if err := s.Listen(); err != nil {
		return err
	}
	log := s.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	for {
		done, err := s.serve(ctx, log)
		if done {
			return err
		}
		if err := s.sitOutOutage(ctx, log); err != nil {
			return nil // stopped during the outage: nothing in flight to drain
		}
	}
}

// serve serves on the current listener until ctx is done (done: the
// server has shut down) or an outage starts (the listener is closed).
func (s *Server) serve(ctx context.Context, log *slog.Logger) (done bool, err error) {
	ln, _, wake := s.state()
	srv := &http.Server{
		Handler:           s.routes(),
		ReadHeaderTimeout: or(s.ReadHeaderTimeout, DefaultReadHeaderTimeout),
		ReadTimeout:       or(s.ReadTimeout, DefaultReadTimeout),
		WriteTimeout:      or(s.WriteTimeout, DefaultWriteTimeout),
		IdleTimeout:       or(s.IdleTimeout, DefaultIdleTimeout),
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
		BaseContext:       func(net.Listener) context.Context { return context.WithoutCancel(ctx) },
	}
	if n := s.MaxConns; n >= 0 {
		ln = limitConns(ln, or(n, DefaultMaxConns()), log)
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	s.SetReady(true)
	log.InfoContext(ctx, "listening", "addr", ln.Addr().String())

	for {
		select {
		case err := <-errc:
			s.SetReady(false)
			return true, fmt.Errorf("serve: %w", err)
		case <-ctx.Done():
			s.SetReady(false)
			sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), or(s.ShutdownTimeout, DefaultShutdownTimeout))
			defer cancel()
			err := srv.Shutdown(sctx)
			if serr := <-errc; !errors.Is(serr, http.ErrServerClosed) {
				err = errors.Join(err, serr)
			}
			if err != nil {
				return true, fmt.Errorf("shutdown: %w", err)
			}
			return true, nil
		case <-wake:
			if _, down, _ := s.state(); !down {
				continue
			}
			s.SetReady(false)
			_ = srv.Close() // the listener and every connection, at once
			<-errc
			s.mu.Lock()
			s.ln = nil
			s.mu.Unlock()
			log.WarnContext(ctx, "outage: listener closed, connections cut", "addr", s.addr)
			return false, nil
		}
	}
}

// sitOutOutage waits for the outage to end and listens again on the same
// address, retrying while it is taken. It returns ctx's error if ctx ends
// first.
func (s *Server) sitOutOutage(ctx context.Context, log *slog.Logger) error {
	for {
		_, down, wake := s.state()
		if !down {
			break
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-wake:
		}
	}
	for {
		ln, err := net.Listen("tcp", s.addr)
		if err == nil {
			s.mu.Lock()
			s.ln = ln
			s.mu.Unlock()
			log.InfoContext(ctx, "outage over: listening again", "addr", s.addr)
			return nil
		}
		log.WarnContext(ctx, "outage over, but the address is taken; retrying", "addr", s.addr, "err", err)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Second):
		}
	}
}

func (s *Server) routes() http.Handler {
	return CanonicalPaths(s.mux())
}

func (s *Server) mux() *http.ServeMux {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		WriteJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	mux.HandleFunc("GET /readyz", s.readyz)
	if s.Metrics != nil {
		mux.Handle("GET /metrics", s.Metrics)
	}
	if s.Handler != nil {
		// The service's own mux sets the request's pattern; until it has,
		// none: this catch-all's "/" is no route of the service.
		h := LimitBody(or(s.MaxBodyBytes, DefaultMaxBodyBytes), s.Handler)
		mux.Handle("/", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			r.Pattern = ""
			h.ServeHTTP(w, r)
		}))
	}
	return mux
}

func (s *Server) readyz(w http.ResponseWriter, r *http.Request) {
	if !s.ready.Load() {
		WriteJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "not ready", "reason": "starting or shutting down"})
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	failed := map[string]string{}
	for _, c := range s.Checks {
		if err := c.Check(ctx); err != nil {
			failed[c.Name] = err.Error()
		}
	}
	if len(failed) > 0 {
		WriteJSON(w, http.StatusServiceUnavailable, map[string]any{"status": "not ready", "failed": failed})
		return
	}
	WriteJSON(w, http.StatusOK, map[string]string{"status": "ready"})
}

// LimitBody caps request bodies at n bytes; reading past it fails with
// *http.MaxBytesError, which DecodeJSON reports as ETOOLARGE (413). The
// handler answers, so the 413 is counted under its route like any other.
func LimitBody(n int64, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.Body = http.MaxBytesReader(w, r.Body, n)
		next.ServeHTTP(w, r)
	})
}

func or[T comparable](v, def T) T {
	var zero T
	if v == zero {
		return def
	}
	return v
}
