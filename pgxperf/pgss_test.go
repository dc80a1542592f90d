package pgxperf_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pgxperf/pgxperf/internal/sqlinfo"
	"github.com/pgxperf/pgxperf/internal/testenv"
	"github.com/pgxperf/pgxperf/pgxperf"
	"github.com/pgxperf/pgxperf/querycache"
	"github.com/pgxperf/pgxperf/tracer"
)

// TestPgStatStatementsReconciliation runs a mixed workload through a
// pgxperf.Pool against a server of its own that loads pg_stat_statements,
// then checks, statement by statement, that pgxperf's Calls and Rows agree
// with pg_stat_statements' calls and rows, the only differences being the
// ones named (pgssRule…) and asserted below.
//
// # Joining the two views
//
// pg_stat_statements' queryid is not pg_query's fingerprint, so the join goes
// through the SQL texts the test sends. Every application statement starts
// with a comment naming it, /*pgss:tag*/. Both sides keep comments in their
// text: pg_stat_statements stores the text of the first statement it saw
// with a queryid (constants replaced, comments kept), and pg_query's
// normalized text (StatementStats.Query) keeps them too. Neither identifies
// a statement by its comments (except pg_stat_statements for utility
// statements, see pgssRuleUtilityText), so the tags do not change how
// either side groups statements.
//
//   - A pg_stat_statements row belongs to the statement whose tag its text
//     carries (COPY, BEGIN, COMMIT and ROLLBACK, whose text pgx writes, are
//     matched by their text).
//   - A pgxperf entry belongs to a text through its fingerprint
//     (sqlinfo.Analyze, as the tracer analyzes it); when one fingerprint has
//     two entries, pgxperf has kept the batch-shaped form apart
//     (pgssRuleBatchShape) and the entry whose text has the same shape is
//     the text's.
//
// Either side may merge texts the other keeps apart. The texts therefore
// link pgxperf entries and pg_stat_statements rows into connected groups,
// and the counts are compared per group: the sum of pgxperf's Calls (less
// the executions that failed on the server, pgssRuleFailedStatements) must
// equal the sum of pg_stat_statements' calls, and the rows likewise. The
// groups found are asserted too (which texts each side merges), so a change
// in either side's grouping is seen, not absorbed.
func TestPgStatStatementsReconciliation(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	redisAddr := testenv.RequireRedis(t) // the query cache's (pgssRuleCacheHits)
	serverDSN := testenv.StartPgStatStatements(t)

	admin, err := pgx.Connect(ctx, serverDSN)
	require.NoError(t, err)
	t.Cleanup(func() { admin.Close(context.Background()) })
	_, err = admin.Exec(ctx, "CREATE EXTENSION pg_stat_statements")
	require.NoError(t, err)
	// The workload runs in a database of its own; the view is read from
	// the postgres database, and only rows of the workload's database
	// (dbid) are compared, so the test's own reads are not in them.
	_, err = admin.Exec(ctx, "CREATE DATABASE pgss_app")
	require.NoError(t, err)
	appDSN := testenv.DSNForDatabase(serverDSN, "pgss_app")
	var dbid uint32
	require.NoError(t, admin.QueryRow(ctx, "SELECT oid FROM pg_database WHERE datname = 'pgss_app'").Scan(&dbid))
	setup, err := pgx.Connect(ctx, appDSN)
	require.NoError(t, err)
	_, err = setup.Exec(ctx, `
CREATE TABLE pgss_items (id int PRIMARY KEY, name text NOT NULL, qty int NOT NULL DEFAULT 0);
INSERT INTO pgss_items SELECT g, 'item ' || g, g % 7 FROM generate_series(1, 50) g;
CREATE TABLE pgss_copy (id int PRIMARY KEY, note text);`)
	require.NoError(t, err)
	require.NoError(t, setup.Close(ctx))

	// Reset before the pool exists: the query cache reads the catalog
	// through the pool, and those statements must show up (and be excluded).
	_, err = admin.Exec(ctx, "SELECT pg_stat_statements_reset()")
	require.NoError(t, err)

	cfg, err := pgxpool.ParseConfig(appDSN)
	require.NoError(t, err)
	cfg.MaxConns = 4
	var nonce [6]byte
	_, _ = rand.Read(nonce[:])
	pool, err := pgxperf.NewFromConfig(ctx, &pgxperf.Config{Pool: cfg,
		Tracer:   tracer.Config{SlowThreshold: -1},
		RedisURL: "redis://" + redisAddr,
		// A prefix of this run's own: no entry of an earlier run can answer.
		Cache: querycache.Config{Prefix: fmt.Sprintf("pgxperf-test-pgss-%d-%s:", os.Getpid(), hex.EncodeToString(nonce[:]))},
	})
	require.NoError(t, err)
	t.Cleanup(pool.Close)

	w := runPgssWorkload(ctx, t, pool)

	rows, err := admin.Query(ctx, `SELECT queryid, query, calls, rows FROM pg_stat_statements
		WHERE dbid = $1 AND toplevel ORDER BY query`, dbid)
	require.NoError(t, err)
	pgss, err := pgx.CollectRows(rows, pgx.RowToStructByPos[pgssRow])
	require.NoError(t, err)
	reconcilePgss(t, w, pool.Tracer().Snapshot(), pgss)
}

