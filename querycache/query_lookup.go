package querycache

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/maypok86/otter/v2"
	"github.com/redis/go-redis/v9"

	"github.com/pgxperf/pgxperf/internal/pgxrows"
	"github.com/pgxperf/pgxperf/internal/rowcodec"
	"github.com/pgxperf/pgxperf/internal/sqlinfo"
	"github.com/pgxperf/pgxperf/tracer"
)

// query serves a read through the cache. served is false when the call is
// not opted in, or opted in but not cacheable now (the reason is counted as
// a bypass): the caller then runs the statement as usual. Otherwise rows
// and err are the call's result: a replay of a cached result, or the rows
// of load (run once per key at a time in this process) as they were stored.
// Errors of Redis never reach the caller; the database's do, unchanged.
func (c *QueryCache) query(ctx context.Context, info *sqlinfo.Info, args []any, load loader) (rows pgx.Rows, served bool, err error) {
	start := time.Now()
	s := c.get(ctx, info, args, load)
	c.observeHit(ctx, info, args, start, s)
	switch {
	case !s.ok:
		return nil, false, nil
	case s.err != nil:
		return pgxrows.Fail(s.err), true, s.err
	case s.rows != nil:
		return s.rows, true, nil
	}
	return c.replay(s.res, s.tail), true, nil
}

// queryRow is query for pgx's QueryRow: served is false when the caller must
// run the statement itself.
func (c *QueryCache) queryRow(ctx context.Context, info *sqlinfo.Info, args []any, load loader) (row pgx.Row, served bool) {
	start := time.Now()
	s := c.get(ctx, info, args, load)
	c.observeHit(ctx, info, args, start, s)
	switch {
	case !s.ok:
		return nil, false
	case s.err != nil:
		return pgxrows.Fail(s.err), true
	case s.rows != nil:
		return pgxrows.Row{Rows: s.rows}, true
	case s.tail != nil:
		return pgxrows.Row{Rows: c.replay(s.res, s.tail)}, true
	}
	pm := c.types.get()
	return s.res.ReplayRowPooled(pm.m, pm), true
}

// replay replays res with a pooled type map, then reads on from tail (the
// live rest of a result too large to store), if any.
func (c *QueryCache) replay(res *rowcodec.Result, tail pgx.Rows) pgx.Rows {
	pm := c.types.get()
	rr := res.ReplayPooled(pm.m, pm)
	if tail != nil {
		return rowcodec.Then(rr, tail)
	}
	return rr
}

// observeHit reports a read answered without a database round trip (a hit,
// or a follower handed its leader's result) to the tracer.
func (c *QueryCache) observeHit(ctx context.Context, info *sqlinfo.Info, args []any, start time.Time, s served) {
	if c.tracer == nil || !s.hit {
		return
	}
	c.tracer.ObserveCacheHit(ctx, tracer.CacheHit{SQL: info.Text, Args: args, Start: start,
		Duration: time.Since(start), Rows: int64(len(s.res.Rows))})
}

// served is the outcome of get.
type served struct {
	hit  bool             // res came from the cache (or another caller's load): no database round trip
	ok   bool             // the cache handled the call
	res  *rowcodec.Result // replay this…
	tail pgx.Rows         // …then read on from this (a result too large to store)
	rows pgx.Rows         // or pass these through
	err  error            // or fail with this
}

