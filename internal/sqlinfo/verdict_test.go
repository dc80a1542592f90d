package sqlinfo_test

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/pgxperf/pgxperf/internal/sqlinfo"
)

// TestVerdicts checks Kind, ReadOnly and Reason for every class of
// statement the router must tell apart.
func TestVerdicts(t *testing.T) {
	cases := []struct {
		sql    string
		kind   sqlinfo.Kind
		ro     bool
		reason string
	}{
		// Reads that are proven read-only.
		{"SELECT id FROM users WHERE id = $1", sqlinfo.KindSelect, true, "plain select"},
		{"VALUES (1), (2)", sqlinfo.KindSelect, true, "plain select"},
		{"TABLE users", sqlinfo.KindSelect, true, "plain select"},
		{"SELECT count(*), sum(x), avg(x), min(x), max(x) FROM t", sqlinfo.KindSelect, true, "plain select"},
		{"SELECT CURRENT_TIMESTAMP, CURRENT_DATE, LOCALTIME, CURRENT_USER", sqlinfo.KindSelect, true, "plain select"},
		{"SELECT extract(year FROM now()), date_part('dow', now()), date_trunc('hour', now())", sqlinfo.KindSelect, true, "plain select"},
		{"SELECT to_char(now(), 'YYYY'), coalesce(a, b), greatest(1, 2), least(1, 2) FROM t", sqlinfo.KindSelect, true, "plain select"},
		{"SELECT lower(x), upper(x), length(x), md5(x), concat(x, y), substring(x FROM 2), trim(x) FROM t", sqlinfo.KindSelect, true, "plain select"},
		{"SELECT abs(x), round(x, 2), random(), gen_random_uuid()", sqlinfo.KindSelect, true, "plain select"},
		{"SELECT row_number() OVER (), rank() OVER (), lag(x) OVER (), lead(x) OVER () FROM t", sqlinfo.KindSelect, true, "plain select"},
		{"SELECT array_agg(x), string_agg(y, ','), jsonb_agg(z), json_build_object('a', 1) FROM t", sqlinfo.KindSelect, true, "plain select"},
		{"SELECT data->>'a', data #> '{b,c}', jsonb_set(data, '{a}', '1') FROM t", sqlinfo.KindSelect, true, "plain select"},
		{"SELECT * FROM unnest($1::int[]), generate_series(1, 3)", sqlinfo.KindSelect, true, "plain select"},
		{"SELECT pg_is_in_recovery(), pg_last_wal_replay_lsn(), pg_last_xact_replay_timestamp()", sqlinfo.KindSelect, true, "plain select"},
		{"SELECT current_setting('search_path'), version(), pg_backend_pid()", sqlinfo.KindSelect, true, "plain select"},
		{"SELECT pg_catalog.now(), pg_catalog.lower('A')", sqlinfo.KindSelect, true, "plain select"},
		{"SELECT pg_sleep(0.1)", sqlinfo.KindSelect, true, "plain select"},
		{"WITH r AS (SELECT * FROM content) SELECT * FROM r", sqlinfo.KindSelect, true, "plain select"},
		{"SELECT 1 UNION SELECT 2", sqlinfo.KindSelect, true, "plain select"},
		{"SHOW search_path", sqlinfo.KindUtility, true, "show"},
		{"SHOW ALL", sqlinfo.KindUtility, true, "show"},
		{"EXPLAIN SELECT * FROM users", sqlinfo.KindUtility, true, "explain without analyze"},
		{"EXPLAIN DELETE FROM users", sqlinfo.KindUtility, true, "explain without analyze"},
		{"EXPLAIN (ANALYZE off) DELETE FROM users", sqlinfo.KindUtility, true, "explain without analyze"},
		{"EXPLAIN SELECT nextval('s')", sqlinfo.KindUtility, true, "explain without analyze"},
		{"EXPLAIN ANALYZE SELECT * FROM users", sqlinfo.KindUtility, true, "explain analyze: plain select"},
		{"EXPLAIN (ANALYZE true, BUFFERS) SELECT 1", sqlinfo.KindUtility, true, "explain analyze: plain select"},

		// Reads that lock, write or have side effects.
		{"SELECT * FROM t FOR UPDATE", sqlinfo.KindSelect, false, "locking clause FOR UPDATE"},
		{"SELECT * FROM t FOR NO KEY UPDATE", sqlinfo.KindSelect, false, "locking clause FOR NO KEY UPDATE"},
		{"SELECT * FROM t FOR SHARE", sqlinfo.KindSelect, false, "locking clause FOR SHARE"},
		{"SELECT * FROM t FOR KEY SHARE", sqlinfo.KindSelect, false, "locking clause FOR KEY SHARE"},
		{"SELECT * FROM t FOR UPDATE NOWAIT", sqlinfo.KindSelect, false, "locking clause FOR UPDATE NOWAIT"},
		{"SELECT * FROM t LIMIT 1 FOR UPDATE SKIP LOCKED", sqlinfo.KindSelect, false, "locking clause FOR UPDATE SKIP LOCKED"},
		{"SELECT * FROM t WHERE id IN (SELECT id FROM u FOR SHARE)", sqlinfo.KindSelect, false, "locking clause FOR SHARE"},
		{"SELECT * INTO archive FROM t", sqlinfo.KindSelect, false, "SELECT INTO"},
		{"SELECT * INTO TEMP tmp FROM t", sqlinfo.KindSelect, false, "SELECT INTO"},
		{"WITH d AS (DELETE FROM t RETURNING *) SELECT * FROM d", sqlinfo.KindSelect, false, "writable CTE (delete)"},
		{"WITH i AS (INSERT INTO t VALUES (1) RETURNING *) SELECT * FROM i", sqlinfo.KindSelect, false, "writable CTE (insert)"},
		{"WITH u AS (UPDATE t SET a = 1 RETURNING *) SELECT * FROM u", sqlinfo.KindSelect, false, "writable CTE (update)"},
		{"SELECT nextval('s')", sqlinfo.KindSelect, false, "calls volatile function nextval"},
		{"SELECT setval('s', 1)", sqlinfo.KindSelect, false, "calls volatile function setval"},
		{"SELECT currval('s')", sqlinfo.KindSelect, false, "calls volatile function currval"},
		{"SELECT lastval()", sqlinfo.KindSelect, false, "calls volatile function lastval"},
		{"SELECT txid_current()", sqlinfo.KindSelect, false, "calls volatile function txid_current"},
		{"SELECT pg_current_xact_id()", sqlinfo.KindSelect, false, "calls volatile function pg_current_xact_id"},
		{"SELECT pg_current_wal_lsn()", sqlinfo.KindSelect, false, "calls volatile function pg_current_wal_lsn"},
		{"SELECT pg_current_wal_insert_lsn()", sqlinfo.KindSelect, false, "calls volatile function pg_current_wal_insert_lsn"},
		{"SELECT pg_current_wal_flush_lsn()", sqlinfo.KindSelect, false, "calls volatile function pg_current_wal_flush_lsn"},
		{"SELECT pg_advisory_lock(1)", sqlinfo.KindSelect, false, "calls volatile function pg_advisory_lock"},
		{"SELECT pg_advisory_xact_lock_shared(1)", sqlinfo.KindSelect, false, "calls volatile function pg_advisory_xact_lock_shared"},
		{"SELECT pg_try_advisory_lock(1)", sqlinfo.KindSelect, false, "calls volatile function pg_try_advisory_lock"},
		{"SELECT set_config('a.b', 'c', false)", sqlinfo.KindSelect, false, "calls volatile function set_config"},
		{"SELECT pg_notify('c', 'p')", sqlinfo.KindSelect, false, "calls volatile function pg_notify"},
		{"SELECT lo_unlink(42)", sqlinfo.KindSelect, false, "calls volatile function lo_unlink"},
		{"SELECT dblink('db', 'select 1')", sqlinfo.KindSelect, false, "calls volatile function dblink"},
		{"SELECT pg_terminate_backend(1)", sqlinfo.KindSelect, false, "calls volatile function pg_terminate_backend"},
		{"SELECT pg_cancel_backend(1)", sqlinfo.KindSelect, false, "calls volatile function pg_cancel_backend"},
		{"SELECT pg_reload_conf()", sqlinfo.KindSelect, false, "calls volatile function pg_reload_conf"},
		{"SELECT pg_switch_wal()", sqlinfo.KindSelect, false, "calls volatile function pg_switch_wal"},
		{"SELECT pg_create_restore_point('x')", sqlinfo.KindSelect, false, "calls volatile function pg_create_restore_point"},
		{"SELECT pg_stat_reset_shared('bgwriter')", sqlinfo.KindSelect, false, "calls volatile function pg_stat_reset_shared"},
		{"SELECT pg_catalog.nextval('s')", sqlinfo.KindSelect, false, "calls volatile function pg_catalog.nextval"},
		{"SELECT my_func(1)", sqlinfo.KindSelect, false, "calls unknown function my_func"},
		{"SELECT app.slug(x) FROM t", sqlinfo.KindSelect, false, "calls unknown function app.slug"},
		{"SELECT lower(x), public.lower(x) FROM t", sqlinfo.KindSelect, false, "calls unknown function public.lower"},
		{`SELECT "Lower"(x) FROM t`, sqlinfo.KindSelect, false, `calls unknown function Lower`},
		{"SELECT * FROM nextval('s')", sqlinfo.KindSelect, false, "calls volatile function nextval"},
		{"SELECT 1 UNION SELECT nextval('s')", sqlinfo.KindSelect, false, "calls volatile function nextval"},
		{"SELECT * FROM t WHERE x = (SELECT nextval('s'))", sqlinfo.KindSelect, false, "calls volatile function nextval"},
		{"SELECT * FROM t ORDER BY my_rank(t)", sqlinfo.KindSelect, false, "calls unknown function my_rank"},
		{"WITH x AS (SELECT * FROM t FOR UPDATE) SELECT * FROM x", sqlinfo.KindSelect, false, "locking clause FOR UPDATE"},
		{"SELECT @pg_advisory_lock(1)", sqlinfo.KindUnparsed, false, "parse error"},
		{"SELECT * FROM @tbl", sqlinfo.KindUnparsed, false, "parse error"},
		{"SELECT 1\x00; DELETE FROM t", sqlinfo.KindUnparsed, false, "parse error"},
		{"EXPLAIN ANALYZE EXECUTE p", sqlinfo.KindUtility, false, "explain analyze: utility statement EXECUTE"},
		{"EXPLAIN EXECUTE p", sqlinfo.KindUtility, false, "EXPLAIN EXECUTE of prepared statement p (session state)"},
		{"EXPLAIN ANALYZE DELETE FROM users", sqlinfo.KindUtility, false, "explain analyze: delete statement"},
		{"EXPLAIN (ANALYZE) SELECT * FROM t FOR UPDATE", sqlinfo.KindUtility, false, "explain analyze: locking clause FOR UPDATE"},

		// Writes.
		{"INSERT INTO t VALUES (1)", sqlinfo.KindInsert, false, "insert statement"},
		{"UPDATE t SET a = 1", sqlinfo.KindUpdate, false, "update statement"},
		{"DELETE FROM t", sqlinfo.KindDelete, false, "delete statement"},
		{"MERGE INTO t USING s ON t.id = s.id WHEN MATCHED THEN DELETE", sqlinfo.KindMerge, false, "merge statement"},
		{"COPY t FROM STDIN", sqlinfo.KindCopy, false, "copy statement"},
		{"COPY t TO STDOUT", sqlinfo.KindCopy, false, "copy statement"},
		{"CREATE TABLE t (id int)", sqlinfo.KindDDL, false, "ddl statement"},
		{"CREATE TEMP TABLE t (id int)", sqlinfo.KindDDL, false, "ddl statement"},
		{"CREATE TABLE t AS SELECT 1", sqlinfo.KindDDL, false, "ddl statement"},
		{"ALTER TABLE t ADD COLUMN b int", sqlinfo.KindDDL, false, "ddl statement"},
		{"DROP TABLE t", sqlinfo.KindDDL, false, "ddl statement"},
		{"TRUNCATE t", sqlinfo.KindDDL, false, "ddl statement"},
		{"GRANT SELECT ON t TO r", sqlinfo.KindDDL, false, "ddl statement"},

		// Utilities.
		{"SET search_path = app", sqlinfo.KindUtility, false, "utility statement SET"},
		{"SET LOCAL statement_timeout = 1000", sqlinfo.KindUtility, false, "utility statement SET"},
		{"RESET search_path", sqlinfo.KindUtility, false, "utility statement RESET"},
		{"LISTEN ch", sqlinfo.KindUtility, false, "utility statement LISTEN"},
		{"UNLISTEN ch", sqlinfo.KindUtility, false, "utility statement UNLISTEN"},
		{"NOTIFY ch, 'x'", sqlinfo.KindUtility, false, "utility statement NOTIFY"},
		{"PREPARE p AS SELECT 1", sqlinfo.KindUtility, false, "utility statement PREPARE"},
		{"EXECUTE p", sqlinfo.KindUtility, false, "utility statement EXECUTE"},
		{"DEALLOCATE p", sqlinfo.KindUtility, false, "utility statement DEALLOCATE"},
		{"DO $$ BEGIN END $$", sqlinfo.KindUtility, false, "utility statement DO"},
		{"CALL p()", sqlinfo.KindUtility, false, "utility statement CALL"},
		{"LOCK TABLE t", sqlinfo.KindUtility, false, "utility statement LOCK"},
		{"VACUUM t", sqlinfo.KindUtility, false, "utility statement VACUUM"},
		{"ANALYZE t", sqlinfo.KindUtility, false, "utility statement ANALYZE"},
		{"DISCARD ALL", sqlinfo.KindUtility, false, "utility statement DISCARD"},
		{"DECLARE c CURSOR FOR SELECT 1", sqlinfo.KindUtility, false, "utility statement DECLARE"},
		{"FETCH 10 FROM c", sqlinfo.KindUtility, false, "utility statement FETCH"},

		// Transactions, multi-statement, empty, unparsable.
		{"BEGIN", sqlinfo.KindTransaction, false, "transaction control"},
		{"BEGIN READ ONLY", sqlinfo.KindTransaction, false, "transaction control"},
		{"COMMIT", sqlinfo.KindTransaction, false, "transaction control"},
		{"SELECT 1; SELECT 2", sqlinfo.KindMulti, false, "multi-statement"},
		{"SELECT 1; DELETE FROM t", sqlinfo.KindMulti, false, "multi-statement"},
		{"", sqlinfo.KindEmpty, false, "empty statement"},
		{"   \n\t ", sqlinfo.KindEmpty, false, "empty statement"},
		{"-- only a comment", sqlinfo.KindEmpty, false, "empty statement"},
		{"/* block */ ;", sqlinfo.KindEmpty, false, "empty statement"},
		{"SELEC 1", sqlinfo.KindUnparsed, false, "parse error"},
		{"SELECT * FROM t WHERE a = 'open", sqlinfo.KindUnparsed, false, "parse error"},
	}
	for _, c := range cases {
		t.Run(c.sql, func(t *testing.T) {
			in := sqlinfo.AnalyzeUncached(c.sql)
			require.Equal(t, c.kind, in.Kind, "kind")
			require.Equal(t, c.ro, in.ReadOnly, "read-only (reason %q)", in.Reason)
			require.Equal(t, c.reason, in.Reason, "reason")
			if c.ro {
				require.False(t, in.Fallback)
				require.Empty(t, in.UnknownFunctions)
			}
		})
	}
}

