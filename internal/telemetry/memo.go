package telemetry

import (
	"maps"
	"sync"
	"sync/atomic"
)

// Memo keeps one value per key, built on first use, for hot paths whose
// keys come from closed sets (label values, routes): precomputed attribute
// sets, so that counting builds no attributes and allocates nothing.
// Lookups take no lock; a miss copies the map under a lock
// (copy-on-write), which happens once per key. The zero Memo is empty and
// ready to use.
type Memo[K comparable, V any] struct {
	mu sync.Mutex // serialises misses
	m  atomic.Pointer[map[K]V]
}

// Lookup returns the value kept for k, if any.
func (c *Memo[K, V]) Lookup(k K) (V, bool) {
	if m := c.m.Load(); m != nil {
		v, ok := (*m)[k]
		return v, ok
	}
	var zero V
	return zero, false
}

// LoadOrBuild returns the value kept for k, building and keeping it with
// build first if there is none. Call it after a missed Lookup: build is a
// closure, created only on that path.
func (c *Memo[K, V]) LoadOrBuild(k K, build func() V) V {
	c.mu.Lock()
	defer c.mu.Unlock()
	var old map[K]V
	if m := c.m.Load(); m != nil {
		old = *m
		if v, ok := old[k]; ok {
			return v
		}
	}
	v := build()
	next := make(map[K]V, len(old)+1)
	maps.Copy(next, old)
	next[k] = v
	c.m.Store(&next)
	return v
}
