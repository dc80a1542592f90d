package pgxperf_test

import (
	"context"
	"io"
	"log/slog"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/pgxperf/pgxperf/internal/testenv"
	"github.com/pgxperf/pgxperf/pgxperf"
	"github.com/pgxperf/pgxperf/tracer"
)

// BenchmarkReplicaQueryRow compares a read served by the replica through a
// plain pgxpool (pool=raw) with the same read routed there by pgxperf
// (pool=pgxperf: analysis, routing decision, tracing, statistics). Compare
// with benchstat -col /pool (scripts/bench.sh).
func BenchmarkReplicaQueryRow(b *testing.B) {
	primaryDSN := testenv.RequirePrimary(b)
	replicaDSN := testenv.RequireReplica(b)
	ctx := context.Background()
	raw, err := pgxpool.New(ctx, replicaDSN)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(raw.Close)
	cfg, err := pgxpool.ParseConfig(primaryDSN)
	if err != nil {
		b.Fatal(err)
	}
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	perf, err := pgxperf.NewWithOptions(ctx, cfg, pgxperf.Options{
		ReplicaURLs: []string{replicaDSN},
		Logger:      quiet,
		Tracer:      tracer.Config{Logger: quiet},
	})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(perf.Close)

	const sql = "SELECT $1::int"
	pools := []struct {
		name string
		row  func(context.Context, string, ...any) interface{ Scan(...any) error }
	}{
		{"pool=raw", func(ctx context.Context, s string, a ...any) interface{ Scan(...any) error } {
			return raw.QueryRow(ctx, s, a...)
		}},
		{"pool=pgxperf", func(ctx context.Context, s string, a ...any) interface{ Scan(...any) error } {
			return perf.QueryRow(ctx, s, a...)
		}},
	}
	for _, p := range pools {
		for i := range 200 {
			var n int
			if err := p.row(ctx, sql, i).Scan(&n); err != nil {
				b.Fatal(err)
			}
		}
	}
	if perf.Report().Nodes[1].Routed == 0 {
		b.Fatal("pgxperf did not route the read to the replica")
	}
	for _, p := range pools {
		b.Run(p.name, func(b *testing.B) {
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				var n int
				if err := p.row(ctx, sql, i).Scan(&n); err != nil {
					b.Fatal(err)
				}
				i++
			}
		})
	}
}