// TestTxOp checks the transaction-control operation of every form.
func TestTxOp(t *testing.T) {
	cases := map[string]sqlinfo.TxOp{
		"BEGIN":                              sqlinfo.TxBegin,
		"BEGIN ISOLATION LEVEL SERIALIZABLE": sqlinfo.TxBegin,
		"START TRANSACTION READ ONLY":        sqlinfo.TxBegin,
		"COMMIT":                             sqlinfo.TxCommit,
		"END":                                sqlinfo.TxCommit,
		"COMMIT AND CHAIN":                   sqlinfo.TxCommit,
		"ROLLBACK":                           sqlinfo.TxRollback,
		"ABORT":                              sqlinfo.TxRollback,
		"SAVEPOINT s1":                       sqlinfo.TxSavepoint,
		"RELEASE SAVEPOINT s1":               sqlinfo.TxRelease,
		"RELEASE s1":                         sqlinfo.TxRelease,
		"ROLLBACK TO SAVEPOINT s1":           sqlinfo.TxRollbackTo,
		"ROLLBACK TO s1":                     sqlinfo.TxRollbackTo,
		"PREPARE TRANSACTION 'g'":            sqlinfo.TxPrepare,
		"COMMIT PREPARED 'g'":                sqlinfo.TxPrepare,
		"ROLLBACK PREPARED 'g'":              sqlinfo.TxPrepare,
	}
	for sql, op := range cases {
		in := sqlinfo.AnalyzeUncached(sql)
		require.Equal(t, sqlinfo.KindTransaction, in.Kind, sql)
		require.Equal(t, op, in.TxOp, sql)
		require.False(t, in.ReadOnly, sql)
	}
	require.Equal(t, sqlinfo.TxNone, sqlinfo.AnalyzeUncached("SELECT 1").TxOp)
}

