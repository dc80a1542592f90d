package pgxperf_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/puddle/v2"
	"github.com/stretchr/testify/require"

	"github.com/pgxperf/pgxperf/internal/testenv"
	"github.com/pgxperf/pgxperf/pgxperf"
	"github.com/pgxperf/pgxperf/querycache"
	"github.com/pgxperf/pgxperf/replica"
)

// TestMatrix (issue #10) runs the same behaviour checks against a Pool built
// with every combination of the query cache, a replica, Config.AcquireTimeout
// and Config.QueryTimeout, and compares each call's outcome (values, command
// tags, error classes) with what a plain *pgxpool.Pool on the same database
// returns for the same calls. Each check works on a table of its own per pool
// (matrixSetup), so both pools start every check from the same rows.
func TestMatrix(t *testing.T) {
	for mask := range 16 {
		on := func(bit int) bool { return mask&(1<<bit) != 0 }
		f := matrixFeatures{cache: on(3), replicas: on(2), acquire: on(1), query: on(0)}
		t.Run(f.String(), func(t *testing.T) { matrixCombination(t, f) })
	}
}

type matrixFeatures struct{ cache, replicas, acquire, query bool }

func (f matrixFeatures) String() string {
	s := map[bool]string{false: "off", true: "on"}
	return fmt.Sprintf("cache=%s,replicas=%s,acquire=%s,query=%s", s[f.cache], s[f.replicas], s[f.acquire], s[f.query])
}

// matrixDB is what the checks call: *pgxpool.Pool and *pgxperf.Pool both have it.
type matrixDB interface {
	Exec(context.Context, string, ...any) (pgconn.CommandTag, error)
	Query(context.Context, string, ...any) (pgx.Rows, error)
	QueryRow(context.Context, string, ...any) pgx.Row
	SendBatch(context.Context, *pgx.Batch) pgx.BatchResults
	Begin(context.Context) (pgx.Tx, error)
	BeginTx(context.Context, pgx.TxOptions) (pgx.Tx, error)
	CopyFrom(context.Context, pgx.Identifier, []string, pgx.CopyFromSource) (int64, error)
	Acquire(context.Context) (*pgxpool.Conn, error)
	Ping(context.Context) error
	Close()
}

func matrixCombination(t *testing.T, f matrixFeatures) {
	var primaryDSN, replicaDSN string
	if f.replicas {
		primaryDSN, replicaDSN = testenv.NewReplicatedDatabase(t, testenv.WithoutSchema())
	} else {
		primaryDSN = testenv.NewDatabase(t, testenv.WithoutSchema())
	}
	// No deadline: Config.QueryTimeout applies only to contexts without one.
	ctx := t.Context()
	conf := pgxperf.Config{Tracer: noSlowLog}
	if f.cache {
		conf.RedisURL = "redis://" + testenv.RequireRedis(t)
		ctx = querycache.WithTTL(ctx, time.Minute) // every cacheable read goes through the cache
	}
	if f.replicas {
		conf.ReplicaURLs = []string{replicaDSN}
		// Generous lag limits, as in replica_test.go: the shared replica takes
		// WAL bursts from other tests. Read-your-writes comes from a session
		// per check (below).
		conf.Routing = replica.Config{CheckInterval: 100 * time.Millisecond, MaxLagBytes: 1 << 40, MaxLagTime: time.Hour}
	}
	if f.acquire {
		conf.AcquireTimeout = 2 * time.Second
	}
	if f.query {
		conf.QueryTimeout = 5 * time.Second
	}
	ref := plainPool(t, primaryDSN) // the reference: MaxConns 4, like perf
	var err error
	conf.Pool, err = pgxpool.ParseConfig(primaryDSN)
	require.NoError(t, err)
	conf.Pool.MaxConns = 4
	perf, err := pgxperf.NewFromConfig(context.Background(), &conf)
	require.NoError(t, err)
	t.Cleanup(perf.Close)
	if f.replicas {
		require.Eventually(t, func() bool { return perf.Router().Nodes()[1].State == replica.StateOnline },
			30*time.Second, 10*time.Millisecond)
	}

	replicaBehind := false
	for i, c := range matrixChecks {
		t.Run(c.name, func(t *testing.T) {
			ctx := replica.WithSession(ctx, replica.NewSession()) // ignored without replicas
			var outs [2][]string
			for j, db := range []matrixDB{ref, perf} {
				r := &matrixRun{ctx: ctx, db: db, tbl: fmt.Sprintf("%s_%d", [2]string{"ref", "perf"}[j], i)}
				_, err := db.Exec(ctx, r.sql(matrixSetup))
				require.NoError(t, err, "setup on %T", db)
				if db == matrixDB(perf) && f.replicas && !replicaBehind {
					// Start with the replica serving the session's reads once it
					// has replayed the setup. The shared replica may lag for a
					// while when other packages' tests load data: the check then
					// runs with reads on the primary (read-your-writes), which
					// must give the same answers; the replica's share is
					// required over the whole combination below.
					deadline := time.Now().Add(30 * time.Second)
					for {
						var rec bool
						if perf.QueryRow(querycache.Skip(ctx), "SELECT pg_is_in_recovery()").Scan(&rec) == nil && rec {
							break
						}
						if time.Now().After(deadline) {
							t.Logf("the replica has not replayed the setup after 30 s: this combination's reads go to the primary from here on")
							replicaBehind = true // wait no more in this combination
							break
						}
						time.Sleep(5 * time.Millisecond)
					}
				}
				func() {
					defer func() {
						if p := recover(); p != nil {
							r.add("PANIC", p)
						}
					}()
					c.run(r)
				}()
				outs[j] = r.out
			}
			require.Equal(t, outs[0], outs[1], "expected: *pgxpool.Pool, actual: *pgxperf.Pool (%s)", f)
		})
	}

	if f.cache {
		tot := cacheTotals(perf)
		t.Logf("cache: %+v", tot)
		require.Positive(t, tot.hits, "cached reads were exercised")
	}
	if f.replicas {
		r := routed(perf)
		t.Logf("statements routed to the primary, the replica: %v", r)
		require.Positive(t, r[1], "the replica served reads")
	}
}

