package pgxperf_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"os"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/pgxperf/pgxperf/pgxperf"
	"github.com/pgxperf/pgxperf/querycache"
	"github.com/pgxperf/pgxperf/tracer"
)

// Swap pgxpool.New for pgxperf.New; everything else stays as it was.
func ExampleNew() {
	ctx := context.Background()
	pool, err := pgxperf.New(ctx, os.Getenv("DATABASE_URL"))
	if err != nil {
		log.Fatal(err)
	}
	defer pool.Close()

	var greeting string
	if err := pool.QueryRow(ctx, "SELECT 'hello, ' || $1::text", "world").Scan(&greeting); err != nil {
		log.Fatal(err)
	}
	// What did that cost? The ten statements with the most total time:
	_ = pool.Report().WriteText(os.Stdout, 10)
}

// Keep an existing pgxpool config, hooks and tracer included, and add pgxperf's options.
func ExampleNewFromConfig() {
	ctx := context.Background()
	cfg, err := pgxpool.ParseConfig(os.Getenv("DATABASE_URL"))
	if err != nil {
		log.Fatal(err)
	}
	cfg.MaxConns = 20
	pool, err := pgxperf.NewFromConfig(ctx, &pgxperf.Config{Pool: cfg,
		QueryTimeout:   5 * time.Second,
		AcquireTimeout: 500 * time.Millisecond,
		Tracer:         tracer.Config{SlowThreshold: 250 * time.Millisecond},
	})
	if err != nil {
		log.Fatal(err)
	}
	defer pool.Close()
}

// Cache a dashboard aggregate in Redis for a minute. Writes through the pool
// invalidate it after they commit; the report shows hits, misses and why a
// statement was not cached.
func ExampleConfig_cache() {
	ctx := context.Background()
	cfg, err := pgxpool.ParseConfig(os.Getenv("DATABASE_URL"))
	if err != nil {
		log.Fatal(err)
	}
	pool, err := pgxperf.NewFromConfig(ctx, &pgxperf.Config{Pool: cfg,
		RedisURL: os.Getenv("REDIS_URL"),
		Cache: querycache.Config{
			L1:    querycache.L1Config{Enabled: true},                          // hits in process memory too
			Rules: []querycache.Rule{{Name: "ProjectMetrics", TTL: time.Hour}}, // an sqlc query
		},
	})
	if err != nil {
		log.Fatal(err)
	}
	defer pool.Close()

	var n int64
	err = pool.QueryRow(querycache.WithTTL(ctx, time.Minute),
		"SELECT count(*) FROM content WHERE project_id = $1 AND status = 'published'", 42).Scan(&n)
	if err != nil {
		log.Fatal(err)
	}
	_, _ = pool.Exec(ctx, "UPDATE content SET status = 'archived' WHERE id = $1", 7) // invalidates content
	_ = pool.Report().WriteText(os.Stdout, 10)
}

// ConfigFromEnv reads the brief's environment variables and names the one that is wrong.
func ExampleConfigFromEnv() {
	os.Setenv("DATABASE_URL", "postgres://app@db.internal:5432/app")
	os.Setenv("DATABASE_QUERY_TIMEOUT", "30s") // milliseconds expected
	defer os.Unsetenv("DATABASE_URL")
	defer os.Unsetenv("DATABASE_QUERY_TIMEOUT")

	_, err := pgxperf.ConfigFromEnv()
	var envErr *pgxperf.EnvError
	if errors.As(err, &envErr) {
		fmt.Println("bad variable:", envErr.Var)
	}

	os.Setenv("DATABASE_QUERY_TIMEOUT", "30000")
	cfg, err := pgxperf.ConfigFromEnv()
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(cfg.Pool.ConnConfig.Host, cfg.QueryTimeout)
	// Output:
	// bad variable: DATABASE_QUERY_TIMEOUT
	// db.internal 30s
}
