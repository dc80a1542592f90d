package sqlinfo_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/stretchr/testify/require"

	"github.com/pgxperf/pgxperf/internal/sqlinfo"
	"github.com/pgxperf/pgxperf/internal/testenv"
)

// The routing corpus and its labels. routing.golden (beside routing.sql) is
// not ours: TestCorpus writes the analysis of every testdata/sql/*.sql file to
// <name>.golden, so the standby labels live in a file of their own.
var (
	routingCorpusFile = filepath.Join(corpusDir, "routing.sql")
	routingLabelsFile = filepath.Join(corpusDir, "routing.labels.golden")
)

// Labels. A statement is "replica-safe" when the hot standby runs it and no
// override says that running it there is wrong; everything else is "primary"
// (unknown means primary).
const (
	labelReplicaSafe = "replica-safe"
	labelPrimary     = "primary"
)

// Why a statement got its label.
const (
	whyAccepted   = "standby-accepts"
	whyRejected   = "standby-rejects"
	whyFailsAlike = "fails-alike" // rejected by both servers with the same non-read-only SQLSTATE
	// whySessionObject: rejected because the statement names a temporary
	// table, prepared statement or cursor that the fresh test session lacks.
	// In a real session such an object exists only where it was made, which
	// is the primary (a standby cannot create temporary tables), so the
	// rejection is not "wrong SQL" and still counts against a replica route.
	whySessionObject = "session-object"
	whyOverride      = "override:" // followed by the rule's name
)

// Harness bounds. statement_timeout and lock_timeout are set for every
// session; runTimeout bounds one statement end to end (connect included) in
// case a server waits for input it will never get.
const (
	labelStatementTimeout = "5s"
	labelLockTimeout      = "2s"
	runTimeout            = 30 * time.Second
	minRoutingStatements  = 150
	minSafeCoverage       = 0.95
)

// standbyOverride is a documented case of "the standby accepts it, but
// running it there is wrong": the statement succeeds on the hot standby, yet
// its effect, or its answer, belongs to the primary session that issued it.
// Overrides only ever move a statement to the primary; they are consulted
// only when the standby accepted the statement.
type standbyOverride struct {
	name string
	// stmt is matched against each statement of the text, lower-cased, with
	// comments, string literals and dollar-quoted bodies removed.
	stmt *regexp.Regexp
	// call is matched against the whole lower-cased text (DO bodies included);
	// a function name may be double-quoted ("pg_advisory_lock"(1)).
	call *regexp.Regexp
}

