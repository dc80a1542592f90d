package pgxperf_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/pgxperf/pgxperf/internal/testenv"
	"github.com/pgxperf/pgxperf/pgxperf"
	"github.com/pgxperf/pgxperf/tracer"
)

// FuzzPool sends arbitrary SQL with generated arguments through every
// statement entry point of a pgxperf.Pool (Exec, Query with its rows read
// and closed, QueryRow().Scan, SendBatch, Begin/Exec/Rollback) and the same
// calls through a plain pgxpool.Pool on the same database, and asserts for
// each call:
//
//   - pgxperf does not panic;
//   - it returns within fuzzOpBound (the call's context has a deadline of
//     fuzzOpDeadline, the role a statement_timeout of 1 s);
//   - its error has the class pgxpool's has (fuzzClass): both nil, both
//     *pgconn.PgError with the same SQLSTATE, both pgx.ErrNoRows, both
//     context errors, or both other (client-side) errors. A call of several
//     parts (a batch's results, a transaction's steps) compares each part.
//     An input on which pgxpool itself panics or hangs (a pgx defect) fails
//     the test too: there is no answer to compare pgxperf's with.
//
// The database is the test's own, reached as a role of its own that can
// read a schema of seeded tables and create temporary tables (each new
// connection gets one, scratch), and nothing else: no input can leave
// lasting state that makes the two pools' answers differ. Each pool has one
// connection and both run the same calls in the same order (interleaved),
// so session state an input sets (SET, PREPARE, temporary tables, an open
// transaction) is the same on both sides; after an input that left any
// (fuzzPristineSQL), both pools are reset (connections closed), so every
// input starts from a new session's state. Whatever an input might still
// change for the other pool's call (an advisory lock held by a closing
// connection, a large object, its role's settings) is caught by running the
// calls a second time, pgxpool first, when the classes differ: a difference
// that the second run does not repeat came from the input's own effect, and
// is only logged.
//
// Known pgx defect (pgx v5.13.0), kept in the corpus: an empty SQL string
// panics inside pgx wherever pgx would cache its statement description (its
// statement cache refuses the empty key): queued in a pgx.Batch (seed ""),
// or sent with arguments through Exec, the Pool's or a transaction's, in
// the default and the CacheDescribe modes (testdata/fuzz/FuzzPool/
// aa23650447db9b9c, found by the fuzzer). With a batch tracer installed, as
// pgxperf has, a batch's panic is replaced by pgx's deferred earlyError
// assertion on the nil result ("interface conversion: interface is nil").
// The server answers an empty statement as it answers ";", so the expected
// answer is pgxpool's to the same calls with ";" in place of "": the
// reference is sent that way (a panic would also leave its connection
// acquired for good). A pgxperf panic on "" is reported as this known defect.
func FuzzPool(f *testing.F) {
	env := newFuzzEnv(f)
	for _, s := range fuzzSeeds() {
		f.Add(s.sql, s.str, s.code)
	}
	f.Fuzz(func(t *testing.T, sql, str string, code []byte) {
		env.check(t, sql, str, code)
	})
}

const (
	// fuzzOpDeadline is the context deadline of each call.
	fuzzOpDeadline = 5 * time.Second
	// fuzzOpBound is how long a call may take before the test fails: a
	// call that ignores its context's deadline is a hang.
	fuzzOpBound = 10 * time.Second
)

type fuzzSeed struct {
	sql, str string
	code     []byte
}

