package tracer_test

// Unit tests that need no server: pgx talks to fakePG (fakepg_helper_test.go)
// over net.Pipe.

import (
	"context"
	"runtime"
	"strings"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/stretchr/testify/require"

	"github.com/pgxperf/pgxperf/internal/scope"
	"github.com/pgxperf/pgxperf/internal/sqlinfo"
	"github.com/pgxperf/pgxperf/tracer"
)

// eventLog is an Observer that keeps the events it sees.
type eventLog struct {
	mu     sync.Mutex
	events []tracer.Event
}

func (l *eventLog) observe(_ context.Context, ev tracer.Event) {
	l.mu.Lock()
	defer l.mu.Unlock()
	ev.Args, ev.Conn = nil, nil // not retained
	l.events = append(l.events, ev)
}

func (l *eventLog) all() []tracer.Event {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]tracer.Event(nil), l.events...)
}

func fakeTracer() (*tracer.Tracer, *eventLog) {
	log := &eventLog{}
	return tracer.New(tracer.Config{SlowThreshold: -1, Observers: []tracer.Observer{log.observe}}), log
}

func fingerprint(sql string) uint64 { return sqlinfo.Analyze(sql).Fingerprint }

// Statements of the simple and the extended protocol with different
// arguments are one fingerprint; calls, rows and events add up.
func TestFakePGQueries(t *testing.T) {
	tr, log := fakeTracer()
	conn := (&fakePG{}).connect(t, tr)
	ctx := testCtx(t)

	const items = "SELECT v FROM items WHERE owner = $1"
	for i := range 3 { // extended protocol, statement cache
		rows, err := conn.Query(ctx, items, int64(i))
		require.NoError(t, err)
		n := 0
		for rows.Next() {
			n++
		}
		require.NoError(t, rows.Err())
		require.Equal(t, 3, n)
	}
	var v int64
	require.NoError(t, conn.QueryRow(ctx, items, pgx.QueryExecModeSimpleProtocol, int64(9)).Scan(&v))
	require.NoError(t, conn.QueryRow(ctx, items, pgx.QueryExecModeExec, int64(10)).Scan(&v))
	tag, err := conn.Exec(ctx, "INSERT INTO items (owner) VALUES ($1)", int64(1))
	require.NoError(t, err)
	require.EqualValues(t, 1, tag.RowsAffected())
	_, err = conn.Exec(ctx, "SELECT v FROM users WHERE id = 1") // no arguments: simple protocol
	require.NoError(t, err)

	st := stats(t, tr, items)
	require.EqualValues(t, 5, st.Calls, "five calls, three exec modes, one fingerprint")
	require.EqualValues(t, 5*3, st.Rows)
	require.Zero(t, st.Errors)
	require.Equal(t, "SELECT v FROM items WHERE owner = $1", st.Query)
	require.Equal(t, "select", st.Kind)
	require.True(t, st.ReadOnly)
	require.Equal(t, []string{"items"}, st.Tables)
	require.EqualValues(t, 5, st.PrimaryCalls)
	require.GreaterOrEqual(t, st.Max, st.Min)
	require.EqualValues(t, 1, stats(t, tr, "INSERT INTO items (owner) VALUES ($1)").Rows)
	require.EqualValues(t, 1, stats(t, tr, "SELECT v FROM users WHERE id = 2").Calls, "constants are parameters")

	snap := tr.Snapshot()
	require.Len(t, snap.Statements, 3)
	for i := 1; i < len(snap.Statements); i++ {
		require.GreaterOrEqual(t, snap.Statements[i-1].Total, snap.Statements[i].Total, "sorted by total time")
	}
	require.EqualValues(t, 2, snap.Pool.Prepares, "the statement cache prepared the SELECT and the INSERT")

	evs := log.all()
	require.Len(t, evs, 7)
	for _, ev := range evs[:5] {
		require.Equal(t, tracer.OpQuery, ev.Op)
		require.Equal(t, fingerprint(items), ev.Fingerprint)
		require.Equal(t, items, ev.SQL)
		require.EqualValues(t, 3, ev.Rows)
		require.NoError(t, ev.Err)
		require.Equal(t, tracer.RolePrimary, ev.Role)
		require.False(t, ev.Batch || ev.Cached)
		require.False(t, ev.Start.IsZero())
	}
	require.Positive(t, evs[0].PrepareTime, "the first call prepared the statement")
	require.Zero(t, evs[1].PrepareTime, "the next ones found it in the cache")
	require.Equal(t, fingerprint("INSERT INTO items (owner) VALUES ($1)"), evs[5].Fingerprint)
	require.EqualValues(t, 1, evs[5].Rows)
}

