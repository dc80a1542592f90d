package pgxperf_test

import (
	"context"
	"fmt"
	"net"
	"net/url"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/pgxperf/pgxperf/internal/testenv"
	"github.com/pgxperf/pgxperf/pgxperf"
	"github.com/pgxperf/pgxperf/replica"
)

// Regressions a review of the lease path found; each failed before its fix.

// QueryRow refuses *pgtype.DriverBytes as pgx does: the bytes would alias a
// connection buffer reused after the connection is released.
func TestQueryRowRefusesDriverBytes(t *testing.T) {
	for name, opts := range map[string]pgxperf.Config{
		"default":        {},
		"acquireTimeout": {AcquireTimeout: time.Second},
		"queryTimeout":   {QueryTimeout: time.Minute},
	} {
		t.Run(name, func(t *testing.T) {
			p := newPool(t, opts)
			var b pgtype.DriverBytes
			err := p.QueryRow(context.Background(), "SELECT 'abcdef'::bytea").Scan(&b)
			require.ErrorContains(t, err, "cannot scan into *pgtype.DriverBytes from QueryRow")
			require.Zero(t, p.Stat().AcquiredConns())
		})
	}
}

// With replicas and a QueryTimeout, a batch that begins a transaction keeps
// it (BatchResults.Tx) and the transaction gives its connection back.
func TestBatchBeginTxRoutedWithQueryTimeout(t *testing.T) {
	p := newReplicatedPool(t, pgxperf.Config{QueryTimeout: time.Minute})
	ctx := context.Background() // no deadline: QueryTimeout applies
	b := &pgx.Batch{}
	b.BeginTx(pgx.TxOptions{})
	b.Queue("SELECT 1")
	br := p.SendBatch(ctx, b)
	require.NoError(t, br.Close())
	tx := br.Tx()
	require.NotNil(t, tx)
	var rec bool
	require.NoError(t, tx.QueryRow(ctx, "SELECT pg_is_in_recovery()").Scan(&rec))
	require.False(t, rec, "a batch that begins a transaction runs on the primary")
	require.NoError(t, tx.Commit(ctx))
	require.Zero(t, p.Stat().AcquiredConns())
}

// A nested transaction whose parent ended refuses every statement, a text
// of several statements included (it must not run on a released connection).
func TestNestedTxAfterParentEnded(t *testing.T) {
	p := newPool(t, pgxperf.Config{})
	ctx := testCtx(t)
	for _, end := range []string{"commit", "rollback"} {
		tx, err := p.Begin(ctx)
		require.NoError(t, err)
		sp, err := tx.Begin(ctx)
		require.NoError(t, err)
		if end == "commit" {
			require.NoError(t, tx.Commit(ctx))
		} else {
			require.NoError(t, tx.Rollback(ctx))
		}
		for _, sql := range []string{"SELECT 1", "SELECT 1; SELECT 2"} {
			_, err = sp.Exec(ctx, sql)
			require.ErrorIs(t, err, pgx.ErrTxClosed, "%s after %s", sql, end)
		}
	}
}

// freezeProxy forwards TCP connections to target until frozen: then it
// holds every byte, as a hung server or a network partition would.
type freezeProxy struct {
	ln     net.Listener
	frozen atomic.Bool
}

func newFreezeProxy(t *testing.T, target string) *freezeProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	fp := &freezeProxy{ln: ln}
	t.Cleanup(func() { _ = ln.Close() })
	pipe := func(dst, src net.Conn) {
		buf := make([]byte, 32<<10)
		for {
			n, err := src.Read(buf)
			for fp.frozen.Load() {
				time.Sleep(10 * time.Millisecond)
			}
			if n > 0 {
				_, _ = dst.Write(buf[:n])
			}
			if err != nil {
				_ = dst.Close()
				return
			}
		}
	}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s, err := net.Dial("tcp", target)
			if err != nil {
				_ = c.Close()
				continue
			}
			go pipe(s, c)
			go pipe(c, s)
		}
	}()
	return fp
}

// A replica that stops answering (a network partition) does not hold Close
// past its timeout: waiting for the server to end its sessions is bounded.
func TestCloseWithHungReplica(t *testing.T) {
	primary, rep := testenv.NewReplicatedDatabase(t)
	rcfg, err := pgx.ParseConfig(rep)
	require.NoError(t, err)
	fp := newFreezeProxy(t, fmt.Sprintf("%s:%d", rcfg.Host, rcfg.Port))
	u, err := url.Parse(rep)
	require.NoError(t, err)
	u.Host = fp.ln.Addr().String()
	cfg, err := pgxpool.ParseConfig(primary)
	require.NoError(t, err)
	const timeout = 300 * time.Millisecond
	opts := pgxperf.Config{CloseTimeout: timeout, ReplicaURLs: []string{u.String()}, Tracer: noSlowLog}
	opts.Routing.CheckInterval = 50 * time.Millisecond
	opts.Routing.MaxLagBytes, opts.Routing.MaxLagTime = 1<<40, time.Hour
	opts.Pool = cfg
	p, err := pgxperf.NewFromConfig(context.Background(), &opts)
	require.NoError(t, err)
	require.Eventually(t, func() bool { return p.Router().Nodes()[1].State == replica.StateOnline },
		30*time.Second, 10*time.Millisecond)
	var n int
	for range 5 {
		require.NoError(t, p.QueryRow(context.Background(), "SELECT 1").Scan(&n))
	}
	fp.frozen.Store(true)
	start := time.Now()
	p.Close()
	took := time.Since(start)
	require.Less(t, took, timeout+250*time.Millisecond, "Close took %v with a %v timeout", took, timeout)
}

// The router vets a view over a view without holding one primary connection
// per level: with a pool of one connection, the first read does not stall
// and the view's reads reach the replica.
func TestNestedViewsWithOneConnection(t *testing.T) {
	primary, rep := testenv.NewReplicatedDatabase(t)
	cfg, err := pgxpool.ParseConfig(primary)
	require.NoError(t, err)
	cfg.MaxConns = 1
	opts := pgxperf.Config{ReplicaURLs: []string{rep}, Tracer: noSlowLog}
	opts.Routing.CheckInterval = 100 * time.Millisecond
	opts.Routing.MaxLagBytes, opts.Routing.MaxLagTime = 1<<40, time.Hour
	opts.Pool = cfg
	p, err := pgxperf.NewFromConfig(context.Background(), &opts)
	require.NoError(t, err)
	t.Cleanup(p.Close)
	require.Eventually(t, func() bool { return p.Router().Nodes()[1].State == replica.StateOnline },
		30*time.Second, 10*time.Millisecond)
	ctx := testCtx(t)
	_, err = p.Exec(ctx, "CREATE TABLE zt(x int); CREATE VIEW zv1 AS SELECT x FROM zt; CREATE VIEW zv2 AS SELECT x FROM zv1")
	require.NoError(t, err)
	waitReplicaServes(t, ctx, p)
	sql := "SELECT pg_is_in_recovery() FROM zv2 UNION ALL SELECT pg_is_in_recovery() LIMIT 1"
	start := time.Now()
	var rec bool
	require.NoError(t, p.QueryRow(ctx, sql).Scan(&rec))
	require.Less(t, time.Since(start), 1500*time.Millisecond, "the first read waited for the router's lookups")
	require.Eventually(t, func() bool {
		require.NoError(t, p.QueryRow(ctx, sql).Scan(&rec))
		return rec
	}, 10*time.Second, 10*time.Millisecond, "reads of the view reach the replica")
}