// fuzzSeeds are the interesting inputs the fuzzer starts from. code
// generates the arguments (fuzzArgs): each byte one argument; a first byte
// from 0xF0 selects a pgx.QueryExecMode argument or pgx.NamedArgs.
func fuzzSeeds() []fuzzSeed {
	noArgs := []byte{}
	oneInt := []byte{1}                  // int64(1)
	str := []byte{3}                     // the string
	mixed := []byte{1, 3, 0, 4, 5, 6, 7} // int, string, nil, bytes, bool, float, array
	inList := func(n int, placeholders bool) string {
		var b strings.Builder
		b.WriteString("SELECT id FROM items WHERE id IN (")
		for i := 1; i <= n; i++ {
			if i > 1 {
				b.WriteString(", ")
			}
			if placeholders {
				fmt.Fprintf(&b, "$%d", i)
			} else {
				fmt.Fprintf(&b, "%d", i)
			}
		}
		b.WriteString(")")
		return b.String()
	}
	seeds := []fuzzSeed{
		// Empty, blank, comments only. "" queued in a batch is the known
		// pgx panic (see FuzzPool).
		{"", "", noArgs},
		{"   \n\t", "", noArgs},
		{";", "", noArgs},
		{"/* only a comment */", "", noArgs},
		{"-- a line comment", "", noArgs},
		{"/* a /* nested */ comment */", "", noArgs},
		{"/* a /* nested */ comment */ SELECT 1", "", noArgs},
		{"/* unterminated /* nested */ comment SELECT 1", "", noArgs},
		{"SELECT 1 " + strings.Repeat("/*", 70) + strings.Repeat("*/", 70), "", noArgs},
		// Plain statements, with and without arguments.
		{"SELECT 1", "", noArgs},
		{"SELECT id, name FROM items WHERE id = $1", "", oneInt},
		{"SELECT id, name FROM items WHERE name = $1", "item 3", str},
		{"SELECT id FROM items WHERE id = ANY($1)", "", []byte{7}},
		{"SELECT $1::int + $2::int", "", []byte{1, 1}},
		{"SELECT $1, $2, $3, $4, $5, $6, $7", "x", mixed},
		{"VALUES (1, 'a'), (2, 'b')", "", noArgs},
		{"TABLE items", "", noArgs},
		{"SELECT * FROM items ORDER BY id LIMIT $1 OFFSET $2", "", []byte{1, 1}},
		{"SELECT name FROM items WHERE id = @id", "", []byte{0xF4}},
		{"SELECT @s::text, @n::int, @id::int", "named", []byte{0xF4}},
		{"SELECT $1::text", "simple", []byte{0xF0, 3}},
		{"SELECT $1::bytea", "exec", []byte{0xF1, 4}},
		{"SELECT $1::int", "", []byte{0xF2, 1}},
		{"SELECT $1::text", "", []byte{0xF3, 3}},
		// Huge IN lists.
		{inList(5000, false), "", noArgs},
		{inList(2000, true), "", noArgs},
		{inList(3, true), "", []byte{1, 1, 1}},
		// Several statements in one text.
		{"SELECT 1; SELECT 2", "", noArgs},
		{"SELECT 1; SELECT $1", "", oneInt},
		{"INSERT INTO scratch VALUES (1, 'a'); SELECT count(*) FROM scratch", "", noArgs},
		{"SELECT 1; SELECT 1/0; SELECT 3", "", noArgs},
		{"BEGIN; SELECT 1; COMMIT", "", noArgs},
		// Unterminated quotes and dollar quotes.
		{"SELECT 'unterminated", "", noArgs},
		{`SELECT "unterminated`, "", noArgs},
		{"SELECT $$unterminated", "", noArgs},
		{"SELECT $tag$unterminated$ta$", "", noArgs},
		{"SELECT E'\\'", "", noArgs},
		{"SELECT $1 $$ $1", "", oneInt},
		// Invalid UTF-8 and NUL bytes, in the SQL and in arguments.
		{"SELECT '\xff\xfe'", "", noArgs},
		{"SELECT \xc3", "", noArgs},
		{"SELECT $1::text", "\xff\xfe\xfd", str},
		{"SELECT $1::bytea", "\xff\x00", []byte{4}},
		{"SELECT 1\x00", "", noArgs},
		{"SELECT '\x00'", "", noArgs},
		{"SELECT $1::text", "a\x00b", str},
		{"SELECT $1::text", "a\x00b", []byte{0xF0, 3}},
		// Placeholders without (or with too many) arguments.
		{"SELECT $1", "", noArgs},
		{"SELECT $1::int + $2::int", "", oneInt},
		{"SELECT 1", "", []byte{1, 3}},
		{"SELECT $99999", "", noArgs},
		{"SELECT $0", "", noArgs},
		{"SELECT $1::int", "", []byte{3}},
		{"SELECT $1::int", "12", []byte{3}},
		{"SELECT $1::int[]", "", []byte{7}},
		{"SELECT $1::jsonb", "{", str},
		// Deep parentheses.
		{"SELECT " + strings.Repeat("(", 500) + "1" + strings.Repeat(")", 500), "", noArgs},
		{"SELECT " + strings.Repeat("(", 3000) + "1" + strings.Repeat(")", 3000), "", noArgs},
		{"SELECT " + strings.Repeat("(", 100), "", noArgs},
		{"SELECT 1" + strings.Repeat("+1", 3000), "", noArgs},
		// pgxperf's hints, as hints and inside string literals.
		{"SELECT '/* pgxperf:primary */' FROM items WHERE id = $1", "", oneInt},
		{"SELECT '-- pgxperf:primary', $1::text", "", str},
		{"SELECT /* pgxperf:primary */ 1", "", noArgs},
		{"SELECT $$ /* pgxperf:cache ttl=1m */ $$, name FROM items", "", noArgs},
		{"/* pgxperf:cache ttl=1m */ SELECT name FROM items WHERE id = $1", "", oneInt},
		{"/* pgxperf:catalog */ SELECT 1", "", noArgs},
		{"SELECT 'a' /* pgxperf:nocache */ || $1", "", str},
		// Writes: refused in the read-only schema, allowed on the temporary table.
		{"INSERT INTO items (id, name) VALUES ($1, $2)", "new", []byte{1, 3}},
		{"UPDATE items SET name = 'x'", "", noArgs},
		{"DELETE FROM items", "", noArgs},
		{"CREATE TABLE t (x int)", "", noArgs},
		{"INSERT INTO scratch VALUES ($1, $2)", "note", []byte{1, 3}},
		{"UPDATE scratch SET note = $1 RETURNING *", "n", str},
		{"CREATE TEMP TABLE t (x int)", "", noArgs},
		{"SELECT * FROM items FOR UPDATE", "", noArgs},
		// Transaction control and session state.
		{"BEGIN", "", noArgs},
		{"COMMIT", "", noArgs},
		{"ROLLBACK", "", noArgs},
		{"SAVEPOINT a", "", noArgs},
		{"SET search_path = pg_catalog", "", noArgs},
		{"SET statement_timeout = 1", "", noArgs},
		{"DISCARD ALL", "", noArgs},
		{"DEALLOCATE ALL", "", noArgs},
		{"PREPARE p AS SELECT 1", "", noArgs},
		{"EXECUTE p", "", noArgs},
		{"LISTEN ch", "", noArgs},
		{"NOTIFY ch, 'x'", "", noArgs},
		{"COPY items TO STDOUT", "", noArgs},
		// Not seeded: COPY … FROM STDIN, for which pgx waits for the
		// context's deadline on both pools (the server waits for the
		// data), so every call of an input costs fuzzOpDeadline.
		{"EXPLAIN SELECT * FROM items", "", noArgs},
		{"SHOW ALL", "", noArgs},
		{"DO $$ BEGIN RAISE NOTICE 'x'; END $$", "", noArgs},
		// Errors raised by the server.
		{"SELECT 1/0", "", noArgs},
		{"SELECT 1/$1::int", "", []byte{0}},
		{"SELECT * FROM missing", "", noArgs},
		{"SELEC 1", "", noArgs},
		{"SELECT pg_sleep(0.01)", "", noArgs},
		{"SELECT pg_cancel_backend(pg_backend_pid())", "", noArgs},
	}
	return seeds
}

