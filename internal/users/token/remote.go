package token

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// Defaults for RemoteKeys.
const (
	DefaultMinRefresh   = 10 * time.Second
	DefaultMaxAge       = 10 * time.Minute
	DefaultFetchTimeout = 5 * time.Second
	maxKeySetBytes      = 64 << 10
)

// RemoteKeys is a KeySource backed by a JWK Set URL, such as the user
// service's /.well-known/jwks.json. Keys are cached; an unknown kid
// triggers a refresh (a new key appears after rotation), but at most one
// per MinRefresh, so tokens with made-up kids cannot turn into a flood of
// fetches. A set older than MaxAge is refreshed on use; if that fails, the
// old set keeps serving.
type RemoteKeys struct {
	URL        string
	Client     *http.Client // http.DefaultClient if nil
	MinRefresh time.Duration
	MaxAge     time.Duration
	Now        func() time.Time
	// Prepare, if set, may decorate each fetch's context (e.g. with the
	// gateway's upstream metric labels).
	Prepare func(context.Context) context.Context

	keys atomic.Pointer[keySet]

	mu          sync.Mutex // serialises fetches
	lastAttempt time.Time
}

type keySet struct {
	byKid   map[string]ed25519.PublicKey
	fetched time.Time
}

// PublicKey implements KeySource.
func (r *RemoteKeys) PublicKey(ctx context.Context, kid string) (ed25519.PublicKey, error) {
	now := r.now()
	ks := r.keys.Load()
	if ks != nil {
		if k, ok := ks.byKid[kid]; ok {
			if now.Sub(ks.fetched) >= r.maxAge() && r.mu.TryLock() {
				// Stale: one caller refreshes, the rest keep using the key
				// they have rather than queue behind the fetch.
				fresh := r.refreshLocked(ctx, ks)
				r.mu.Unlock()
				if fk, ok := fresh.byKid[kid]; ok {
					return fk, nil
				}
			}
			return k, nil
		}
	}
	ks = r.refresh(ctx, ks)
	if ks == nil {
		return nil, ErrKeysUnavailable
	}
	if k, ok := ks.byKid[kid]; ok {
		return k, nil
	}
	return nil, ErrUnknownKey
}

// refresh fetches the set unless another caller just did (or is doing so),
// and returns the newest set known, which may be seen (nil if none).
// refreshLocked is the same with r.mu held.
func (r *RemoteKeys) refresh(ctx context.Context, seen *keySet) *keySet {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.refreshLocked(ctx, seen)
}

func (r *RemoteKeys) refreshLocked(ctx context.Context, seen *keySet) *keySet {
	if cur := r.keys.Load(); cur != seen {
		return cur // refreshed while we waited for the lock
	}
	now := r.now()
	minRefresh := r.MinRefresh
	if minRefresh == 0 {
		minRefresh = DefaultMinRefresh
	}
	if !r.lastAttempt.IsZero() && now.Sub(r.lastAttempt) < minRefresh {
		return seen
	}
	r.lastAttempt = now
	// The fetch outlives a caller that gives up: others wait on its result.
	fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), DefaultFetchTimeout)
	defer cancel()
	byKid, err := r.fetch(fctx)
	if err != nil {
		return seen
	}
	ks := &keySet{byKid: byKid, fetched: now}
	r.keys.Store(ks)
	return ks
}

func (r *RemoteKeys) fetch(ctx context.Context) (map[string]ed25519.PublicKey, error) {
	if r.Prepare != nil {
		ctx = r.Prepare(ctx)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, r.URL, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "application/json")
	client := r.Client
	if client == nil {
		client = http.DefaultClient
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: status %d", r.URL, resp.StatusCode)
	}
	var set KeySet
	if err := json.NewDecoder(io.LimitReader(resp.Body, maxKeySetBytes)).Decode(&set); err != nil {
		return nil, fmt.Errorf("GET %s: %w", r.URL, err)
	}
	byKid := map[string]ed25519.PublicKey{}
	for _, k := range set.Keys {
		if pub, err := k.PublicKey(); err == nil && k.Kid != "" {
			byKid[k.Kid] = pub
		}
	}
	return byKid, nil
}

func (r *RemoteKeys) now() time.Time {
	if r.Now != nil {
		return r.Now()
	}
	return time.Now()
}

func (r *RemoteKeys) maxAge() time.Duration {
	if r.MaxAge == 0 {
		return DefaultMaxAge
	}
	return r.MaxAge
}
