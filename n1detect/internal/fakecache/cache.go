// Package fakecache is a read-through result cache for n1detect's tests. It
// answers a read it has answered before from memory and reports the hit to
// its tracer (Tracer.ObserveCacheHit), as package querycache does, so that a
// read served from it reaches the scope like a statement. Being under
// pgxperf's import path, its frames are library frames: the call site of a
// read is the application's call of Text, whichever way it is served.
package fakecache

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/pgxperf/pgxperf/tracer"
)

// DB is what the cache reads from on a miss.
type DB interface {
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// Cache remembers the answers of one-row, one-column reads.
type Cache struct {
	db DB
	tr *tracer.Tracer

	mu      sync.Mutex
	answers map[string]string
}

// New returns a cache over db that reports its hits to tr.
func New(db DB, tr *tracer.Tracer) *Cache {
	return &Cache{db: db, tr: tr, answers: map[string]string{}}
}

// Text runs a read of one row and one column and returns the value as text:
// from memory when the same SQL with the same arguments was read before,
// from db otherwise.
func (c *Cache) Text(ctx context.Context, sql string, args ...any) (string, error) {
	start := time.Now()
	key := fmt.Sprintf("%s|%v", sql, args)
	c.mu.Lock()
	v, ok := c.answers[key]
	c.mu.Unlock()
	if ok {
		c.tr.ObserveCacheHit(ctx, tracer.CacheHit{SQL: sql, Args: args, Start: start, Duration: time.Since(start), Rows: 1})
		return v, nil
	}
	if err := c.db.QueryRow(ctx, sql, args...).Scan(&v); err != nil {
		return "", err
	}
	c.mu.Lock()
	c.answers[key] = v
	c.mu.Unlock()
	return v, nil
}