// fuzzArgs builds the arguments of an input from its code bytes.
func fuzzArgs(str string, code []byte) []any {
	var args []any
	if len(code) > 0 && code[0] >= 0xF0 {
		switch code[0] & 0x07 {
		case 0:
			args = append(args, pgx.QueryExecModeSimpleProtocol)
		case 1:
			args = append(args, pgx.QueryExecModeExec)
		case 2:
			args = append(args, pgx.QueryExecModeDescribeExec)
		case 3:
			args = append(args, pgx.QueryExecModeCacheDescribe)
		case 4:
			return []any{pgx.NamedArgs{"id": int64(len(str) % 30), "s": str, "n": nil}}
		default:
			args = append(args, pgx.QueryExecModeCacheStatement)
		}
		code = code[1:]
	}
	for i, b := range code {
		if i == 8 {
			break
		}
		switch b % 8 {
		case 0:
			args = append(args, nil)
		case 1:
			args = append(args, int64(int8(b))>>3)
		case 2:
			args = append(args, int64(b)<<40)
		case 3:
			args = append(args, str)
		case 4:
			args = append(args, []byte(str))
		case 5:
			args = append(args, b&0x10 != 0)
		case 6:
			args = append(args, float64(b)/3)
		case 7:
			args = append(args, []int64{int64(b), 2, 3})
		}
	}
	return args
}

