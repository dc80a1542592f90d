package querycache

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/redis/go-redis/v9"

	"github.com/pgxperf/pgxperf/internal/breaker"
	"github.com/pgxperf/pgxperf/internal/expiry"
	"github.com/pgxperf/pgxperf/internal/sqlinfo"
	"github.com/pgxperf/pgxperf/tracer"
)

// defaultTTL is the TTL of a statement opted in without one.
const defaultTTL = 5 * time.Minute

// defaultPrefix is the Redis key prefix of the query cache. The version
// in it changes whenever the key or entry format does, so that instances of
// different versions never read each other's entries (Config.Prefix's
// comment repeats it).
const defaultPrefix = "pgxperf:qc:v1:"

// Rule opts statements into the query cache by fingerprint or by sqlc query
// name. A statement matches when its fingerprint (16 hex digits, as reports
// print it) equals Fingerprint or its sqlc name (-- name: GetUser :one)
// equals Name; set one of the two.
type Rule struct {
	Fingerprint string
	Name        string
	// TTL is how long a result stays cached. Zero means Config.DefaultTTL.
	TTL time.Duration
}

// L1Config configures the optional in-process cache in front of Redis.
type L1Config struct {
	// Enabled turns the in-process cache on.
	Enabled bool
	// MaxBytes bounds the memory the in-process cache holds (results are
	// weighed by their size). Zero means 64 MiB.
	MaxBytes int64
	// MaxAge bounds how long an entry is served from process memory, however
	// long its TTL, so that an invalidation lost with a broken pub/sub
	// connection costs at most MaxAge of staleness. Zero means 10 s.
	MaxAge time.Duration
}