// pgssRow is one row of pg_stat_statements.
type pgssRow struct {
	QueryID int64
	Query   string
	Calls   int64
	Rows    int64
}

// pgssInternalMark starts every statement pgxperf runs for itself (the
// query cache's catalog reads). They are not the application's: the
// pg_stat_statements rows and any pgxperf entries of such texts are
// excluded from the comparison (pgxperf's tracer leaves them out of its
// statistics altogether).
const pgssInternalMark = "/* pgxperf:catalog */"

func pgssInternal(text string) bool {
	return strings.HasPrefix(strings.TrimSpace(text), pgssInternalMark)
}

// pgssStmt is one distinct SQL text the workload sends.
type pgssStmt struct {
	tag string
	sql string
	// pgssAs names the statement under whose pg_stat_statements row this
	// text is counted when Postgres gives both one queryid (its own tag
	// then never appears in the view): see pgssRuleSingleIn.
	pgssAs string
	// match recognizes the text pg_stat_statements keeps for it; nil
	// means "carries /*pgss:tag*/".
	match func(query string) bool
	// multi: several statements in one text, see pgssRuleMulti.
	multi []string
	// never: queued after a failing statement of a batch, never executed
	// (pgssRuleBatches): neither side has a call of it.
	never bool
}

// pgssWorkload is what the workload sent, for reconcilePgss.
type pgssWorkload struct {
	stmts []*pgssStmt
	byTag map[string]*pgssStmt
	// cachedSent counts the calls of the statement opted into the query
	// cache (pgssRuleCacheHits).
	cachedSent int64
	// copied is the number of rows CopyFrom sent.
	copied int64
}

func (w *pgssWorkload) add(s *pgssStmt) string {
	if w.byTag == nil {
		w.byTag = map[string]*pgssStmt{}
	}
	if _, dup := w.byTag[s.tag]; dup {
		panic("pgss: duplicate tag " + s.tag)
	}
	w.stmts = append(w.stmts, s)
	w.byTag[s.tag] = s
	return s.sql
}

// tagged registers an application statement: /*pgss:tag*/ followed by sql.
func (w *pgssWorkload) tagged(tag, sql string) string {
	return w.add(&pgssStmt{tag: tag, sql: "/*pgss:" + tag + "*/ " + sql})
}

var pgssTagRE = regexp.MustCompile(`/\*pgss:([a-z0-9_]+)\*/`)

func (s *pgssStmt) matches(query string) bool {
	if s.match != nil {
		return s.match(query)
	}
	for _, m := range pgssTagRE.FindAllStringSubmatch(query, -1) {
		if m[1] == s.tag {
			return true
		}
	}
	return false
}