// fuzzDB is the method set both pools are called through.
type fuzzDB interface {
	Exec(context.Context, string, ...any) (pgconn.CommandTag, error)
	Query(context.Context, string, ...any) (pgx.Rows, error)
	QueryRow(context.Context, string, ...any) pgx.Row
	SendBatch(context.Context, *pgx.Batch) pgx.BatchResults
	Begin(context.Context) (pgx.Tx, error)
	Reset()
}

var (
	_ fuzzDB = (*pgxperf.Pool)(nil)
	_ fuzzDB = (*pgxpool.Pool)(nil)
)

// fuzzEnv holds the database, the role and the two pools of FuzzPool.
type fuzzEnv struct {
	cfg   *pgxpool.Config // the role's config, one connection
	admin string          // the primary as postgres, to end the role's sessions
	role  string

	mu   sync.Mutex
	perf *pgxperf.Pool
	ref  *pgxpool.Pool
}

const fuzzSchema = `
CREATE SCHEMA fuzz;
CREATE TABLE fuzz.items (id int PRIMARY KEY, name text NOT NULL, tags text[], data bytea, doc jsonb);
INSERT INTO fuzz.items
	SELECT g, 'item ' || g, ARRAY['t' || g % 3], decode(md5(g::text), 'hex'), jsonb_build_object('g', g)
	FROM generate_series(1, 20) g;
CREATE VIEW fuzz.item_names AS SELECT id, name FROM fuzz.items;
REVOKE ALL ON SCHEMA public FROM PUBLIC;
`

func newFuzzEnv(f *testing.F) *fuzzEnv {
	f.Helper()
	primary := testenv.RequirePrimary(f)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	// A role of its own: it can read the schema fuzz and create temporary
	// tables, nothing else. Made before the database, so that its cleanup
	// runs after the database (and the role's grants in it) is dropped.
	role, password := testenv.NewRole(f)
	e := &fuzzEnv{admin: primary, role: role}
	grants := fmt.Sprintf(`
DO $$ BEGIN
	EXECUTE format('REVOKE ALL ON DATABASE %%I FROM PUBLIC', current_database());
	EXECUTE format('GRANT CONNECT, TEMPORARY ON DATABASE %%I TO %%I', current_database(), %[1]s);
END $$;
GRANT USAGE ON SCHEMA fuzz TO %[2]s;
GRANT SELECT ON ALL TABLES IN SCHEMA fuzz TO %[2]s;`, quoteLiteral(role), pgx.Identifier{role}.Sanitize())
	dsn := testenv.NewDatabase(f, testenv.WithoutSchema(), testenv.WithSQL(fuzzSchema), testenv.WithSQL(grants))

	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		f.Fatalf("FuzzPool: %v", err)
	}
	cfg.ConnConfig.User = role
	cfg.ConnConfig.Password = password
	cfg.ConnConfig.RuntimeParams["search_path"] = "fuzz"
	cfg.ConnConfig.RuntimeParams["statement_timeout"] = "1000"
	cfg.ConnConfig.RuntimeParams["lock_timeout"] = "1000"
	cfg.ConnConfig.RuntimeParams["idle_in_transaction_session_timeout"] = "20000"
	cfg.MaxConns, cfg.MinConns = 1, 0
	cfg.AfterConnect = func(ctx context.Context, c *pgx.Conn) error {
		_, err := c.Exec(ctx, "CREATE TEMP TABLE scratch (id int, note text)")
		return err
	}
	e.cfg = cfg
	e.newPools(ctx, f)
	f.Cleanup(e.close)
	return e
}