// TestLocking checks the Locking field, also outside plain SELECTs.
func TestLocking(t *testing.T) {
	cases := map[string]string{
		"SELECT 1 FROM t":                                                                  "",
		"SELECT * FROM t FOR UPDATE":                                                       "FOR UPDATE",
		"SELECT * FROM t FOR UPDATE OF t SKIP LOCKED":                                      "FOR UPDATE SKIP LOCKED",
		"SELECT * FROM t FOR NO KEY UPDATE NOWAIT":                                         "FOR NO KEY UPDATE NOWAIT",
		"SELECT * FROM t FOR SHARE SKIP LOCKED":                                            "FOR SHARE SKIP LOCKED",
		"SELECT * FROM t FOR KEY SHARE":                                                    "FOR KEY SHARE",
		"SELECT * FROM a, b FOR UPDATE OF a FOR SHARE OF b":                                "FOR UPDATE, FOR SHARE",
		"UPDATE t SET a = 1 WHERE id IN (SELECT id FROM t LIMIT 5 FOR UPDATE SKIP LOCKED)": "FOR UPDATE SKIP LOCKED",
	}
	for sql, want := range cases {
		require.Equal(t, want, sqlinfo.AnalyzeUncached(sql).Locking, sql)
	}
}

// TestIsKnownReadOnlyFunction checks the exported allow-list helper.
func TestIsKnownReadOnlyFunction(t *testing.T) {
	for _, f := range []string{"count", "NOW", "pg_catalog.lower", "jsonb_build_object", "date_trunc",
		"row_number", "pg_is_in_recovery", "has_table_privilege", "pg_stat_get_live_tuples", "random", "lo_get"} {
		require.True(t, sqlinfo.IsKnownReadOnlyFunction(f), f)
	}
	for _, f := range []string{"nextval", "pg_advisory_lock", "lo_import", "my_func", "public.lower",
		"pg_stat_reset", "dblink_exec", "set_config", "", "has_secret"} {
		require.False(t, sqlinfo.IsKnownReadOnlyFunction(f), f)
	}
}