// Config configures a QueryCache. Only Client is required; every other
// zero field means its default.
type Config struct {
	// Client is the Redis client shared by every instance of the
	// application. The QueryCache never closes it.
	//
	// Every call the cache makes is bounded by Timeout (reads) or
	// InvalidateTimeout (a write's invalidation) whatever the client's
	// settings. With a client that does not honour context deadlines (not
	// ContextTimeoutEnabled) the caller is released at the deadline while
	// the call finishes on a goroutine of its own, which costs a goroutine
	// per call; and go-redis's default retries make a refused connection
	// (Redis down, breaker still closed) cost a write the whole
	// InvalidateTimeout. Recommended, as pgxperf.Pool sets them on the client
	// it makes from RedisURL:
	//
	//	&redis.Options{
	//		ContextTimeoutEnabled: true, // deadlines bound socket reads and writes
	//		MaxRetries:            -1,   // no command retries: the cache retries, or goes to the database
	//		DialerRetries:         1,    // a refused connection fails at once, without backoff
	//		DialTimeout:           time.Second,
	//	}
	Client redis.UniversalClient

	// Prefix is prepended to every key and to the invalidation channel.
	// Zero means "pgxperf:qc:v1:" (the version changes whenever the key or
	// entry format does). Give every instance of an application the same
	// Prefix, and applications that must not share results different ones.
	Prefix string

	// DefaultTTL is the TTL of a statement opted in without one (a rule
	// without TTL, a bare /* pgxperf:cache */ hint). Zero means 5 minutes.
	DefaultTTL time.Duration

	// Rules opt statements in by fingerprint or sqlc name.
	Rules []Rule

	// MaxResultBytes bounds the size of a result that is stored; a larger
	// one is passed through uncached. Zero means 1 MiB.
	MaxResultBytes int

	// CompressAbove is the encoded size above which results are
	// compressed. Zero means 1 KiB; negative never compresses.
	CompressAbove int

	// TenantSettings names the settings that row-level security policies
	// read (for example "app.tenant_id"). Their values are part of every key:
	// each comes from WithSettings on the context, else from the pool's
	// RuntimeParams. A statement on a table whose policies read a setting not
	// listed here, or whose value is unknown for the call, is not cached.
	TenantSettings []string

	// ImmutableFunctions lists user functions (as statements call them,
	// such as "slugify" or "app.slugify": unquoted parts lower-case) whose
	// results depend only on their arguments, so statements calling them may
	// be cached, and reads calling them invalidate nothing. Unlisted user
	// functions are never cached, whatever pg_proc declares (Postgres does
	// not enforce volatility); built-ins are cached when every overload the
	// call can resolve to is IMMUTABLE.
	ImmutableFunctions []string

	// L1 configures the optional in-process cache.
	L1 L1Config

	// Timeout bounds how long a read waits for Redis: its lookup and, after
	// a miss, the store of the result share it (the store gets what the
	// lookup left, and is skipped when that is less than half). A read
	// never waits for an invalidation. Zero means 100 ms.
	Timeout time.Duration

	// InvalidateTimeout bounds the Redis call that invalidates after a
	// write, which the write's caller waits for. It is longer than Timeout:
	// an invalidation that times out leaves other instances serving the old
	// entries until it is retried. While the breaker is open, or earlier
	// invalidations are still pending, nothing waits. Zero means 1 s.
	InvalidateTimeout time.Duration

	// InvalidateRetry is how often invalidations that could not reach
	// Redis are retried, off the writer's goroutine, on a fixed interval
	// (not the breaker's backed-off cooldown) and each within Timeout (at
	// least 100 ms): they land within about InvalidateRetry+Timeout of
	// Redis answering again. Meanwhile this instance serves and stores
	// nothing. After Redis was unreachable, an instance also waits
	// 4×InvalidateRetry (at least 200 ms) after its first answer from Redis
	// before it serves or stores again, so that the pending invalidations
	// of the other instances, which lost Redis too, land first. Give every
	// instance the same value. Zero means 50 ms.
	InvalidateRetry time.Duration

	// JitterFraction spreads expiries by ±JitterFraction of the TTL. Zero
	// means 0.1; negative disables jitter. Must be below 1.
	JitterFraction float64

	// EarlyRefresh is the last fraction of an entry's TTL during which one
	// caller (per key and process) refreshes it from the database while
	// every other caller is still served the cached result. Zero means 0.1;
	// negative disables early refresh. Must be below 1.
	EarlyRefresh float64

	// BreakerFailures is how many consecutive Redis failures within
	// BreakerWindow open the circuit breaker around Redis, which then keeps
	// every call from Redis for a cooldown (reads go to the database,
	// invalidations wait for Redis to answer again). Zero means 5. A
	// negative value disables the breaker: Redis is always called.
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

	// catalogAcquire, if set, takes a connection of the catalog pool (the
	// primary, which pgxperf.Pool gives the cache) for the cache's catalog
	// lookups, which the first reads of a statement wait for: it bounds
	// the wait as the application's own statements are bounded.
	// pgxperf.Pool sets it to its acquire with Config.AcquireTimeout. When
	// it fails with a timeout (an error matching context.DeadlineExceeded),
	// the reads waiting for the lookup fail with its error, as the statement
	// itself would have. Nil means pool.Acquire.
	//
	// Either way a read waits for the catalog only while its context lasts
	// (it then fails with the context's error, as pgx does); the lookups go
	// on for at most 2 s, so that the next read finds the statement planned.
	// They run outside the caller's n1detect scope.
	catalogAcquire func(ctx context.Context, pool *pgxpool.Pool) (*pgxpool.Conn, error)

	// tracer, if set, records every read the cache answers without a round
	// trip to the database (tracer.Tracer.ObserveCacheHit): in the
	// statement's statistics, apart from the database's calls, and in the
	// caller's n1detect scope, where a loop of cached reads is still an N+1.
	// pgxperf.Pool sets it to its tracer.
	tracer *tracer.Tracer

	// OnError, if set, receives every Redis error and every failed catalog
	// lookup, with op naming the step ("lookup", "store", "invalidate",
	// "subscribe", "catalog", "decode"). It must be fast and safe for
	// concurrent use.
	OnError func(ctx context.Context, op string, err error)

	// Logger receives the cache's own warnings (lost invalidations, pub/sub
	// state). Nil means slog.Default().
	Logger *slog.Logger
}

// sessionInfo describes where a pool's statements run, for cache keys: a result
// is only ever served to callers of the same server, database, user and
// session settings.
type sessionInfo struct {
	// Host, Port, Database and User are those of the pool's connections.
	Host     string
	Port     uint16
	Database string
	User     string
	// RuntimeParams are the pool's session settings (search_path, role,
	// application settings…) as the connection string or config sets them.
	RuntimeParams map[string]string
}

// sessionFromConfig returns the sessionInfo of a pgxpool config.
func sessionFromConfig(cfg *pgxpool.Config) sessionInfo {
	cc := cfg.ConnConfig
	return sessionInfo{Host: cc.Host, Port: cc.Port, Database: cc.Database, User: cc.User, RuntimeParams: cc.RuntimeParams}
}