// runPgssWorkload runs the mixed workload and returns what it sent. Every
// call's outcome is checked as it goes, so the counts compared afterwards
// are those of a known run.
func runPgssWorkload(ctx context.Context, t *testing.T, pool *pgxperf.Pool) *pgssWorkload {
	w := &pgssWorkload{}
	// Statements whose text pgx writes itself.
	for _, s := range []string{"begin", "commit", "rollback"} {
		w.add(&pgssStmt{tag: s, sql: s, match: func(q string) bool { return strings.TrimSpace(q) == s }})
	}
	const copySQL = `COPY "pgss_copy" ("id", "note") FROM STDIN` // as the tracer names a CopyFrom
	w.add(&pgssStmt{tag: "copy", sql: copySQL, match: func(q string) bool {
		// pgx sends: copy "pgss_copy" ( "id", "note" ) from stdin binary;
		return strings.HasPrefix(strings.ToLower(strings.TrimSpace(q)), `copy "pgss_copy"`)
	}})

	var (
		byID     = w.tagged("by_id", "SELECT id, name FROM pgss_items WHERE id = $1")
		in1      = w.add(&pgssStmt{tag: "in1", pgssAs: "by_id", sql: "/*pgss:in1*/ SELECT id, name FROM pgss_items WHERE id IN ($1)"})
		anyID    = w.tagged("any", "SELECT id, name FROM pgss_items WHERE id = ANY($1)")
		in2      = w.tagged("in2", "SELECT id, name FROM pgss_items WHERE id IN ($1, $2)")
		in3      = w.tagged("in3", "SELECT id, name FROM pgss_items WHERE id IN ($1, $2, $3)")
		count    = w.tagged("count", "SELECT count(*) FROM pgss_items WHERE qty >= $1")
		cached   = w.tagged("cached", "/* pgxperf:cache ttl=1m */ SELECT id, name, qty FROM pgss_items WHERE qty = $1 ORDER BY id")
		ins      = w.tagged("ins", "INSERT INTO pgss_items (id, name, qty) VALUES ($1, $2, $3)")
		insDup   = w.tagged("ins_dup", "INSERT INTO pgss_items (id, name) VALUES ($1, $2)")
		upd      = w.tagged("upd", "UPDATE pgss_items SET qty = qty + $1 WHERE id <= $2")
		del      = w.tagged("del", "DELETE FROM pgss_items WHERE id = $1")
		updRet   = w.tagged("upd_ret", "UPDATE pgss_items SET name = name || $1 WHERE id BETWEEN $2 AND $3 RETURNING id")
		txUpd    = w.tagged("tx_upd", "UPDATE pgss_items SET qty = $1 WHERE id = $2")
		txSel    = w.tagged("tx_sel", "SELECT qty FROM pgss_items WHERE id = $1")
		spA      = w.tagged("sp_a", "SAVEPOINT pgss_sp")
		spB      = w.tagged("sp_b", "savepoint pgss_sp")
		rel      = w.tagged("rel", "RELEASE SAVEPOINT pgss_sp")
		txFail   = w.tagged("tx_fail", "SELECT qty / $1::int FROM pgss_items WHERE id = $2")
		bSel     = w.tagged("b_sel", "SELECT id, qty FROM pgss_items WHERE id = $1")
		bDiv     = w.tagged("b_div", "SELECT name, id / $1::int FROM pgss_items WHERE id = $2")
		bAfter   = w.add(&pgssStmt{tag: "b_after", never: true, sql: "/*pgss:b_after*/ SELECT name, qty FROM pgss_items WHERE id = $1"})
		errUndef = w.tagged("err_undef", "SELECT id FROM pgss_missing WHERE id = $1")
		errDiv   = w.tagged("err_div", "SELECT id / $1::int FROM pgss_items WHERE id = $2")
		errConst = w.tagged("err_const", "SELECT qty, id / 0 FROM pgss_items WHERE id = $1")
		scanErr  = w.tagged("scan_err", "SELECT name FROM pgss_items WHERE id = $1")
		multi    = w.add(&pgssStmt{tag: "multi", multi: []string{"m1", "m2"},
			sql: "/*pgss:m1*/ UPDATE pgss_items SET qty = 0, name = name WHERE id = 40; /*pgss:m2*/ DELETE FROM pgss_items WHERE id IN (41, 42)"})
		multiTx = w.add(&pgssStmt{tag: "multi_tx", multi: []string{"t1", "t2"},
			sql: "/*pgss:t1*/ UPDATE pgss_items SET qty = 1, name = name || '' WHERE id = 30; /*pgss:t2*/ UPDATE pgss_items SET qty = 2, name = name || '' WHERE id IN (31, 32)"})
	)
	var (
		id   int
		name string
		n    int64
	)
	readAll := func(rows pgx.Rows, err error) int {
		t.Helper()
		require.NoError(t, err)
		k := 0
		for rows.Next() {
			k++
		}
		require.NoError(t, rows.Err())
		return k
	}
	exec := func(want int64, sql string, args ...any) {
		t.Helper()
		tag, err := pool.Exec(ctx, sql, args...)
		require.NoError(t, err, sql)
		require.Equal(t, want, tag.RowsAffected(), sql)
	}

	// The read opted into the query cache first, before any write could
	// invalidate it: the first call is read from the server and stored, the
	// next ones are served by Redis.
	for range 5 {
		require.Equal(t, 7, readAll(pool.Query(ctx, cached, 3))) // qty = id % 7 = 3 for 7 of ids 1..50
		w.cachedSent++
	}

	// SELECTs by id in a loop, the rows read to the end.
	for i := 1; i <= 10; i++ {
		require.Equal(t, 1, readAll(pool.Query(ctx, byID, i)))
	}
	// The same text through QueryRow, for an id that does not exist:
	// pgx.ErrNoRows, one call of 0 rows on both sides.
	require.ErrorIs(t, pool.QueryRow(ctx, byID, 999).Scan(&id, &name), pgx.ErrNoRows)
	require.NoError(t, pool.QueryRow(ctx, in1, 7).Scan(&id, &name))
	require.Equal(t, 1, readAll(pool.Query(ctx, in1, 8)))
	// Batch shapes.
	require.Equal(t, 3, readAll(pool.Query(ctx, anyID, []int32{1, 2, 3})))
	require.Equal(t, 2, readAll(pool.Query(ctx, anyID, []int32{4, 5})))
	require.Equal(t, 0, readAll(pool.Query(ctx, anyID, []int32{})))
	require.Equal(t, 2, readAll(pool.Query(ctx, in2, 1, 2)))
	require.Equal(t, 1, readAll(pool.Query(ctx, in2, 3, 999)))
	require.Equal(t, 3, readAll(pool.Query(ctx, in3, 4, 5, 6)))
	for _, q := range []int{0, 3, 6, 9} {
		require.NoError(t, pool.QueryRow(ctx, count, q).Scan(&n))
	}

	// Writes: Exec with arguments.
	for i := 101; i <= 105; i++ {
		exec(1, ins, i, fmt.Sprintf("new %d", i), i%5)
	}
	exec(10, upd, 1, 10)
	exec(20, upd, -1, 20)
	exec(1, del, 101)
	exec(1, del, 102)
	exec(0, del, 102) // already gone: a call of 0 rows
	require.Equal(t, 5, readAll(pool.Query(ctx, updRet, "!", 11, 15)))

	// A transaction that commits, with a savepoint.
	tx, err := pool.Begin(ctx)
	require.NoError(t, err)
	_, err = tx.Exec(ctx, txUpd, 42, 1)
	require.NoError(t, err)
	require.NoError(t, tx.QueryRow(ctx, txSel, 1).Scan(&id))
	require.Equal(t, 42, id)
	_, err = tx.Exec(ctx, spA)
	require.NoError(t, err)
	_, err = tx.Exec(ctx, txUpd, 43, 2)
	require.NoError(t, err)
	_, err = tx.Exec(ctx, rel)
	require.NoError(t, err)
	tag, err := tx.Exec(ctx, multiTx)
	require.NoError(t, err)
	require.EqualValues(t, 2, tag.RowsAffected(), "pgx: the last statement's tag")
	require.NoError(t, tx.Commit(ctx))
	// One that rolls back: its statements ran, and count, on both sides.
	tx, err = pool.Begin(ctx)
	require.NoError(t, err)
	_, err = tx.Exec(ctx, spB)
	require.NoError(t, err)
	_, err = tx.Exec(ctx, txUpd, 44, 3)
	require.NoError(t, err)
	require.NoError(t, tx.Rollback(ctx))
	// One that fails, then commits: the server answers COMMIT with ROLLBACK
	// (pgx.ErrTxCommitRollback); "commit" is a successful call on both sides.
	tx, err = pool.Begin(ctx)
	require.NoError(t, err)
	_, err = tx.Exec(ctx, txFail, 0, 1)
	requireSQLState(t, err, "22012")
	require.ErrorIs(t, tx.Commit(ctx), pgx.ErrTxCommitRollback)

	// A batch: three reads, two inserts and a read of by_id's text.
	b := &pgx.Batch{}
	for i := 1; i <= 3; i++ {
		b.Queue(bSel, i)
	}
	b.Queue(ins, 106, "batch 106", 1)
	b.Queue(ins, 107, "batch 107", 2)
	b.Queue(byID, 4)
	br := pool.SendBatch(ctx, b)
	for range b.Len() {
		_, err := br.Exec()
		require.NoError(t, err)
	}
	require.NoError(t, br.Close())
	// A batch whose second statement fails: the third never runs.
	b = &pgx.Batch{}
	b.Queue(bSel, 5)
	b.Queue(bDiv, 0, 5)
	b.Queue(bAfter, 5)
	br = pool.SendBatch(ctx, b)
	_, err = br.Exec()
	require.NoError(t, err)
	_, err = br.Exec()
	requireSQLState(t, err, "22012")
	_, err = br.Exec()
	requireSQLState(t, err, "22012") // pgx repeats the batch's error for what follows
	requireSQLState(t, br.Close(), "22012")

	// CopyFrom.
	var src [][]any
	for i := 1; i <= 100; i++ {
		src = append(src, []any{i, fmt.Sprintf("row %d", i)})
	}
	copied, err := pool.CopyFrom(ctx, pgx.Identifier{"pgss_copy"}, []string{"id", "note"}, pgx.CopyFromRows(src))
	require.NoError(t, err)
	require.EqualValues(t, 100, copied)
	w.copied = copied

	// Statements that fail on the server.
	for range 2 { // at parse analysis: the table does not exist
		_, err = pool.Query(ctx, errUndef, 1)
		requireSQLState(t, err, "42P01")
	}
	for i := range 3 { // at execution
		_, err = pool.Exec(ctx, errDiv, 0, i+1)
		requireSQLState(t, err, "22012")
	}
	for range 2 { // at execution, a text with a constant
		_, err = pool.Exec(ctx, errConst, 1)
		requireSQLState(t, err, "22012")
	}
	exec(1, insDup, 201, "dup") // the same text succeeds twice, then fails once
	exec(1, insDup, 202, "dup")
	_, err = pool.Exec(ctx, insDup, 201, "dup")
	requireSQLState(t, err, "23505")
	// A statement the server runs, whose result the client fails to scan.
	require.Error(t, pool.QueryRow(ctx, scanErr, 1).Scan(&id))

	// Several statements in one text (simple protocol: no arguments).
	exec(2, multi)
	return w
}

