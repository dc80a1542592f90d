package testenv

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/pgxperf/pgxperf/testdata"
)

// DatabasePrefix starts the name of every database this package creates.
const DatabasePrefix = "pgxperf_test_"

// setupTimeout bounds creating and loading one database (a template build
// included) and dropping one.
const setupTimeout = 3 * time.Minute

// ReplicaWaitTimeout bounds WaitForReplica.
const ReplicaWaitTimeout = 30 * time.Second

// Option configures NewDatabase.
type Option interface{ apply(*dbConfig) }

type dbConfig struct {
	seed     bool
	noSchema bool
	sql      []string
}

type optionFunc func(*dbConfig)

func (f optionFunc) apply(c *dbConfig) { f(c) }

// WithSeed fills the new database with testdata.Seed's rows. The database is
// cloned from a template that is built once per content of schema.sql and
// seed.sql, so this costs well under a second after the first time.
func WithSeed() Option { return optionFunc(func(c *dbConfig) { c.seed = true }) }

// WithoutSchema leaves the new database empty (no testdata.Schema). It cannot
// be combined with WithSeed.
func WithoutSchema() Option { return optionFunc(func(c *dbConfig) { c.noSchema = true }) }

// WithSQL runs sql (one or more statements, simple protocol) in the new
// database after the schema and seed. Options apply in order.
func WithSQL(sql string) Option {
	return optionFunc(func(c *dbConfig) { c.sql = append(c.sql, sql) })
}

// NewDatabase creates a scratch database on the primary, loads testdata.Schema
// into it (and testdata.Seed with WithSeed), and returns its DSN: the primary's
// DSN with the database name replaced. A cleanup registered on t drops it with
// DROP DATABASE … WITH (FORCE), which also ends any sessions still connected.
// It skips (or, in CI, fails) the test when the primary is unreachable. Safe
// for concurrent use, including from parallel tests.
func NewDatabase(t testing.TB, opts ...Option) string {
	t.Helper()
	SkipShort(t)
	primary := RequirePrimary(t)
	var cfg dbConfig
	for _, o := range opts {
		o.apply(&cfg)
	}
	if cfg.seed && cfg.noSchema {
		t.Fatal("testenv: NewDatabase: WithSeed and WithoutSchema exclude each other")
	}
	sweepOnce(primary)

	name := scratchName(t.Name())
	ctx, cancel := context.WithTimeout(context.Background(), setupTimeout)
	defer cancel()
	if err := createDatabase(ctx, primary, name, cfg); err != nil {
		_ = dropDatabase(primary, name)
		t.Fatalf("testenv: NewDatabase: %v", err)
	}
	t.Cleanup(func() {
		if err := dropDatabase(primary, name); err != nil {
			t.Errorf("testenv: dropping scratch database %s: %v", name, err)
		}
	})
	return DSNForDatabase(primary, name)
}

// NewReplicatedDatabase is NewDatabase for tests that also read from the
// replica: it requires both servers, creates the database on the primary, waits
// until the replica has replayed it (WaitForReplica) and returns the DSNs of the
// database on the primary and on the replica.
func NewReplicatedDatabase(t testing.TB, opts ...Option) (primaryDSN, replicaDSN string) {
	t.Helper()
	SkipShort(t)
	RequirePrimary(t)
	replica := RequireReplica(t)
	primaryDSN = NewDatabase(t, opts...)
	replicaDSN = DSNForDatabase(replica, DatabaseName(primaryDSN))
	WaitForReplica(t, primaryDSN, replicaDSN)
	return primaryDSN, replicaDSN
}

var shared struct {
	mu          sync.Mutex
	created     bool
	primary     string
	name        string
	dsn         string
	err         error
	replicaDone bool
}

// SharedSeededDatabase returns the DSN of one seeded database per test process,
// pgxperf_test_shared_<pid>, created on first use (schema and seed). Tests must
// only read from it; a test that writes uses NewDatabase(t, WithSeed()). It is
// dropped by Main; without Main it is left behind until a later test process
// sweeps it (see the package documentation). Safe for concurrent use: callers
// wait while the first one creates it.
func SharedSeededDatabase(t testing.TB) string {
	t.Helper()
	SkipShort(t)
	primary := RequirePrimary(t)
	sweepOnce(primary)
	shared.mu.Lock()
	defer shared.mu.Unlock()
	if !shared.created {
		shared.created = true
		shared.primary = primary
		shared.name = fmt.Sprintf("%sshared_%d", DatabasePrefix, os.Getpid())
		ctx, cancel := context.WithTimeout(context.Background(), setupTimeout)
		defer cancel()
		_ = dropDatabase(primary, shared.name) // a leftover of an earlier process with this pid
		shared.err = createDatabase(ctx, primary, shared.name, dbConfig{seed: true})
		if shared.err != nil {
			_ = dropDatabase(primary, shared.name)
		}
		shared.dsn = DSNForDatabase(primary, shared.name)
	}
	if shared.err != nil {
		t.Fatalf("testenv: SharedSeededDatabase: %v", shared.err)
	}
	return shared.dsn
}