func (c *QueryCache) get(ctx context.Context, info *sqlinfo.Info, args []any, load loader) served {
	o := optsFrom(ctx)
	ttl := c.ttlFor(o, info)
	if ttl <= 0 {
		return served{}
	}
	if err := ctx.Err(); err != nil {
		// As pgx: a call with a done context fails with its error, unchanged.
		return served{ok: true, err: err}
	}
	st := c.stats.of(info)
	if c.closed.Load() {
		st.bypass("cache closed")
		return served{}
	}
	// Session state before the plan: the plan reads the catalog on a pooled
	// connection, which must not resolve names under a diverged search_path
	// or role (see invalidator.clearSessLocked). Custom settings do not
	// change name resolution: the plan's own refusal is reported first.
	sess := c.inval.sessEpoch.Load()
	if why := c.inval.sessionBypass(true); why != "" {
		st.bypass(why)
		return served{}
	}
	pl := c.plan(ctx, info)
	if pl.err != nil {
		// The catalog lookup could not take a connection within the pool's
		// acquire timeout, or the caller's context ended: the statement
		// itself would fail the same way, after waiting again.
		return served{ok: true, err: pl.err}
	}
	if !pl.ok {
		st.bypass(pl.reason)
		return served{}
	}
	if why := c.inval.sessionBypass(false); why != "" {
		st.bypass(why)
		return served{}
	}
	settings, why := c.settingsFor(o, pl)
	if why != "" {
		st.bypass(why)
		return served{}
	}
	if c.inval.dirty.Load() {
		// Retried off this goroutine (see invalidator.retry): a read never
		// waits for them.
		st.bypass("invalidations pending: redis unavailable")
		return served{}
	}
	if c.holding() {
		st.bypass("redis back after an outage: waiting for other instances' pending invalidations")
		return served{}
	}
	key, err := c.buildKey(info, &pl.digest, settings, args)
	if err != nil {
		st.bypass(err.Error())
		return served{}
	}
	if c.l1 != nil && c.l1Live.Load() {
		if e, ok := c.l1.c.GetIfPresent(key); ok && e.valid(c) {
			st.hits.Add(1)
			st.l1Hits.Add(1)
			return served{ok: true, hit: true, res: e.res}
		}
	}
	// The local epochs before Redis is read: an entry made from what
	// follows is valid in process memory only while they stay the same.
	snap, all := c.epochs.snapshot(pl.slots, make([]uint64, 0, len(pl.slots)))
	start := time.Now()
	gens, data, err := c.fetch(ctx, pl, key)
	// What is left of the read's time for Redis, for a store after a miss.
	left := c.timeout - time.Since(start)
	if err != nil {
		if errors.Is(err, errBypass) {
			st.bypass("redis unavailable (breaker open)")
		} else {
			st.errors.Add(1)
			st.bypass("redis error")
		}
		return served{}
	}
	if c.holding() || c.inval.dirty.Load() {
		// This very lookup may be the first answer after an outage (it
		// started the hold), or a write's invalidation failed meanwhile.
		st.bypass("redis back after an outage: waiting for other instances' pending invalidations")
		return served{}
	}
	if data != nil {
		e, derr := decodeQueryEntry(data)
		switch {
		case derr != nil:
			st.errors.Add(1)
			c.reportErr(ctx, "decode", derr)
		case !slices.Equal(e.gens, gens):
			st.stale.Add(1)
		case !c.types.known(e.res.FieldDescriptions):
			// A type this process has not learned yet: the miss teaches it.
		default:
			if e.refreshAt == 0 || time.Now().UnixMilli() < e.refreshAt || !c.claimRefresh(key) {
				st.hits.Add(1)
				c.l1Put(key, e.res, pl, snap, all, e.expiresAt)
				return served{ok: true, hit: true, res: e.res}
			}
			// This caller refreshes the entry before it expires; the
			// others keep being served it meanwhile.
			defer c.releaseRefresh(key)
		}
	}
	return c.fill(ctx, st, key, pl, gens, snap, all, sess, ttl, left, load)
}

// settingsFor returns the settings that go into the key: those declared on
// the context, and a value for every setting the plan needs.
func (c *QueryCache) settingsFor(o *callOpts, pl *plan) (map[string]string, string) {
	var declared map[string]string
	if o != nil {
		declared = o.settings
	}
	for _, s := range pl.settings {
		if _, ok := declared[s]; ok {
			continue
		}
		if _, ok := c.runtimeParams[s]; ok {
			continue // in the session key already
		}
		return nil, "setting " + s + " has no known value (declare it with querycache.WithSettings)"
	}
	return declared, ""
}

// fetch reads the plan's generations and the entry in one round trip.
// Missing generations are 0; a missing entry is nil data.
func (c *QueryCache) fetch(ctx context.Context, pl *plan, key string) ([]uint64, []byte, error) {
	type fetched struct {
		gens []uint64
		data []byte
	}
	f, err := callValue(c, ctx, "lookup", c.timeout, func(ctx context.Context) (fetched, error) {
		f := fetched{gens: make([]uint64, len(pl.genKeys))}
		if c.standalone {
			keys := make([]string, 0, len(pl.genKeys)+1)
			keys = append(append(keys, pl.genKeys...), key)
			vals, err := c.client.MGet(ctx, keys...).Result()
			if err != nil {
				return f, err
			}
			for i := range pl.genKeys {
				if f.gens[i], err = genValue(vals[i]); err != nil {
					return f, err
				}
			}
			if s, ok := vals[len(vals)-1].(string); ok {
				f.data = []byte(s)
			}
			return f, nil
		}
		// A cluster or ring: the keys live on different nodes.
		cmds := make([]*redis.StringCmd, len(pl.genKeys)+1)
		_, err := c.client.Pipelined(ctx, func(p redis.Pipeliner) error {
			for i, k := range pl.genKeys {
				cmds[i] = p.Get(ctx, k)
			}
			cmds[len(cmds)-1] = p.Get(ctx, key)
			return nil
		})
		if err != nil && !errors.Is(err, redis.Nil) {
			return f, err
		}
		for i := range pl.genKeys {
			v, err := cmds[i].Result()
			if errors.Is(err, redis.Nil) {
				continue
			}
			if err != nil {
				return f, err
			}
			if f.gens[i], err = genValue(v); err != nil {
				return f, err
			}
		}
		if b, err := cmds[len(cmds)-1].Bytes(); err == nil {
			f.data = b
		}
		return f, nil
	})
	if err != nil {
		return nil, nil, err
	}
	return f.gens, f.data, nil
}

