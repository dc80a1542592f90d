package rediscache

import (
	"context"
	"errors"
	"time"

	"github.com/redis/go-redis/v9"
)

// GetOrLoad returns the value cached under key, or calls load, caches its
// value for ttl (jittered) and returns it.
//
// Concurrent calls for one key in one process share one Redis read and, on a
// miss, one load: the first caller leads, the rest wait for its result or for
// their own ctx to end. A follower whose leader panicked, was cancelled, or
// had a different T loads for itself.
//
// Redis errors never fail GetOrLoad: a failed read is a miss, a failed write
// is dropped, both are counted and reported to Config.OnError, and while the
// breaker is open Redis is skipped entirely, so load answers every call. An
// entry that cannot be decoded is a miss. A hit in the last EarlyRefresh of
// the entry's TTL starts one background refresh through load and still
// returns the cached value.
//
// Followers get the leader's value itself, so a slice, map or pointer in it
// is shared between the callers: treat results as read-only.
//
// load's error is returned unchanged and nothing is cached. load receives
// the leader's ctx (for a background refresh, see Config.RefreshTimeout).
// ttl must be positive (ErrInvalidTTL otherwise); the package example
// shows an application naming its TTLs.
func GetOrLoad[T any](ctx context.Context, m *Cache, key string, ttl time.Duration, load func(ctx context.Context) (T, error)) (T, error) {
	if ttl <= 0 {
		var zero T
		return zero, ErrInvalidTTL
	}
	c := m.stats.of(key)
	fk := m.key(key)
	f, leader := m.flights.join(fk)
	if !leader {
		if err := f.wait(ctx); err != nil {
			var zero T
			return zero, err
		}
		if v, usable, err := flightValue[T](ctx, f); usable {
			if f.hit {
				c.hits.Add(1)
			} else {
				c.misses.Add(1)
			}
			return v, err
		}
		v, _, err := getOrLoad(ctx, m, c, key, fk, ttl, load)
		return v, err
	}
	finished := false
	defer func() {
		if !finished { // load panicked: let the followers load for themselves
			c.loadErrors.Add(1)
			m.flights.finish(fk, f)
		}
	}()
	v, hit, err := getOrLoad(ctx, m, c, key, fk, ttl, load)
	f.val, f.hit, f.err, f.ok = v, hit, err, true
	finished = true
	m.flights.finish(fk, f)
	return v, err
}

// getOrLoad is GetOrLoad without single-flight.
func getOrLoad[T any](ctx context.Context, m *Cache, c *prefixCounters, key, fk string, ttl time.Duration, load func(ctx context.Context) (T, error)) (T, bool, error) {
	data, err := m.get(ctx, c, fk)
	if err == nil {
		v, refreshAt, err := decodeEntry[T](m, key, data)
		if err == nil {
			c.hits.Add(1)
			if refreshAt != 0 && time.Now().UnixMilli() >= refreshAt && m.claimRefresh(fk) {
				c.refreshes.Add(1)
				m.inBackground(ctx, c, []string{fk}, func(ctx context.Context) {
					c.loads.Add(1)
					v, err := load(ctx)
					if err != nil {
						c.loadErrors.Add(1)
						m.report(ctx, "refresh", err)
						return
					}
					_ = m.set(ctx, c, key, fk, v, ttl)
				})
			}
			return v, true, nil
		}
		c.codecErrors.Add(1)
		m.report(ctx, "decode", err)
	}
	// After a failed read, don't also wait for a write to fail: a dying
	// Redis costs a call at most one Timeout.
	write := !redisFailed(err)
	c.misses.Add(1)
	c.loads.Add(1)
	v, err := load(ctx)
	if err != nil {
		c.loadErrors.Add(1)
		return v, false, err
	}
	if write {
		_ = m.set(ctx, c, key, fk, v, ttl)
	}
	return v, false, nil
}

// redisFailed reports whether err, from get or mget, is a Redis failure: not a
// success, a miss, or a bypass.
func redisFailed(err error) bool {
	return err != nil && !errors.Is(err, redis.Nil) && !errors.Is(err, errBypass)
}

// get reads fk. Its error is redis.Nil for a miss, errBypass when the breaker
// is open (counted here), or the Redis error (counted and reported by call).
func (m *Cache) get(ctx context.Context, c *prefixCounters, fk string) ([]byte, error) {
	var data []byte
	err := m.call(ctx, c, "get", func(ctx context.Context) error {
		var err error
		data, err = m.client.Get(ctx, fk).Bytes()
		return err
	})
	if errors.Is(err, errBypass) {
		c.bypasses.Add(1)
	}
	return data, err
}

