package testenv

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// StartPgStatStatements starts a throwaway Postgres server of the test's
// own with shared_preload_libraries = 'pg_stat_statements' (which the
// shared primary does not load, and which only a server start can load), on
// a FreePort on 127.0.0.1, and returns its DSN (database postgres, user
// postgres, trust authentication). The server is a single primary started
// with StartCluster's machinery: the same binaries (EnvPGBin, PATH or
// /usr/lib/postgresql/<newest>/bin), the same data directory location
// (EnvClusterDir, /dev/shm or the temp directory), runuser to the postgres
// user when the test runs as root, and the same sweep of servers left by a
// killed test process. It is tuned to start fast (no WAL archiving or
// replication, fsync off, 1 MB WAL segments): about a second on tmpfs.
//
// pg_stat_statements tracks top-level statements and utility statements
// (its defaults), and the server computes query ids (compute_query_id =
// auto turns on with the library). CREATE EXTENSION pg_stat_statements is
// left to the test, in the database it reads the view from.
//
// A cleanup registered on t stops the server (immediate mode) and removes its
// directory. When it cannot be started (no Postgres binaries, no postgres
// user, no pg_stat_statements library…), the test is skipped with the
// reason, or fails when CI=true.
func StartPgStatStatements(t testing.TB) string {
	t.Helper()
	SkipShort(t)
	dsn, err := startPgss(t)
	if err != nil {
		msg := fmt.Sprintf("testenv: StartPgStatStatements: %v", err)
		if InCI() {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	return dsn
}

// pgssConf is appended to the new server's postgresql.conf.
const pgssConf = `
# pgxperf testenv.StartPgStatStatements
listen_addresses = '127.0.0.1'
unix_socket_directories = ''
shared_preload_libraries = 'pg_stat_statements'
pg_stat_statements.max = 10000
pg_stat_statements.track = top
pg_stat_statements.track_utility = on
pg_stat_statements.save = off
compute_query_id = auto
wal_level = minimal
max_wal_senders = 0
fsync = off
synchronous_commit = off
full_page_writes = off
shared_buffers = '16MB'
max_connections = 40
autovacuum = off
log_min_messages = warning
`

func startPgss(t testing.TB) (string, error) {
	started := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), clusterStartTimeout)
	defer cancel()

	// A Cluster without replicas: its helpers run the binaries as the right
	// user, pick ports, stop the server and remove the directory.
	c := &Cluster{t: t, uid: -1, gid: -1}
	var err error
	if c.bin, err = findPGBin(); err != nil {
		return "", err
	}
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			return "", fmt.Errorf("running as root, and Postgres refuses to: %w", err)
		}
		c.uid, _ = strconv.Atoi(u.Uid)
		c.gid, _ = strconv.Atoi(u.Gid)
		if c.runuser, err = exec.LookPath("runuser"); err != nil {
			return "", fmt.Errorf("running as root needs runuser to start Postgres as postgres: %w", err)
		}
	}
	sweepClusters.Do(func() { c.sweepDeadClusters() })

	// The cluster prefix and pid let sweepDeadClusters stop this server if
	// the test process is killed before its cleanup runs.
	if c.dir, err = os.MkdirTemp(clusterBaseDir(), fmt.Sprintf("%s%d-pgss-", clusterDirPrefix, os.Getpid())); err != nil {
		return "", err
	}
	if err := c.chown(c.dir); err != nil {
		_ = os.RemoveAll(c.dir)
		return "", err
	}
	t.Cleanup(c.destroy)

	c.primary = c.newServer("primary")
	if _, err := c.pg(ctx, "initdb", "-D", c.primary.data, "-U", "postgres", "-A", "trust",
		"-E", "UTF8", "--no-locale", "-N", "--no-instructions", "--wal-segsize=1"); err != nil {
		return "", err
	}
	if err := appendFile(filepath.Join(c.primary.data, "postgresql.conf"), pgssConf); err != nil {
		return "", err
	}
	if err := appendFile(filepath.Join(c.primary.data, "pg_hba.conf"), "\nhost all all 127.0.0.1/32 trust\n"); err != nil {
		return "", err
	}
	initdb := time.Since(started)
	if err := c.startFresh(ctx, c.primary); err != nil {
		if strings.Contains(err.Error(), "pg_stat_statements") {
			return "", fmt.Errorf("the pg_stat_statements library is not installed next to %s (Debian: postgresql-contrib): %w", c.bin, err)
		}
		return "", err
	}
	var lib string
	lib, err = queryString(ctx, c.primary.dsn(), "SHOW shared_preload_libraries")
	if err != nil {
		return "", err
	}
	if !strings.Contains(lib, "pg_stat_statements") {
		return "", fmt.Errorf("shared_preload_libraries is %q after the start", lib)
	}
	t.Logf("testenv: pg_stat_statements server up in %v (initdb %v; port %d, %s)",
		time.Since(started).Round(time.Millisecond), initdb.Round(time.Millisecond), c.primary.port, c.dir)
	return c.primary.dsn(), nil
}