// A failing statement is counted with its SQLSTATE, and the connection goes on.
func TestFakePGError(t *testing.T) {
	tr, log := fakeTracer()
	conn := (&fakePG{}).connect(t, tr)
	ctx := testCtx(t)

	const bad = "SELECT v FROM missing_table WHERE id = $1"
	_, err := conn.Exec(ctx, bad, int64(1))
	var pgErr *pgconn.PgError
	require.ErrorAs(t, err, &pgErr)
	require.Equal(t, "42P01", pgErr.Code)
	rows, err := conn.Query(ctx, bad, pgx.QueryExecModeSimpleProtocol, int64(2))
	if err == nil {
		rows.Close()
		err = rows.Err()
	}
	require.ErrorAs(t, err, &pgErr)

	var v int64
	require.NoError(t, conn.QueryRow(ctx, "SELECT v FROM users WHERE id = $1", int64(1)).Scan(&v))
	require.EqualValues(t, 1, v)

	st := stats(t, tr, bad)
	require.EqualValues(t, 2, st.Calls)
	require.EqualValues(t, 2, st.Errors)
	require.Equal(t, map[string]int64{"42P01": 2}, st.ErrorsByCode)
	require.Zero(t, stats(t, tr, "SELECT v FROM users WHERE id = $1").Errors)

	evs := log.all()
	require.Len(t, evs, 3)
	require.ErrorAs(t, evs[0].Err, &pgErr)
	require.ErrorAs(t, evs[1].Err, &pgErr)
	require.NoError(t, evs[2].Err)
}

// The statements of a batch are recorded one by one, marked Batch, with one
// BatchID per SendBatch.
func TestFakePGBatch(t *testing.T) {
	tr, log := fakeTracer()
	conn := (&fakePG{}).connect(t, tr)
	ctx := testCtx(t)

	send := func() {
		b := &pgx.Batch{}
		b.Queue("SELECT v FROM users WHERE id = $1", int64(1))
		b.Queue("SELECT v FROM users WHERE id = $1", int64(2))
		b.Queue("SELECT v FROM items WHERE owner = $1", int64(1))
		b.Queue("UPDATE users SET name = 'x' WHERE id = $1", int64(1))
		require.NoError(t, conn.SendBatch(ctx, b).Close())
	}
	send()
	send()

	users := stats(t, tr, "SELECT v FROM users WHERE id = $1")
	require.EqualValues(t, 4, users.Calls)
	require.EqualValues(t, 4, users.BatchCalls)
	require.EqualValues(t, 4, users.Rows)
	require.EqualValues(t, 6, stats(t, tr, "SELECT v FROM items WHERE owner = $1").Rows)
	update := stats(t, tr, "UPDATE users SET name = 'x' WHERE id = $1")
	require.EqualValues(t, 2, update.Calls)
	require.EqualValues(t, 2, update.Rows)
	require.False(t, update.ReadOnly)

	evs := log.all()
	require.Len(t, evs, 8)
	for i, ev := range evs {
		require.Equal(t, tracer.OpBatchQuery, ev.Op)
		require.True(t, ev.Batch)
		require.Equal(t, evs[i/4*4].BatchID, ev.BatchID, "one ID per batch")
	}
	require.NotEqual(t, evs[0].BatchID, evs[4].BatchID)
	require.Equal(t, fingerprint("SELECT v FROM items WHERE owner = $1"), evs[2].Fingerprint)
}

// A statement prepared under a name and executed by that name (as
// database/sql does through stdlib) is recorded under its SQL.
func TestFakePGPreparedStatement(t *testing.T) {
	tr, log := fakeTracer()
	conn := (&fakePG{}).connect(t, tr)
	ctx := testCtx(t)

	const sql = "SELECT v FROM items WHERE owner = $1 AND v > $2"
	_, err := conn.Prepare(ctx, "items_by_owner", sql)
	require.NoError(t, err)
	for i := range 2 {
		rows, err := conn.Query(ctx, "items_by_owner", int64(i), int64(0))
		require.NoError(t, err)
		rows.Close()
		require.NoError(t, rows.Err())
	}

	snap := tr.Snapshot()
	require.Len(t, snap.Statements, 1, "no entry for the statement's name: %+v", snap.Statements)
	st := snap.Statements[0]
	require.Equal(t, fingerprint(sql), st.Fingerprint)
	require.EqualValues(t, 2, st.Calls)
	require.EqualValues(t, 6, st.Rows)
	require.EqualValues(t, 1, snap.Pool.Prepares)
	for _, ev := range log.all() {
		require.Equal(t, sql, ev.SQL, "the SQL, not the name")
	}
}

