package testenv

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestMain(m *testing.M) { Main(m) }

func TestAddressesFromEnvironment(t *testing.T) {
	t.Setenv(EnvPrimary, "")
	t.Setenv(EnvReplica, "  ")
	t.Setenv(EnvRedis, "")
	assert.Equal(t, DefaultPrimaryDSN, PrimaryDSN())
	assert.Equal(t, DefaultReplicaDSN, ReplicaDSN())
	assert.Equal(t, DefaultRedisAddr, RedisAddr())

	t.Setenv(EnvPrimary, "postgres://a@db1:5432/x")
	t.Setenv(EnvReplica, "host=db2 port=5433")
	t.Setenv(EnvRedis, "cache:6380")
	assert.Equal(t, "postgres://a@db1:5432/x", PrimaryDSN())
	assert.Equal(t, "host=db2 port=5433", ReplicaDSN())
	assert.Equal(t, "cache:6380", RedisAddr())
}

func TestRedact(t *testing.T) {
	for in, want := range map[string]string{
		"postgres://u:secret@h:5432/db?sslmode=disable": "postgres://u:xxxxx@h:5432/db?sslmode=disable",
		"postgres://u@h/db?password=secret":             "postgres://u@h/db?password=xxxxx",
		"host=h user=u password=secret dbname=d":        "host=h user=u password=xxxxx dbname=d",
		"host=h password='se cret' dbname=d":            "host=h password=xxxxx dbname=d",
		DefaultPrimaryDSN:                               DefaultPrimaryDSN,
		"127.0.0.1:6379":                                "127.0.0.1:6379",
	} {
		assert.Equal(t, want, Redact(in), in)
	}
}

func TestDSNForDatabase(t *testing.T) {
	for _, dsn := range []string{
		DefaultPrimaryDSN,
		"postgres://u:p@h:5432/postgres?sslmode=disable&dbname=other",
		"postgresql://h/",
		"host=127.0.0.1 port=5432 user=postgres dbname=postgres sslmode=disable",
		"host=127.0.0.1 user=postgres",
	} {
		got := DSNForDatabase(dsn, "pgxperf_test_1_x")
		assert.Equal(t, "pgxperf_test_1_x", DatabaseName(got), "%s -> %s", dsn, got)
	}
	assert.Equal(t, "postgres://postgres@127.0.0.1:5432/scratch?sslmode=disable",
		DSNForDatabase(DefaultPrimaryDSN, "scratch"))
	assert.Equal(t, "it's", DatabaseName(DSNForDatabase("host=h", "it's")))
}

func TestScratchName(t *testing.T) {
	name := scratchName("TestSomething/with spaces & Ünïcode/" + strings.Repeat("x", 100))
	assert.LessOrEqual(t, len(name), 63)
	assert.Regexp(t, `^pgxperf_test_[0-9]+_[a-z0-9_]+_[0-9a-f]{8}$`, name)
	m := leftover.FindStringSubmatch(name)
	require.NotNil(t, m)
	assert.Equal(t, fmt.Sprint(os.Getpid()), m[1])
	assert.NotEqual(t, name, scratchName("TestSomething/with spaces & Ünïcode/"+strings.Repeat("x", 100)))
	assert.Equal(t, []string{"pgxperf_test_shared_42", "42"}, leftover.FindStringSubmatch("pgxperf_test_shared_42"))
	assert.Nil(t, leftover.FindStringSubmatch("pgxperf_test_tmpl_0123abcd"))
}

// fakeTB records Skip and Fatal and ends the goroutine like testing.T does.
type fakeTB struct {
	testing.TB
	skipped, failed bool
	msg             string
}

func (f *fakeTB) Helper() {}
func (f *fakeTB) Skip(args ...any) {
	f.skipped, f.msg = true, fmt.Sprint(args...)
	runtime.Goexit()
}

func (f *fakeTB) Fatal(args ...any) {
	f.failed, f.msg = true, fmt.Sprint(args...)
	runtime.Goexit()
}

func runFake(fn func(testing.TB)) *fakeTB {
	f := &fakeTB{}
	var wg sync.WaitGroup
	wg.Go(func() { fn(f) })
	wg.Wait()
	return f
}

