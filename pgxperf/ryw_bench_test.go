package pgxperf_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/pgxperf/pgxperf/internal/testenv"
	"github.com/pgxperf/pgxperf/pgxperf"
	"github.com/pgxperf/pgxperf/replica"
	"github.com/pgxperf/pgxperf/tracer"
)

// BenchmarkMixedOffload runs a mixed workload — parallel readers, and one
// write (an autocommit UPDATE) for every `writes` reads — and reports the
// fraction of reads the replica served (replica-reads/op, 0–1) in each
// read-your-writes mode: mode=pool (the default: every read sees every
// write completed before it) and mode=session (only a Session orders
// reads; these reads carry none). ns/op is per statement. Run with
// -benchtime=3s or more: offload depends on how fast the replica replays.
func BenchmarkMixedOffload(b *testing.B) {
	primaryDSN, replicaDSN := testenv.NewReplicatedDatabase(b)
	ctx := context.Background()
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	for _, sessionOnly := range []bool{false, true} {
		name := map[bool]string{false: "pool", true: "session"}[sessionOnly]
		for _, every := range []int{100, 10} {
			b.Run(fmt.Sprintf("mode=%s/writes=1in%d", name, every), func(b *testing.B) {
				cfg, err := pgxpool.ParseConfig(primaryDSN)
				if err != nil {
					b.Fatal(err)
				}
				cfg.MaxConns = 8
				p, err := pgxperf.NewFromConfig(ctx, &pgxperf.Config{Pool: cfg,
					ReplicaURLs: []string{replicaDSN},
					Logger:      quiet,
					Tracer:      tracer.Config{Logger: quiet, SlowThreshold: -1},
					Routing: replica.Config{SessionConsistency: sessionOnly, Logger: quiet,
						MaxLagBytes: 1 << 40, MaxLagTime: time.Hour},
				})
				if err != nil {
					b.Fatal(err)
				}
				defer p.Close()
				if _, err := p.Exec(ctx, "CREATE TABLE IF NOT EXISTS offload (id int PRIMARY KEY, n int); INSERT INTO offload VALUES (1, 0) ON CONFLICT DO NOTHING"); err != nil {
					b.Fatal(err)
				}
				for p.Router().Nodes()[1].State != replica.StateOnline {
					time.Sleep(time.Millisecond)
				}
				replicaRouted := func() int64 { return p.Router().Nodes()[1].Routed }
				before := replicaRouted()
				var reads, ops atomic.Int64
				b.ReportAllocs()
				b.ResetTimer()
				b.RunParallel(func(pb *testing.PB) {
					var n int
					for pb.Next() {
						if ops.Add(1)%int64(every) == 0 {
							if _, err := p.Exec(ctx, "UPDATE offload SET n = n + 1 WHERE id = 1"); err != nil {
								b.Error(err)
								return
							}
							continue
						}
						reads.Add(1)
						if err := p.QueryRow(ctx, "SELECT n FROM offload WHERE id = $1", 1).Scan(&n); err != nil {
							b.Error(err)
							return
						}
					}
				})
				b.StopTimer()
				if r := reads.Load(); r > 0 {
					b.ReportMetric(float64(replicaRouted()-before)/float64(r), "replica-reads/op")
				}
			})
		}
	}
}