// standbyOverrides, first match wins. The reasoning, after the project's
// read/write-splitting notes (replica.md §7, "Unsafe on hot standby") and the
// Postgres "Hot Standby" chapter:
//
//   - transaction-control: BEGIN/COMMIT/SAVEPOINT/… are handled by the
//     router's transaction pinning (a transaction stays on one node), never
//     routed on their own. A standby accepts them, and BEGIN READ ONLY may
//     later open a replica transaction, but as a lone statement it is primary.
//   - advisory-lock: pg_advisory_lock and friends succeed on a standby, but
//     the lock excludes only the standby's sessions (§27.4.3: advisory locks
//     "apply only to the server on which they are acquired"). The application
//     means the primary's lock; taking it on a replica silently protects
//     nothing.
//   - explicit-lock: LOCK TABLE in ACCESS SHARE, ROW SHARE or ROW EXCLUSIVE
//     mode is accepted on a standby for the same reason and is just as wrong:
//     it does not block the primary's writers.
//   - session-state: SET/RESET, set_config() (session-local or, with
//     is_local, transaction-local), setseed(), PREPARE/EXECUTE/DEALLOCATE,
//     DISCARD, cursors (DECLARE/FETCH/MOVE/CLOSE), LISTEN/UNLISTEN and LOAD
//     change or use per-connection state. On a replica connection the state
//     is invisible to the statements that follow on the primary, and a
//     prepared statement or cursor made on the primary does not exist on the
//     replica (replica.md: "per-connection state: pin or replay it"). The
//     standby accepts set_config, so "session-local and harmless" is not
//     enough: the setting would land on the wrong connection.
//   - own-transaction: txid_current(_if_assigned), pg_current_xact_id(_if_
//     assigned), currval and lastval answer about the caller's own
//     transaction or session, which lives on the primary. The standby rejects
//     most of them (no xid can be assigned in recovery; currval/lastval are
//     "not yet defined in this session"); the _if_assigned variants succeed
//     and return NULL, an answer about an unrelated transaction.
//   - server-admin: pg_cancel_backend, pg_terminate_backend, pg_reload_conf,
//     pg_stat_reset*, CHECKPOINT … succeed on a standby but act on the
//     standby's backends, configuration or statistics, not the primary's.
//   - notify: NOTIFY and pg_notify() are rejected by the standby today
//     ("cannot execute NOTIFY during recovery"); the rule stays so that a
//     server accepting them would still not deliver notifications from a
//     replica, where the primary's listeners never see them.
//
// Deliberately not overridden: SHOW, current_setting(), pg_is_in_recovery(),
// pg_last_wal_replay_lsn(), pg_backend_pid() and other node introspection
// answer for the node that runs them; they read and change nothing, and a
// caller that needs the primary's answer uses the router's explicit override.
// Read-only DO blocks and multi-statement reads are replica-safe too: the
// standby runs them and nothing is left behind; if the analyzer keeps them
// on the primary that is a (safe) coverage loss, not a label question.
var standbyOverrides = []standbyOverride{
	{name: "transaction-control", stmt: regexp.MustCompile(`^(begin|start|commit|end|rollback|abort|savepoint|release)\b|^prepare\s+transaction\b`)},
	{name: "advisory-lock", call: regexp.MustCompile(`\bpg_(try_)?advisory_\w+"?\s*\(`)},
	{name: "explicit-lock", stmt: regexp.MustCompile(`^lock\b`)},
	{
		name: "session-state",
		stmt: regexp.MustCompile(`^(set|reset|prepare|execute|deallocate|discard|declare|fetch|move|close|listen|unlisten|load)\b`),
		call: regexp.MustCompile(`\b(set_config|setseed)"?\s*\(`),
	},
	{name: "own-transaction", call: regexp.MustCompile(`\b(txid_current|txid_current_if_assigned|pg_current_xact_id|pg_current_xact_id_if_assigned|currval|lastval)"?\s*\(`)},
	{
		name: "server-admin",
		stmt: regexp.MustCompile(`^checkpoint\b`),
		call: regexp.MustCompile(`\b(pg_cancel_backend|pg_terminate_backend|pg_reload_conf|pg_rotate_logfile|pg_log_backend_memory_contexts|pg_stat_reset\w*|pg_switch_wal|pg_create_restore_point|pg_promote|pg_wal_replay_pause|pg_wal_replay_resume)"?\s*\(`),
	},
	{name: "notify", stmt: regexp.MustCompile(`^notify\b`), call: regexp.MustCompile(`\bpg_notify"?\s*\(`)},
}

// overrideFor returns the name of the first override matching sql, or "".
func overrideFor(sql string) string {
	stmts := splitStatements(stripSQL(sql))
	raw := strings.ToLower(sql)
	for _, o := range standbyOverrides {
		if o.call != nil && o.call.MatchString(raw) {
			return o.name
		}
		if o.stmt != nil {
			for _, s := range stmts {
				if o.stmt.MatchString(s) {
					return o.name
				}
			}
		}
	}
	return ""
}

// failsAlikeClasses are SQLSTATE classes that say the statement itself is
// wrong (syntax, unknown object, bad value, unsupported combination), not
// that the server is read-only or in recovery. A statement both servers
// reject with the same such code fails wherever it is routed; it is labelled
// primary but does not count as a routing error or a missed read.
var failsAlikeClasses = []string{"0A", "22", "26", "34", "3B", "3D", "3F", "42"}