func TestUnavailableSkipsLocallyAndFailsInCI(t *testing.T) {
	call := func(tb testing.TB) {
		unavailable(tb, "Postgres primary", EnvPrimary, "postgres://u:secret@h:1/db", fmt.Errorf("connection refused"))
	}
	t.Setenv("CI", "")
	f := runFake(call)
	assert.True(t, f.skipped)
	assert.False(t, f.failed)
	for _, want := range []string{"Postgres primary unavailable", "connection refused", EnvPrimary, "make test", "scripts/testenv.sh", "xxxxx"} {
		assert.Contains(t, f.msg, want)
	}
	assert.NotContains(t, f.msg, "secret")

	t.Setenv("CI", "true")
	f = runFake(call)
	assert.True(t, f.failed)
	assert.False(t, f.skipped)
	assert.Contains(t, f.msg, EnvPrimary)

	t.Setenv("CI", "false")
	assert.True(t, runFake(call).skipped)
}

func TestRequireServers(t *testing.T) {
	assert.Equal(t, PrimaryDSN(), RequirePrimary(t))
	assert.Equal(t, ReplicaDSN(), RequireReplica(t))
	assert.Equal(t, RedisAddr(), RequireRedis(t))
}

func TestPingPostgresWantsReplica(t *testing.T) {
	primary := RequirePrimary(t)
	require.NoError(t, pingPostgres(primary, false))
	err := pingPostgres(primary, true)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "not a streaming replica")
	require.Error(t, pingPostgres(fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres", FreePort(t)), false))
}

func TestPingRedis(t *testing.T) {
	require.NoError(t, pingRedis(RequireRedis(t)))
	require.Error(t, pingRedis(fmt.Sprintf("127.0.0.1:%d", FreePort(t))))

	// A server that answers, but not with +PONG.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer l.Close()
	go func() {
		c, err := l.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		_, _ = c.Write([]byte("-NOAUTH Authentication required.\r\n"))
	}()
	err = pingRedis(l.Addr().String())
	require.Error(t, err)
	assert.Contains(t, err.Error(), "NOAUTH")
}

func TestFreePort(t *testing.T) {
	seen := map[int]bool{}
	for range 20 {
		p := FreePort(t)
		assert.False(t, seen[p], "port %d returned twice", p)
		seen[p] = true
		l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", p))
		require.NoError(t, err)
		l.Close()
	}
}

func connect(t *testing.T, dsn string) *pgx.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, dsn)
	require.NoError(t, err)
	t.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}

func databaseExists(t *testing.T, name string) bool {
	t.Helper()
	var exists bool
	require.NoError(t, connect(t, RequirePrimary(t)).QueryRow(context.Background(),
		"select exists (select 1 from pg_database where datname = $1)", name).Scan(&exists))
	return exists
}

func TestNewDatabaseIsDroppedAfterTheTest(t *testing.T) {
	RequirePrimary(t)
	var name string
	t.Run("inner", func(t *testing.T) {
		dsn := NewDatabase(t)
		name = DatabaseName(dsn)
		assert.Regexp(t, `^pgxperf_test_[0-9]+_testnewdatabaseisdroppedafte`, name)
		conn := connect(t, dsn) // still open at cleanup: WITH (FORCE) ends it
		var tables []string
		rows, err := conn.Query(context.Background(),
			"select tablename from pg_tables where schemaname = 'public' order by 1")
		require.NoError(t, err)
		tables, err = pgx.CollectRows(rows, pgx.RowTo[string])
		require.NoError(t, err)
		assert.Equal(t, []string{"content", "platform_metrics", "projects", "publications", "sessions", "users"}, tables)
		var n int
		require.NoError(t, conn.QueryRow(context.Background(), "select count(*) from users").Scan(&n))
		assert.Zero(t, n)
		assert.True(t, databaseExists(t, name))
	})
	require.NotEmpty(t, name)
	assert.False(t, databaseExists(t, name), "scratch database %s survived its test", name)
}

func TestNewDatabaseOptions(t *testing.T) {
	t.Parallel()
	dsn := NewDatabase(t, WithoutSchema(), WithSQL("create table t (id int); insert into t values (1), (2)"))
	conn := connect(t, dsn)
	var n int
	require.NoError(t, conn.QueryRow(context.Background(), "select count(*) from t").Scan(&n))
	assert.Equal(t, 2, n)
	require.NoError(t, conn.QueryRow(context.Background(),
		"select count(*) from pg_tables where schemaname = 'public'").Scan(&n))
	assert.Equal(t, 1, n)
}

