package rediscache

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/pgxperf/pgxperf/internal/breaker"
)

var (
	// ErrNotFound is returned by Get for a key that is not in Redis.
	// errors.Is(err, redis.Nil) also reports true for it.
	ErrNotFound error = notFoundError{}

	// ErrUnavailable is returned, wrapped, by the calls that have no loader
	// to fall back on (Get, Set, Warm, Delete, InvalidatePattern) when Redis
	// fails or the breaker is open. Check it with errors.Is. GetOrLoad and
	// GetMany never return it: they fall back on their loader.
	ErrUnavailable = errors.New("rediscache: redis unavailable")

	// ErrInvalidTTL is returned for a ttl that is not positive.
	ErrInvalidTTL = errors.New("rediscache: ttl must be positive")
)

type notFoundError struct{}

func (notFoundError) Error() string { return "rediscache: not found" }
func (notFoundError) Unwrap() error { return redis.Nil }

// errBypass is call's result when the breaker kept it from calling Redis.
var errBypass = errors.New("rediscache: breaker open")

// Config configures a Cache. Only Client is required; every other zero
// field means its default.
type Config struct {
	// Client is the Redis client: a *redis.Client (standalone, Sentinel),
	// *redis.ClusterClient or *redis.Ring. The Cache never closes it.
	//
	// Set the client's ContextTimeoutEnabled so that Timeout also bounds
	// socket reads and writes; without it go-redis honors the deadline only
	// while dialing and waiting for a pooled connection, and a hung server
	// costs ReadTimeout (3 s by default) per call until the breaker opens.
	Client redis.UniversalClient

	// Prefix is prepended to every key, e.g. "app:". Keys are the caller's:
	// the Cache neither hashes nor escapes them, so keep secrets and
	// personal data out of them, and keep them short.
	Prefix string

	// Codec encodes values. Nil means encoding/json.
	Codec Codec

	// Timeout bounds each Redis call (one command or one pipeline).
	// Zero means 100 ms.
	Timeout time.Duration

	// JitterFraction spreads expiries: each entry's TTL is multiplied by a
	// random factor in [1-JitterFraction, 1+JitterFraction], so entries
	// written together do not expire together. Zero means 0.1; a negative
	// value disables jitter. Must be below 1.
	JitterFraction float64

	// EarlyRefresh is the fraction of an entry's TTL, at its end, during
	// which a hit also starts one background refresh (per key and process)
	// through the caller's loader, while callers keep getting the cached
	// value. Zero means 0.1; a negative value disables early refresh. Must
	// be below 1.
	EarlyRefresh float64

	// RefreshTimeout bounds a background refresh, loader and write. The
	// refresh's context carries the values of the triggering caller's
	// context but not its cancellation. Zero means 30 s.
	RefreshTimeout time.Duration

	// MaxRefreshes caps the keys being refreshed in the background at once;
	// a hit that finds the cap reached serves the cached value without
	// refreshing. Zero means 64.
	MaxRefreshes int

	// BreakerFailures is how many consecutive Redis failures within
	// BreakerWindow open the circuit breaker, which then keeps calls from
	// Redis for a cooldown (GetOrLoad and GetMany go to their loader, the
	// other calls return ErrUnavailable). Zero means 5. A negative value
	// disables the breaker: Redis is always called.
	BreakerFailures int

	// BreakerWindow bounds a run of consecutive failures: a failure more
	// than BreakerWindow after the first failure of the run starts a new
	// run. Zero means 10 s.
	BreakerWindow time.Duration

	// BreakerCooldown is how long the breaker stays open the first time it
	// opens; then one probe call goes to Redis. Each failed probe doubles
	// the cooldown, up to BreakerMaxCooldown; a successful probe closes the
	// breaker and resets it. Zero means 1 s.
	BreakerCooldown time.Duration

	// BreakerMaxCooldown caps the cooldown's doubling. Zero means 30 s.
	BreakerMaxCooldown time.Duration

	// OnError, if not nil, receives every Redis error other than a miss
	// (redis.Nil), every *CodecError, and the errors of background refreshes,
	// with op naming the step ("get", "mget", "set", "unlink", "scan",
	// "encode", "decode", "refresh"). Errors that end a call whose own
	// context is done are not reported. It is called synchronously, possibly
	// concurrently, on the call's goroutine, so it must be fast and safe for
	// concurrent use.
	OnError func(ctx context.Context, op string, err error)
}

// Cache is a typed get-or-load cache in Redis for values that are not
// query results: external API responses, sessions, quotas. Use it through
// GetOrLoad, GetMany, Get, Set and Warm, and its Delete and InvalidatePattern
// methods. A Cache is safe for concurrent use.
type Cache struct {
	client     redis.UniversalClient
	standalone bool // *redis.Client: multi-key commands are safe
	prefix     string
	codec      Codec
	timeout    time.Duration
	jitter     float64
	early      float64
	refreshTTL time.Duration
	maxRefresh int
	onError    func(ctx context.Context, op string, err error)

	breaker *breaker.Breaker
	stats   statsTable
	flights flightGroup

	refreshMu  sync.Mutex
	refreshing map[string]struct{}
	closed     bool
	refreshWG  sync.WaitGroup
}

