package main_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"io"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/cloudcart/cloudcart/internal/load"
	"github.com/cloudcart/cloudcart/internal/telemetry/telemetrytest"
)

// TestLoadCommand runs `cloudcart run` with its background load on, sees
// the load place orders by itself, then runs `cloudcart load --json`
// against it twice: for 3 s, and until SIGINT (Ctrl-C), which stops the
// arrivals and still prints the summary of what ran, exit status 0.
func TestLoadCommand(t *testing.T) {
	p := mustStart(t, "run", "--data-dir", t.TempDir(), "--no-prometheus", "--users.bcrypt-cost=10",
		"--load.rate=5", "--load.users=2", "--load.think-time=100ms")
	mustEventually(t, time.Minute, "an order placed by the background load", func() bool {
		m := telemetrytest.Scrape(t, p.urls["orders"]+"/metrics")
		return telemetrytest.Value(t, m, "orders_processed_total", map[string]string{"status": "success"}) > 0
	})
	gw := p.urls["gateway"]

	t.Run("duration", func(t *testing.T) {
		cmd := exec.Command(binary, "load", "--target", gw, "--duration", "3s", "--rate", "10", "--users", "2",
			"--think-time", "100ms", "--grace", "1m", "--interval", "500ms", "--json", "--max-error-rate", "0")
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		if err := cmd.Run(); err != nil {
			t.Fatalf("cloudcart load: %v\nstderr:\n%s", err, stderr.String())
		}
		sum := mustSummary(t, stdout.Bytes())
		if sum.Arrivals != 30 || sum.JourneysStarted != 30 || sum.Requests == 0 || sum.Errors != 0 || sum.ClientErrors != 0 ||
			sum.Duration < 3*time.Second || sum.Target != gw {
			t.Fatalf("summary %+v", sum)
		}
		if !strings.Contains(stderr.String(), "load elapsed=") {
			t.Fatalf("no progress line on stderr (not a terminal):\n%s", stderr.String())
		}
	})

	t.Run("SIGINT", func(t *testing.T) {
		cmd := exec.Command(binary, "load", "--target", gw, "--rate", "10", "--users", "2", "--json", "--interval", "100ms")
		var stdout bytes.Buffer
		cmd.Stdout = &stdout
		stderr, _ := cmd.StderrPipe()
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = cmd.Process.Kill() })
		// Wait for a progress line that has seen requests, then Ctrl-C.
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			if strings.Contains(sc.Text(), "load elapsed=") && !strings.Contains(sc.Text(), " requests=0 ") {
				break
			}
		}
		if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
			t.Fatal(err)
		}
		go func() { _, _ = io.Copy(io.Discard, stderr) }()
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		select {
		case err := <-done:
			if err != nil {
				t.Fatalf("exit after SIGINT: %v", err)
			}
		case <-time.After(30 * time.Second):
			t.Fatal("no exit 30 s after SIGINT")
		}
		sum := mustSummary(t, stdout.Bytes())
		if sum.Requests == 0 || sum.Duration <= 0 || sum.Errors != 0 {
			t.Fatalf("summary after SIGINT: %+v", sum)
		}
	})

	p.stop(t)
	if !strings.Contains(p.stderr.String(), "background load starts") {
		t.Errorf("`cloudcart run` did not log the start of its background load:\n%s", p.stderr)
	}
}

func mustSummary(tb testing.TB, b []byte) load.Summary {
	tb.Helper()
	var sum load.Summary
	if err := json.Unmarshal(b, &sum); err != nil {
		tb.Fatalf("summary JSON: %v\n%s", err, b)
	}
	return sum
}
