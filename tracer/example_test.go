package tracer_test

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/jackc/pgx/v5/multitracer"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/tracelog"

	"github.com/pgxperf/pgxperf/tracer"
)

// Install the tracer on a plain pgxpool and read the statements that cost the most.
func Example() {
	ctx := context.Background()
	cfg, err := pgxpool.ParseConfig(os.Getenv("DATABASE_URL"))
	if err != nil {
		panic(err)
	}
	t := tracer.New(tracer.Config{SlowThreshold: 50 * time.Millisecond})
	cfg.ConnConfig.Tracer = t
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		panic(err)
	}
	defer pool.Close()

	// … the application runs …

	top := t.Snapshot().Statements // largest total time first
	for _, st := range top[:min(10, len(top))] {
		fmt.Printf("%6d calls %10v total %8v p95  %s\n", st.Calls, st.Total, st.P95, st.Query)
	}
}

// Combine the tracer with other pgx tracers (otelpgx, tracelog, …) through
// pgx's multitracer; each keeps its own context values. With otelpgx:
//
//	cfg.ConnConfig.Tracer = multitracer.New(tracer.New(tracer.Config{}), otelpgx.NewTracer())
//
// The bench module of this repository runs exactly that combination.
func Example_multitracer() {
	cfg, err := pgxpool.ParseConfig(os.Getenv("DATABASE_URL"))
	if err != nil {
		panic(err)
	}
	logTracer := &tracelog.TraceLog{
		Logger:   tracelog.LoggerFunc(func(ctx context.Context, level tracelog.LogLevel, msg string, data map[string]any) {}),
		LogLevel: tracelog.LogLevelInfo,
	}
	cfg.ConnConfig.Tracer = multitracer.New(tracer.New(tracer.Config{}), logTracer)
	fmt.Println(cfg.ConnConfig.Tracer != nil)
	// Output: true
}

// Keep argument values in slow-query records and samples, redacted by the application.
func ExampleConfig_redactArgs() {
	t := tracer.New(tracer.Config{
		Logger: slog.New(slog.NewJSONHandler(os.Stderr, nil)),
		RedactArgs: func(sql string, args []any) []any {
			out := make([]any, len(args))
			for i, a := range args {
				if _, isString := a.(string); isString {
					out[i] = "[redacted]"
				} else {
					out[i] = a
				}
			}
			return out
		},
	})
	fmt.Println(t != nil)
	// Output: true
}