// TestKindString covers Kind's String and IsWrite.
func TestKindString(t *testing.T) {
	require.Equal(t, "select", sqlinfo.KindSelect.String())
	require.Equal(t, "multi", sqlinfo.KindMulti.String())
	require.Equal(t, "kind(200)", sqlinfo.Kind(200).String())
	require.True(t, sqlinfo.KindCopy.IsWrite())
	require.False(t, sqlinfo.KindSelect.IsWrite())
}

// TestReadOnlyIsSound turns every read-only SELECT of the corpus into
// variants that lock, write or call a function that is not known, and
// checks that none of them is still called read-only.
func TestReadOnlyIsSound(t *testing.T) {
	mutations := map[string]func(string) string{
		"locking":     func(s string) string { return s + " FOR UPDATE" },
		"nextval":     func(s string) string { return strings.Replace(s, "SELECT ", "SELECT nextval('s'), ", 1) },
		"unknown":     func(s string) string { return strings.Replace(s, "SELECT ", "SELECT app.audit(), ", 1) },
		"advisory":    func(s string) string { return strings.Replace(s, "SELECT ", "SELECT pg_advisory_xact_lock(1), ", 1) },
		"writableCTE": func(s string) string { return "WITH w AS (DELETE FROM t RETURNING 1) " + s },
		"multi":       func(s string) string { return s + "; SELECT 1" },
		"into":        func(s string) string { return strings.Replace(s, " FROM ", " INTO copy_of FROM ", 1) },
	}
	checked := 0
	for _, stmts := range loadCorpus(t) {
		for _, s := range stmts {
			in := sqlinfo.AnalyzeUncached(s)
			if !in.ReadOnly || in.Kind != sqlinfo.KindSelect || !strings.Contains(s, "SELECT ") {
				continue
			}
			for name, m := range mutations {
				v := m(s)
				if v == s {
					continue
				}
				got := sqlinfo.AnalyzeUncached(v)
				require.False(t, got.ReadOnly, "%s variant %q is read-only: %s", name, v, got.Reason)
				checked++
			}
		}
	}
	require.Greater(t, checked, 300)
}