func requireSQLState(t *testing.T, err error, code string) {
	t.Helper()
	require.Error(t, err)
	require.Equal(t, code, pgssSQLState(err), "%v", err)
}

func pgssSQLState(err error) string {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		return pgErr.Code
	}
	return ""
}

// pgssServerErrors counts the calls of an entry that failed with a server
// error (a SQLSTATE); ErrorsByCode's other keys ("client", "canceled",
// "timeout", "connection", "pool closed") are client-side failures.
func pgssServerErrors(st tracer.StatementStats) int64 {
	var n int64
	for code, k := range st.ErrorsByCode {
		if pgssSQLStateRE.MatchString(code) {
			n += k
		}
	}
	return n
}

var pgssSQLStateRE = regexp.MustCompile(`^[0-9A-Z]{5}$`)

// The known, intended differences between pg_stat_statements (PostgreSQL
// 15, pg_stat_statements 1.10, default settings: track = top,
// track_utility = on) and pgxperf's statistics. Each is named where the test
// tolerates it and asserted exactly there.
const (
	// pgssRuleFailedStatements: pg_stat_statements counts a statement when
	// its execution ends (ExecutorEnd, or ProcessUtility returning): a
	// statement that fails, at parse analysis, planning or execution, is
	// not counted, and has no row in the view (the entry it may get at
	// parse analysis, when its text has constants, stays hidden while it
	// has no call). pgxperf counts every call, and each error by SQLSTATE.
	// So pgxperf's Calls less its server errors (ErrorsByCode keys that
	// are SQLSTATEs) equal pg_stat_statements' calls; a failed call has 0
	// rows on both sides.
	pgssRuleFailedStatements = "failed statements"
	// pgssRuleClientErrors: an error raised by the client after the server
	// ran the statement (a Scan into the wrong type) is counted by pgxperf
	// as an error with code "client", and by pg_stat_statements as a
	// successful call with its rows: client errors are not subtracted.
	pgssRuleClientErrors = "client errors"
	// pgssRuleInLists: pg_query gives an IN list the same fingerprint
	// whatever its length, pg_stat_statements (before PostgreSQL 18) a
	// queryid per length: one pgxperf entry, a row per list length.
	pgssRuleInLists = "IN list lengths"
	// pgssRuleBatchShape: pg_query fingerprints id = ANY($1) and id IN
	// (…) like id = $1; pgxperf keeps the batch-shaped form in an entry of
	// its own (the per-value and batched forms of an N+1 are reported
	// apart). pg_stat_statements separates = from = ANY (different
	// operators) and IN lists by length, and merges = ANY with nothing.
	pgssRuleBatchShape = "batch shape"
	// pgssRuleSingleIn: Postgres rewrites id IN ($1) to id = $1 at parse
	// analysis, so pg_stat_statements counts it under id = $1's queryid
	// (and keeps the text of whichever came first); pg_query fingerprints
	// them alike too and an IN list of one item is not batch-shaped: both
	// sides merge them.
	pgssRuleSingleIn = "one-item IN"
	// pgssRuleUtilityText: pg_stat_statements (up to PostgreSQL 15)
	// identifies a utility statement (SAVEPOINT, BEGIN…) by a hash of its
	// exact text, comments and letter case included; pg_query by its parse
	// tree. SAVEPOINT written twice differently: one pgxperf entry, two rows.
	pgssRuleUtilityText = "utility statement text"
	// pgssRuleMulti: a text of several statements sent at once (simple
	// protocol) is one pgxperf call of one entry, whose rows are those of
	// all its statements (though pgx's command tag has only the last
	// one's); pg_stat_statements counts each statement in a row of its
	// own: pgxperf's Calls equal each row's calls, its Rows their sum.
	pgssRuleMulti = "multi-statement text"
	// pgssRuleCopy: pgxperf names a CopyFrom `COPY "t" ("a", "b") FROM
	// STDIN`, pg_stat_statements keeps the text pgx sends (`copy "t" (
	// "a", "b" ) from stdin binary`); both count one call with the rows
	// copied. pgx's unnamed prepare of `select "a", "b" from "t"` (for
	// the column types) is never executed: no call on either side.
	pgssRuleCopy = "COPY"
	// pgssRuleBatches: pg_stat_statements does not know batches; each
	// statement of a pgx.Batch is one call on both sides (pgxperf also
	// counts it in BatchCalls). After a statement of a batch fails, the
	// server skips the rest until the batch's Sync: neither side counts
	// them (pgx returns the failure's error for them without tracing).
	pgssRuleBatches = "batches"
	// pgssRuleTransactions: pgx's BEGIN, COMMIT and ROLLBACK ("begin",
	// "commit", "rollback") are one call of 0 rows each on both sides,
	// including a COMMIT the server answers with ROLLBACK; statements of a
	// transaction that rolls back ran, and are counted on both sides.
	pgssRuleTransactions = "transactions"
	// pgssRuleCacheHits: reads served by the query cache never reach the
	// server: pg_stat_statements does not see them, and pgxperf counts them
	// apart from Calls (StatementStats.Cache). Calls and rows count server
	// executions on both sides.
	pgssRuleCacheHits = "cache hits"
	// pgssRuleInternal: pgxperf's own statements (the query cache's
	// catalog reads, marked /* pgxperf:catalog */) are in
	// pg_stat_statements and not the application's: excluded on both sides.
	pgssRuleInternal = "pgxperf's own statements"
)

