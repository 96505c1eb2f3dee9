package fleettest

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/cloudcart/cloudcart/internal/fleet"
)

// Shared holds the fleets that several tests of one package use instead of
// each starting its own: a whole fleet takes seconds to start under the
// race detector, and an engine needs a few scrapes before a rate or a
// histogram answers. A shared fleet is only for tests that do not change
// its configuration or state (chaos, rate limits, a full disk) and that
// assert on what their own requests did (their own users, orders and
// series), not on absolute counts that the other tests' traffic moves.
//
// Close stops them; a later Fleet call starts a fresh one. A package
// declares one Shared, calls Close before starting a fleet of its own (so
// a shared fleet never runs beside another one, nor idles through tests
// that do not use it), and its TestMain calls Close after m.Run:
//
//	var shared fleettest.Shared
//
//	func TestMain(m *testing.M) { os.Exit(shared.Main(m)) }
type Shared struct {
	mu     sync.Mutex
	fleets map[string]*sharedFleet
	order  []string // start order; Close stops the last first
}

type sharedFleet struct {
	f        *fleet.Fleet
	err      error // the start failed: every test asking for it fails
	cancel   context.CancelFunc
	done     chan error
	dir      string
	cleanups []func()
}

// Fleet returns the shared fleet called name, started at the first call
// from Config's configuration changed by configure (which must give the
// same configuration for the same name). Its data dir is a temporary
// directory removed by Close.
func (s *Shared) Fleet(tb testing.TB, name string, configure func(*fleet.Config)) *fleet.Fleet {
	tb.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	sf, ok := s.fleets[name]
	if !ok {
		sf = s.start(configure)
		if s.fleets == nil {
			s.fleets = map[string]*sharedFleet{}
		}
		s.fleets[name] = sf
		s.order = append(s.order, name)
	}
	if sf.err != nil {
		tb.Fatalf("shared fleet %q: %v", name, sf.err)
	}
	return sf.f
}

func (s *Shared) start(configure func(*fleet.Config)) *sharedFleet {
	sf := &sharedFleet{done: make(chan error, 1)}
	sf.dir, sf.err = os.MkdirTemp("", "fleettest-shared-")
	if sf.err != nil {
		return sf
	}
	cfg := newConfig(sf.dir, func(f func()) { sf.cleanups = append(sf.cleanups, f) })
	if configure != nil {
		configure(&cfg)
	}
	if sf.f, sf.err = fleet.New(context.Background(), cfg); sf.err != nil {
		return sf
	}
	ctx, cancel := context.WithCancel(context.Background())
	sf.cancel = cancel
	go func() { sf.done <- sf.f.Run(ctx) }()
	sf.err = waitReady(sf.f, 30*time.Second)
	return sf
}

// Close stops every shared fleet, the last started first, as a test's
// fleet is stopped at its end (within stopTimeout, Run returning nil), and
// removes their data dirs.
func (s *Shared) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	var errs []error
	for i := len(s.order) - 1; i >= 0; i-- {
		name := s.order[i]
		sf := s.fleets[name]
		if sf.cancel != nil {
			sf.cancel()
			select {
			case err := <-sf.done:
				if err != nil {
					errs = append(errs, fmt.Errorf("shared fleet %q: Run: %w", name, err))
				}
			case <-time.After(stopTimeout):
				errs = append(errs, fmt.Errorf("shared fleet %q did not stop within %s", name, stopTimeout))
			}
		}
		for j := len(sf.cleanups) - 1; j >= 0; j-- {
			sf.cleanups[j]()
		}
		if sf.dir != "" {
			if err := os.RemoveAll(sf.dir); err != nil {
				errs = append(errs, err)
			}
		}
		delete(s.fleets, name)
	}
	s.order = nil
	return errors.Join(errs...)
}

// Main runs the package's tests, then Close; a fleet that fails to stop
// cleanly fails the run. For TestMain: os.Exit(shared.Main(m)).
func (s *Shared) Main(m *testing.M) int {
	code := m.Run()
	if err := s.Close(); err != nil {
		fmt.Fprintln(os.Stderr, "fleettest:", err)
		if code == 0 {
			code = 1
		}
	}
	return code
}