// retryCodes are hot-standby conflict cancellations, retried on a new
// session (they depend on what the primary replays at the moment).
var retryCodes = []string{"40001", "40P01"}

// outcome is what one server made of one statement: "ok", or the SQLSTATE
// with the server's message.
type outcome struct {
	code    string
	message string
}

func (o outcome) ok() bool { return o.code == "ok" }

// labelRecord is one entry of routing.labels.golden.
type labelRecord struct {
	sql     string
	label   string
	why     string
	standby outcome
	roTx    outcome
	session bool // transaction control: run without the wrapper transaction
}

// key is the compared part of the record (messages are informational).
func (r labelRecord) key() string {
	s := fmt.Sprintf("%s why=%s standby=%s ro-tx=%s", r.label, r.why, r.standby.code, r.roTx.code)
	if r.session {
		s += " mode=session"
	}
	return s
}

// TestStandbyLabels labels every statement of testdata/sql/routing.sql by
// running it on the hot standby and in a read-only transaction on the
// primary, compares the labels with routing.labels.golden (-update rewrites
// it), and then measures the analyzer against them: no statement that
// Analyze calls ReadOnly may be one the standby rejects or an override keeps
// on the primary (statements both servers reject alike as wrong SQL are
// listed, not counted), and at least 95% of the replica-safe statements must
// be ReadOnly.
//
// Each statement runs in a new session (so PREPARE, advisory locks and SET
// cannot leak into the next one) inside BEGIN … ROLLBACK, or, on the
// primary, BEGIN READ ONLY … ROLLBACK with default_transaction_read_only on,
// so nothing persists; statements that refuse a transaction block (VACUUM,
// CREATE DATABASE, …) are labelled by that refusal. Transaction control runs
// without the wrapper and is rolled back after.
func TestStandbyLabels(t *testing.T) {
	data, err := os.ReadFile(routingCorpusFile)
	require.NoError(t, err)
	stmts := splitCorpus(string(data))
	require.GreaterOrEqual(t, len(stmts), minRoutingStatements, "routing corpus too small")
	seen := make(map[string]bool, len(stmts))
	for _, s := range stmts {
		require.False(t, seen[s], "duplicate statement in %s: %q", routingCorpusFile, s)
		seen[s] = true
	}

	testenv.RequireReplica(t) // fails under CI=true when the standby is missing
	primaryDSN, replicaDSN := testenv.NewReplicatedDatabase(t, testenv.WithSeed())

	records := make([]labelRecord, len(stmts))
	for i, s := range stmts {
		r := labelRecord{sql: s, session: runsWithoutWrapper(s)}
		r.standby = runForLabel(t, replicaDSN, s, false)
		r.roTx = runForLabel(t, primaryDSN, s, true)
		r.label, r.why = decideLabel(s, r.standby, r.roTx)
		records[i] = r
	}

	got := renderLabels(records)
	if *update {
		require.NoError(t, os.WriteFile(routingLabelsFile, []byte(got), 0o644))
	} else {
		want, err := os.ReadFile(routingLabelsFile)
		require.NoError(t, err, "run go test ./internal/sqlinfo/ -run TestStandbyLabels -update to create it")
		if diff := diffLabels(string(want), records); diff != "" {
			t.Errorf("standby labels differ from %s (rerun with -update after checking):\n%s", routingLabelsFile, diff)
		}
	}

	checkRouting(t, records)
}