// New returns a Cache for cfg. It does not contact Redis. It returns an
// error for a nil cfg.Client, or a JitterFraction or EarlyRefresh of 1 or
// more.
func New(cfg Config) (*Cache, error) {
	if cfg.Client == nil {
		return nil, errors.New("rediscache: Config.Client is nil")
	}
	if cfg.JitterFraction >= 1 || cfg.EarlyRefresh >= 1 {
		return nil, errors.New("rediscache: Config.JitterFraction and Config.EarlyRefresh must be below 1")
	}
	m := &Cache{
		client:     cfg.Client,
		prefix:     cfg.Prefix,
		codec:      cfg.Codec,
		timeout:    cfg.Timeout,
		jitter:     cfg.JitterFraction,
		early:      cfg.EarlyRefresh,
		refreshTTL: cfg.RefreshTimeout,
		maxRefresh: cfg.MaxRefreshes,
		onError:    cfg.OnError,
		breaker:    newBreaker(cfg),
		refreshing: make(map[string]struct{}),
	}
	_, m.standalone = cfg.Client.(*redis.Client)
	if m.codec == nil {
		m.codec = jsonCodec{}
	}
	if m.timeout <= 0 {
		m.timeout = 100 * time.Millisecond
	}
	if m.jitter == 0 {
		m.jitter = 0.1
	}
	if m.early == 0 {
		m.early = 0.1
	}
	if m.refreshTTL <= 0 {
		m.refreshTTL = 30 * time.Second
	}
	if m.maxRefresh <= 0 {
		m.maxRefresh = 64
	}
	return m, nil
}

// Close stops the Cache from starting background refreshes and waits for
// the running ones to finish. It does not close Config.Client. Every other
// method keeps working after Close, without early refresh. Calling Close
// again waits for nothing more; it always returns nil.
func (m *Cache) Close() error {
	m.refreshMu.Lock()
	m.closed = true
	m.refreshMu.Unlock()
	m.refreshWG.Wait()
	return nil
}

func (m *Cache) key(key string) string { return m.prefix + key }

// call runs fn against Redis under the breaker, with Config.Timeout. It
// returns errBypass, without calling fn, when the breaker is open; callers
// count the bypass.
func (m *Cache) call(ctx context.Context, c *prefixCounters, op string, fn func(ctx context.Context) error) error {
	probe, ok := m.breaker.Allow()
	if !ok {
		return errBypass
	}
	cctx, cancel := context.WithTimeout(ctx, m.timeout)
	err := fn(cctx)
	cancel()
	m.breaker.Done(probe, m.classify(ctx, c, op, err))
	return err
}

// classify counts and reports err and tells the breaker what it means.
func (m *Cache) classify(ctx context.Context, c *prefixCounters, op string, err error) breaker.Outcome {
	switch {
	case err == nil || errors.Is(err, redis.Nil):
		return breaker.OK
	case ctx.Err() != nil:
		return breaker.Ignore // the caller gave up; Redis may be fine
	}
	c.redisErrors.Add(1)
	m.report(ctx, op, err)
	return breaker.RedisOutcome(err)
}

func (m *Cache) report(ctx context.Context, op string, err error) {
	if m.onError != nil {
		m.onError(ctx, op, err)
	}
}

// unavailableErr turns a failed call's error into what the loader-less API
// returns.
func unavailableErr(c *prefixCounters, err error) error {
	if errors.Is(err, errBypass) {
		c.bypasses.Add(1)
		return ErrUnavailable
	}
	return fmt.Errorf("%w: %w", ErrUnavailable, err)
}

// Delete removes keys from Redis with UNLINK (the memory is freed in the
// background). A key that does not exist is not an error. While the breaker
// is open Delete returns ErrUnavailable without calling Redis; the entries
// then live until their TTL ends. Safe for concurrent use.
func (m *Cache) Delete(ctx context.Context, keys ...string) error {
	if len(keys) == 0 {
		return nil
	}
	c := m.stats.of(keys[0])
	for start := 0; start < len(keys); start += mgrBatch {
		batch := keys[start:min(start+mgrBatch, len(keys))]
		fks := make([]string, len(batch))
		for i, k := range batch {
			fks[i] = m.key(k)
		}
		err := m.call(ctx, c, "unlink", func(ctx context.Context) error {
			_, err := m.unlink(ctx, m.client, m.standalone, fks)
			return err
		})
		if err != nil {
			return unavailableErr(c, err)
		}
		for _, k := range batch {
			m.stats.of(k).deletes.Add(1)
		}
	}
	return nil
}

// mgrBatch bounds the keys in one UNLINK, one pipeline of SETs, and SCAN's
// COUNT hint.
const mgrBatch = 1000