// Through a pool: connects, acquires and releases are counted, and
// Reset starts over.
func TestFakePGPool(t *testing.T) {
	tr, log := fakeTracer()
	pool := (&fakePG{}).pool(t, tr)
	ctx := testCtx(t)

	for i := range 4 {
		var v int64
		require.NoError(t, pool.QueryRow(ctx, "SELECT v FROM users WHERE id = $1", int64(i)).Scan(&v))
	}
	snap := tr.Snapshot()
	require.EqualValues(t, 4, stats(t, tr, "SELECT v FROM users WHERE id = $1").Calls)
	require.GreaterOrEqual(t, snap.Pool.Connects, int64(1))
	require.Zero(t, snap.Pool.ConnectErrors)
	require.EqualValues(t, 4, snap.Pool.Acquires)
	require.EqualValues(t, 4, snap.Pool.Releases)
	require.Len(t, log.all(), 4)

	tr.Reset()
	snap = tr.Snapshot()
	require.Empty(t, snap.Statements)
	require.Zero(t, snap.Pool.Acquires)
	_, err := pool.Exec(ctx, "SELECT v FROM users WHERE id = $1", int64(1))
	require.NoError(t, err)
	require.EqualValues(t, 1, stats(t, tr, "SELECT v FROM users WHERE id = $1").Calls)
}

// A scope in the context sees every statement with its callers, batches
// included; scope.With(ctx, nil) hides it.
func TestFakePGScope(t *testing.T) {
	tr, _ := fakeTracer()
	conn := (&fakePG{}).connect(t, tr)
	rec := &scopeRecorder{}
	ctx := scope.With(testCtx(t), rec)

	for i := range 2 {
		_, err := conn.Exec(ctx, "SELECT v FROM users WHERE id = $1", int64(i))
		require.NoError(t, err)
	}
	b := &pgx.Batch{}
	b.Queue("SELECT v FROM items WHERE owner = $1", int64(1))
	b.Queue("UPDATE users SET name = 'x' WHERE id = $1", int64(1))
	require.NoError(t, conn.SendBatch(ctx, b).Close())
	_, err := conn.Exec(scope.With(ctx, nil), "SELECT v FROM users WHERE id = $1", int64(3))
	require.NoError(t, err)

	rec.mu.Lock()
	defer rec.mu.Unlock()
	require.Len(t, rec.events, 4, "the hidden statement is not seen")
	for i, ev := range rec.events {
		require.NotNil(t, ev.Info)
		require.NotEmpty(t, rec.pcs[i], "callers captured")
		require.Equal(t, "TestFakePGScope", callerName(rec.pcs[i]), "the first application frame")
	}
	require.Equal(t, sqlinfo.KindSelect, rec.events[0].Info.Kind)
	require.EqualValues(t, 1, rec.events[1].Rows)
	require.False(t, rec.events[1].Batch)
	require.True(t, rec.events[2].Batch && rec.events[3].Batch)
	require.Equal(t, rec.events[2].BatchID, rec.events[3].BatchID)
	require.EqualValues(t, 3, rec.events[2].Rows)
	require.Equal(t, sqlinfo.KindUpdate, rec.events[3].Info.Kind)
	require.EqualValues(t, 4, stats(t, tr, "SELECT v FROM users WHERE id = $1").Calls+stats(t, tr, "SELECT v FROM items WHERE owner = $1").Calls,
		"the hidden statement is still in the statistics")
}

// callerName returns the short name of the first function of pcs outside
// pgx, pgxperf's packages and the runtime.
func callerName(pcs []uintptr) string {
	frames := runtime.CallersFrames(pcs)
	for {
		f, more := frames.Next()
		if strings.Contains(f.Function, "tracer_test.") {
			return f.Function[strings.LastIndex(f.Function, ".")+1:]
		}
		if !more {
			return ""
		}
	}
}