// checkRouting measures Analyze(sql).ReadOnly against the labels.
func checkRouting(t *testing.T, records []labelRecord) {
	t.Helper()
	var (
		safe, routed       int
		unsafe, missed     []string
		alikeRouted        []string
		standbyOnlyRejects []string
	)
	for _, r := range records {
		in := sqlinfo.Analyze(r.sql)
		if !r.standby.ok() && r.roTx.ok() {
			standbyOnlyRejects = append(standbyOnlyRejects, fmt.Sprintf("%q (standby %s)", r.sql, r.standby.code))
		}
		switch {
		case r.label == labelReplicaSafe:
			safe++
			if in.ReadOnly {
				routed++
			} else {
				missed = append(missed, fmt.Sprintf("%q: kind=%s reason=%q", r.sql, in.Kind, in.Reason))
			}
		case in.ReadOnly && r.why == whyFailsAlike:
			alikeRouted = append(alikeRouted, fmt.Sprintf("%q (%s)", r.sql, r.standby.code))
		case in.ReadOnly:
			unsafe = append(unsafe, fmt.Sprintf("%q\n      %s standby=%s %s\n      analyzer: kind=%s reason=%q functions=%v unknown=%v locking=%q",
				r.sql, r.why, r.standby.code, r.standby.message, in.Kind, in.Reason, in.Functions, in.UnknownFunctions, in.Locking))
		}
	}
	coverage := 1.0
	if safe > 0 {
		coverage = float64(routed) / float64(safe)
	}
	t.Logf("routing corpus: %d statements, %d replica-safe; unsafe routed %d; safe reads routed %d/%d (%.1f%%)",
		len(records), safe, len(unsafe), routed, safe, 100*coverage)
	for _, m := range missed {
		t.Logf("  replica-safe but kept on the primary: %s", m)
	}
	for _, a := range alikeRouted {
		t.Logf("  routed, fails on both servers alike (not counted): %s", a)
	}
	t.Logf("  %d statements are rejected by the standby but accepted by BEGIN READ ONLY on the primary", len(standbyOnlyRejects))
	for _, s := range standbyOnlyRejects {
		t.Logf("    %s", s)
	}
	if len(unsafe) > 0 {
		t.Errorf("%d statements the analyzer calls ReadOnly are not replica-safe:\n  %s", len(unsafe), strings.Join(unsafe, "\n  "))
	}
	if coverage < minSafeCoverage {
		t.Errorf("only %d of %d replica-safe statements are ReadOnly (%.1f%%, want >= %.0f%%)",
			routed, safe, 100*coverage, 100*minSafeCoverage)
	}
}

// decideLabel turns the two outcomes into a label and its reason.
func decideLabel(sql string, standby, roTx outcome) (label, why string) {
	if !standby.ok() {
		if standby.code == roTx.code && slices.Contains(failsAlikeClasses, standby.code[:2]) {
			if namesSessionObject(sql) {
				return labelPrimary, whySessionObject
			}
			return labelPrimary, whyFailsAlike
		}
		return labelPrimary, whyRejected
	}
	if o := overrideFor(sql); o != "" {
		return labelPrimary, whyOverride + o
	}
	return labelReplicaSafe, whyAccepted
}

// namesSessionObject reports whether sql names a temporary relation
// (pg_temp.x) or runs a prepared statement or cursor by name (EXECUTE,
// FETCH, MOVE, CLOSE, DEALLOCATE name).
func namesSessionObject(sql string) bool {
	for _, s := range splitStatements(stripSQL(sql)) {
		if sessionObjectRE.MatchString(s) {
			return true
		}
	}
	return false
}

var sessionObjectRE = regexp.MustCompile(`\bpg_temp(_[0-9]+)?\.|^(execute|fetch|move|close|deallocate)\b`)

// runsWithoutWrapper reports whether sql is transaction control that must run
// outside the wrapper transaction to mean anything (BEGIN inside BEGIN is a
// warning; COMMIT PREPARED refuses a transaction block). SAVEPOINT, RELEASE
// and ROLLBACK TO need a transaction and run inside it.
func runsWithoutWrapper(sql string) bool {
	stmts := splitStatements(stripSQL(sql))
	return len(stmts) > 0 && sessionModeRE.MatchString(stmts[0]) && !rollbackToRE.MatchString(stmts[0])
}

var (
	sessionModeRE = regexp.MustCompile(`^(begin|start|commit|end|abort|rollback)\b|^prepare\s+transaction\b`)
	rollbackToRE  = regexp.MustCompile(`^rollback(\s+(work|transaction))?\s+to\b`)
	placeholderRE = regexp.MustCompile(`\$[0-9]`)
)

// runForLabel runs sql once on a new session of dsn and reports the outcome,
// retrying hot-standby conflict cancellations. primary selects the read-only
// wrapper. A failure of the harness itself (connect, timeout, protocol) fails
// the test: the label would not be reproducible.
func runForLabel(t *testing.T, dsn, sql string, primary bool) outcome {
	t.Helper()
	var o outcome
	for attempt := 0; attempt < 3; attempt++ {
		var err error
		o, err = runIsolated(dsn, sql, primary)
		if err != nil {
			t.Fatalf("running %q on %s: %v", sql, testenv.Redact(dsn), err)
		}
		if !slices.Contains(retryCodes, o.code) {
			break
		}
	}
	return o
}

// runIsolated runs sql on a new session and rolls back whatever it did. The
// error is non-nil only when the harness could not get an answer.
func runIsolated(dsn, sql string, primary bool) (outcome, error) {
	ctx, cancel := context.WithTimeout(context.Background(), runTimeout)
	defer cancel()
	cfg, err := pgconn.ParseConfig(dsn)
	if err != nil {
		return outcome{}, err
	}
	cfg.RuntimeParams["application_name"] = "pgxperf-standby-labels"
	cfg.RuntimeParams["statement_timeout"] = labelStatementTimeout
	cfg.RuntimeParams["lock_timeout"] = labelLockTimeout
	if primary {
		// Belt and braces for statements run outside the wrapper.
		cfg.RuntimeParams["default_transaction_read_only"] = "on"
	}
	conn, err := pgconn.ConnectConfig(ctx, cfg)
	if err != nil {
		return outcome{}, err
	}
	defer conn.Close(context.Background())

	wrapped := !runsWithoutWrapper(sql)
	if wrapped {
		begin := "BEGIN"
		if primary {
			begin = "BEGIN READ ONLY"
		}
		if _, err := conn.Exec(ctx, begin).ReadAll(); err != nil {
			return outcome{}, err
		}
	}
	o, err := execForLabel(ctx, conn, sql)
	if err != nil {
		return outcome{}, err
	}
	if _, err := conn.Exec(ctx, "ROLLBACK").ReadAll(); err != nil {
		return outcome{}, fmt.Errorf("rolling back: %w", err)
	}
	if primary && !wrapped {
		// A PREPARE TRANSACTION outside a block prepares an empty transaction
		// where max_prepared_transactions > 0; do not leave it behind.
		if err := rollbackPrepared(ctx, conn); err != nil {
			return outcome{}, err
		}
	}
	return o, nil
}

// execForLabel runs sql the way pgx would send it: text without parameters
// with the simple protocol (the only way multi-statement text runs), text
// with $n or pgx named arguments with the extended protocol and a sample
// value of each parameter's type.
func execForLabel(ctx context.Context, conn *pgconn.PgConn, sql string) (outcome, error) {
	if strings.Contains(sql, "@") {
		rewritten, _, err := pgx.NamedArgs{}.RewriteQuery(ctx, nil, sql, nil)
		if err != nil {
			return outcome{}, err
		}
		sql = rewritten
	}
	if !placeholderRE.MatchString(sql) {
		_, err := conn.Exec(ctx, sql).ReadAll()
		return outcomeOf(err)
	}
	const name = "pgxperf_routing_stmt"
	sd, err := conn.Prepare(ctx, name, sql, nil)
	if err != nil {
		return outcomeOf(err)
	}
	values := make([][]byte, len(sd.ParamOIDs))
	for i, oid := range sd.ParamOIDs {
		v, err := sampleValue(ctx, conn, oid)
		if err != nil {
			return outcome{}, fmt.Errorf("sample value of parameter $%d (type %d): %w", i+1, oid, err)
		}
		values[i] = []byte(v)
	}
	_, err = conn.ExecPrepared(ctx, name, values, nil, nil).Close()
	return outcomeOf(err)
}

// outcomeOf maps a server error to an outcome; any other error is the harness's.
func outcomeOf(err error) (outcome, error) {
	if err == nil {
		return outcome{code: "ok"}, nil
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		return outcome{code: pgErr.Code, message: pgErr.Message}, nil
	}
	return outcome{}, err
}

// sampleValue returns a text-format value of the type oid: something every
// statement of the corpus accepts, never NULL (a NULL argument would let a
// strict function such as nextval or setval return NULL without running).
func sampleValue(ctx context.Context, conn *pgconn.PgConn, oid uint32) (string, error) {
	res := conn.ExecParams(ctx, `SELECT t.typname::text, t.typcategory::text, t.typelem::int8,
		coalesce((SELECT e.enumlabel::text FROM pg_enum e WHERE e.enumtypid = t.oid ORDER BY e.enumsortorder LIMIT 1), '')
		FROM pg_type t WHERE t.oid = $1::oid`,
		[][]byte{[]byte(strconv.FormatUint(uint64(oid), 10))}, nil, nil, nil).Read()
	if res.Err != nil {
		return "", res.Err
	}
	if len(res.Rows) != 1 {
		return "", fmt.Errorf("no pg_type row for oid %d", oid)
	}
	row := res.Rows[0]
	name, category, enumLabel := string(row[0]), string(row[1]), string(row[3])
	switch name {
	case "regclass":
		return "users_id_seq", nil
	case "uuid":
		return "00000000-0000-0000-0000-000000000001", nil
	case "json", "jsonb":
		return "{}", nil
	case "bytea":
		return `\x00`, nil
	case "date":
		return "2025-01-01", nil
	case "timestamp", "timestamptz":
		return "2025-01-01 00:00:00+00", nil
	case "time", "timetz":
		return "12:00", nil
	case "interval":
		return "1 day", nil
	case "inet", "cidr":
		return "10.0.0.1", nil
	case "bool":
		return "true", nil
	}
	switch category {
	case "A":
		elem, err := strconv.ParseUint(string(row[2]), 10, 32)
		if err != nil {
			return "", err
		}
		v, err := sampleValue(ctx, conn, uint32(elem))
		if err != nil {
			return "", err
		}
		return `{"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(v) + `"}`, nil
	case "E":
		return enumLabel, nil
	}
	return "1", nil
}

func rollbackPrepared(ctx context.Context, conn *pgconn.PgConn) error {
	res := conn.ExecParams(ctx, "SELECT gid FROM pg_prepared_xacts WHERE database = current_database()", nil, nil, nil, nil).Read()
	if res.Err != nil {
		return res.Err
	}
	for _, row := range res.Rows {
		lit := "'" + strings.ReplaceAll(string(row[0]), "'", "''") + "'"
		if _, err := conn.Exec(ctx, "ROLLBACK PREPARED "+lit).ReadAll(); err != nil {
			return err
		}
	}
	return nil
}

// stripSQL removes comments and replaces string literals and dollar-quoted
// bodies with an empty string literal, so that statement keywords can be
// matched. It is a small lexer for the corpus, not a full one: no nested
// comments, no backslash escapes in E-strings.
func stripSQL(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); {
		switch {
		case strings.HasPrefix(s[i:], "--"):
			j := strings.IndexByte(s[i:], '\n')
			if j < 0 {
				j = len(s) - i
			}
			i += j
			b.WriteByte(' ')
		case strings.HasPrefix(s[i:], "/*"):
			j := strings.Index(s[i+2:], "*/")
			if j < 0 {
				i = len(s)
			} else {
				i += j + 4
			}
			b.WriteByte(' ')
		case s[i] == '\'':
			j := i + 1
			for j < len(s) {
				if s[j] == '\'' {
					if j+1 < len(s) && s[j+1] == '\'' {
						j += 2
						continue
					}
					break
				}
				j++
			}
			i = j + 1
			b.WriteString("''")
		case s[i] == '$' && dollarTagRE.MatchString(s[i:]):
			tag := dollarTagRE.FindString(s[i:])
			j := strings.Index(s[i+len(tag):], tag)
			if j < 0 {
				i = len(s)
			} else {
				i += len(tag) + j + len(tag)
			}
			b.WriteString("''")
		default:
			b.WriteByte(s[i])
			i++
		}
	}
	return b.String()
}

