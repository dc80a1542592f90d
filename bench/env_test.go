package bench_test

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

const defaultPrimaryDSN = "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"

// primaryDSN returns the primary's connection string (PGXPERF_TEST_PRIMARY or
// the project default). It is a separate module from the core, so it cannot
// share internal/testenv's helpers; the rules are the same: without a server
// the test is skipped, except under CI=true where that is a failure.
func primaryDSN() string {
	if dsn := os.Getenv("PGXPERF_TEST_PRIMARY"); dsn != "" {
		return dsn
	}
	return defaultPrimaryDSN
}

func unavailable(tb testing.TB, err error) {
	tb.Helper()
	if os.Getenv("CI") == "true" {
		tb.Fatalf("Postgres primary %s unavailable (CI=true): %v", primaryDSN(), err)
	}
	tb.Skipf("Postgres primary %s unavailable: %v", primaryDSN(), err)
}

// connectPrimary opens a plain *pgx.Conn (no tracer installed) to the primary.
func connectPrimary(tb testing.TB) *pgx.Conn {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, primaryDSN())
	if err == nil {
		err = conn.Ping(ctx)
	}
	if err != nil {
		unavailable(tb, err)
	}
	tb.Cleanup(func() { _ = conn.Close(context.Background()) })
	return conn
}

// cpuMeter reports the process's CPU time per operation as "cpu-ns/op" (see
// processCPU). Start it right before the loop, stop it right after.
type cpuMeter struct {
	start time.Duration
	ok    bool
}

func startCPU() cpuMeter {
	t, ok := processCPU()
	return cpuMeter{start: t, ok: ok}
}

func (m cpuMeter) report(b *testing.B) {
	end, ok := processCPU()
	if m.ok && ok && b.N > 0 {
		b.ReportMetric(float64(end-m.start)/float64(b.N), "cpu-ns/op")
	}
}