// SharedSeededReplica returns the DSN of SharedSeededDatabase on the replica,
// after waiting (the first time) until the replica has replayed it. It requires
// both servers.
func SharedSeededReplica(t testing.TB) string {
	t.Helper()
	SkipShort(t)
	replica := RequireReplica(t)
	primaryDSN := SharedSeededDatabase(t)
	replicaDSN := DSNForDatabase(replica, DatabaseName(primaryDSN))
	shared.mu.Lock()
	defer shared.mu.Unlock()
	if !shared.replicaDone {
		WaitForReplica(t, primaryDSN, replicaDSN)
		shared.replicaDone = true
	}
	return replicaDSN
}

// Main runs the tests and then drops the database SharedSeededDatabase created,
// if any, and exits with the tests' status. Call it from TestMain:
//
//	func TestMain(m *testing.M) { testenv.Main(m) }
func Main(m *testing.M) {
	code := m.Run()
	dropShared()
	os.Exit(code)
}

func dropShared() {
	shared.mu.Lock()
	defer shared.mu.Unlock()
	if shared.created && shared.err == nil {
		if err := dropDatabase(shared.primary, shared.name); err != nil {
			fmt.Fprintf(os.Stderr, "testenv: dropping %s: %v\n", shared.name, err)
		}
	}
	shared.created, shared.replicaDone = false, false
}

// WaitForReplica waits until the replica behind replicaDSN has replayed the
// WAL position the primary behind primaryDSN has at the time of the call, so
// everything committed on the primary before the call (a new database
// included) is visible on the replica. replicaDSN may name a database that
// does not exist on the replica yet. It fails the test after
// ReplicaWaitTimeout.
func WaitForReplica(t testing.TB, primaryDSN, replicaDSN string) {
	t.Helper()
	SkipShort(t)
	if err := waitForReplica(primaryDSN, replicaDSN, ReplicaWaitTimeout); err != nil {
		t.Fatalf("testenv: WaitForReplica: %v", err)
	}
}

