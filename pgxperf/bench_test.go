package pgxperf_test

import (
	"context"
	"io"
	"log/slog"
	"slices"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/pgxperf/pgxperf/internal/testenv"
	"github.com/pgxperf/pgxperf/pgxperf"
	"github.com/pgxperf/pgxperf/tracer"
)

const benchSQL = "SELECT $1::int"

type queryRower func(context.Context, string, ...any) pgx.Row

// benchPools opens, side by side, the pools the benchmarks compare and warms
// them up (connections open, statement prepared on them, statement analyzed):
//
//   - raw: a plain pgxpool.New;
//   - tracer: a plain pgxpool with tracer.New installed, which isolates the
//     tracer's cost from the facade's;
//   - pgxperf: pgxperf's defaults (as pgxperf.New: statistics, acquire and
//     prepare timing, slow-query log at the default 100 ms threshold), except
//     that slow-query records, which a busy machine can produce, are formatted
//     into io.Discard instead of interleaving with the benchmark's output;
//
// and, when extra is set:
//
//   - raw2: a second plain pgxpool, to check that a comparison is unbiased;
//   - nomon: pgxperf with DisableMonitoring, which keeps only the facade's own
//     bookkeeping (the connections in use, for Close).
func benchPools(b *testing.B, extra bool) (pools map[string]queryRower, perf *pgxperf.Pool) {
	b.Helper()
	dsn := testenv.RequirePrimary(b)
	ctx := context.Background()
	pools = make(map[string]queryRower)
	config := func() *pgxpool.Config {
		cfg, err := pgxpool.ParseConfig(dsn)
		if err != nil {
			b.Fatal(err)
		}
		return cfg
	}
	plain := func(cfg *pgxpool.Config) queryRower {
		p, err := pgxpool.NewWithConfig(ctx, cfg)
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(p.Close)
		return p.QueryRow
	}
	withPgxperf := func(opts pgxperf.Config) *pgxperf.Pool {
		opts.Pool = config()
		p, err := pgxperf.NewFromConfig(ctx, &opts)
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(p.Close)
		return p
	}

	pools["raw"] = plain(config())
	tcfg := config()
	tcfg.ConnConfig.Tracer = tracer.New(tracer.Config{Logger: discardLogger()})
	pools["tracer"] = plain(tcfg)
	perf = withPgxperf(pgxperf.Config{Logger: discardLogger()})
	if perf.Tracer() == nil {
		b.Fatal("pgxperf: monitoring is off")
	}
	pools["pgxperf"] = perf.QueryRow
	if extra {
		pools["raw2"] = plain(config())
		pools["nomon"] = withPgxperf(pgxperf.Config{DisableMonitoring: true}).QueryRow
	}

	for _, queryRow := range pools {
		for i := range 200 {
			var n int
			if err := queryRow(ctx, benchSQL, i).Scan(&n); err != nil {
				b.Fatal(err)
			}
		}
	}
	return pools, perf
}

func checkRecorded(b *testing.B, perf *pgxperf.Pool) {
	b.Helper()
	var calls int64
	for _, st := range perf.Tracer().Snapshot().Statements {
		calls += st.Calls
	}
	if calls == 0 {
		b.Fatal("pgxperf recorded no statement")
	}
}

// BenchmarkPoolQueryRow measures one QueryRow(…).Scan round trip of
// SELECT $1::int on the primary over loopback through the pools raw, tracer
// and pgxperf of benchPools. Compare them with benchstat -col /pool, as
// scripts/bench.sh does, never across runs.
func BenchmarkPoolQueryRow(b *testing.B) {
	pools, perf := benchPools(b, false)
	ctx := context.Background()
	for _, name := range []string{"raw", "tracer", "pgxperf"} {
		queryRow := pools[name]
		b.Run("pool="+name, func(b *testing.B) {
			b.ReportAllocs()
			var n, i int
			cpu := testenv.ProcessCPU()
			for b.Loop() {
				if err := queryRow(ctx, benchSQL, i).Scan(&n); err != nil {
					b.Fatal(err)
				}
				i++
			}
			testenv.ReportCPU(b, cpu)
			if n != i-1 {
				b.Fatalf("last row = %d, want %d", n, i-1)
			}
		})
	}
	checkRecorded(b, perf)
}

// BenchmarkPoolQueryRowPaired is BenchmarkPoolQueryRow's comparison with the
// plain pool made robust to a busy machine: each sub-benchmark alternates
// between the plain pool (raw) and one other pool every pairBlock queries (a
// few milliseconds), timing each query, so that both see the same load. It
// reports, per pool, the mean time per query without its slowest 1% (a query
// that waited while the machine ran something else says nothing about either
// pool), and their ratio as "x/raw": 1.03 means the other pool takes 3% longer,
// a throughput of 0.97×. "x/raw-p50" is the ratio of the median times. ns/op is
// the plain mean over both pools.
//
//   - pool=raw2: a second plain pool; its ratio must be 1 within the noise,
//     or the method is biased;
//   - pool=tracer: the tracer alone;
//   - pool=nomon: pgxperf with monitoring disabled: the facade's bookkeeping;
//   - pool=pgxperf: pgxperf with its defaults: the figure the target is about.
func BenchmarkPoolQueryRowPaired(b *testing.B) {
	pools, perf := benchPools(b, true)
	ctx := context.Background()
	for _, name := range []string{"raw2", "tracer", "nomon", "pgxperf"} {
		pair := [2]queryRower{pools["raw"], pools[name]}
		b.Run("pool="+name, func(b *testing.B) { runPaired(b, ctx, pair, benchSQL) })
	}
	checkRecorded(b, perf)
}

// runPaired runs sql on pair[0] (the baseline) and pair[1] in turn, 32
// queries at a time, timing each, and reports pair[1]'s mean time per query
// over pair[0]'s (x/raw, slowest 1 % of each dropped), the ratio of their
// medians (x/raw-p50) and both means.
func runPaired(b *testing.B, ctx context.Context, pair [2]queryRower, sql string) {
	const pairBlock = 32
	var times [2][]time.Duration
	var n, i int
	b.ReportAllocs()
	for b.Loop() {
		k := (i / pairBlock) % 2
		s := time.Now()
		if err := pair[k](ctx, sql, i).Scan(&n); err != nil {
			b.Fatal(err)
		}
		times[k] = append(times[k], time.Since(s))
		i++
	}
	raw, other := trimmedMean(times[0]), trimmedMean(times[1])
	if raw > 0 && other > 0 {
		b.ReportMetric(other/raw, "x/raw")
		b.ReportMetric(float64(median(times[1]))/float64(median(times[0])), "x/raw-p50")
		b.ReportMetric(raw, "raw-ns/query")
		b.ReportMetric(other, "x-ns/query")
	}
}

// median returns the median of ds, sorting ds.
func median(ds []time.Duration) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	slices.Sort(ds)
	return ds[len(ds)/2]
}

// trimmedMean returns the mean of ds without its slowest 1%, in nanoseconds,
// sorting ds.
func trimmedMean(ds []time.Duration) float64 {
	if len(ds) == 0 {
		return 0
	}
	slices.Sort(ds)
	ds = ds[:len(ds)-len(ds)/100]
	var sum time.Duration
	for _, d := range ds {
		sum += d
	}
	return float64(sum) / float64(len(ds))
}

// discardLogger formats records like a real text logger and drops them.
func discardLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }
