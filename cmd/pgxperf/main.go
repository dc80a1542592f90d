// Command pgxperf runs pgxperf's demo: it loads the publishing-platform schema
// into a scratch database, runs a workload through pgxperf.Pool and prints what
// pgxperf saw. It exists so a newcomer can see the library work in one command
// (`make demo`); later capabilities add sections to it.
//
// Usage:
//
//	pgxperf demo [-database-url URL] [-replica-url URL] [-redis-url URL] [-keep]
//
// The default URLs are the local Postgres (postgres://postgres@127.0.0.1:5432/postgres),
// its streaming replica at 127.0.0.1:5433 and Redis at 127.0.0.1:6379
// (scripts/testenv.sh starts all three); DATABASE_URL,
// DATABASE_READ_REPLICA_URL and REDIS_URL override them.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
)

func main() {
	if len(os.Args) < 2 || os.Args[1] != "demo" {
		fmt.Fprintln(os.Stderr, "usage: pgxperf demo [-database-url URL] [-replica-url URL] [-redis-url URL] [-keep]")
		os.Exit(2)
	}
	fs := flag.NewFlagSet("demo", flag.ExitOnError)
	url := fs.String("database-url", envOr("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"),
		"an admin connection to the Postgres server the demo may create a scratch database on")
	replicaURL := fs.String("replica-url", envOr("DATABASE_READ_REPLICA_URL", "postgres://postgres@127.0.0.1:5433/postgres?sslmode=disable"),
		"a streaming replica of that server (reads are routed there when it answers; empty: none)")
	redisURL := fs.String("redis-url", envOr("REDIS_URL", "redis://127.0.0.1:6379/0"),
		"the Redis server of the query cache (when it answers; empty: no cache)")
	keep := fs.Bool("keep", false, "keep the scratch database afterwards")
	_ = fs.Parse(os.Args[2:])

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	err := runDemo(ctx, os.Stdout, *url, *replicaURL, *redisURL, *keep)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "pgxperf demo:", err)
		os.Exit(1)
	}
}

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}