func quoteLiteral(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }

// newPools replaces both pools. Old ones are dropped without Close when a
// panic or a hang left a connection acquired for good (Close would wait for
// it); endSessions ends their server connections.
func (e *fuzzEnv) newPools(ctx context.Context, tb testing.TB) {
	perf, err := pgxperf.NewFromConfig(ctx, &pgxperf.Config{Pool: e.cfg,
		Logger:       slog.New(slog.NewTextHandler(io.Discard, nil)),
		Tracer:       tracer.Config{SlowThreshold: -1},
		CloseTimeout: 5 * time.Second,
	})
	if err != nil {
		tb.Fatalf("FuzzPool: pgxperf.NewFromConfig: %v", err)
	}
	ref, err := pgxpool.NewWithConfig(ctx, e.cfg)
	if err != nil {
		perf.Close()
		tb.Fatalf("FuzzPool: pgxpool.NewWithConfig: %v", err)
	}
	e.perf, e.ref = perf, ref
}

func (e *fuzzEnv) close() {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.perf != nil {
		e.perf.Close()
		e.ref.Close()
		e.perf, e.ref = nil, nil
	}
}

// endSessions terminates the role's server connections.
func (e *fuzzEnv) endSessions(ctx context.Context) {
	conn, err := pgx.Connect(ctx, e.admin)
	if err != nil {
		return
	}
	defer conn.Close(context.Background())
	_, _ = conn.Exec(ctx, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = $1", e.role)
}

// fuzzOp is one call of the sequence run for each input.
type fuzzOp struct {
	name string
	run  func(ctx context.Context, db fuzzDB, sql string, args []any) string
}

// fuzzOps are the calls made for each input, in order, on each pool. Each
// returns its outcome as a class (fuzzClass), several parts joined by spaces.
var fuzzOps = []fuzzOp{
	{"Exec", func(ctx context.Context, db fuzzDB, sql string, args []any) string {
		_, err := db.Exec(ctx, sql, args...)
		return fuzzClass(err)
	}},
	{"Query", func(ctx context.Context, db fuzzDB, sql string, args []any) string {
		rows, err := db.Query(ctx, sql, args...)
		if err != nil {
			if rows != nil {
				rows.Close()
			}
			return fuzzClass(err)
		}
		var valuesErr error
		for rows.Next() {
			if _, err := rows.Values(); err != nil && valuesErr == nil {
				valuesErr = err
			}
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return fuzzClass(err)
		}
		return fuzzClass(valuesErr)
	}},
	{"QueryRow", func(ctx context.Context, db fuzzDB, sql string, args []any) string {
		var v any
		return fuzzClass(db.QueryRow(ctx, sql, args...).Scan(&v))
	}},
	{"SendBatch", func(ctx context.Context, db fuzzDB, sql string, args []any) string {
		// The statement with its arguments, again without (a wrong
		// count unless it has none), then a statement that is fine.
		b := &pgx.Batch{}
		b.Queue(sql, args...)
		b.Queue(sql)
		b.Queue("SELECT 1")
		br := db.SendBatch(ctx, b)
		var parts []string
		for range b.Len() {
			_, err := br.Exec()
			parts = append(parts, fuzzClass(err))
		}
		parts = append(parts, "close="+fuzzClass(br.Close()))
		return strings.Join(parts, " ")
	}},
	{"Begin/Exec/Rollback", func(ctx context.Context, db fuzzDB, sql string, args []any) string {
		tx, err := db.Begin(ctx)
		if err != nil {
			return "begin=" + fuzzClass(err)
		}
		_, execErr := tx.Exec(ctx, sql, args...)
		return "exec=" + fuzzClass(execErr) + " rollback=" + fuzzClass(tx.Rollback(ctx))
	}},
}

// fuzzClass is the class of a call's error, compared between the pools.
func fuzzClass(err error) string {
	var pgErr *pgconn.PgError
	switch {
	case err == nil:
		return "ok"
	case errors.As(err, &pgErr):
		return "sqlstate:" + pgErr.Code
	case errors.Is(err, pgx.ErrNoRows):
		return "no-rows"
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled):
		return "context"
	}
	return "client"
}