// matrixSetup is run through each pool before each check.
const matrixSetup = "CREATE TABLE {t} (id int PRIMARY KEY, v text NOT NULL); " +
	"INSERT INTO {t} SELECT g, 'v' || g FROM generate_series(1, 3) g"

// matrixState reads the whole table as one value.
const matrixState = "SELECT count(*) || ':' || coalesce(string_agg(id || '=' || v, ',' ORDER BY id), '') FROM {t}"

// matrixRun is one run of a check on one pool: what each call returned, as text.
type matrixRun struct {
	ctx context.Context
	db  matrixDB
	tbl string
	out []string
}

func (r *matrixRun) sql(s string) string { return strings.ReplaceAll(s, "{t}", r.tbl) }

func (r *matrixRun) add(label string, vals ...any) {
	r.out = append(r.out, label+": "+strings.ReplaceAll(fmt.Sprintf("%v", vals), r.tbl, "{t}"))
}

// matrixClass is the class of an error that callers test for.
func matrixClass(err error) string {
	var pgErr *pgconn.PgError
	switch {
	case err == nil:
		return "ok"
	case errors.Is(err, puddle.ErrClosedPool):
		return "closed pool"
	case errors.Is(err, pgx.ErrNoRows):
		return "pgx.ErrNoRows"
	case errors.Is(err, context.Canceled):
		return "context.Canceled"
	case errors.Is(err, context.DeadlineExceeded):
		return "context.DeadlineExceeded"
	case errors.As(err, &pgErr):
		return "SQLSTATE " + pgErr.Code
	}
	return "error " + err.Error()
}

func (r *matrixRun) exec(label, sql string, args ...any) {
	tag, err := r.db.Exec(r.ctx, r.sql(sql), args...)
	r.add(label, tag.String(), tag.RowsAffected(), matrixClass(err))
}

func (r *matrixRun) query(label, sql string, args ...any) {
	rows, err := r.db.Query(r.ctx, r.sql(sql), args...)
	r.add(label+" Query", matrixClass(err)) // the rows are read on after an error: pgxpool's say it again
	var fds []string
	for _, fd := range rows.FieldDescriptions() {
		fds = append(fds, fmt.Sprintf("%s:%d", fd.Name, fd.DataTypeOID))
	}
	var vals [][]any
	for rows.Next() {
		v, err := rows.Values()
		if err != nil {
			v = []any{matrixClass(err)}
		}
		vals = append(vals, v)
	}
	rows.Close()
	r.add(label+" rows", fds, vals, "Err", matrixClass(rows.Err()), "CommandTag", rows.CommandTag().String())
}

