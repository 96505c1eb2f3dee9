package promengine

import (
	"sync"

	"github.com/prometheus/client_golang/prometheus"
)

// runRegistry is the Registerer handed to the upstream components for one
// Run. It remembers what they registered so that Run can unregister all of it
// on the way out: a later engine (a restart in the same process) can then
// register the same metric names on the same Registerer again.
type runRegistry struct {
	inner    prometheus.Registerer
	gatherer prometheus.Gatherer

	mu         sync.Mutex
	registered []prometheus.Collector
}

// newRunRegistry wraps reg. Without one, the engine's self-metrics go to a
// private registry that only the engine's own API (/api/v1/status/self_metrics)
// reads.
func newRunRegistry(reg prometheus.Registerer) *runRegistry {
	if reg == nil {
		private := prometheus.NewRegistry()
		return &runRegistry{inner: private, gatherer: private}
	}
	g, ok := reg.(prometheus.Gatherer)
	if !ok {
		g = prometheus.Gatherers{}
	}
	return &runRegistry{inner: reg, gatherer: g}
}

// Register implements prometheus.Registerer.
func (r *runRegistry) Register(c prometheus.Collector) error {
	if err := r.inner.Register(c); err != nil {
		return err
	}
	r.mu.Lock()
	r.registered = append(r.registered, c)
	r.mu.Unlock()
	return nil
}

// MustRegister implements prometheus.Registerer.
func (r *runRegistry) MustRegister(cs ...prometheus.Collector) {
	for _, c := range cs {
		if err := r.Register(c); err != nil {
			panic(err)
		}
	}
}

// Unregister implements prometheus.Registerer.
func (r *runRegistry) Unregister(c prometheus.Collector) bool {
	return r.inner.Unregister(c)
}

// unregisterAll removes every collector registered through r. Collectors an
// upstream component already unregistered itself are skipped by the inner
// registry.
func (r *runRegistry) unregisterAll() {
	r.mu.Lock()
	cs := r.registered
	r.registered = nil
	r.mu.Unlock()
	for _, c := range cs {
		r.inner.Unregister(c)
	}
}