func waitForReplica(primaryDSN, replicaDSN string, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	lsn, err := queryString(ctx, primaryDSN, "select pg_current_wal_lsn()::text")
	if err != nil {
		return fmt.Errorf("reading the primary's WAL position: %w", err)
	}
	var (
		conn    *pgx.Conn
		lastErr error
		replay  *string
	)
	defer func() {
		if conn != nil {
			conn.Close(context.Background())
		}
	}()
	for {
		if conn == nil {
			c, err := pgx.Connect(ctx, replicaDSN)
			if err == nil {
				conn = c
			} else {
				lastErr = err // e.g. 3D000: the database has not been replayed yet
			}
		}
		if conn != nil {
			// pg_last_wal_replay_lsn() is not NULL on every primary: after a
			// crash recovery it stays at the last record that recovery
			// replayed. Only pg_is_in_recovery() tells a standby.
			var (
				inRecovery bool
				done       *bool
			)
			err := conn.QueryRow(ctx, "select pg_is_in_recovery(), pg_last_wal_replay_lsn()::text, pg_last_wal_replay_lsn() >= $1::text::pg_lsn", lsn).Scan(&inRecovery, &replay, &done)
			switch {
			case err != nil && ctx.Err() == nil:
				lastErr = err
				conn.Close(context.Background())
				conn = nil
			case err == nil && (!inRecovery || done == nil):
				return errors.New("the replica DSN points to a server that is not in recovery")
			case err == nil && *done:
				return nil
			case err == nil:
				lastErr = fmt.Errorf("replayed up to %s", *replay)
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("replica %s did not replay the primary's WAL position %s within %v (last: %v)",
				Redact(replicaDSN), lsn, timeout, lastErr)
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// DSNForDatabase returns dsn (a URL or keyword/value connection string) with
// its database name replaced by dbname.
func DSNForDatabase(dsn, dbname string) string {
	if u, err := url.Parse(dsn); err == nil && (u.Scheme == "postgres" || u.Scheme == "postgresql") {
		u.Path = "/" + dbname
		u.RawPath = ""
		if q := u.Query(); q.Has("dbname") || q.Has("database") {
			q.Del("dbname")
			q.Del("database")
			u.RawQuery = q.Encode()
		}
		return u.String()
	}
	// Keyword/value: a later setting wins.
	quoted := strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(dbname)
	return strings.TrimSpace(dsn) + " dbname='" + quoted + "'"
}

// DatabaseName returns the database a DSN connects to, or "" if it cannot be
// parsed.
func DatabaseName(dsn string) string {
	cfg, err := pgconn.ParseConfig(dsn)
	if err != nil {
		return ""
	}
	return cfg.Database
}

var nameUnsafe = regexp.MustCompile(`[^a-z0-9]+`)

// scratchName returns pgxperf_test_<pid>_<test name>_<random>, at most 63 bytes.
func scratchName(testName string) string {
	s := strings.Trim(nameUnsafe.ReplaceAllString(strings.ToLower(testName), "_"), "_")
	if len(s) > 28 {
		s = strings.TrimRight(s[:28], "_")
	}
	var b [4]byte
	_, _ = rand.Read(b[:])
	return fmt.Sprintf("%s%d_%s_%s", DatabasePrefix, os.Getpid(), s, hex.EncodeToString(b[:]))
}

func createDatabase(ctx context.Context, primary, name string, cfg dbConfig) error {
	template := "template0"
	if cfg.seed {
		var err error
		if template, err = seededTemplate(ctx, primary); err != nil {
			return err
		}
	}
	if err := execOn(ctx, primary, "CREATE DATABASE "+ident(name)+" TEMPLATE "+ident(template)); err != nil {
		return err
	}
	var scripts []string
	if !cfg.seed && !cfg.noSchema {
		scripts = append(scripts, testdata.Schema)
	}
	scripts = append(scripts, cfg.sql...)
	if len(scripts) > 0 {
		if err := execOn(ctx, DSNForDatabase(primary, name), scripts...); err != nil {
			return fmt.Errorf("loading %s: %w", name, err)
		}
	}
	return nil
}

var tmpl struct {
	mu   sync.Mutex
	name string
}

// seededTemplate returns the name of a database holding schema.sql and
// seed.sql, building it the first time any process asks for this content. The
// name carries a hash of both files, so an edit builds a new template and the
// old ones are dropped. It is marked IS_TEMPLATE and ALLOW_CONNECTIONS false: a
// connected session would make CREATE DATABASE … TEMPLATE fail.
func seededTemplate(ctx context.Context, primary string) (string, error) {
	tmpl.mu.Lock()
	defer tmpl.mu.Unlock()
	if tmpl.name != "" {
		return tmpl.name, nil
	}
	sum := sha256.Sum256([]byte(testdata.Schema + "\x00" + testdata.Seed))
	name := DatabasePrefix + "tmpl_" + hex.EncodeToString(sum[:8])

	conn, err := pgx.Connect(ctx, primary)
	if err != nil {
		return "", err
	}
	defer conn.Close(context.Background())
	// One builder at a time across processes; the others wait, then find it.
	const lockKey = 0x70677870657266 // "pgxperf"
	if _, err := conn.Exec(ctx, "select pg_advisory_lock($1)", int64(lockKey)); err != nil {
		return "", fmt.Errorf("locking the template build: %w", err)
	}
	defer func() {
		// The lock ends with the session anyway; unlocking early only lets
		// another test process in sooner.
		_, _ = conn.Exec(context.Background(), "select pg_advisory_unlock($1)", int64(lockKey))
	}()

	var exists bool
	if err := conn.QueryRow(ctx, "select exists (select 1 from pg_database where datname = $1)", name).Scan(&exists); err != nil {
		return "", err
	}
	if !exists {
		build := name + "_build"
		if _, err := conn.Exec(ctx, "DROP DATABASE IF EXISTS "+ident(build)+" WITH (FORCE)"); err != nil {
			return "", err
		}
		if _, err := conn.Exec(ctx, "CREATE DATABASE "+ident(build)+" TEMPLATE template0"); err != nil {
			return "", err
		}
		if err := execOn(ctx, DSNForDatabase(primary, build), testdata.Schema, testdata.Seed); err != nil {
			_, _ = conn.Exec(context.Background(), "DROP DATABASE IF EXISTS "+ident(build)+" WITH (FORCE)")
			return "", fmt.Errorf("loading testdata into %s: %w", build, err)
		}
		// Renaming only a complete build keeps the final name meaning "ready".
		if _, err := conn.Exec(ctx, "ALTER DATABASE "+ident(build)+" RENAME TO "+ident(name)); err != nil {
			return "", err
		}
		if _, err := conn.Exec(ctx, "ALTER DATABASE "+ident(name)+" WITH IS_TEMPLATE true ALLOW_CONNECTIONS false"); err != nil {
			return "", err
		}
		dropStaleTemplates(ctx, conn, name)
	}
	tmpl.name = name
	return name, nil
}

// dropStaleTemplates drops templates built from other versions of the files,
// and builds abandoned by killed processes (builds run under the advisory lock
// the caller holds, so no other build is in progress). Best effort: a clone
// running from a template makes DROP wait for it.
func dropStaleTemplates(ctx context.Context, conn *pgx.Conn, keep string) {
	rows, err := conn.Query(ctx, `select datname from pg_database
		where datname like 'pgxperf\_test\_tmpl\_%' and datname <> $1`, keep)
	if err != nil {
		return
	}
	names, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return
	}
	for _, n := range names {
		_, _ = conn.Exec(ctx, "ALTER DATABASE "+ident(n)+" WITH IS_TEMPLATE false")
		_, _ = conn.Exec(ctx, "DROP DATABASE IF EXISTS "+ident(n)+" WITH (FORCE)")
	}
}

func dropDatabase(primary, name string) error {
	ctx, cancel := context.WithTimeout(context.Background(), setupTimeout)
	defer cancel()
	return execOn(ctx, primary, "DROP DATABASE IF EXISTS "+ident(name)+" WITH (FORCE)")
}

var sweep sync.Once

// leftover matches the databases of one test process: scratch ones carry the
// pid after the prefix, shared ones after "shared_".
var leftover = regexp.MustCompile(`^` + DatabasePrefix + `(?:shared_)?([0-9]+)(?:_|$)`)

// sweepOnce drops, once per process, scratch and shared databases left by test
// processes of this machine that have exited (killed by a test timeout, or a
// package without Main). Only on a primary at a loopback address, since the pid
// means nothing elsewhere, and only databases nobody is connected to.
func sweepOnce(primary string) { sweep.Do(func() { sweepLeftovers(primary) }) }

func sweepLeftovers(primary string) {
	cfg, err := pgconn.ParseConfig(primary)
	if err != nil {
		return
	}
	if ip := net.ParseIP(cfg.Host); cfg.Host != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, primary)
	if err != nil {
		return
	}
	defer conn.Close(context.Background())
	dropOrphans(ctx, conn, `select datname from pg_database d
		where datname like 'pgxperf\_test\_%'
		  and not exists (select 1 from pg_stat_activity a where a.datid = d.oid)`,
		leftover, func(n string) string { return "DROP DATABASE IF EXISTS " + ident(n) + " WITH (FORCE)" })
}

// dropOrphans runs drop for each name list returns whose pid (re's first
// group) is not that of a live process of this machine. Best effort.
func dropOrphans(ctx context.Context, conn *pgx.Conn, list string, re *regexp.Regexp, drop func(name string) string) {
	rows, err := conn.Query(ctx, list)
	if err != nil {
		return
	}
	names, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return
	}
	for _, n := range names {
		m := re.FindStringSubmatch(n)
		if m == nil {
			continue
		}
		pid, err := strconv.Atoi(m[1])
		if err != nil || pid == os.Getpid() || processAlive(pid) {
			continue
		}
		_, _ = conn.Exec(ctx, drop(n))
	}
}

// execOn connects to dsn and runs each script with the simple protocol, which
// accepts several statements per script.
func execOn(ctx context.Context, dsn string, scripts ...string) error {
	conn, err := pgconn.Connect(ctx, dsn)
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	for _, s := range scripts {
		if _, err := conn.Exec(ctx, s).ReadAll(); err != nil {
			return err
		}
	}
	return nil
}

func queryString(ctx context.Context, dsn, sql string) (string, error) {
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return "", err
	}
	defer conn.Close(context.Background())
	var s string
	err = conn.QueryRow(ctx, sql).Scan(&s)
	return s, err
}

func ident(name string) string { return pgx.Identifier{name}.Sanitize() }