func genValue(v any) (uint64, error) {
	if v == nil {
		return 0, nil
	}
	s, ok := v.(string)
	if !ok {
		return 0, fmt.Errorf("querycache: generation of type %T", v)
	}
	var n uint64
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, fmt.Errorf("querycache: generation %q is not a counter", s)
		}
		n = n*10 + uint64(s[i]-'0')
	}
	return n, nil
}

// fill loads a missing or stale entry: once per key at a time in this
// process, on the database, and stores it under the generations read before,
// within left (what the lookup left of the read's time for Redis).
func (c *QueryCache) fill(ctx context.Context, st *fpCounters, key string, pl *plan, gens, snap []uint64, all, sess uint64,
	ttl, left time.Duration, load loader) served {
	st.misses.Add(1)
	// Flights are per key and generations: a read that saw a write's new
	// generations must not be handed the rows of a load that began before
	// the write committed.
	fk := key
	for _, g := range gens {
		fk += ":" + strconv.FormatUint(g, 10)
	}
	f, leader := c.flights.join(fk)
	if !leader {
		if err := f.wait(ctx); err != nil {
			return served{ok: true, err: err}
		}
		if res, ok := f.val.(*rowcodec.Result); ok && f.ok && f.err == nil {
			st.coalesced.Add(1)
			return served{ok: true, hit: true, res: res}
		}
		// The leader failed or its result was not stored: query ourselves.
		rows, err := load(ctx)
		return served{ok: true, rows: rows, err: err}
	}
	finished, released := false, false
	release := func() {
		if !released {
			released = true
			f.ok = finished // false if load or Capture panicked: followers load for themselves
			c.flights.finish(fk, f)
		}
	}
	defer release()
	rows, err := load(ctx)
	if err != nil {
		f.err, finished = err, true
		return served{ok: true, rows: rows, err: err}
	}
	c.types.learn(rows.FieldDescriptions(), rows.TypeMap())
	res, err := rowcodec.Capture(rows, c.maxBytes)
	switch {
	case errors.Is(err, rowcodec.ErrTooLarge):
		st.tooLarge.Add(1)
		f.err, finished = err, true
		return served{ok: true, res: res, tail: rows}
	case err != nil:
		// The query failed while its rows were read: the caller gets the
		// rows read before the error, then the error where pgx puts it, in
		// Rows.Err (and QueryRow's Scan, after filling the first row).
		f.err, finished = err, true
		if res == nil {
			return served{ok: true, rows: pgxrows.Fail(err)}
		}
		return served{ok: true, res: res, tail: pgxrows.Fail(err)}
	}
	// The followers have the result before it is stored: they never wait
	// for Redis on the leader's account.
	f.val, finished = res, true
	release()
	c.store(ctx, st, key, res, pl, gens, snap, all, sess, ttl, left)
	return served{ok: true, res: res}
}

// store writes res to Redis (and process memory) unless a local write has
// invalidated its tables since the lookup began, invalidations are waiting
// for Redis, or a connection took session state the key does not hold (the
// load may have run on it). It waits for Redis at most left, and not at all
// when the lookup used more than half of the read's time: a Redis that slow
// gets no more work from readers.
func (c *QueryCache) store(ctx context.Context, st *fpCounters, key string, res *rowcodec.Result, pl *plan, gens, snap []uint64,
	all, sess uint64, ttl, left time.Duration) {
	if left < c.timeout/2 || !c.epochs.same(pl.slots, snap, all) || c.inval.dirty.Load() || c.holding() ||
		c.inval.sessCount.Load() != 0 || c.inval.sessEpoch.Load() != sess {
		return
	}
	body, err := c.encoder.encode(res)
	if err != nil {
		return
	}
	d, refreshAt := c.expiry(ttl)
	expiresAt := time.Now().Add(d).UnixMilli()
	val := encodeQueryEntry(gens, refreshAt, expiresAt, body)
	err = c.call(ctx, "store", left, func(ctx context.Context) error {
		return c.client.Set(ctx, key, val, d).Err()
	})
	switch {
	case err == nil:
		st.stores.Add(1)
		c.l1Put(key, res, pl, snap, all, expiresAt)
	case !errors.Is(err, errBypass):
		st.errors.Add(1)
	}
}