// loader runs a statement on the database for the cache: on the primary, so
// that a stored result reflects every write committed before it started.
type loader func(ctx context.Context) (pgx.Rows, error)

// QueryCache is the transparent query-result cache that pgxperf.Pool puts in
// front of its reads. Statements are cached only when opted in (WithTTL, a
// Rule, or a /* pgxperf:cache */ comment) and proven safe to cache; results
// are kept in Redis (and, optionally, in process memory), keyed by a SHA-256
// over the statement, its typed arguments and the session, and invalidated
// by per-table generations after every committed write seen on the pool's
// connections (see the package documentation). A QueryCache is safe for
// concurrent use.
//
// Applications get it from pgxperf.Pool.Cache (nil when the cache is off)
// and use it for its figures; the Pool serves reads through it.
type QueryCache struct {
	client       redis.UniversalClient
	standalone   bool
	ownDeadlines bool // the client returns by its context's deadline (see honoursDeadlines)
	prefix       string
	channel      string
	defaultTTL   time.Duration
	maxBytes     int
	encoder      resultEncoder
	timeout      time.Duration
	invalTimeout time.Duration
	invalRetry   time.Duration
	recoverHold  time.Duration
	jitter       float64
	early        float64
	onError      func(ctx context.Context, op string, err error)
	logger       *slog.Logger
	tracer       *tracer.Tracer // nil: hits are not reported
	origin       string         // this instance, in invalidation messages

	session       sessionInfo
	sessionKey    []byte
	runtimeParams map[string]struct{} // session.RuntimeParams' names, lower-case
	tenant        []string
	rules         map[string]time.Duration // "fp:…" or "name:…" → TTL (0: default)

	breaker *breaker.Breaker
	// redisFailing is set by a call that found Redis unreachable; the first
	// answer after it sets holdUntil (monotonicNow), before which nothing
	// is served or stored: other instances' pending invalidations land first.
	redisFailing atomic.Bool
	holdUntil    atomic.Int64
	flights      flightGroup
	stats        queryStats
	catalog      *catalog
	plans        planCache
	epochs       epochs
	l1           *l1Cache
	l1Live       atomic.Bool // subscribed to the invalidation channel: L1 may serve
	types        typeRegistry
	inval        *invalidator

	refreshMu  sync.Mutex
	refreshing map[string]struct{}

	closed    atomic.Bool
	closeOnce sync.Once
	stop      chan struct{}
	bg        sync.WaitGroup
}

// errNoClient is returned for a Config without a Client.
var errNoClient = errors.New("querycache: Config.Client is nil")

// newForPool returns the query cache for the statements of the pool that
// poolConfig configures: its host, port, database, user and RuntimeParams
// become part of every key, so that a result is only served to callers of
// the same server, database, user and session settings. It does not
// contact Redis or the database; with cfg.L1.Enabled it starts the pub/sub
// subscriber. It returns errNoClient without cfg.Client, and an error for a
// nil poolConfig or an invalid cfg.
//
// A QueryCache serves reads only through a pgxperf.Pool, which makes it
// (internal/bridge.QueryCacheNew) when its Config.Cache.Client or
// Config.RedisURL is set, and then installs the cache on the pool it makes:
// the invalidator on the primary's connections and the catalog lookups on
// the primary. Get it from Pool.Cache.
func newForPool(cfg Config, poolConfig *pgxpool.Config) (*QueryCache, error) {
	if cfg.Client == nil {
		return nil, errNoClient
	}
	if poolConfig == nil || poolConfig.ConnConfig == nil {
		return nil, errors.New("querycache: New needs the pool's config")
	}
	return newQueryCache(cfg, sessionFromConfig(poolConfig), nil)
}