// unlink removes fks through node: one UNLINK when multi-key commands are
// safe, else a pipeline of single-key UNLINKs (Cluster, Ring).
func (m *Cache) unlink(ctx context.Context, node redis.Cmdable, multiKey bool, fks []string) (int64, error) {
	if multiKey {
		return node.Unlink(ctx, fks...).Result()
	}
	cmds, err := node.Pipelined(ctx, func(p redis.Pipeliner) error {
		for _, k := range fks {
			p.Unlink(ctx, k)
		}
		return nil
	})
	var n int64
	for _, cmd := range cmds {
		n += cmd.(*redis.IntCmd).Val()
	}
	return n, err
}

// InvalidatePattern removes every key matching pattern, a Redis glob
// relative to Config.Prefix ("gh:repos:*"), and returns how many it removed.
// It walks the keyspace with SCAN (COUNT 1000) and removes each batch with
// UNLINK, so it never blocks Redis the way KEYS does; on a Cluster or Ring it
// scans every master or shard. Keys written while it runs may survive it. It
// stops at the first error, having removed what it had found so far. Safe for
// concurrent use.
func (m *Cache) InvalidatePattern(ctx context.Context, pattern string) (int64, error) {
	c := m.stats.of(pattern)
	match := escapeGlob(m.prefix) + pattern
	var (
		mu    sync.Mutex
		total int64
	)
	scan := func(ctx context.Context, node redis.Cmdable, multiKey bool) error {
		n, err := m.scanUnlink(ctx, c, node, multiKey, match)
		mu.Lock()
		total += n
		mu.Unlock()
		return err
	}
	var err error
	switch cl := m.client.(type) {
	case *redis.ClusterClient:
		if BreakerState(m.breaker.State()) != BreakerClosed { // ForEachMaster may call Redis itself
			return 0, unavailableErr(c, errBypass)
		}
		err = cl.ForEachMaster(ctx, func(ctx context.Context, node *redis.Client) error {
			return scan(ctx, node, false)
		})
	case *redis.Ring:
		if BreakerState(m.breaker.State()) != BreakerClosed {
			return 0, unavailableErr(c, errBypass)
		}
		err = cl.ForEachShard(ctx, func(ctx context.Context, node *redis.Client) error {
			return scan(ctx, node, false)
		})
	default:
		err = scan(ctx, m.client, m.standalone)
	}
	return total, err
}

func (m *Cache) scanUnlink(ctx context.Context, c *prefixCounters, node redis.Cmdable, multiKey bool, match string) (int64, error) {
	var (
		total  int64
		cursor uint64
	)
	for {
		var keys []string
		err := m.call(ctx, c, "scan", func(ctx context.Context) error {
			var err error
			keys, cursor, err = node.Scan(ctx, cursor, match, mgrBatch).Result()
			return err
		})
		if err != nil {
			return total, unavailableErr(c, err)
		}
		if len(keys) > 0 {
			var n int64
			err = m.call(ctx, c, "unlink", func(ctx context.Context) error {
				var err error
				n, err = m.unlink(ctx, node, multiKey, keys)
				return err
			})
			if err != nil {
				return total, unavailableErr(c, err)
			}
			total += n
			for _, k := range keys {
				m.stats.of(strings.TrimPrefix(k, m.prefix)).invalidated.Add(1)
			}
		}
		if cursor == 0 {
			return total, nil
		}
		if err := ctx.Err(); err != nil {
			return total, err
		}
	}
}

// escapeGlob escapes Redis glob metacharacters, so that Config.Prefix matches
// only itself.
func escapeGlob(s string) string {
	if !strings.ContainsAny(s, `*?[]\`) {
		return s
	}
	var b strings.Builder
	for _, r := range s {
		if strings.ContainsRune(`*?[]\`, r) {
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	return b.String()
}

// claimRefresh reserves fk for one background refresh.
func (m *Cache) claimRefresh(fk string) bool {
	m.refreshMu.Lock()
	defer m.refreshMu.Unlock()
	if m.closed || len(m.refreshing) >= m.maxRefresh {
		return false
	}
	if _, busy := m.refreshing[fk]; busy {
		return false
	}
	m.refreshing[fk] = struct{}{}
	return true
}

// inBackground runs fn in a goroutine, with ctx's values but not its
// cancellation, bounded by Config.RefreshTimeout, then releases fks. A panic
// in fn is recovered and reported as a refresh error.
func (m *Cache) inBackground(ctx context.Context, c *prefixCounters, fks []string, fn func(ctx context.Context)) {
	m.refreshWG.Add(1)
	go func() {
		defer m.refreshWG.Done()
		defer func() {
			m.refreshMu.Lock()
			for _, fk := range fks {
				delete(m.refreshing, fk)
			}
			m.refreshMu.Unlock()
		}()
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), m.refreshTTL)
		defer cancel()
		defer func() {
			if r := recover(); r != nil {
				c.loadErrors.Add(1)
				m.report(rctx, "refresh", fmt.Errorf("rediscache: loader panicked: %v", r))
			}
		}()
		fn(rctx)
	}()
}