func (r *matrixRun) row(label, sql string, args ...any) {
	var v any
	err := r.db.QueryRow(r.ctx, r.sql(sql), args...).Scan(&v)
	r.add(label, v, matrixClass(err))
}

func (r *matrixRun) state(label string) { r.row(label, matrixState) }

// stmt runs q with exec, or with row when it is a SELECT.
func (r *matrixRun) stmt(label, q string, exec func(string) (pgconn.CommandTag, error), row func(string) pgx.Row) {
	if strings.HasPrefix(q, "SELECT") {
		var v any
		err := row(r.sql(q)).Scan(&v)
		r.add(label, v, matrixClass(err))
		return
	}
	tag, err := exec(r.sql(q))
	r.add(label, tag.String(), matrixClass(err))
}

func (r *matrixRun) batch(label string, qs ...string) {
	b := &pgx.Batch{}
	for _, q := range qs {
		b.Queue(r.sql(q))
	}
	br := r.db.SendBatch(r.ctx, b)
	for i, q := range qs {
		r.stmt(fmt.Sprintf("%s #%d", label, i), q,
			func(string) (pgconn.CommandTag, error) { return br.Exec() },
			func(string) pgx.Row { return br.QueryRow() })
	}
	r.add(label+" Close", matrixClass(br.Close()))
}

// tx runs qs in a transaction (Begin for zero options, else BeginTx) and
// ends it twice.
func (r *matrixRun) tx(label string, opts pgx.TxOptions, commit bool, qs ...string) {
	begin := func(ctx context.Context) (pgx.Tx, error) { return r.db.BeginTx(ctx, opts) }
	if opts == (pgx.TxOptions{}) {
		begin = r.db.Begin
	}
	tx, err := begin(r.ctx)
	r.add(label+" Begin", matrixClass(err))
	if err != nil {
		return
	}
	for i, q := range qs {
		r.stmt(fmt.Sprintf("%s #%d", label, i), q,
			func(s string) (pgconn.CommandTag, error) { return tx.Exec(r.ctx, s) },
			func(s string) pgx.Row { return tx.QueryRow(r.ctx, s) })
	}
	end := tx.Rollback
	if commit {
		end = tx.Commit
	}
	r.add(label+" end", matrixClass(end(r.ctx)))
	r.add(label+" end again", matrixClass(end(r.ctx)))
}

func (r *matrixRun) copy(label string, rows ...[]any) {
	n, err := r.db.CopyFrom(r.ctx, pgx.Identifier{r.tbl}, []string{"id", "v"}, pgx.CopyFromRows(rows))
	r.add(label, n, matrixClass(err))
}

// every runs each Pool method once.
func (r *matrixRun) every() {
	r.exec("Exec", "INSERT INTO {t} VALUES (80, 'x')")
	r.query("Query", "SELECT id, v FROM {t} ORDER BY id")
	r.state("QueryRow cached statement")
	r.row("QueryRow", "SELECT v FROM {t} WHERE id = $1", 1)
	r.batch("SendBatch", "SELECT 1", "INSERT INTO {t} VALUES (81, 'x')")
	r.tx("Begin", pgx.TxOptions{}, true, "SELECT 1")
	r.tx("BeginTx", pgx.TxOptions{AccessMode: pgx.ReadOnly}, true, "SELECT 1")
	r.copy("CopyFrom", []any{82, "x"})
	r.add("Ping", matrixClass(r.db.Ping(r.ctx)))
	c, err := r.db.Acquire(r.ctx)
	r.add("Acquire", matrixClass(err))
	if c != nil {
		c.Release()
	}
}