// reconcilePgss compares the two views; see TestPgStatStatementsReconciliation.
func reconcilePgss(t *testing.T, w *pgssWorkload, snap tracer.Snapshot, pgss []pgssRow) {
	t.Helper()
	entries := snap.Statements
	label := func(s string) string {
		s = strings.Join(strings.Fields(s), " ")
		if len(s) > 90 {
			s = s[:87] + "..."
		}
		return s
	}

	// pg_stat_statements rows → statements.
	rowStmt := make([]*pgssStmt, len(pgss))
	internalRows := 0
	for i, r := range pgss {
		if pgssInternal(r.Query) {
			internalRows++ // pgssRuleInternal
			continue
		}
		var found []*pgssStmt
		for _, s := range w.stmts {
			if s.multi != nil {
				for _, part := range s.multi {
					if (&pgssStmt{tag: part}).matches(r.Query) {
						found = append(found, s)
					}
				}
			} else if s.pgssAs == "" && s.matches(r.Query) {
				found = append(found, s)
			}
		}
		switch len(found) {
		case 0:
			t.Errorf("pg_stat_statements row of no statement of the workload: %q calls=%d rows=%d", r.Query, r.Calls, r.Rows)
		case 1:
			rowStmt[i] = found[0]
		default:
			t.Errorf("pg_stat_statements row %q matches several statements", r.Query)
		}
	}
	t.Logf("%s: %d pg_stat_statements rows of /* pgxperf:catalog */ statements excluded", pgssRuleInternal, internalRows)
	rowsOf := func(s *pgssStmt) []int {
		target := s
		if s.pgssAs != "" {
			target = w.byTag[s.pgssAs]
		}
		var idx []int
		for i, st := range rowStmt {
			if st == target {
				idx = append(idx, i)
			}
		}
		return idx
	}

	// Statements → pgxperf entries.
	entryOf := map[*pgssStmt]int{}
	for _, s := range w.stmts {
		if s.never {
			continue
		}
		i, err := pgssEntryFor(entries, s.sql)
		if err != nil {
			t.Errorf("pgxperf entry of %s: %v", s.tag, err)
			continue
		}
		entryOf[s] = i
	}
	used := map[int]bool{}
	for _, i := range entryOf {
		used[i] = true
	}
	for i, st := range entries {
		if pgssInternal(st.Query) {
			t.Logf("%s: pgxperf entry %q excluded", pgssRuleInternal, label(st.Query))
			continue
		}
		if !used[i] {
			t.Errorf("pgxperf entry of no statement of the workload: %q calls=%d", st.Query, st.Calls)
		}
	}
	if t.Failed() {
		t.FailNow()
	}

	// Groups: the texts link entries and rows (union-find).
	parent := map[string]string{}
	var find func(string) string
	find = func(x string) string {
		if p, ok := parent[x]; ok && p != x {
			r := find(p)
			parent[x] = r
			return r
		}
		parent[x] = x
		return x
	}
	union := func(a, b string) { parent[find(a)] = find(b) }
	xNode := func(i int) string { return fmt.Sprintf("x%d", i) }
	pNode := func(i int) string { return fmt.Sprintf("p%d", i) }
	for _, s := range w.stmts {
		if s.multi != nil || s.never {
			continue // pgssRuleMulti and pgssRuleBatches, checked below
		}
		x := xNode(entryOf[s])
		find(x)
		for _, r := range rowsOf(s) {
			union(x, pNode(r))
		}
	}
	type group struct {
		entries, rows []int
		tags          []string
	}
	groups := map[string]*group{}
	groupOf := func(node string) *group {
		root := find(node)
		g := groups[root]
		if g == nil {
			g = &group{}
			groups[root] = g
		}
		return g
	}
	for _, s := range w.stmts {
		if s.multi == nil && !s.never {
			g := groupOf(xNode(entryOf[s]))
			g.tags = append(g.tags, s.tag)
		}
	}
	for node := range parent {
		g := groupOf(node)
		var i int
		fmt.Sscanf(node[1:], "%d", &i)
		if node[0] == 'x' {
			g.entries = append(g.entries, i)
		} else {
			g.rows = append(g.rows, i)
		}
	}
	var keys []string
	for k := range groups {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool { return groups[keys[i]].tags[0] < groups[keys[j]].tags[0] })
	for _, k := range keys {
		g := groups[k]
		sort.Ints(g.entries)
		sort.Ints(g.rows)
		var xCalls, xErrs, xRows, pCalls, pRows int64
		var desc strings.Builder
		fmt.Fprintf(&desc, "group %v:", g.tags)
		for _, i := range g.entries {
			st := entries[i]
			xCalls += st.Calls
			xErrs += pgssServerErrors(st)
			xRows += st.Rows
			fmt.Fprintf(&desc, "\n\tpgxperf  calls=%-3d serverErrors=%-2d rows=%-4d %v %s", st.Calls, pgssServerErrors(st), st.Rows, st.ErrorsByCode, label(st.Query))
		}
		for _, i := range g.rows {
			r := pgss[i]
			pCalls += r.Calls
			pRows += r.Rows
			fmt.Fprintf(&desc, "\n\tpgss     calls=%-3d rows=%-4d %s", r.Calls, r.Rows, label(r.Query))
		}
		t.Log(desc.String())
		// pgssRuleFailedStatements: server errors are calls for pgxperf only.
		assert.Equal(t, pCalls, xCalls-xErrs, "calls of group %v: pg_stat_statements vs pgxperf Calls less server errors", g.tags)
		assert.Equal(t, pRows, xRows, "rows of group %v", g.tags)
	}

	// Each rule, exactly.
	st := func(tag string) tracer.StatementStats { return entries[entryOf[w.byTag[tag]]] }
	rowsFor := func(tag string) []pgssRow {
		var out []pgssRow
		for _, i := range rowsOf(w.byTag[tag]) {
			out = append(out, pgss[i])
		}
		return out
	}
	one := func(t *testing.T, tag string) pgssRow {
		t.Helper()
		r := rowsFor(tag)
		require.Len(t, r, 1, "pg_stat_statements rows of %s", tag)
		return r[0]
	}
	same := func(a, b string) bool { return entryOf[w.byTag[a]] == entryOf[w.byTag[b]] }
	sameRow := func(a, b string) bool {
		ra, rb := rowsOf(w.byTag[a]), rowsOf(w.byTag[b])
		return len(ra) == 1 && len(rb) == 1 && ra[0] == rb[0]
	}

	t.Run(pgssRuleFailedStatements, func(t *testing.T) {
		// At parse analysis (42P01): pgxperf 2 calls, 2 errors; no row.
		x := st("err_undef")
		assert.Equal(t, int64(2), x.Calls)
		assert.Equal(t, map[string]int64{"42P01": 2}, x.ErrorsByCode)
		assert.Empty(t, rowsFor("err_undef"), "a statement failing at parse analysis has no row")
		// At execution (22012), a text without constants: no row either.
		x = st("err_div")
		assert.Equal(t, int64(3), x.Calls)
		assert.Equal(t, map[string]int64{"22012": 3}, x.ErrorsByCode)
		assert.Empty(t, rowsFor("err_div"), "a failing text without constants has no row")
		// At execution, a text with a constant: the entry made at parse
		// analysis (to keep its normalized text) has no call, and the view
		// hides such "sticky" entries.
		x = st("err_const")
		assert.Equal(t, int64(2), x.Calls)
		assert.Equal(t, map[string]int64{"22012": 2}, x.ErrorsByCode)
		assert.Empty(t, rowsFor("err_const"), "a failing text with constants has no row either")
		// One text, 2 successes and a failure (23505): 3 calls and 1 error
		// against 2 calls.
		x = st("ins_dup")
		assert.Equal(t, int64(3), x.Calls)
		assert.Equal(t, map[string]int64{"23505": 1}, x.ErrorsByCode)
		assert.Equal(t, int64(2), one(t, "ins_dup").Calls)
		assert.Equal(t, int64(2), x.Rows)
		assert.Equal(t, int64(2), one(t, "ins_dup").Rows)
		// In a transaction, then COMMIT: the failed statement's only call.
		x = st("tx_fail")
		assert.Equal(t, int64(1), x.Calls)
		assert.Equal(t, map[string]int64{"22012": 1}, x.ErrorsByCode)
		assert.Empty(t, rowsFor("tx_fail"))
	})
	t.Run(pgssRuleClientErrors, func(t *testing.T) {
		x, r := st("scan_err"), one(t, "scan_err")
		assert.Equal(t, map[string]int64{"client": 1}, x.ErrorsByCode)
		assert.Equal(t, int64(1), x.Calls)
		assert.Equal(t, int64(1), r.Calls, "the server ran it")
		assert.Equal(t, int64(1), x.Rows)
		assert.Equal(t, int64(1), r.Rows)
	})
	t.Run(pgssRuleInLists, func(t *testing.T) {
		assert.True(t, same("in2", "in3"), "pg_query fingerprints IN lists of any length alike: one pgxperf entry")
		assert.False(t, sameRow("in2", "in3"), "pg_stat_statements has a row per IN list length")
		assert.Equal(t, int64(2), one(t, "in2").Calls)
		assert.Equal(t, int64(1), one(t, "in3").Calls)
	})
	t.Run(pgssRuleBatchShape, func(t *testing.T) {
		assert.False(t, sameRow("by_id", "any"), "pg_stat_statements tells = from = ANY")
		assert.False(t, sameRow("any", "in2"), "pg_stat_statements tells = ANY from IN")
		assert.True(t, same("any", "in2"), "pgxperf: one batch-shaped entry for = ANY and IN lists")
		assert.False(t, same("by_id", "any"),
			"pgxperf keeps the batch-shaped form (= ANY, IN (…)) apart from id = $1, which pg_query fingerprints alike "+
				"(known: this separation is being added concurrently to this test; this fails until it lands)")
		assert.Equal(t, st("by_id").Fingerprint, st("any").Fingerprint, "one pg_query fingerprint for both forms")
		x := st("any")
		r := rowsFor("any")
		require.Len(t, r, 1)
		assert.Equal(t, int64(3), r[0].Calls)
		assert.Equal(t, int64(5), r[0].Rows)
		if !same("by_id", "any") {
			// Its entry holds = ANY (3 calls, 5 rows), IN of 2 (2 calls, 3 rows), IN of 3 (1 call, 3 rows).
			assert.Equal(t, int64(6), x.Calls)
			assert.Equal(t, int64(11), x.Rows)
		}
	})
	t.Run(pgssRuleSingleIn, func(t *testing.T) {
		assert.True(t, same("in1", "by_id"), "pgxperf: IN ($1) is id = $1")
		for _, r := range pgss {
			assert.NotContains(t, r.Query, "/*pgss:in1*/", "pg_stat_statements keeps the text of the first statement of the queryid (by_id)")
		}
		// by_id: 10 Query + 1 QueryRow (no row) + 1 in a batch; in1: 2.
		r := one(t, "by_id")
		assert.Equal(t, int64(14), r.Calls)
		assert.Equal(t, int64(13), r.Rows)
		if !same("by_id", "any") {
			assert.Equal(t, int64(14), st("by_id").Calls)
			assert.Equal(t, int64(13), st("by_id").Rows)
		}
	})
	t.Run(pgssRuleUtilityText, func(t *testing.T) {
		assert.True(t, same("sp_a", "sp_b"), "pg_query: one fingerprint for SAVEPOINT, whatever its case and comments")
		assert.False(t, sameRow("sp_a", "sp_b"), "pg_stat_statements: a row per text of a utility statement")
		assert.Equal(t, int64(2), st("sp_a").Calls)
		assert.Equal(t, int64(1), one(t, "sp_a").Calls)
		assert.Equal(t, int64(1), one(t, "sp_b").Calls)
	})
	t.Run(pgssRuleMulti, func(t *testing.T) {
		// multi through Pool.Exec, multi_tx through a transaction's Exec:
		// each updates or deletes 1 row, then 2.
		for _, tag := range []string{"multi", "multi_tx"} {
			m := w.byTag[tag]
			x := entries[entryOf[m]]
			assert.Equal(t, "multi", x.Kind, tag)
			assert.Equal(t, int64(1), x.Calls, tag)
			var parts []pgssRow
			for _, i := range rowsOf(m) {
				parts = append(parts, pgss[i])
			}
			require.Len(t, parts, 2, "%s: a row per statement of the text", tag)
			sort.Slice(parts, func(i, j int) bool { return strings.Contains(parts[i].Query, "/*pgss:"+m.multi[0]+"*/") })
			var sum int64
			for _, p := range parts {
				assert.Equal(t, x.Calls, p.Calls, "%s: each statement once per call: %s", tag, p.Query)
				sum += p.Rows
			}
			assert.Equal(t, []int64{1, 2}, []int64{parts[0].Rows, parts[1].Rows}, tag)
			assert.Equal(t, sum, x.Rows, "%s: pgxperf's rows are every statement's, as Pool.Exec adds them up (pgx's command tag has only the last one's)", tag)
		}
	})
	t.Run(pgssRuleCopy, func(t *testing.T) {
		x, r := st("copy"), one(t, "copy")
		assert.Equal(t, "copy", x.Kind)
		assert.Equal(t, int64(1), x.Calls)
		assert.Equal(t, int64(1), r.Calls)
		assert.Equal(t, w.copied, x.Rows)
		assert.Equal(t, w.copied, r.Rows)
		for _, r := range pgss {
			assert.NotContains(t, strings.ToLower(r.Query), `select "id", "note" from`, "the column-type prepare is not executed")
		}
	})
	t.Run(pgssRuleBatches, func(t *testing.T) {
		x, r := st("b_sel"), one(t, "b_sel")
		assert.Equal(t, int64(4), x.Calls)
		assert.Equal(t, int64(4), x.BatchCalls)
		assert.Equal(t, int64(4), r.Calls)
		// ins: 5 Exec calls and 2 in the batch.
		assert.Equal(t, int64(7), st("ins").Calls)
		assert.Equal(t, int64(2), st("ins").BatchCalls)
		assert.Equal(t, int64(7), one(t, "ins").Calls)
		assert.Equal(t, int64(1), st("b_div").Calls)
		assert.Equal(t, map[string]int64{"22012": 1}, st("b_div").ErrorsByCode)
		assert.Empty(t, rowsFor("b_div"))
		// Skipped after the failure: no call on either side (pgx
		// prepared it with the batch, which records nothing).
		_, err := pgssEntryFor(entries, w.byTag["b_after"].sql)
		assert.Error(t, err, "b_after never ran: no pgxperf entry")
		assert.Empty(t, rowsFor("b_after"), "b_after never ran")
	})
	t.Run(pgssRuleTransactions, func(t *testing.T) {
		for tag, want := range map[string]int64{"begin": 3, "commit": 2, "rollback": 1} {
			x, r := st(tag), one(t, tag)
			assert.Equal(t, want, x.Calls, tag)
			assert.Equal(t, want, r.Calls, tag)
			assert.Zero(t, x.Rows, tag)
			assert.Zero(t, r.Rows, tag)
		}
		// tx_upd: 2 in the committed transaction, 1 in the rolled back one.
		assert.Equal(t, int64(3), st("tx_upd").Calls)
		assert.Equal(t, int64(3), one(t, "tx_upd").Calls)
	})
	t.Run(pgssRuleCacheHits, func(t *testing.T) {
		x, r := st("cached"), one(t, "cached")
		assert.Equal(t, r.Calls, x.Calls, "Calls count server executions")
		assert.GreaterOrEqual(t, r.Calls, int64(1), "the first read is a miss")
		assert.Less(t, r.Calls, w.cachedSent, "the cache served some of the %d reads", w.cachedSent)
		assert.Equal(t, 7*r.Calls, r.Rows)
		assert.Equal(t, 7*x.Calls, x.Rows)
		assert.Equal(t, w.cachedSent-r.Calls, x.Cache.Hits,
			"StatementStats.Cache.Hits: the reads the server never saw (known: fails while the Pool does not report "+
				"its cache hits to the tracer, Tracer.ObserveCacheHit)")
		assert.Equal(t, 7*x.Cache.Hits, x.Cache.Rows)
	})
	t.Run(pgssRuleInternal, func(t *testing.T) {
		assert.Positive(t, internalRows, "the cache read the catalog (pg_stat_statements saw /* pgxperf:catalog */ statements)")
	})
}

// pgssEntryFor returns the index of the pgxperf entry of a text sent:
// the entry of its fingerprint, or, when pgxperf kept the batch-shaped form
// apart (two entries of one fingerprint), the one of the same shape.
func pgssEntryFor(entries []tracer.StatementStats, sql string) (int, error) {
	info := sqlinfo.Analyze(sql)
	var cands []int
	for i, st := range entries {
		if st.Fingerprint == info.Fingerprint && !pgssInternal(st.Query) {
			cands = append(cands, i)
		}
	}
	if len(cands) > 1 {
		cands = slices.DeleteFunc(cands, func(i int) bool { return entries[i].BatchShaped != info.BatchShaped })
	}
	switch len(cands) {
	case 0:
		return -1, fmt.Errorf("no entry of fingerprint %s (%q)", info.FingerprintHex, sql)
	case 1:
		return cands[0], nil
	}
	return -1, fmt.Errorf("%d entries of fingerprint %s and shape %v (%q)", len(cands), info.FingerprintHex, info.BatchShaped, sql)
}
