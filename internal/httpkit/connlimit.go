package httpkit

import (
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// Connection cap. A server without one accepts connections as fast as
// clients open them; an overloaded fleet under an open-model load
// generator (which starts new journeys whatever the answers' speed) then
// holds thousands of connections, the process runs out of file
// descriptors, and the first thing to fail is not the HTTP layer but
// SQLite opening a file (docs/benchmarks.md, "The fleet under load"). At
// its cap a server stops accepting: new connections wait in the kernel's
// accept queue, and their clients see a slow answer or their own timeout
// instead of a broken store.

// DefaultMaxConns bounds the connections one server holds when
// Server.MaxConns is 0: an eighth of the process's file descriptor limit
// (the whole fleet's servers, their upstream connections and the
// databases share it in `cloudcart run`), between 64 and 4,096; read once.
var DefaultMaxConns = sync.OnceValue(func() int {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return 1024
	}
	return int(min(max(lim.Cur/8, 64), 4096))
})

// limitListener accepts at most cap(sem) connections at once. A full
// server logs it (at most once a minute) and waits for a connection to
// close before it accepts another.
type limitListener struct {
	net.Listener
	sem      chan struct{}
	done     chan struct{}
	close    sync.Once
	log      *slog.Logger
	lastFull atomic.Int64 // unix nanoseconds of the last "full" log line
}

func limitConns(ln net.Listener, n int, log *slog.Logger) net.Listener {
	return &limitListener{Listener: ln, sem: make(chan struct{}, n), done: make(chan struct{}), log: log}
}

func (l *limitListener) Accept() (net.Conn, error) {
	select {
	case l.sem <- struct{}{}:
	default:
		if now := time.Now().UnixNano(); now-l.lastFull.Load() > int64(time.Minute) {
			l.lastFull.Store(now)
			l.log.Warn("connection cap reached: new connections wait until one closes", "addr", l.Addr().String(), "max_conns", cap(l.sem))
		}
		select {
		case l.sem <- struct{}{}:
		case <-l.done:
			return nil, net.ErrClosed
		}
	}
	c, err := l.Listener.Accept()
	if err != nil {
		<-l.sem
		return nil, err
	}
	return &limitedConn{Conn: c, sem: l.sem}, nil
}

func (l *limitListener) Close() error {
	err := l.Listener.Close()
	l.close.Do(func() { close(l.done) })
	return err
}

// limitedConn gives its slot in sem back once, on the first Close.
type limitedConn struct {
	net.Conn
	sem  chan struct{}
	once sync.Once
}

func (c *limitedConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(func() { <-c.sem })
	return err
}
