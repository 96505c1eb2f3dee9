package gateway

import (
	"container/list"
	"net/http"
	"sync"
	"time"
)

// Cache configures the response cache of public product reads: a GET that
// needs no token, answered 200 without Set-Cookie or no-store/private, is
// kept for TTL. The cache holds at most MaxBytes of bodies and headers,
// least recently used out first, and no single entry over MaxEntryBytes.
// Any successful product write through the gateway empties it; writes that
// bypass the gateway (stock changes by orders) show within TTL.
type Cache struct {
	TTL           time.Duration // <0 disables the cache; DefaultCacheTTL if 0
	MaxBytes      int64         // DefaultCacheBytes if 0
	MaxEntryBytes int64         // DefaultCacheEntryBytes if 0
}

// Defaults for Cache.
const (
	DefaultCacheTTL        = 5 * time.Second
	DefaultCacheBytes      = 8 << 20
	DefaultCacheEntryBytes = 256 << 10
	maxCacheKeyBytes       = 1024
)

// responseCache is a size-bounded LRU of responses with a TTL.
type responseCache struct {
	ttl             time.Duration
	maxBytes, entry int64
	now             func() time.Time

	mu    sync.Mutex
	bytes int64
	lru   *list.List // of *cached, most recent at the front
	byKey map[string]*list.Element
}

type cached struct {
	key    string
	header http.Header
	body   []byte
	stored time.Time
	size   int64
}

func newResponseCache(c Cache, now func() time.Time) *responseCache {
	if c.TTL < 0 {
		return nil
	}
	rc := &responseCache{ttl: c.TTL, maxBytes: c.MaxBytes, entry: c.MaxEntryBytes, now: now,
		lru: list.New(), byKey: map[string]*list.Element{}}
	if rc.ttl == 0 {
		rc.ttl = DefaultCacheTTL
	}
	if rc.maxBytes <= 0 {
		rc.maxBytes = DefaultCacheBytes
	}
	if rc.entry <= 0 {
		rc.entry = DefaultCacheEntryBytes
	}
	rc.entry = min(rc.entry, rc.maxBytes)
	return rc
}

// get returns a fresh entry for key.
func (c *responseCache) get(key string) (*cached, bool) {
	now := c.now()
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.byKey[key]
	if !ok {
		return nil, false
	}
	v := e.Value.(*cached)
	if now.Sub(v.stored) >= c.ttl {
		c.remove(e)
		return nil, false
	}
	c.lru.MoveToFront(e)
	return v, true
}

// put stores a response body and its headers, evicting the least recently
// used entries to stay within the byte bound.
func (c *responseCache) put(key string, h http.Header, body []byte) {
	size := int64(len(key) + len(body))
	for k, vs := range h {
		size += int64(len(k))
		for _, v := range vs {
			size += int64(len(v))
		}
	}
	if size > c.entry {
		return
	}
	v := &cached{key: key, header: h, body: body, stored: c.now(), size: size}
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.byKey[key]; ok {
		c.remove(e)
	}
	c.byKey[key] = c.lru.PushFront(v)
	c.bytes += size
	for c.bytes > c.maxBytes {
		c.remove(c.lru.Back())
	}
}

// purge empties the cache.
func (c *responseCache) purge() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.lru.Init()
	clear(c.byKey)
	c.bytes = 0
}

func (c *responseCache) remove(e *list.Element) {
	v := c.lru.Remove(e).(*cached)
	delete(c.byKey, v.key)
	c.bytes -= v.size
}