// set writes v under fk for ttl, jittered. Errors are counted and reported,
// and returned for the callers that have no loader to fall back on.
func (m *Cache) set(ctx context.Context, c *prefixCounters, key, fk string, v any, ttl time.Duration) error {
	d, refreshAt := m.expiry(ttl)
	data, err := m.encodeEntry(key, v, refreshAt)
	if err != nil {
		c.codecErrors.Add(1)
		m.report(ctx, "encode", err)
		return err
	}
	err = m.call(ctx, c, "set", func(ctx context.Context) error {
		return m.client.Set(ctx, fk, data, d).Err()
	})
	if err != nil {
		return err
	}
	c.sets.Add(1)
	return nil
}

// Get returns the value cached under key. It returns ErrNotFound on a miss,
// an error wrapping ErrUnavailable when Redis fails or the breaker is open,
// and a *CodecError for an entry it cannot decode into a T. Safe for
// concurrent use.
func Get[T any](ctx context.Context, m *Cache, key string) (T, error) {
	var zero T
	c := m.stats.of(key)
	data, err := m.get(ctx, c, m.key(key))
	switch {
	case errors.Is(err, redis.Nil):
		c.misses.Add(1)
		return zero, ErrNotFound
	case errors.Is(err, errBypass):
		c.misses.Add(1)
		return zero, ErrUnavailable
	case err != nil:
		c.misses.Add(1)
		return zero, unavailableErr(c, err)
	}
	v, _, err := decodeEntry[T](m, key, data)
	if err != nil {
		c.misses.Add(1)
		c.codecErrors.Add(1)
		m.report(ctx, "decode", err)
		return zero, err
	}
	c.hits.Add(1)
	return v, nil
}

// Set caches v under key for ttl (jittered). It returns a *CodecError if v
// cannot be encoded, and an error wrapping ErrUnavailable when Redis fails
// or the breaker is open. Safe for concurrent use.
func Set[T any](ctx context.Context, m *Cache, key string, v T, ttl time.Duration) error {
	if ttl <= 0 {
		return ErrInvalidTTL
	}
	c := m.stats.of(key)
	err := m.set(ctx, c, key, m.key(key), v, ttl)
	var ce *CodecError
	if err == nil || errors.As(err, &ce) {
		return err
	}
	return unavailableErr(c, err)
}

// Warm caches every item for ttl, each with its own jitter, through pipelines
// of up to 1000 SETs. It returns the first *CodecError or Redis error (wrapping
// ErrUnavailable), after writing the batches it could. Safe for concurrent
// use.
func Warm[T any](ctx context.Context, m *Cache, items map[string]T, ttl time.Duration) error {
	if ttl <= 0 {
		return ErrInvalidTTL
	}
	batch := make([]pendingSet, 0, min(len(items), mgrBatch))
	var first error
	flush := func() {
		err := m.setMany(ctx, batch, ttl)
		var ce *CodecError
		if err != nil && !errors.As(err, &ce) {
			err = unavailableErr(m.stats.of(batch[0].key), err)
		}
		if first == nil {
			first = err
		}
		batch = batch[:0]
	}
	for k, v := range items {
		batch = append(batch, pendingSet{key: k, fk: m.key(k), val: v})
		if len(batch) == mgrBatch {
			flush()
		}
	}
	if len(batch) > 0 {
		flush()
	}
	return first
}

// pendingSet is one entry to write.
type pendingSet struct {
	key, fk string
	val     any
}

// setMany writes entries in one pipeline. It returns the first *CodecError,
// else the pipeline's error (errBypass if the breaker is open), unwrapped.
func (m *Cache) setMany(ctx context.Context, entries []pendingSet, ttl time.Duration) error {
	if len(entries) == 0 {
		return nil
	}
	type write struct {
		data []byte
		d    time.Duration
		i    int
	}
	writes := make([]write, 0, len(entries))
	var first error
	for i, e := range entries {
		d, refreshAt := m.expiry(ttl)
		data, err := m.encodeEntry(e.key, e.val, refreshAt)
		if err != nil {
			m.stats.of(e.key).codecErrors.Add(1)
			m.report(ctx, "encode", err)
			if first == nil {
				first = err
			}
			continue
		}
		writes = append(writes, write{data, d, i})
	}
	if len(writes) == 0 {
		return first
	}
	c := m.stats.of(entries[0].key)
	var cmds []redis.Cmder
	err := m.call(ctx, c, "set", func(ctx context.Context) error {
		var err error
		cmds, err = m.client.Pipelined(ctx, func(p redis.Pipeliner) error {
			for _, w := range writes {
				p.Set(ctx, entries[w.i].fk, w.data, w.d)
			}
			return nil
		})
		return err
	})
	for i, cmd := range cmds {
		if cmd.Err() == nil {
			m.stats.of(entries[writes[i].i].key).sets.Add(1)
		}
	}
	if err != nil && first == nil {
		first = err
	}
	return first
}
