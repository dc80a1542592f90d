package pgxperf_test

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/pgxperf/pgxperf/internal/testenv"
	"github.com/pgxperf/pgxperf/pgxperf"
	"github.com/pgxperf/pgxperf/replica"
)

// Read-your-writes with no Session anywhere: writers on some goroutines
// (autocommit INSERT, UPDATE, DELETE, a committed transaction, DDL that
// creates a table, COPY) hand what they wrote to readers on other
// goroutines, which must see it; the replica streams with its real lag.
// Under -short it runs for 1 s, else 10 s.
func TestReadYourWritesAcrossGoroutinesWithoutSession(t *testing.T) {
	p := newReplicatedPool(t, pgxperf.Config{})
	ctx := testCtx(t)
	_, err := p.Exec(ctx, "CREATE TABLE kv (k text PRIMARY KEY, v int NOT NULL)")
	require.NoError(t, err)

	d := 10 * time.Second
	if testing.Short() {
		d = time.Second
	}
	type check struct {
		sql  string
		args []any
		want int // the count the read must return
	}
	checks := make(chan check, 64)
	var writes, reads, stale, onReplica atomic.Int64
	deadline := time.Now().Add(d)
	var writers, readers sync.WaitGroup
	for w := range 3 {
		writers.Add(1)
		go func() {
			defer writers.Done()
			for i := 0; time.Now().Before(deadline); i++ {
				k := fmt.Sprintf("w%d-%d", w, i)
				var c check
				var err error
				switch i % 6 {
				case 0, 1:
					_, err = p.Exec(ctx, "INSERT INTO kv VALUES ($1, 1)", k)
					c = check{"SELECT count(*) FROM kv WHERE k = $1", []any{k}, 1}
				case 2:
					_, err = p.Exec(ctx, "INSERT INTO kv VALUES ($1, 1)", k)
					if err == nil {
						_, err = p.Exec(ctx, "UPDATE kv SET v = 2 WHERE k = $1", k)
					}
					c = check{"SELECT count(*) FROM kv WHERE k = $1 AND v = 2", []any{k}, 1}
				case 3:
					_, err = p.Exec(ctx, "INSERT INTO kv VALUES ($1, 1)", k)
					if err == nil {
						_, err = p.Exec(ctx, "DELETE FROM kv WHERE k = $1", k)
					}
					c = check{"SELECT 1 - count(*) FROM kv WHERE k = $1", []any{k}, 1}
				case 4:
					tx, terr := p.Begin(ctx)
					if err = terr; err == nil {
						if _, err = tx.Exec(ctx, "INSERT INTO kv VALUES ($1, 1)", k); err == nil {
							err = tx.Commit(ctx)
						}
					}
					c = check{"SELECT count(*) FROM kv WHERE k = $1", []any{k}, 1}
				case 5:
					tbl := fmt.Sprintf("mig_%d_%d", w, i)
					_, err = p.Exec(ctx, "CREATE TABLE "+tbl+" (id int); INSERT INTO "+tbl+" VALUES (1)")
					c = check{"SELECT count(*) FROM " + tbl, nil, 1}
				}
				if err != nil {
					t.Errorf("write: %v", err)
					return
				}
				writes.Add(1)
				checks <- c
			}
		}()
	}
	for range 4 {
		readers.Add(1)
		go func() {
			defer readers.Done()
			for c := range checks {
				var n int
				var rec bool
				err := p.QueryRow(ctx, "SELECT ("+c.sql+"), pg_is_in_recovery()", c.args...).Scan(&n, &rec)
				reads.Add(1)
				if err != nil { // "relation does not exist" on a replica behind a migration
					if stale.Add(1) <= 5 {
						t.Errorf("read failed: %s %v: %v", c.sql, c.args, err)
					}
					continue
				}
				if rec {
					onReplica.Add(1)
				}
				if n != c.want {
					if stale.Add(1) <= 5 {
						t.Errorf("stale read: %s %v returned %d, want %d (replica: %v)", c.sql, c.args, n, c.want, rec)
					}
				}
			}
		}()
	}
	writers.Wait()
	close(checks)
	readers.Wait()
	t.Logf("%d writes handed to other goroutines, %d reads, %d stale, %d served by the replica", writes.Load(), reads.Load(), stale.Load(), onReplica.Load())
	require.Zero(t, stale.Load())
	require.Positive(t, reads.Load())
}

