package bench_test

import (
	"context"
	"fmt"
	"os"

	"github.com/exaring/otelpgx"
	"github.com/jackc/pgx/v5/multitracer"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/pgxperf/pgxperf/tracer"
)

// Run pgxperf's statistics and OpenTelemetry tracing side by side on one
// pgxpool: pgx's multitracer calls both, and each keeps its own context values.
// otelpgx uses the global OpenTelemetry providers unless given others.
func Example_multitracer() {
	ctx := context.Background()
	cfg, err := pgxpool.ParseConfig(os.Getenv("DATABASE_URL"))
	if err != nil {
		panic(err)
	}
	stats := tracer.New(tracer.Config{})
	cfg.ConnConfig.Tracer = multitracer.New(stats, otelpgx.NewTracer())

	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		panic(err)
	}
	defer pool.Close()

	// … the application runs; spans go to the OpenTelemetry exporter …

	top := stats.Snapshot().Statements // largest total time first
	for _, st := range top[:min(5, len(top))] {
		fmt.Printf("%6d calls %10v total  %s\n", st.Calls, st.Total, st.Query)
	}
}
