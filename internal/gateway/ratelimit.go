package gateway

import (
	"container/list"
	"math"
	"sync"
	"time"
)

// RateLimit configures the per-client token buckets: each client may send
// Burst requests at once and Rate per second sustained. At most MaxClients
// buckets are kept; past that the least recently seen client's bucket is
// dropped, which at worst gives that client a fresh, full bucket. A bucket
// idle for Burst/Rate seconds is full anyway, so dropping it loses nothing:
// only clients active within that window compete for the table.
type RateLimit struct {
	Rate       float64 // requests per second per client; <= 0 disables limiting
	Burst      int     // bucket size; at least 1
	MaxClients int     // table bound; DefaultMaxClients if 0
}

// Defaults for RateLimit.
const (
	DefaultRate       = 100
	DefaultBurst      = 200
	DefaultMaxClients = 10_000
	// The auth routes (login, registration) have their own, stricter
	// buckets per client IP: each request there costs the user service a
	// bcrypt run, a thousand times a product read.
	DefaultAuthRate  = 5
	DefaultAuthBurst = 20
)

// Limiter is a bounded table of token buckets, least recently used first
// out.
type Limiter struct {
	rate, burst float64
	max         int
	now         func() time.Time

	mu    sync.Mutex
	lru   *list.List // of *bucket, most recent at the front
	byKey map[string]*list.Element
}

type bucket struct {
	key    string
	tokens float64
	last   time.Time
}

// NewLimiter returns a limiter; now is time.Now if nil. A disabled limit
// returns nil, whose Allow always allows.
func NewLimiter(c RateLimit, now func() time.Time) *Limiter {
	if c.Rate <= 0 {
		return nil
	}
	if now == nil {
		now = time.Now
	}
	return &Limiter{
		rate: c.Rate, burst: float64(max(c.Burst, 1)), max: max(c.MaxClients, 0),
		now: now, lru: list.New(), byKey: map[string]*list.Element{},
	}
}

// Allow takes a token from key's bucket. When there is none it returns
// false and how long until there will be one.
func (l *Limiter) Allow(key string) (ok bool, retryAfter time.Duration) {
	if l == nil {
		return true, 0
	}
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	var b *bucket
	if e, found := l.byKey[key]; found {
		l.lru.MoveToFront(e)
		b = e.Value.(*bucket)
		if elapsed := now.Sub(b.last).Seconds(); elapsed > 0 {
			b.tokens = math.Min(l.burst, b.tokens+elapsed*l.rate)
		}
		b.last = now
	} else {
		b = &bucket{key: key, tokens: l.burst, last: now}
		l.byKey[key] = l.lru.PushFront(b)
		limit := l.max
		if limit == 0 {
			limit = DefaultMaxClients
		}
		for l.lru.Len() > limit {
			oldest := l.lru.Back()
			delete(l.byKey, oldest.Value.(*bucket).key)
			l.lru.Remove(oldest)
		}
	}
	if b.tokens >= 1 {
		b.tokens--
		return true, 0
	}
	return false, time.Duration((1 - b.tokens) / l.rate * float64(time.Second))
}

// Len is the number of clients in the table.
func (l *Limiter) Len() int {
	if l == nil {
		return 0
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.lru.Len()
}
