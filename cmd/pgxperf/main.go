// Command pgxperf runs pgxperf's demo: it loads the publishing-platform schema
// into a scratch database, runs a workload through pgxperf.Pool and prints what
// pgxperf saw. It exists so a newcomer can see the library work in one command
// (`make demo`); later capabilities add sections to it.
//
// Usage:
//
//	pgxperf demo [-database-url URL] [-keep]
//
// The default URL is the local Postgres (postgres://postgres@127.0.0.1:5432/postgres);
// DATABASE_URL overrides it.
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
		fmt.Fprintln(os.Stderr, "usage: pgxperf demo [-database-url URL] [-keep]")
		os.Exit(2)
	}
	fs := flag.NewFlagSet("demo", flag.ExitOnError)
	url := fs.String("database-url", envOr("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"),
		"an admin connection to the Postgres server the demo may create a scratch database on")
	keep := fs.Bool("keep", false, "keep the scratch database afterwards")
	_ = fs.Parse(os.Args[2:])

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := runDemo(ctx, os.Stdout, *url, *keep); err != nil {
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