// newQueryCache returns a query cache for the statements of one pool.
// session describes the pool's connections; catalogPool is where the cache
// reads pg_class, pg_proc and pg_policy (the primary), nil until useCatalog
// sets it.
func newQueryCache(cfg Config, session sessionInfo, catalogPool *pgxpool.Pool) (*QueryCache, error) {
	if cfg.Client == nil {
		return nil, errNoClient
	}
	if cfg.JitterFraction >= 1 || cfg.EarlyRefresh >= 1 {
		return nil, errors.New("querycache: Config.JitterFraction and EarlyRefresh must be below 1")
	}
	if cfg.MaxResultBytes < 0 || cfg.DefaultTTL < 0 || cfg.Timeout < 0 || cfg.InvalidateTimeout < 0 || cfg.InvalidateRetry < 0 {
		return nil, errors.New("querycache: Config.MaxResultBytes, DefaultTTL, Timeout, InvalidateTimeout and InvalidateRetry must not be negative")
	}
	c := &QueryCache{
		client:       cfg.Client,
		prefix:       cfg.Prefix,
		defaultTTL:   cfg.DefaultTTL,
		maxBytes:     cfg.MaxResultBytes,
		encoder:      resultEncoder{compressAbove: cfg.CompressAbove},
		timeout:      cfg.Timeout,
		invalTimeout: cfg.InvalidateTimeout,
		invalRetry:   cfg.InvalidateRetry,
		jitter:       cfg.JitterFraction,
		early:        cfg.EarlyRefresh,
		onError:      cfg.OnError,
		logger:       cfg.Logger,
		tracer:       cfg.tracer,
		session:      session,
		breaker:      newBreaker(cfg),
		rules:        make(map[string]time.Duration, len(cfg.Rules)),
		refreshing:   make(map[string]struct{}),
		stop:         make(chan struct{}),
	}
	_, c.standalone = cfg.Client.(*redis.Client)
	c.ownDeadlines = honoursDeadlines(cfg.Client)
	if c.prefix == "" {
		c.prefix = defaultPrefix
	}
	c.channel = c.prefix + "inval"
	if c.defaultTTL == 0 {
		c.defaultTTL = defaultTTL
	}
	if c.maxBytes == 0 {
		c.maxBytes = 1 << 20
	}
	if c.timeout == 0 {
		c.timeout = 100 * time.Millisecond
	}
	if c.invalTimeout <= 0 {
		c.invalTimeout = max(time.Second, c.timeout)
	}
	if c.invalRetry == 0 {
		c.invalRetry = 50 * time.Millisecond
	}
	c.recoverHold = max(4*c.invalRetry, 200*time.Millisecond)
	if c.jitter == 0 {
		c.jitter = 0.1
	}
	if c.early == 0 {
		c.early = 0.1
	}
	if c.logger == nil {
		c.logger = slog.Default()
	}
	c.origin = randomID()
	for _, r := range cfg.Rules {
		if r.TTL < 0 {
			return nil, errors.New("querycache: Rule.TTL must not be negative")
		}
		switch {
		case r.Fingerprint != "":
			c.rules["fp:"+strings.ToLower(r.Fingerprint)] = r.TTL
		case r.Name != "":
			c.rules["name:"+r.Name] = r.TTL
		default:
			return nil, errors.New("querycache: a Rule needs a Fingerprint or a Name")
		}
	}
	c.tenant = append([]string(nil), cfg.TenantSettings...)
	for i, s := range c.tenant {
		c.tenant[i] = strings.ToLower(strings.TrimSpace(s))
	}
	c.sessionKey = sessionKey(session)
	c.runtimeParams = make(map[string]struct{}, len(session.RuntimeParams))
	for k := range session.RuntimeParams {
		c.runtimeParams[strings.ToLower(k)] = struct{}{}
	}
	c.catalog = newCatalog(catalogPool, cfg.ImmutableFunctions, c.reportErr)
	c.catalog.acquire = cfg.catalogAcquire
	c.plans.init()
	c.stats.init()
	c.inval = newInvalidator(c)
	if cfg.L1.Enabled {
		c.l1 = newL1(cfg.L1)
		c.bg.Add(1)
		go c.subscribe()
	}
	return c, nil
}

// Close stops the pub/sub subscriber and the retries of failed
// invalidations, and waits for them. It does not close the Redis client.
// After Close every call bypasses the cache; invalidations still pending
// are tried once more. pgxperf.Pool.Close calls it; later calls do nothing
// and return nil. Safe for concurrent use.
func (c *QueryCache) Close() error {
	c.closeOnce.Do(func() {
		c.closed.Store(true)
		close(c.stop)
		c.bg.Wait()
		c.inval.flushPending(context.Background())
	})
	return nil
}

// useCatalog sets the pool the cache reads the catalog from (pg_class,
// pg_proc, pg_policy): the primary. A cache made with a nil pool (because the
// pool is created after the cache, with the cache's invalidator installed)
// caches nothing until it has one. Connections are taken with
// Config.catalogAcquire when it is set.
func (c *QueryCache) useCatalog(pool *pgxpool.Pool) {
	c.catalog.pool.Store(pool)
	c.catalog.loadUserFuncs(true)
}