// ---- entries ----

// queryEntryVersion starts every stored entry.
const queryEntryVersion = 1

// An entry is: version byte, uvarint count of generations, each as a
// uvarint, varint refresh-at and expires-at in Unix milliseconds, then the
// encoded Result.
type queryEntry struct {
	gens      []uint64
	refreshAt int64
	expiresAt int64
	res       *rowcodec.Result
}

func encodeQueryEntry(gens []uint64, refreshAt, expiresAt int64, body []byte) []byte {
	b := make([]byte, 0, 1+binary.MaxVarintLen64*(len(gens)+3)+len(body))
	b = append(b, queryEntryVersion)
	b = binary.AppendUvarint(b, uint64(len(gens)))
	for _, g := range gens {
		b = binary.AppendUvarint(b, g)
	}
	b = binary.AppendVarint(b, refreshAt)
	b = binary.AppendVarint(b, expiresAt)
	return append(b, body...)
}

var errBadEntryHeader = fmt.Errorf("%w: bad query cache entry header", ErrCorrupt)

func decodeQueryEntry(data []byte) (*queryEntry, error) {
	if len(data) == 0 || data[0] != queryEntryVersion {
		return nil, errBadEntryHeader
	}
	off := 1
	n, k := binary.Uvarint(data[off:])
	if k <= 0 || n > 1024 {
		return nil, errBadEntryHeader
	}
	off += k
	e := &queryEntry{gens: make([]uint64, n)}
	for i := range e.gens {
		g, k := binary.Uvarint(data[off:])
		if k <= 0 {
			return nil, errBadEntryHeader
		}
		e.gens[i], off = g, off+k
	}
	var k2 int
	if e.refreshAt, k2 = binary.Varint(data[off:]); k2 <= 0 {
		return nil, errBadEntryHeader
	}
	off += k2
	if e.expiresAt, k2 = binary.Varint(data[off:]); k2 <= 0 {
		return nil, errBadEntryHeader
	}
	off += k2
	res, err := decodeResult(data[off:])
	if err != nil {
		return nil, err
	}
	e.res = res
	return e, nil
}

// ---- in-process cache ----

type l1Cache struct {
	c      *otter.Cache[string, *l1Entry]
	maxAge time.Duration
}

type l1Entry struct {
	res     *rowcodec.Result
	slots   []uint32
	snap    []uint64
	all     uint64
	expires int64 // Unix nanoseconds: the Redis entry's expiry, capped by MaxAge
}

func newL1(cfg L1Config) *l1Cache {
	maxBytes := cfg.MaxBytes
	if maxBytes <= 0 {
		maxBytes = 64 << 20
	}
	maxAge := cfg.MaxAge
	if maxAge <= 0 {
		maxAge = 10 * time.Second
	}
	return &l1Cache{
		maxAge: maxAge,
		c: otter.Must(&otter.Options[string, *l1Entry]{
			MaximumWeight: uint64(maxBytes),
			Weigher: func(k string, e *l1Entry) uint32 {
				return uint32(min(len(k)+e.res.Size()+64+12*len(e.slots), 1<<31))
			},
		}),
	}
}

func (e *l1Entry) valid(c *QueryCache) bool {
	return time.Now().UnixNano() < e.expires && c.epochs.same(e.slots, e.snap, e.all)
}

func (c *QueryCache) l1Put(key string, res *rowcodec.Result, pl *plan, snap []uint64, all uint64, expiresAtMs int64) {
	if c.l1 == nil || !c.l1Live.Load() || !c.epochs.same(pl.slots, snap, all) {
		return
	}
	exp := min(time.UnixMilli(expiresAtMs).UnixNano(), time.Now().Add(c.l1.maxAge).UnixNano())
	c.l1.c.Set(key, &l1Entry{res: res, slots: pl.slots, snap: snap, all: all, expires: exp})
}
