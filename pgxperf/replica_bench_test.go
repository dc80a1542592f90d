package pgxperf_test

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
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
	perf, err := pgxperf.NewFromConfig(ctx, &pgxperf.Config{Pool: cfg,
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
			cpu := testenv.ProcessCPU()
			i := 0
			for b.Loop() {
				var n int
				if err := p.row(ctx, sql, i).Scan(&n); err != nil {
					b.Fatal(err)
				}
				i++
			}
			testenv.ReportCPU(b, cpu)
		})
	}
}

// BenchmarkReplicaQueryRowPaired is BenchmarkPoolQueryRowPaired for reads
// routed to the replica: each variant alternates, 32 queries at a time, with
// a plain pgxpool on the replica (raw) in one loop, and reports its mean time
// per query over raw's (x/raw, slowest 1 % dropped) and the ratio of medians
// (x/raw-p50). Variants: raw2 (a second plain pool: the method's null),
// tracer (a plain pool on the replica with pgxperf's tracer), nomon (pgxperf
// routing with monitoring off) and pgxperf (everything). Throughput relative
// to raw is 1 / x/raw.
func BenchmarkReplicaQueryRowPaired(b *testing.B) {
	primaryDSN := testenv.RequirePrimary(b)
	replicaDSN := testenv.RequireReplica(b)
	ctx := context.Background()
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	plain := func(tr pgx.QueryTracer) queryRower {
		cfg, err := pgxpool.ParseConfig(replicaDSN)
		if err != nil {
			b.Fatal(err)
		}
		cfg.ConnConfig.Tracer = tr
		p, err := pgxpool.NewWithConfig(ctx, cfg)
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(p.Close)
		return p.QueryRow
	}
	routed := func(opts pgxperf.Config) *pgxperf.Pool {
		cfg, err := pgxpool.ParseConfig(primaryDSN)
		if err != nil {
			b.Fatal(err)
		}
		opts.ReplicaURLs, opts.Logger = []string{replicaDSN}, quiet
		opts.Routing.MaxLagBytes, opts.Routing.MaxLagTime = 1<<40, time.Hour // routing, not lag, is measured
		opts.Pool = cfg
		p, err := pgxperf.NewFromConfig(ctx, &opts)
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(p.Close)
		return p
	}
	perf := routed(pgxperf.Config{Tracer: tracer.Config{Logger: quiet}})
	pools := map[string]queryRower{
		"raw":     plain(nil),
		"raw2":    plain(nil),
		"tracer":  plain(tracer.New(tracer.Config{Logger: quiet})),
		"nomon":   routed(pgxperf.Config{DisableMonitoring: true}).QueryRow,
		"pgxperf": perf.QueryRow,
	}
	const sql = "SELECT $1::int"
	for _, q := range pools {
		for i := range 200 {
			var n int
			if err := q(ctx, sql, i).Scan(&n); err != nil {
				b.Fatal(err)
			}
		}
	}
	if perf.Report().Nodes[1].Routed == 0 {
		b.Fatal("pgxperf did not route the read to the replica")
	}
	for _, name := range []string{"raw2", "tracer", "nomon", "pgxperf"} {
		pair := [2]queryRower{pools["raw"], pools[name]}
		b.Run("pool="+name, func(b *testing.B) { runPaired(b, ctx, pair, sql) })
	}
}