// fuzzOutcome is what one call did on one pool.
type fuzzOutcome struct {
	class   string
	panic   any // recovered panic value, if it panicked
	hung    bool
	elapsed time.Duration
}

func (o fuzzOutcome) String() string {
	switch {
	case o.hung:
		return fmt.Sprintf("no return within %v", fuzzOpBound)
	case o.panic != nil:
		return fmt.Sprintf("panic: %v", o.panic)
	}
	return o.class
}

// call runs one op on db, recovering a panic, bounded by fuzzOpBound.
func (e *fuzzEnv) call(op fuzzOp, db fuzzDB, sql string, args []any) fuzzOutcome {
	done := make(chan fuzzOutcome, 1)
	start := time.Now()
	go func() {
		var out fuzzOutcome
		defer func() {
			if r := recover(); r != nil {
				out.panic = r
				if out.panic == nil {
					out.panic = "nil"
				}
			}
			out.elapsed = time.Since(start)
			done <- out
		}()
		ctx, cancel := context.WithTimeout(context.Background(), fuzzOpDeadline)
		defer cancel()
		out.class = op.run(ctx, db, sql, args)
	}()
	select {
	case out := <-done:
		return out
	case <-time.After(fuzzOpBound):
		return fuzzOutcome{hung: true, elapsed: time.Since(start)}
	}
}

// fuzzRun is one run of the op sequence on both pools.
type fuzzRun struct {
	perf, ref []fuzzOutcome
	broken    bool // a pool panicked or hung: the pools were replaced
}

