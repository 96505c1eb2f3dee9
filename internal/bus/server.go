package bus

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strconv"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// ServerOptions configure the embedded NATS server.
type ServerOptions struct {
	// StoreDir holds JetStream's file store, e.g. <data-dir>/nats.
	StoreDir string
	// Listen is the client listener address, e.g. "127.0.0.1:4222" or
	// "127.0.0.1:0". Empty: no listener; services in the same process
	// connect in-process.
	Listen string
	Logger *slog.Logger
}

// Server is the NATS server embedded in a CloudCart process: the real
// nats-server with JetStream, so the embedded and the external mode differ
// only in where the server runs.
type Server struct {
	srv *server.Server
}

// StartServer starts the embedded server and waits until it accepts
// connections.
func StartServer(o ServerOptions) (*Server, error) {
	if o.StoreDir == "" {
		return nil, errors.New("bus: embedded server needs a store directory")
	}
	if err := os.MkdirAll(o.StoreDir, 0o700); err != nil {
		return nil, fmt.Errorf("bus: store dir: %w", err)
	}
	opts := &server.Options{
		ServerName:      "cloudcart",
		JetStream:       true,
		StoreDir:        o.StoreDir,
		DontListen:      o.Listen == "",
		NoSigs:          true, // the process owns its signals
		NoSystemAccount: true,
		// The server sets the process's block profile rate to this at
		// start: keep a test binary's -test.blockprofilerate.
		ProfBlockRate: testBlockProfileRate(),
	}
	if o.Listen != "" {
		host, port, err := net.SplitHostPort(o.Listen)
		if err != nil {
			return nil, fmt.Errorf("bus: listen address %q: %w", o.Listen, err)
		}
		p, err := strconv.Atoi(port)
		if err != nil {
			return nil, fmt.Errorf("bus: listen port %q: %w", port, err)
		}
		opts.Host, opts.Port = host, p
		if p == 0 {
			opts.Port = server.RANDOM_PORT
		}
	}
	srv, err := server.NewServer(opts)
	if err != nil {
		return nil, fmt.Errorf("bus: embedded server: %w", err)
	}
	log := o.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	srv.SetLoggerV2(serverLogger{log.With("component", "nats-server")}, false, false, false)
	srv.Start()
	if !srv.ReadyForConnections(30 * time.Second) {
		srv.Shutdown()
		return nil, errors.New("bus: embedded server did not become ready within 30s")
	}
	return &Server{srv: srv}, nil
}

// ClientURL is the URL other processes connect to, or "" when the server
// has no listener.
func (s *Server) ClientURL() string {
	if s.srv.Addr() == nil {
		return ""
	}
	return s.srv.ClientURL()
}

// Close shuts the server down and waits until it has stopped, JetStream
// flushed.
func (s *Server) Close() error {
	s.srv.Shutdown()
	s.srv.WaitForShutdown()
	return nil
}

// serverLogger sends nats-server's log lines to slog under a constant
// message. Its notices (startup banners, JetStream limits) are debug noise
// for a CloudCart user.
type serverLogger struct{ log *slog.Logger }

func (l serverLogger) Noticef(format string, v ...any) { l.emit(slog.LevelDebug, format, v) }
func (l serverLogger) Warnf(format string, v ...any)   { l.emit(slog.LevelWarn, format, v) }
func (l serverLogger) Fatalf(format string, v ...any)  { l.emit(slog.LevelError, format, v) }
func (l serverLogger) Errorf(format string, v ...any)  { l.emit(slog.LevelError, format, v) }
func (l serverLogger) Debugf(format string, v ...any)  { l.emit(slog.LevelDebug, format, v) }
func (l serverLogger) Tracef(string, ...any)           {}

func (l serverLogger) emit(level slog.Level, format string, v []any) {
	if l.log.Enabled(context.Background(), level) {
		l.log.Log(context.Background(), level, "nats-server", "line", fmt.Sprintf(format, v...))
	}
}

// testBlockProfileRate is the block profile rate of a test binary run with
// -test.blockprofile, so that `go test -blockprofile` of a fleet (make
// profile) records where orders wait; 0 (off, the server's default)
// otherwise.
func testBlockProfileRate() int {
	file, rate := flag.Lookup("test.blockprofile"), flag.Lookup("test.blockprofilerate")
	if file == nil || rate == nil || file.Value.String() == "" {
		return 0
	}
	n, _ := strconv.Atoi(rate.Value.String())
	return max(n, 0)
}
