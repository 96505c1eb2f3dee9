// Package fleettest runs a fleet in-process for tests of any package: the
// whole fleet or some of its services, on the real wiring, stopped when the
// test ends.
package fleettest

import (
	"context"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/cloudcart/cloudcart/internal/fleet"
)

// stopTimeout bounds a fleet's shutdown at the end of a test: readiness
// off, requests drained, workers and the bus stopped. Under the race
// detector on a busy 2-core machine that takes seconds.
const stopTimeout = 30 * time.Second

// Start builds the fleet of cfg (the named services, or all), runs it until
// the test ends and waits until every service answers /readyz.
func Start(tb testing.TB, cfg fleet.Config, services ...string) *fleet.Fleet {
	tb.Helper()
	f := Run(tb, cfg, services...)
	WaitReady(tb, f, 30*time.Second)
	return f
}

// Run builds the fleet and runs it until the test ends, without waiting
// for readiness. A fleet that fails to stop in time, or stops with an
// error, fails the test.
func Run(tb testing.TB, cfg fleet.Config, services ...string) *fleet.Fleet {
	tb.Helper()
	f, err := fleet.New(context.Background(), cfg, services...)
	if err != nil {
		tb.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- f.Run(ctx) }()
	tb.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				tb.Errorf("fleet.Run: %v", err)
			}
		case <-time.After(stopTimeout):
			tb.Errorf("fleet did not stop within %s", stopTimeout)
		}
	})
	return f
}

// WaitReady waits until every service of f answers /readyz with 200.
func WaitReady(tb testing.TB, f *fleet.Fleet, timeout time.Duration) {
	tb.Helper()
	if err := waitReady(f, timeout); err != nil {
		tb.Fatal(err)
	}
}

// waitReady waits until every service of f answers /readyz with 200, each
// within timeout.
func waitReady(f *fleet.Fleet, timeout time.Duration) error {
	for _, u := range f.Units() {
		deadline := time.Now().Add(timeout)
		for !ready(u.Server.URL() + "/readyz") {
			if time.Now().After(deadline) {
				return fmt.Errorf("%s not ready within %s", u.Service.Name, timeout)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	return nil
}

func ready(u string) bool {
	resp, err := http.Get(u)
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}