var dollarTagRE = regexp.MustCompile(`^\$([A-Za-z_][A-Za-z0-9_]*)?\$`)

// splitStatements splits stripped SQL at semicolons into trimmed, lower-case,
// non-empty statements.
func splitStatements(stripped string) []string {
	var out []string
	for _, s := range strings.Split(stripped, ";") {
		if s = strings.ToLower(strings.TrimSpace(s)); s != "" {
			out = append(out, s)
		}
	}
	return out
}

const labelsHeader = `# Standby labels of routing.sql. Generated, do not edit:
#   go test ./internal/sqlinfo/ -run TestStandbyLabels -update
#
# Each statement ran in a new session on the hot standby inside BEGIN … ROLLBACK
# ("standby") and on the primary inside BEGIN READ ONLY … ROLLBACK ("ro-tx");
# "ok" or the SQLSTATE. mode=session: transaction control, run outside the
# wrapper transaction and rolled back after.
#
# label: replica-safe (the standby accepts it and no override applies) or
# primary. why: standby-accepts, standby-rejects, fails-alike (both servers
# reject it with the same SQLSTATE of a class that says the SQL itself is wrong;
# not counted as a routing error), session-object (rejected only because the
# fresh test session lacks the temporary table, prepared statement or cursor it
# names, which in real use exist on the primary alone; counted like a
# rejection), or override:<rule> (the standby accepts it
# but running it there is wrong; the rules are documented at standbyOverrides in
# internal/sqlinfo/standby_test.go).
#
# Lines starting with "   #" carry the servers' messages and are not compared.
`

func renderLabels(records []labelRecord) string {
	var b strings.Builder
	b.WriteString(labelsHeader)
	for _, r := range records {
		fmt.Fprintf(&b, "== %q\n   %s\n", r.sql, r.key())
		if !r.standby.ok() {
			fmt.Fprintf(&b, "   # standby: %s\n", firstLine(r.standby.message))
		}
		if !r.roTx.ok() {
			fmt.Fprintf(&b, "   # ro-tx: %s\n", firstLine(r.roTx.message))
		}
	}
	return b.String()
}

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}

// parseLabels reads the compared part of a labels file: statement (quoted as
// in the file) → record key, in file order.
func parseLabels(text string) (order []string, keys map[string]string) {
	keys = map[string]string{}
	cur := ""
	for _, line := range strings.Split(text, "\n") {
		switch {
		case strings.HasPrefix(line, "== "):
			cur = strings.TrimPrefix(line, "== ")
			order = append(order, cur)
		case cur != "" && strings.HasPrefix(line, "   ") && !strings.HasPrefix(line, "   #"):
			if _, done := keys[cur]; !done {
				keys[cur] = strings.TrimSpace(line)
			}
		}
	}
	return order, keys
}

// diffLabels lists every statement whose label record differs from the
// golden text, and statements only on one side; "" when they agree.
func diffLabels(golden string, records []labelRecord) string {
	order, want := parseLabels(golden)
	var b strings.Builder
	got := make(map[string]bool, len(records))
	for _, r := range records {
		q := strconv.Quote(r.sql)
		got[q] = true
		w, ok := want[q]
		switch {
		case !ok:
			fmt.Fprintf(&b, "  new statement (not in golden): %s\n    + %s\n", q, r.key())
		case w != r.key():
			fmt.Fprintf(&b, "  %s\n    - %s\n    + %s\n", q, w, r.key())
			if !r.standby.ok() {
				fmt.Fprintf(&b, "      standby says: %s\n", firstLine(r.standby.message))
			}
		}
	}
	for _, q := range order {
		if !got[q] {
			fmt.Fprintf(&b, "  no longer in the corpus: %s\n    - %s\n", q, want[q])
		}
	}
	return b.String()
}
