package testenv

import (
	"bufio"
	"context"
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
)

// Environment variables naming the test servers.
const (
	EnvPrimary = "PGXPERF_TEST_PRIMARY"
	EnvReplica = "PGXPERF_TEST_REPLICA"
	EnvRedis   = "PGXPERF_TEST_REDIS"
)

// Defaults used when the environment variables are unset or empty; they match
// what scripts/testenv.sh brings up.
const (
	DefaultPrimaryDSN = "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"
	DefaultReplicaDSN = "postgres://postgres@127.0.0.1:5433/postgres?sslmode=disable"
	DefaultRedisAddr  = "127.0.0.1:6379"
)

// probeTimeout bounds each reachability check.
const probeTimeout = 3 * time.Second

// PrimaryDSN returns the Postgres primary's connection string: PGXPERF_TEST_PRIMARY,
// or DefaultPrimaryDSN. It does not check that the server answers.
func PrimaryDSN() string { return envOr(EnvPrimary, DefaultPrimaryDSN) }

// ReplicaDSN returns the streaming replica's connection string: PGXPERF_TEST_REPLICA,
// or DefaultReplicaDSN. It does not check that the server answers.
func ReplicaDSN() string { return envOr(EnvReplica, DefaultReplicaDSN) }

// RedisAddr returns Redis's host:port: PGXPERF_TEST_REDIS, or DefaultRedisAddr.
// It does not check that the server answers.
func RedisAddr() string { return envOr(EnvRedis, DefaultRedisAddr) }

func envOr(name, def string) string {
	if v := strings.TrimSpace(os.Getenv(name)); v != "" {
		return v
	}
	return def
}

// probe caches one reachability check per process.
type probe struct {
	once sync.Once
	err  error
}

var primaryProbe, replicaProbe, redisProbe probe

// RequirePrimary returns PrimaryDSN after checking, once per process, that the
// primary accepts connections. If it does not, the test is skipped, or fails
// when CI=true. Safe for concurrent use.
func RequirePrimary(t testing.TB) string {
	t.Helper()
	SkipShort(t)
	dsn := PrimaryDSN()
	primaryProbe.once.Do(func() { primaryProbe.err = pingPostgres(dsn, false) })
	if primaryProbe.err != nil {
		unavailable(t, "Postgres primary", EnvPrimary, dsn, primaryProbe.err)
	}
	return dsn
}

// RequireReplica returns ReplicaDSN after checking, once per process, that the
// replica accepts connections and is in recovery (a hot standby). If not, the
// test is skipped, or fails when CI=true. Safe for concurrent use.
func RequireReplica(t testing.TB) string {
	t.Helper()
	SkipShort(t)
	dsn := ReplicaDSN()
	replicaProbe.once.Do(func() { replicaProbe.err = pingPostgres(dsn, true) })
	if replicaProbe.err != nil {
		unavailable(t, "Postgres replica", EnvReplica, dsn, replicaProbe.err)
	}
	return dsn
}

// RequireRedis returns RedisAddr after checking, once per process, that Redis
// answers PING. If not, the test is skipped, or fails when CI=true. Safe for
// concurrent use.
func RequireRedis(t testing.TB) string {
	t.Helper()
	SkipShort(t)
	addr := RedisAddr()
	redisProbe.once.Do(func() { redisProbe.err = pingRedis(addr) })
	if redisProbe.err != nil {
		unavailable(t, "Redis", EnvRedis, addr, redisProbe.err)
	}
	return addr
}

// SkipShort skips t under `go test -short`: tests that need a server (or
// start one) are integration tests, and -short runs the unit tests only,
// in seconds, with no server. Every function of this package that hands a
// test a server calls it first.
func SkipShort(t testing.TB) {
	t.Helper()
	if testing.Short() {
		t.Skip("testenv: needs a server; skipped under -short")
	}
}

// InCI reports whether the CI environment variable is set to a true value
// ("true", "1"…). In CI a missing server fails a test instead of skipping it.
func InCI() bool {
	v, err := strconv.ParseBool(strings.TrimSpace(os.Getenv("CI")))
	return err == nil && v
}

func unavailable(t testing.TB, what, env, target string, err error) {
	t.Helper()
	msg := unavailableMessage(what, env, target, err)
	if InCI() {
		t.Fatal(msg)
	}
	t.Skip(msg)
}

func unavailableMessage(what, env, target string, err error) string {
	return fmt.Sprintf("testenv: %s unavailable at %s: %v\n"+
		"\tset %s to a reachable server, or run `make test` (or `bash scripts/testenv.sh`) to start the local test servers",
		what, Redact(target), err, env)
}

func pingPostgres(dsn string, wantRecovery bool) error {
	ctx, cancel := context.WithTimeout(context.Background(), probeTimeout)
	defer cancel()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	var inRecovery bool
	if err := conn.QueryRow(ctx, "select pg_is_in_recovery()").Scan(&inRecovery); err != nil {
		return err
	}
	if wantRecovery && !inRecovery {
		return errors.New("server is not a streaming replica (pg_is_in_recovery() is false)")
	}
	return nil
}

func pingRedis(addr string) error {
	conn, err := net.DialTimeout("tcp", addr, probeTimeout)
	if err != nil {
		return err
	}
	defer conn.Close()
	if err := conn.SetDeadline(time.Now().Add(probeTimeout)); err != nil {
		return err
	}
	if _, err := conn.Write([]byte("PING\r\n")); err != nil {
		return err
	}
	line, err := bufio.NewReader(conn).ReadString('\n')
	if err != nil {
		return fmt.Errorf("reading PING reply: %w", err)
	}
	if line = strings.TrimSpace(line); line != "+PONG" {
		return fmt.Errorf("PING replied %q, want +PONG", line)
	}
	return nil
}

var kvPassword = regexp.MustCompile(`(?i)(password\s*=\s*)('(?:[^'\\]|\\.)*'|\S+)`)

// Redact returns dsn with any password replaced by "xxxxx", for messages.
func Redact(dsn string) string {
	if u, err := url.Parse(dsn); err == nil && u.Scheme != "" && u.Host != "" {
		if q := u.Query(); q.Has("password") {
			q.Set("password", "xxxxx")
			u.RawQuery = q.Encode()
		}
		return u.Redacted()
	}
	return kvPassword.ReplaceAllString(dsn, "${1}xxxxx")
}

var (
	portsMu sync.Mutex
	ports   = map[int]bool{}
)

// FreePort returns a TCP port on 127.0.0.1 that was free a moment ago, for a
// server a test starts itself. It never returns the same port twice in one
// process. Another process may still take the port before the test binds it.
func FreePort(t testing.TB) int {
	t.Helper()
	portsMu.Lock()
	defer portsMu.Unlock()
	for range 100 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatalf("testenv: FreePort: %v", err)
		}
		port := l.Addr().(*net.TCPAddr).Port
		_ = l.Close()
		if !ports[port] {
			ports[port] = true
			return port
		}
	}
	t.Fatal("testenv: FreePort: no new free port after 100 tries")
	return 0
}
