package rediscache

import (
	"context"
	"errors"
	"time"

	"github.com/redis/go-redis/v9"
)

// mget reads fks with one MGET on a standalone client, or one pipeline of
// GETs on a Cluster or Ring (whose MGET would fail across slots). A nil
// element is a miss.
func (m *Cache) mget(ctx context.Context, c *prefixCounters, fks []string) ([][]byte, error) {
	out := make([][]byte, len(fks))
	err := m.call(ctx, c, "mget", func(ctx context.Context) error {
		if m.standalone {
			vals, err := m.client.MGet(ctx, fks...).Result()
			if err != nil {
				return err
			}
			for i, v := range vals {
				if s, ok := v.(string); ok {
					out[i] = []byte(s)
				}
			}
			return nil
		}
		cmds, err := m.client.Pipelined(ctx, func(p redis.Pipeliner) error {
			for _, fk := range fks {
				p.Get(ctx, fk)
			}
			return nil
		})
		if err != nil && !errors.Is(err, redis.Nil) {
			return err
		}
		for i, cmd := range cmds {
			b, err := cmd.(*redis.StringCmd).Bytes()
			switch {
			case err == nil:
				out[i] = b
			case !errors.Is(err, redis.Nil):
				return err
			}
		}
		return nil
	})
	if errors.Is(err, errBypass) {
		c.bypasses.Add(1)
	}
	return out, err
}

