// Package freeport hands tests loopback addresses that nothing else will
// take before the program they are meant for binds them.
//
// The usual trick, listening on port 0 and closing the listener, returns a
// port from the kernel's ephemeral range, the range every other listener
// on port 0 and every outgoing connection draws from: between the close
// and the moment the Prometheus, Alertmanager or Collector a test starts
// binds the port, an in-process fleet of a test running beside it may take
// it (it happened: the Collector of TestMultiProcessFleet failed to bind).
// So the ports come from below the ephemeral range, where the kernel never
// allocates on its own, and each is reserved with a lock on its byte of a
// file shared by every test process on the machine, held until the test
// ends: two test binaries running side by side cannot pick the same one.
package freeport

import (
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
)

// The ports handed out: [low, ephemeral range's first port). The default
// ephemeral range on Linux starts at 32768.
const (
	low              = 20000
	defaultEphemeral = 32768
)

var (
	mu   sync.Mutex
	held = map[int]bool{} // POSIX locks do not exclude their own process
	// lockFile is the shared file, opened once and kept open for the
	// process's life: closing any descriptor of it drops every lock.
	lockFile = sync.OnceValues(func() (*os.File, error) {
		return os.OpenFile(filepath.Join(os.TempDir(), "cloudcart-freeport.lock"), os.O_RDWR|os.O_CREATE, 0o600)
	})
	// high is the first port of the kernel's ephemeral range, read once.
	high = sync.OnceValue(ephemeralStart)
)

// Addr returns a loopback address ("127.0.0.1:port") that nothing listens
// on, reserved for this test until it ends.
func Addr(tb testing.TB) string {
	tb.Helper()
	port, err := reserve()
	if err != nil {
		tb.Fatalf("freeport: %v", err)
	}
	tb.Cleanup(func() { release(port) })
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
}

// URL is Addr as an http:// URL.
func URL(tb testing.TB) string {
	tb.Helper()
	return "http://" + Addr(tb)
}

func reserve() (int, error) {
	f, err := lockFile()
	if err != nil {
		return 0, err
	}
	mu.Lock()
	defer mu.Unlock()
	n := high() - low
	if n <= 0 {
		return 0, fmt.Errorf("no ports below the ephemeral range (starts at %d)", high())
	}
	start := rand.IntN(n)
	for i := range n {
		port := low + (start+i)%n
		if held[port] || !setLock(f, port, syscall.F_WRLCK) {
			continue
		}
		ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
		if err != nil { // a server of the machine's own, or one started without this package
			setLock(f, port, syscall.F_UNLCK)
			continue
		}
		ln.Close()
		held[port] = true
		return port, nil
	}
	return 0, fmt.Errorf("every port in [%d, %d) is taken", low, high())
}

// release unlocks a port reserve returned (so the lock file is open).
func release(port int) {
	f, _ := lockFile()
	mu.Lock()
	defer mu.Unlock()
	delete(held, port)
	setLock(f, port, syscall.F_UNLCK)
}

// setLock sets (F_WRLCK) or clears (F_UNLCK) the lock on byte port of
// the shared file f without waiting; it reports whether it could.
func setLock(f *os.File, port int, typ int16) bool {
	fl := syscall.Flock_t{Type: typ, Whence: 0, Start: int64(port), Len: 1}
	return syscall.FcntlFlock(f.Fd(), syscall.F_SETLK, &fl) == nil
}

// ephemeralStart is the first port of the kernel's ephemeral range.
func ephemeralStart() int {
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err != nil {
		return defaultEphemeral
	}
	fields := strings.Fields(string(b))
	if len(fields) != 2 {
		return defaultEphemeral
	}
	p, err := strconv.Atoi(fields[0])
	if err != nil || p <= low {
		return defaultEphemeral
	}
	return p
}