// Without writes the replica serves every read; a Session still works on
// top of the default, and AllowStale opts a read out of read-your-writes.
func TestReadYourWritesModes(t *testing.T) {
	p := newReplicatedPool(t, pgxperf.Config{})
	ctx := testCtx(t)
	waitReplicaServes(t, ctx, p)
	for range 20 {
		require.True(t, inRecovery(t, ctx, p, "SELECT pg_is_in_recovery()"))
	}
	_, err := p.Exec(ctx, "CREATE TABLE m (id int)")
	require.NoError(t, err)
	// Right after a write, a stale-tolerant read may still use the replica.
	require.True(t, inRecovery(t, replica.AllowStale(ctx), p, "SELECT pg_is_in_recovery()"))
	var n int
	require.NoError(t, p.QueryRow(context.WithoutCancel(ctx), "SELECT count(*) FROM m").Scan(&n), "the new table is visible at once")
}

// Two pools of one process on the same cluster (an application's and a
// library's, as neoq makes its own): a write through one, in a transaction
// on an acquired connection, is seen by a read through the other that
// starts after it, while the replica's replay is paused; the other pool's
// reads go back to the replica once replay resumes.
func TestReadYourWritesAcrossPools(t *testing.T) {
	c := testenv.StartCluster(t, 1)
	a := clusterPool(t, c, replica.Config{}, 4)
	cfg, err := pgxpool.ParseConfig(c.PrimaryDSN())
	require.NoError(t, err)
	b, err := pgxperf.NewFromConfig(testCtx(t), &pgxperf.Config{Pool: cfg, ReplicaURLs: []string{c.ReplicaDSN(0)},
		Routing: replica.Config{CheckInterval: failoverInterval}})
	require.NoError(t, err)
	defer b.Close()
	ctx := testCtx(t)
	waitReplicaServes(t, ctx, b)

	c.PauseReplay(0)
	for i := range 20 {
		v := fmt.Sprintf("across-%d", i)
		conn, err := a.Acquire(ctx)
		require.NoError(t, err)
		tx, err := conn.Begin(ctx)
		require.NoError(t, err)
		_, err = tx.Exec(ctx, "INSERT INTO items (v) VALUES ($1)", v)
		require.NoError(t, err)
		require.NoError(t, tx.Commit(ctx))
		conn.Release()
		var n int
		var rec bool
		require.NoError(t, b.QueryRow(ctx, "SELECT count(*), pg_is_in_recovery() FROM items WHERE v = $1", v).Scan(&n, &rec))
		require.Equal(t, 1, n, "pool B read %s from a node in recovery: %v", v, rec)
	}
	c.ResumeReplay(0)
	t.Logf("pool B's reads back on the replica %v after replay resumed", waitReplicaServes(t, ctx, b))
}