// GetMany returns the values cached under keys, calling loadMissing once for
// all the keys it did not find, caching what it returns for ttl (each entry
// jittered) in one pipeline, and returning the union. It reads Redis once:
// one MGET on a standalone client, one pipeline of GETs on a Cluster or Ring.
//
// A key loadMissing leaves out of its map is absent from the result and not
// cached; keys it returns that were not asked for are ignored. Duplicate keys
// are read once. A missing key that another GetOrLoad or GetMany in this
// process is already loading is not passed to loadMissing; GetMany waits for
// that load instead. Hits due for early refresh are refreshed in the
// background with one more loadMissing call.
//
// Redis errors never fail GetMany: every key is then a miss. loadMissing's
// error is returned unchanged, with a nil map. ttl must be positive.
func GetMany[T any](ctx context.Context, m *Cache, keys []string, ttl time.Duration, loadMissing func(ctx context.Context, missing []string) (map[string]T, error)) (map[string]T, error) {
	if ttl <= 0 {
		return nil, ErrInvalidTTL
	}
	out := make(map[string]T, len(keys))
	if len(keys) == 0 {
		return out, nil
	}
	uniq := make([]string, 0, len(keys))
	seen := make(map[string]struct{}, len(keys))
	for _, k := range keys {
		if _, dup := seen[k]; !dup {
			seen[k] = struct{}{}
			uniq = append(uniq, k)
		}
	}
	fks := make([]string, len(uniq))
	for i, k := range uniq {
		fks[i] = m.key(k)
	}
	c0 := m.stats.of(uniq[0])
	vals, err := m.mget(ctx, c0, fks) // on error every value is nil: all misses
	write := !redisFailed(err)        // as in getOrLoad

	var missing, stale []int // indexes into uniq
	now := time.Now().UnixMilli()
	for i, data := range vals {
		c := m.stats.of(uniq[i])
		if data == nil {
			missing = append(missing, i)
			continue
		}
		v, refreshAt, err := decodeEntry[T](m, uniq[i], data)
		if err != nil {
			c.codecErrors.Add(1)
			m.report(ctx, "decode", err)
			missing = append(missing, i)
			continue
		}
		c.hits.Add(1)
		out[uniq[i]] = v
		if refreshAt != 0 && now >= refreshAt {
			stale = append(stale, i)
		}
	}
	if len(stale) > 0 {
		refreshMany(ctx, m, uniq, fks, stale, ttl, loadMissing)
	}
	if len(missing) == 0 {
		return out, nil
	}

	// Lead the loads nobody else is running; follow the others.
	var (
		lead      []int
		flights   = make([]*flight, len(uniq))
		followers []int
	)
	for _, i := range missing {
		m.stats.of(uniq[i]).misses.Add(1)
		f, leader := m.flights.join(fks[i])
		flights[i] = f
		if leader {
			lead = append(lead, i)
		} else {
			followers = append(followers, i)
		}
	}
	if len(lead) > 0 {
		if err := loadBatch(ctx, m, uniq, fks, lead, flights, ttl, write, loadMissing, out); err != nil {
			return nil, err
		}
	}
	var retry []int
	for _, i := range followers {
		if err := flights[i].wait(ctx); err != nil {
			return nil, err
		}
		v, usable, err := flightValue[T](ctx, flights[i])
		switch {
		case !usable:
			if f := flights[i]; !f.ok || !errors.Is(f.err, errAbsent) {
				retry = append(retry, i) // absent stays absent; anything else we load
			}
		case err != nil:
			return nil, err
		default:
			out[uniq[i]] = v
		}
	}
	if len(retry) > 0 {
		if err := loadBatch(ctx, m, uniq, fks, retry, nil, ttl, write, loadMissing, out); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// loadBatch loads uniq[idx] with one loadMissing call, adds the values to out
// and, if write, caches them, and finishes the flights (if not nil) it leads.
func loadBatch[T any](ctx context.Context, m *Cache, uniq, fks []string, idx []int, flights []*flight,
	ttl time.Duration, write bool, loadMissing func(context.Context, []string) (map[string]T, error), out map[string]T,
) (err error) {
	finished := false
	// finish publishes the result to the followers; ok is false when
	// loadMissing panicked, so that they load for themselves.
	finish := func(ok bool, got map[string]T, err error) {
		if flights == nil {
			return
		}
		for _, i := range idx {
			f := flights[i]
			f.ok = ok
			if ok {
				if v, found := got[uniq[i]]; found {
					f.val = v
				} else if err != nil {
					f.err = err
				} else {
					f.err = errAbsent
				}
			}
			m.flights.finish(fks[i], f)
		}
	}
	defer func() {
		if !finished { // loadMissing panicked
			for _, i := range idx {
				m.stats.of(uniq[i]).loadErrors.Add(1)
			}
			finish(false, nil, nil)
		}
	}()
	want := make([]string, len(idx))
	for j, i := range idx {
		want[j] = uniq[i]
		m.stats.of(uniq[i]).loads.Add(1)
	}
	got, err := loadMissing(ctx, want)
	if err != nil {
		for _, i := range idx {
			m.stats.of(uniq[i]).loadErrors.Add(1)
		}
		finished = true
		finish(true, nil, err)
		return err
	}
	entries := make([]pendingSet, 0, len(idx))
	for _, i := range idx {
		if v, ok := got[uniq[i]]; ok {
			out[uniq[i]] = v
			entries = append(entries, pendingSet{key: uniq[i], fk: fks[i], val: v})
		}
	}
	if write {
		_ = m.setMany(ctx, entries, ttl) // counted and reported; the values are answered anyway
	}
	finished = true
	finish(true, got, nil)
	return nil
}

// refreshMany refreshes the stale hits uniq[idx] in the background with one
// loadMissing call for the keys it can claim.
func refreshMany[T any](ctx context.Context, m *Cache, uniq, fks []string, idx []int, ttl time.Duration,
	loadMissing func(context.Context, []string) (map[string]T, error),
) {
	var keys, claimed []string
	for _, i := range idx {
		if m.claimRefresh(fks[i]) {
			keys = append(keys, uniq[i])
			claimed = append(claimed, fks[i])
			m.stats.of(uniq[i]).refreshes.Add(1)
		}
	}
	if len(keys) == 0 {
		return
	}
	m.inBackground(ctx, m.stats.of(keys[0]), claimed, func(ctx context.Context) {
		for _, k := range keys {
			m.stats.of(k).loads.Add(1)
		}
		got, err := loadMissing(ctx, keys)
		if err != nil {
			for _, k := range keys {
				m.stats.of(k).loadErrors.Add(1)
			}
			m.report(ctx, "refresh", err)
			return
		}
		entries := make([]pendingSet, 0, len(keys))
		for _, k := range keys {
			if v, ok := got[k]; ok {
				entries = append(entries, pendingSet{key: k, fk: m.key(k), val: v})
			}
		}
		_ = m.setMany(ctx, entries, ttl)
	})
}
