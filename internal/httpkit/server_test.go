package httpkit_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/cloudcart/cloudcart/internal/httpkit"
)

// TestServerOutage: during an outage the server's address refuses
// connections, an open keep-alive connection is cut, /metrics fails like
// a scrape of a dead process; afterwards it serves on the same address
// again; and a server stopped in the middle of an outage returns cleanly.
func TestServerOutage(t *testing.T) {
	t.Parallel()
	srv := &httpkit.Server{
		Addr:    "127.0.0.1:0",
		Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "ok") }),
		Metrics: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "up 1\n") }),
	}
	if err := srv.Listen(); err != nil {
		t.Fatal(err)
	}
	url := srv.URL()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx) }()

	client := &http.Client{Timeout: 5 * time.Second} // keeps connections alive
	status := func(path string) (int, error) {
		resp, err := client.Get(url + path)
		if err != nil {
			return 0, err
		}
		defer resp.Body.Close()
		_, _ = io.Copy(io.Discard, resp.Body)
		return resp.StatusCode, nil
	}
	waitFor := func(what string, cond func() bool) {
		t.Helper()
		for deadline := time.Now().Add(time.Minute); !cond(); time.Sleep(10 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("%s: not within a minute", what)
			}
		}
	}
	serving := func() bool { c, err := status("/readyz"); return err == nil && c == http.StatusOK }
	refused := func() bool {
		_, err := http.Get(url + "/healthz") // a new connection
		return errors.Is(err, syscall.ECONNREFUSED)
	}

	waitFor("serving", serving)
	for round := range 2 {
		srv.SetOutage(true)
		waitFor("connection refused", refused)
		if _, err := status("/metrics"); err == nil {
			t.Fatalf("round %d: /metrics answered over a kept-alive connection during the outage", round)
		}
		if srv.URL() != url {
			t.Fatalf("round %d: URL during the outage = %q, want %q", round, srv.URL(), url)
		}
		srv.SetOutage(true) // no change
		srv.SetOutage(false)
		waitFor("serving again", serving)
		if c, err := status("/metrics"); err != nil || c != http.StatusOK {
			t.Fatalf("round %d: /metrics after the outage: %d %v", round, c, err)
		}
		if srv.URL() != url {
			t.Fatalf("round %d: URL after the outage = %q, want %q", round, srv.URL(), url)
		}
	}

	srv.SetOutage(true)
	waitFor("connection refused", refused)
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Serve stopped during an outage: %v", err)
		}
	case <-time.After(time.Minute):
		t.Fatal("Serve did not return within a minute of its context ending during an outage")
	}
}

// TestServerConnectionCap: a server at MaxConns accepts no new connection
// until one of its connections closes; then the waiting client is
// served.
func TestServerConnectionCap(t *testing.T) {
	t.Parallel()
	srv := &httpkit.Server{
		Addr:     "127.0.0.1:0",
		MaxConns: 2,
		Handler:  http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "ok") }),
	}
	if err := srv.Listen(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	})
	addr := strings.TrimPrefix(srv.URL(), "http://")
	// get sends one request on its own connection and reads the answer;
	// the connection stays open (keep-alive) until closed.
	get := func(c net.Conn) error {
		_ = c.SetDeadline(time.Now().Add(time.Minute))
		if _, err := io.WriteString(c, "GET /x HTTP/1.1\r\nHost: test\r\n\r\n"); err != nil {
			return err
		}
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		if b, _ := io.ReadAll(resp.Body); string(b) != "ok" {
			return fmt.Errorf("answer %q", b)
		}
		return nil
	}
	dial := func() net.Conn {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
	held := []net.Conn{dial(), dial()}
	for _, c := range held {
		if err := get(c); err != nil {
			t.Fatal(err)
		}
	}
	// The third connection is made (the kernel queues it) but not served.
	third := dial()
	answered := make(chan error, 1)
	go func() { answered <- get(third) }()
	select {
	case err := <-answered:
		t.Fatalf("a third connection was served beside two held ones (err %v)", err)
	case <-time.After(300 * time.Millisecond):
	}
	held[0].Close()
	if err := <-answered; err != nil {
		t.Fatalf("after a held connection closed, the waiting one: %v", err)
	}
}
