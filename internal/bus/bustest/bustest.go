// Package bustest gives tests a NATS JetStream bus on every mode CloudCart
// supports: the embedded server, and an external Debian nats-server.
package bustest

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/cloudcart/cloudcart/internal/bus"
	"github.com/cloudcart/cloudcart/internal/freeport"
)

// Modes returns the bus modes to test: "embedded" always, "external" when
// a nats-server binary is installed. Under CI=true the external run is
// mandatory (.ci/run installs Debian's nats-server).
func Modes(tb testing.TB) []string {
	tb.Helper()
	if _, err := NATSServerPath(); err == nil {
		return []string{"embedded", "external"}
	}
	if os.Getenv("CI") == "true" {
		tb.Fatal("nats-server is not installed; under CI the external-NATS run is mandatory (.ci/run installs it)")
	}
	tb.Log("nats-server not installed: testing the embedded bus only")
	return []string{"embedded"}
}

// NATSServerPath finds the nats-server binary (Debian installs it in
// /usr/sbin, which is not on every user's PATH).
func NATSServerPath() (string, error) {
	if p, err := exec.LookPath("nats-server"); err == nil {
		return p, nil
	}
	for _, p := range []string{"/usr/sbin/nats-server", "/usr/bin/nats-server", "/usr/local/bin/nats-server"} {
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	return "", fmt.Errorf("nats-server not found")
}

// MustServer starts a NATS server of the mode and returns a URL clients
// can connect to. The embedded server listens on a loopback port so that
// it can be reached like the external one; both stop at cleanup.
func MustServer(tb testing.TB, mode string) (url string) {
	tb.Helper()
	switch mode {
	case "embedded":
		srv, err := bus.StartServer(bus.ServerOptions{StoreDir: tb.TempDir(), Listen: "127.0.0.1:0"})
		if err != nil {
			tb.Fatal(err)
		}
		tb.Cleanup(func() { _ = srv.Close() })
		return srv.ClientURL()
	case "external":
		return MustExternal(tb)
	}
	tb.Fatalf("unknown bus mode %q", mode)
	return ""
}

// MustExternal runs nats-server -js as a child process on a free loopback
// port with its store in a temporary directory.
func MustExternal(tb testing.TB) string {
	tb.Helper()
	path, err := NATSServerPath()
	if err != nil {
		tb.Fatal(err)
	}
	addr := freeport.Addr(tb)
	host, port, _ := net.SplitHostPort(addr)
	cmd := exec.Command(path, "-js", "-sd", tb.TempDir(), "-a", host, "-p", port)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		tb.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	ready := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(stderr)
		once := false
		for sc.Scan() { // keep reading so the server never blocks on its log
			if !once && strings.Contains(sc.Text(), "Server is ready") {
				once = true
				close(ready)
			}
		}
	}()
	tb.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	select {
	case <-ready:
	case <-time.After(time.Minute):
		tb.Fatalf("nats-server did not become ready within a minute")
	}
	return "nats://" + addr
}

// MustConnect connects to url, closed at cleanup, and sets the bus up.
func MustConnect(tb testing.TB, url, name string) *bus.Conn {
	tb.Helper()
	c, err := bus.Connect(bus.ConnectOptions{URL: url, Name: name})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = c.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := c.Ready(ctx); err != nil {
		tb.Fatalf("bus ready: %v", err)
	}
	return c
}