// Writes the statement text hides count as writes: a user function
// shadowing a built-in name (log(text) that INSERTs), called in a SELECT
// the parser proves read-only, and a batch's writes as their results are
// read. DDL in a transaction is forgotten again at COMMIT: a function
// redefined VOLATILE there stays on the primary afterwards.
func TestReadYourWritesHiddenWrites(t *testing.T) {
	c := testenv.StartCluster(t, 1)
	p := clusterPool(t, c, replica.Config{TrustVolatility: true}, 4)
	ctx := testCtx(t)
	_, err := p.Exec(ctx, `CREATE TABLE applog (m text);
		CREATE FUNCTION log(m text) RETURNS int LANGUAGE sql AS 'INSERT INTO applog VALUES (m) RETURNING 1';
		CREATE FUNCTION f() RETURNS int STABLE LANGUAGE sql AS 'SELECT 1'`)
	require.NoError(t, err)
	waitReplicaServes(t, ctx, p)
	c.PauseReplay(0)
	for i := range 10 {
		var one int
		require.NoError(t, p.QueryRow(ctx, "SELECT log($1)", fmt.Sprint(i)).Scan(&one))
		var n int
		require.NoError(t, p.QueryRow(ctx, "SELECT count(*) FROM applog").Scan(&n))
		require.Equal(t, i+1, n, "a write hidden behind a built-in name")
	}
	b := &pgx.Batch{}
	b.Queue("INSERT INTO applog VALUES ('batch')")
	br := p.SendBatch(ctx, b)
	_, err = br.Exec()
	require.NoError(t, err)
	var n int
	require.NoError(t, p.QueryRow(ctx, "SELECT count(*) FROM applog WHERE m = 'batch'").Scan(&n), "read before the batch is closed")
	require.Equal(t, 1, n)
	require.NoError(t, br.Close())
	c.ResumeReplay(0)
	waitReplicaServes(t, ctx, p)

	require.True(t, inRecovery(t, ctx, p, "SELECT f() > 0 AND pg_is_in_recovery()"), "a trusted STABLE function reads on the replica")
	tx, err := p.Begin(ctx)
	require.NoError(t, err)
	_, err = tx.Exec(ctx, "CREATE OR REPLACE FUNCTION f() RETURNS int VOLATILE LANGUAGE sql AS 'SELECT 1'")
	require.NoError(t, err)
	// A read between the DDL and COMMIT sees the old, committed catalog.
	inRecovery(t, ctx, p, "SELECT f() > 0 AND pg_is_in_recovery()")
	require.NoError(t, tx.Commit(ctx))
	waitReplicaServes(t, ctx, p)
	require.False(t, inRecovery(t, ctx, p, "SELECT f() > 0 AND pg_is_in_recovery()"), "f is VOLATILE now: primary")
}

// A statement the parser proves read-only may still write through user
// code (here a user function shadowing the built-in log): the router sends
// it to the primary, and a Session records it as a write, whichever method
// ran it, so that the session's later reads (on any instance) see it.
func TestSessionRecordsHiddenWrites(t *testing.T) {
	p := newReplicatedPool(t, pgxperf.Config{Routing: replica.Config{SessionConsistency: true}})
	ctx := testCtx(t)
	_, err := p.Exec(ctx, `CREATE TABLE applog (m text);
		CREATE FUNCTION log(m text) RETURNS int LANGUAGE sql AS 'INSERT INTO applog VALUES (m) RETURNING 1'`)
	require.NoError(t, err)
	for _, tc := range []struct {
		name string
		run  func(ctx context.Context) error
	}{
		{"Exec", func(ctx context.Context) error { _, err := p.Exec(ctx, "SELECT log('exec')"); return err }},
		{"QueryRow", func(ctx context.Context) error { var one int; return p.QueryRow(ctx, "SELECT log('row')").Scan(&one) }},
		{"Query", func(ctx context.Context) error {
			rows, err := p.Query(ctx, "SELECT log('query')")
			if err != nil {
				return err
			}
			rows.Close()
			return rows.Err()
		}},
		{"SendBatch", func(ctx context.Context) error {
			b := &pgx.Batch{}
			b.Queue("SELECT log('batch')")
			return p.SendBatch(ctx, b).Close()
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sess := replica.NewSession()
			before := sess.Token()
			require.NoError(t, tc.run(replica.WithSession(ctx, sess)))
			require.NotEqual(t, before, sess.Token(), "the session records the write hidden behind a built-in name")
		})
	}
	var n int
	require.NoError(t, p.QueryRow(replica.ForcePrimary(ctx), "SELECT count(*) FROM applog").Scan(&n))
	require.Equal(t, 4, n)
}