// run calls each op on both pools, the pgxperf pool first unless refFirst,
// and stops after an op that panicked or hung on either (its pool has a
// connection acquired for good, and the two sessions no longer match).
func (e *fuzzEnv) run(t *testing.T, sql string, args []any, refFirst bool) fuzzRun {
	var r fuzzRun
	refSQL := sql
	if sql == "" {
		// pgx panics on empty SQL wherever it would cache a statement
		// description (a batch; Exec, Query… with arguments): known, see
		// FuzzPool. The server answers an empty statement as it answers
		// ";", so pgxpool's answer without the defect is its answer to ";".
		refSQL = ";"
	}
	for _, op := range fuzzOps {
		var p, q fuzzOutcome
		if refFirst {
			q = e.call(op, e.ref, refSQL, args)
			p = e.call(op, e.perf, sql, args)
		} else {
			p = e.call(op, e.perf, sql, args)
			q = e.call(op, e.ref, refSQL, args)
		}
		r.perf, r.ref = append(r.perf, p), append(r.ref, q)
		if p.panic != nil || p.hung || q.panic != nil || q.hung {
			r.broken = true
			break
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	switch {
	case r.broken:
		e.endSessions(ctx)
		e.newPools(ctx, t)
	case !fuzzPristine(ctx, e.perf) || !fuzzPristine(ctx, e.ref):
		e.perf.Reset()
		e.ref.Reset()
	}
	return r
}

// fuzzPristineSQL is true on a session in the state a new connection starts
// in, as far as a statement of the role can change it: no setting changed
// by SET, no SQL-level prepared statement, cursor, LISTEN or advisory lock,
// nothing in its temporary schema but an empty scratch of the original
// columns. It fails when scratch is gone.
const fuzzPristineSQL = `SELECT
	(SELECT count(*) FROM pg_settings WHERE source = 'session')
	+ (SELECT count(*) FROM pg_prepared_statements WHERE from_sql)
	+ (SELECT count(*) FROM pg_cursors WHERE name <> '') -- '': this statement's portal
	+ (SELECT count(*) FROM pg_listening_channels())
	+ (SELECT count(*) FROM pg_locks WHERE pid = pg_backend_pid() AND locktype = 'advisory')
	+ (SELECT count(*) FROM pg_class WHERE relnamespace = pg_my_temp_schema() AND relname <> 'scratch')
	+ (SELECT count(*) FROM pg_proc WHERE pronamespace = pg_my_temp_schema())
	+ (SELECT count(*) FROM pg_type WHERE typnamespace = pg_my_temp_schema() AND typname NOT IN ('scratch', '_scratch'))
	+ (SELECT count(*) FROM pg_constraint WHERE conrelid = 'pg_temp.scratch'::regclass)
	+ (SELECT count(*) FROM pg_trigger WHERE tgrelid = 'pg_temp.scratch'::regclass)
	+ (SELECT count(*) FROM pg_rewrite WHERE ev_class = 'pg_temp.scratch'::regclass)
	+ (SELECT count(*) FROM pg_policy WHERE polrelid = 'pg_temp.scratch'::regclass)
	+ (SELECT count(*) FROM pg_temp.scratch) = 0
	AND (SELECT string_agg(attname || ' ' || format_type(atttypid, atttypmod) || ' ' || attnotnull::text, ',' ORDER BY attnum)
		FROM pg_attribute WHERE attrelid = 'pg_temp.scratch'::regclass AND attnum > 0 AND NOT attisdropped)
		= 'id integer false,note text false'
	AND (SELECT reloptions IS NULL AND NOT relrowsecurity FROM pg_class WHERE oid = 'pg_temp.scratch'::regclass)`

// fuzzPristine reports whether db's connection is as new (fuzzPristineSQL),
// so the next input may use it: reconnecting costs more than the rest of an
// input, and each input must find the state a single run of it would.
func fuzzPristine(ctx context.Context, db fuzzDB) bool {
	var ok bool
	return db.QueryRow(ctx, fuzzPristineSQL).Scan(&ok) == nil && ok
}

// agree reports whether pgxperf's outcome of op i matches pgxpool's.
func (r fuzzRun) agree(i int) bool {
	p, q := r.perf[i], r.ref[i]
	switch {
	case p.panic != nil || p.hung || q.hung:
		return false
	case q.panic != nil:
		// pgxpool panicked (a pgx defect other than the one the
		// SendBatch op works around): there is no class to compare
		// with, and what pgxperf should do is a decision to make.
		return false
	}
	return p.class == q.class
}

func (r fuzzRun) agreeAll() bool {
	for i := range r.perf {
		if !r.agree(i) {
			return false
		}
	}
	return true
}

func (r fuzzRun) report() string {
	var b strings.Builder
	for i := range r.perf {
		mark := "  "
		if !r.agree(i) {
			mark = "≠ "
		}
		fmt.Fprintf(&b, "\n\t%s%-20s pgxperf: %-40s pgxpool: %s", mark, fuzzOps[i].name, r.perf[i], r.ref[i])
	}
	return b.String()
}

func (e *fuzzEnv) check(t *testing.T, sql, str string, code []byte) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.perf == nil {
		t.Skip("the pools are closed")
	}
	args := fuzzArgs(str, code)
	first := e.run(t, sql, args, false)
	for i := range first.perf {
		p, q := first.perf[i], first.ref[i]
		what := func(o fuzzOutcome) string { return map[bool]string{true: "hung", false: "panicked"}[o.hung] }
		switch {
		case p.panic != nil || p.hung:
			known := ""
			if sql == "" {
				known = "KNOWN pgx DEFECT (empty SQL panics in pgx's statement cache; expected: pgxpool's answer " +
					"to the same calls with \";\", see FuzzPool): "
			}
			t.Fatalf("%spgxperf %s %s on %q with %d arguments %#v:%s", known, fuzzOps[i].name, what(p), sql, len(args), args, first.report())
		case q.panic != nil || q.hung:
			t.Fatalf("pgxpool %s %s on %q with %d arguments %#v (a pgx defect: nothing to compare pgxperf's answer with):%s",
				fuzzOps[i].name, what(q), sql, len(args), args, first.report())
		}
	}
	if first.agreeAll() {
		return
	}
	// Again, pgxpool first: a difference that does not repeat came from
	// what the input itself changed (see FuzzPool).
	second := e.run(t, sql, args, true)
	if second.agreeAll() {
		t.Logf("classes differed on the first run only (the input's own effect):%s", first.report())
		return
	}
	t.Fatalf("pgxperf and pgxpool disagree on %q with %d arguments %#v\nfirst run (pgxperf first):%s\nsecond run (pgxpool first):%s",
		sql, len(args), args, first.report(), second.report())
}