// seedCounts are the row counts seed.sql documents.
var seedCounts = map[string]int{
	"users": 2000, "projects": 5000, "content": 50000,
	"publications": 100000, "platform_metrics": 60000, "sessions": 10000,
}

func assertSeeded(t *testing.T, dsn string) {
	t.Helper()
	conn := connect(t, dsn)
	for table, want := range seedCounts {
		var n int
		require.NoError(t, conn.QueryRow(context.Background(), "select count(*) from "+table).Scan(&n))
		assert.Equal(t, want, n, table)
	}
	// Sequences were advanced past the seeded ids.
	var id int64
	require.NoError(t, conn.QueryRow(context.Background(),
		"insert into users (email, display_name) values ('new@example.com', 'New') returning id").Scan(&id))
	assert.Equal(t, int64(2001), id)
}

func TestNewDatabaseWithSeed(t *testing.T) {
	t.Parallel()
	dsn := NewDatabase(t, WithSeed())
	assertSeeded(t, dsn)
	// A deterministic row the seed's header formulas describe.
	var email, status string
	var project int64
	conn := connect(t, dsn)
	require.NoError(t, conn.QueryRow(context.Background(),
		"select u.email, c.status::text, c.project_id from content c join users u on u.id = c.author_id where c.id = 12345").
		Scan(&email, &status, &project))
	assert.Equal(t, "user0486@example.com", email) // author 1 + (12345 * 13) % 2000 = 486
	assert.Equal(t, "published", status)           // 12345 % 10 = 5
	assert.Equal(t, int64(2345), project)          // 1 + 12344 % 5000
}

func TestSharedSeededDatabase(t *testing.T) {
	t.Parallel()
	dsn := SharedSeededDatabase(t)
	assert.Equal(t, fmt.Sprintf("pgxperf_test_shared_%d", os.Getpid()), DatabaseName(dsn))
	assert.Equal(t, dsn, SharedSeededDatabase(t))

	conn := connect(t, dsn)
	for table, want := range seedCounts {
		var n int
		require.NoError(t, conn.QueryRow(context.Background(), "select count(*) from "+table).Scan(&n))
		assert.Equal(t, want, n, table)
	}

	replica := SharedSeededReplica(t)
	var n int
	require.NoError(t, connect(t, replica).QueryRow(context.Background(), "select count(*) from content").Scan(&n))
	assert.Equal(t, 50000, n)
}

func TestNewReplicatedDatabase(t *testing.T) {
	t.Parallel()
	primaryDSN, replicaDSN := NewReplicatedDatabase(t)
	assert.Equal(t, DatabaseName(primaryDSN), DatabaseName(replicaDSN))

	replica := connect(t, replicaDSN)
	var inRecovery bool
	require.NoError(t, replica.QueryRow(context.Background(), "select pg_is_in_recovery()").Scan(&inRecovery))
	assert.True(t, inRecovery)

	_, err := connect(t, primaryDSN).Exec(context.Background(),
		"insert into users (email, display_name) values ('replicated@example.com', 'R')")
	require.NoError(t, err)
	WaitForReplica(t, primaryDSN, replicaDSN)
	var name string
	require.NoError(t, replica.QueryRow(context.Background(),
		"select display_name from users where email = 'replicated@example.com'").Scan(&name))
	assert.Equal(t, "R", name)
}

func TestWaitForReplicaRejectsAPrimary(t *testing.T) {
	primary := RequirePrimary(t)
	err := waitForReplica(primary, primary, 5*time.Second)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "not in recovery")
}

func TestSweepDropsDatabasesOfExitedProcesses(t *testing.T) {
	primary := RequirePrimary(t)
	cmd := exec.Command("true")
	require.NoError(t, cmd.Run())
	dead := cmd.Process.Pid
	require.False(t, processAlive(dead))

	deadName := fmt.Sprintf("pgxperf_test_%d_sweep_me", dead)
	liveName := fmt.Sprintf("pgxperf_test_%d_keep_me", os.Getppid())
	ctx := context.Background()
	for _, n := range []string{deadName, liveName} {
		require.NoError(t, execOn(ctx, primary, "DROP DATABASE IF EXISTS "+ident(n), "CREATE DATABASE "+ident(n)))
	}
	t.Cleanup(func() { _ = dropDatabase(primary, liveName); _ = dropDatabase(primary, deadName) })

	sweepLeftovers(primary)
	assert.False(t, databaseExists(t, deadName))
	assert.True(t, databaseExists(t, liveName))
}