// wants reports, cheaply, whether a statement run with ctx is opted into
// the cache (it may still be refused as not cacheable). Callers use it to
// skip building a loader for calls the cache will not handle.
func (c *QueryCache) wants(ctx context.Context, info *sqlinfo.Info) bool {
	return c.ttlFor(optsFrom(ctx), info) > 0
}

// ---- per-call options on the context ----

type ctxKey struct{}

type callOpts struct {
	ttl      time.Duration // > 0: cache this call
	skip     bool          // never cache this call
	settings map[string]string
}

func optsFrom(ctx context.Context) *callOpts {
	o, _ := ctx.Value(ctxKey{}).(*callOpts)
	return o
}

func withOpts(ctx context.Context, f func(*callOpts)) context.Context {
	n := &callOpts{}
	if o := optsFrom(ctx); o != nil {
		*n = *o
	}
	f(n)
	return context.WithValue(ctx, ctxKey{}, n)
}

// WithTTL opts the statements run with ctx (and contexts derived from it)
// into the query cache for ttl. The cache still refuses statements it cannot
// prove safe to cache; those run as usual and count as bypasses.
func WithTTL(ctx context.Context, ttl time.Duration) context.Context {
	return withOpts(ctx, func(o *callOpts) { o.ttl, o.skip = ttl, false })
}

// Skip keeps the statements run with ctx out of the query cache, whatever
// the rules or comment hints say: they neither read nor fill it.
func Skip(ctx context.Context) context.Context {
	return withOpts(ctx, func(o *callOpts) { o.skip = true })
}

// WithSettings declares the session settings that the connection serving
// ctx's statements runs under, as name, value pairs, for settings applied
// outside the connection string (for example by a PrepareConn hook that sets
// app.tenant_id from the request). The values become part of the cache key:
// declare every setting the hook applies, and apply what you declare.
// An odd trailing name is ignored.
func WithSettings(ctx context.Context, nameValue ...string) context.Context {
	return withOpts(ctx, func(o *callOpts) {
		m := make(map[string]string, len(o.settings)+len(nameValue)/2)
		for k, v := range o.settings {
			m[k] = v
		}
		for i := 0; i+1 < len(nameValue); i += 2 {
			m[strings.ToLower(strings.TrimSpace(nameValue[i]))] = nameValue[i+1]
		}
		o.settings = m
	})
}

// ttlFor returns the TTL a statement is opted in with, or 0 when it is not
// opted in at all.
func (c *QueryCache) ttlFor(o *callOpts, info *sqlinfo.Info) time.Duration {
	if info.NoCacheHint || (o != nil && o.skip) {
		return 0
	}
	if o != nil && o.ttl > 0 {
		return o.ttl
	}
	if info.CacheHint {
		if info.CacheTTL > 0 {
			return info.CacheTTL
		}
		return c.defaultTTL
	}
	if len(c.rules) > 0 {
		if ttl, ok := c.rules["fp:"+info.FingerprintHex]; ok {
			return cmpOr(ttl, c.defaultTTL)
		}
		if info.SQLCName != "" {
			if ttl, ok := c.rules["name:"+info.SQLCName]; ok {
				return cmpOr(ttl, c.defaultTTL)
			}
		}
	}
	return 0
}

func cmpOr(a, b time.Duration) time.Duration {
	if a > 0 {
		return a
	}
	return b
}

// expiry returns the jittered TTL of an entry written now and its refresh-at
// time in Unix milliseconds (0: no early refresh).
func (c *QueryCache) expiry(ttl time.Duration) (time.Duration, int64) {
	return expiry.Jittered(ttl, c.jitter, c.early)
}

// claimRefresh makes the caller the one that refreshes key early, unless
// another caller of this process already does.
func (c *QueryCache) claimRefresh(key string) bool {
	c.refreshMu.Lock()
	defer c.refreshMu.Unlock()
	if _, busy := c.refreshing[key]; busy || len(c.refreshing) >= 1024 {
		return false
	}
	c.refreshing[key] = struct{}{}
	return true
}

func (c *QueryCache) releaseRefresh(key string) {
	c.refreshMu.Lock()
	delete(c.refreshing, key)
	c.refreshMu.Unlock()
}