// matrixChecks run in order; the last one closes the pools.
// Every difference from pgxpool fails: the two the matrix found (an error
// in the middle of a result, a write-position lookup after a failed
// acquire) are fixed.
var matrixChecks = []struct {
	name string
	run  func(r *matrixRun)
}{
	{"Exec insert update delete", func(r *matrixRun) {
		r.exec("insert", "INSERT INTO {t} VALUES (10, 'a'), (11, 'b')")
		r.exec("update", "UPDATE {t} SET v = $1 WHERE id <= $2", "x", 2)
		r.exec("delete nothing", "DELETE FROM {t} WHERE id = $1", 99)
		r.exec("duplicate key", "INSERT INTO {t} VALUES ($1, 'dup')", 10)
		r.state("after")
	}},
	{"Exec DDL", func(r *matrixRun) {
		r.exec("create index", "CREATE INDEX {t}_v ON {t} (v)")
		r.exec("add column", "ALTER TABLE {t} ADD COLUMN w int NOT NULL DEFAULT 7")
		r.query("new column", "SELECT id, w FROM {t} ORDER BY id")
		r.exec("create table", "CREATE TABLE {t}_new AS SELECT id FROM {t}")
		r.row("new table", "SELECT count(*) FROM {t}_new")
		r.exec("drop table", "DROP TABLE {t}_new")
		r.row("dropped table", "SELECT count(*) FROM {t}_new")
	}},
	{"Exec multi-statement", func(r *matrixRun) {
		r.state("before")
		r.exec("three", "INSERT INTO {t} VALUES (20, 'm'); UPDATE {t} SET v = 'n' WHERE id = 20; DELETE FROM {t} WHERE id = 1")
		r.state("after")
		r.exec("failing", "INSERT INTO {t} VALUES (21, 'x'); SELECT 1/0")
		r.state("after failure")
	}},
	{"Exec empty SQL", func(r *matrixRun) {
		r.exec("empty", "")
		r.exec("semicolon", ";")
		r.exec("comment", "-- nothing")
	}},
	{"Query", func(r *matrixRun) {
		r.query("several rows", "SELECT id, v, id * 2 AS twice FROM {t} WHERE id >= $1 ORDER BY id", 1)
		r.query("zero rows", "SELECT id, v FROM {t} WHERE id < 0")
		r.query("syntax error", "SELEC id FROM {t}")
		r.query("types", "SELECT 1::int2 a, 2::int8 b, 1.5::numeric c, true d, 'x'::bytea e, '{1,2}'::int[] f, NULL::text g, '2024-01-02'::date h")
	}},
	{"Query error mid-result", func(r *matrixRun) {
		r.query("division by zero", "SELECT id, 10 / (2 - id) AS q FROM {t} ORDER BY id")
		r.row("QueryRow division by zero", "SELECT 10 / (2 - id) FROM {t} ORDER BY id")
	}},
	{"QueryRow", func(r *matrixRun) {
		r.row("a row", "SELECT v FROM {t} WHERE id = $1", 2)
		r.row("no rows", "SELECT v FROM {t} WHERE id = $1", -1)
		r.row("syntax error", "SELEC v FROM {t}")
		r.row("missing table", "SELECT v FROM {t}_missing")
		var n int
		err := r.db.QueryRow(r.ctx, r.sql("SELECT v FROM {t} WHERE id = 1")).Scan(&n)
		r.add("scan error", matrixClass(err))
	}},
	{"SendBatch", func(r *matrixRun) {
		r.state("before")
		r.batch("writes and reads", "INSERT INTO {t} VALUES (30, 'b')", matrixState,
			"UPDATE {t} SET v = 'c' WHERE id >= 2", "SELECT v FROM {t} WHERE id = 30")
		r.state("after")
		r.batch("reads", "SELECT v FROM {t} WHERE id = 1", "SELECT count(*) FROM {t}")
		r.batch("error in the middle", "INSERT INTO {t} VALUES (40, 'e')", "SELECT 1/0", "SELECT 1",
			"INSERT INTO {t} VALUES (41, 'e')")
		r.state("after error")
		b := &pgx.Batch{}
		b.Queue(r.sql("INSERT INTO {t} VALUES (42, 'c')"))
		r.add("Close unread", matrixClass(r.db.SendBatch(r.ctx, b).Close()))
		r.state("after Close unread")
	}},
	{"Begin", func(r *matrixRun) {
		r.state("before")
		r.tx("commit", pgx.TxOptions{}, true, "INSERT INTO {t} VALUES (50, 't')", matrixState)
		r.state("after commit")
		r.tx("rollback", pgx.TxOptions{}, false, "INSERT INTO {t} VALUES (51, 't')", "UPDATE {t} SET v = 'r'", matrixState)
		r.state("after rollback")
	}},
	{"BeginTx", func(r *matrixRun) {
		r.state("before")
		r.tx("read only", pgx.TxOptions{AccessMode: pgx.ReadOnly}, true, matrixState, "INSERT INTO {t} VALUES (52, 'ro')", "SELECT 1")
		r.tx("serializable", pgx.TxOptions{IsoLevel: pgx.Serializable}, true, "UPDATE {t} SET v = 's' WHERE id = 1", matrixState)
		r.state("after")
	}},
	{"CopyFrom", func(r *matrixRun) {
		r.state("before")
		r.copy("copy", []any{60, "c"}, []any{61, "c"}, []any{62, "c"})
		r.state("after")
		r.copy("duplicate key", []any{63, "d"}, []any{60, "dup"})
		r.state("after failure")
	}},
	{"Ping", func(r *matrixRun) { r.add("Ping", matrixClass(r.db.Ping(r.ctx))) }},
	{"write then read", func(r *matrixRun) {
		for i := range 2 { // the second read of each is a cache hit when the cache is on
			r.state(fmt.Sprint("state ", i))
			r.query(fmt.Sprint("query ", i), "SELECT id, v FROM {t} WHERE id > $1 ORDER BY id", 1)
			r.row(fmt.Sprint("value ", i), "SELECT v FROM {t} WHERE id = $1", 2)
		}
		r.exec("insert", "INSERT INTO {t} VALUES (70, 'w')")
		r.state("state after insert")
		r.query("query after insert", "SELECT id, v FROM {t} WHERE id > $1 ORDER BY id", 1)
		r.exec("update", "UPDATE {t} SET v = 'u' WHERE id = 2")
		r.row("value after update", "SELECT v FROM {t} WHERE id = $1", 2)
		r.tx("tx", pgx.TxOptions{}, true, "DELETE FROM {t} WHERE id = 3")
		r.state("state after tx")
		r.batch("batch", "UPDATE {t} SET v = 'b' WHERE id = 2")
		r.row("value after batch", "SELECT v FROM {t} WHERE id = $1", 2)
		r.copy("copy", []any{71, "c"})
		r.state("state after copy")
	}},
	{"pool exhausted, caller's deadline first", func(r *matrixRun) { // AcquireTimeout must not change the error
		var held []*pgxpool.Conn
		for range 4 { // MaxConns
			c, err := r.db.Acquire(r.ctx)
			if r.add("Acquire", matrixClass(err)); err == nil {
				held = append(held, c)
			}
		}
		saved, cancel := r.ctx, context.CancelFunc(nil)
		r.ctx, cancel = context.WithTimeout(saved, 200*time.Millisecond)
		start := time.Now()
		r.exec("Exec", "INSERT INTO {t} VALUES (90, 'x')")
		r.add("Exec returned by the deadline (1 s slack)", time.Since(start) < time.Second)
		r.tx("Begin", pgx.TxOptions{}, true)
		cancel()
		r.ctx = saved
		for _, c := range held {
			c.Release()
		}
		r.state("after")
	}},
	{"cancelled context", func(r *matrixRun) {
		r.state("warm the cache")
		saved, cancel := r.ctx, context.CancelFunc(nil)
		r.ctx, cancel = context.WithCancel(saved)
		cancel()
		r.every()
		r.ctx = saved
		r.state("after")
	}},
	{"deadline", func(r *matrixRun) {
		saved, cancel := r.ctx, context.CancelFunc(nil)
		r.ctx, cancel = context.WithTimeout(saved, 300*time.Millisecond)
		r.row("QueryRow", "SELECT 1 FROM pg_sleep(5)")
		cancel()
		r.ctx, cancel = context.WithTimeout(saved, 300*time.Millisecond)
		r.exec("Exec", "SELECT pg_sleep(5)")
		cancel()
		r.ctx = saved
		r.state("after")
	}},
	{"closed pool", func(r *matrixRun) {
		r.state("warm the cache")
		r.state("cache hit")
		r.db.Close()
		r.every()
	}},
}