func (c *QueryCache) reportErr(ctx context.Context, op string, err error) {
	if c.onError != nil {
		c.onError(ctx, op, err)
	}
}

// call runs fn against Redis under the breaker, for at most timeout (see
// callValue).
func (c *QueryCache) call(ctx context.Context, op string, timeout time.Duration, fn func(ctx context.Context) error) error {
	_, err := callValue(c, ctx, op, timeout, func(ctx context.Context) (struct{}, error) {
		return struct{}{}, fn(ctx)
	})
	return err
}

// callValue runs fn against Redis under the breaker and returns within
// timeout (see bounded). It returns errBypass without calling fn while the
// breaker is open. A timeout shorter than the operation's own (a store
// given what its read's lookup left) that runs out tells the breaker
// nothing: Redis may be slow, not unreachable.
func callValue[T any](c *QueryCache, ctx context.Context, op string, timeout time.Duration, fn func(ctx context.Context) (T, error)) (T, error) {
	probe, ok := c.breaker.Allow()
	if !ok {
		var zero T
		return zero, errBypass
	}
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), timeout)
	v, err := bounded(c, cctx, fn)
	timedOut := cctx.Err() != nil
	cancel()
	o := c.classify(ctx, op, err)
	full := c.timeout
	if op == "invalidate" {
		full = c.invalTimeout
	}
	if o == breaker.Fail && timedOut && timeout < full {
		o = breaker.Ignore
	}
	c.breaker.Done(probe, o)
	c.noteOutcome(o)
	return v, err
}

// bounded returns fn's result, or ctx's error once ctx is done, whichever
// comes first. With a client that honours deadlines itself fn runs on the
// caller's goroutine; otherwise (a go-redis client without
// ContextTimeoutEnabled blocks in socket reads for its ReadTimeout, seconds)
// on a goroutine of its own, which finishes in the background when the
// caller stops waiting. fn must not write anything the caller reads: it
// returns what it got.
func bounded[T any](c *QueryCache, ctx context.Context, fn func(ctx context.Context) (T, error)) (T, error) {
	if c.ownDeadlines {
		return fn(ctx)
	}
	type result struct {
		v   T
		err error
	}
	ch := make(chan result, 1)
	go func() {
		v, err := fn(ctx)
		ch <- result{v, err}
	}()
	select {
	case r := <-ch:
		return r.v, r.err
	case <-ctx.Done():
		var zero T
		return zero, ctx.Err()
	}
}

// honoursDeadlines reports whether client returns by its context's
// deadline on its own: a go-redis client with ContextTimeoutEnabled (its
// dials, pool waits and retry backoffs honour the context in any case).
func honoursDeadlines(client redis.UniversalClient) bool {
	switch cl := client.(type) {
	case *redis.Client:
		return cl.Options().ContextTimeoutEnabled
	case *redis.ClusterClient:
		return cl.Options().ContextTimeoutEnabled
	case *redis.Ring:
		return cl.Options().ContextTimeoutEnabled
	}
	return false
}

// noteOutcome starts the recovery hold at the first answer from Redis after
// it was unreachable.
func (c *QueryCache) noteOutcome(o breaker.Outcome) {
	switch o {
	case breaker.Fail:
		if !c.redisFailing.Load() {
			c.redisFailing.Store(true)
		}
	case breaker.OK:
		if c.redisFailing.Load() && c.redisFailing.CompareAndSwap(true, false) {
			c.holdUntil.Store(breaker.Now() + int64(c.recoverHold))
		}
	}
}

// holding reports whether the recovery hold is on: nothing is served or
// stored. Only an atomic load once it is over.
func (c *QueryCache) holding() bool {
	h := c.holdUntil.Load()
	if h == 0 {
		return false
	}
	if breaker.Now() < h {
		return true
	}
	c.holdUntil.CompareAndSwap(h, 0)
	return false
}

func (c *QueryCache) classify(ctx context.Context, op string, err error) breaker.Outcome {
	if err == nil || errors.Is(err, redis.Nil) {
		return breaker.OK
	}
	c.stats.redisErrors.Add(1)
	c.reportErr(ctx, op, err)
	return breaker.RedisOutcome(err)
}

// BreakerState reports the state of the circuit breaker around Redis, as
// Stats().Breaker does, without taking a snapshot. Safe for concurrent use.
func (c *QueryCache) BreakerState() BreakerState { return BreakerState(c.breaker.State()) }
