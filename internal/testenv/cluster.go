package testenv

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// EnvPGBin names a directory holding the Postgres server binaries (initdb,
// pg_ctl, pg_basebackup) for StartCluster. Without it they are looked up in
// PATH, then in /usr/lib/postgresql/<newest version>/bin.
const EnvPGBin = "PGXPERF_TEST_PG_BIN"

// clusterStartTimeout bounds bringing up one whole cluster.
const clusterStartTimeout = 90 * time.Second

// clusterDirPrefix starts the name of every cluster directory, followed by the
// test process's pid, so a later process can sweep the ones of a dead process.
const clusterDirPrefix = "pgxperf-cluster-"

// Cluster is a private Postgres primary with streaming replicas, started by
// StartCluster for tests that stop, kill or pause servers. Its methods fail the
// test on error, so call them from the test's goroutine.
type Cluster struct {
	t        testing.TB
	bin      string
	runuser  string // runuser's path when the test runs as root, else ""
	uid, gid int    // the postgres user's ids when running as root, else -1
	dir      string
	primary  *pgServer
	replicas []*pgServer
}

type pgServer struct {
	name string
	data string
	log  string
	port int
}

// StartCluster starts a fresh primary and replicas streaming replicas of it,
// each on a FreePort on 127.0.0.1, with trust authentication for the
// postgres user and fsync off, and returns once every server accepts
// connections and each replica is in recovery and has replayed the primary's
// WAL. Data directories live under /dev/shm or the system temp directory
// (see EnvClusterDir; owned by the
// postgres user when the test runs as root: Postgres refuses to run as root,
// so commands then go through runuser). A cleanup registered on t stops every
// server (immediate mode) and removes the directories. When the cluster
// cannot be started (no Postgres binaries, no postgres user…), the test is
// skipped with the reason, or fails when CI=true.
func StartCluster(t testing.TB, replicas int) *Cluster {
	t.Helper()
	SkipShort(t)
	if replicas < 0 {
		t.Fatalf("testenv: StartCluster: negative number of replicas %d", replicas)
	}
	c, err := startCluster(t, replicas)
	if err != nil {
		msg := fmt.Sprintf("testenv: StartCluster: %v", err)
		if InCI() {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	return c
}

func startCluster(t testing.TB, replicas int) (*Cluster, error) {
	started := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), clusterStartTimeout)
	defer cancel()

	c := &Cluster{t: t, uid: -1, gid: -1}
	var err error
	if c.bin, err = findPGBin(); err != nil {
		return nil, err
	}
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			return nil, fmt.Errorf("running as root, and Postgres refuses to: %w", err)
		}
		c.uid, _ = strconv.Atoi(u.Uid)
		c.gid, _ = strconv.Atoi(u.Gid)
		if c.runuser, err = exec.LookPath("runuser"); err != nil {
			return nil, fmt.Errorf("running as root needs runuser to start Postgres as postgres: %w", err)
		}
	}
	sweepClusters.Do(func() { c.sweepDeadClusters() })

	// Not t.TempDir(): its parents are private to the test's user, and the
	// postgres user must reach the data directories.
	if c.dir, err = os.MkdirTemp(clusterBaseDir(), fmt.Sprintf("%s%d-", clusterDirPrefix, os.Getpid())); err != nil {
		return nil, err
	}
	if err := c.chown(c.dir); err != nil {
		_ = os.RemoveAll(c.dir)
		return nil, err
	}
	t.Cleanup(c.destroy)

	var phases []string
	phase := func(name string) {
		phases = append(phases, fmt.Sprintf("%s %v", name, time.Since(started).Round(time.Millisecond)))
	}
	c.primary = c.newServer("primary")
	if _, err := c.pg(ctx, "initdb", "-D", c.primary.data, "-U", "postgres", "-A", "trust",
		"-E", "UTF8", "--no-locale", "-N", "--no-instructions", "--wal-segsize=1"); err != nil {
		return nil, err
	}
	conf := `
# pgxperf testenv.StartCluster
listen_addresses = '127.0.0.1'
unix_socket_directories = ''
wal_level = replica
max_wal_senders = 16
max_replication_slots = 16
wal_keep_size = '512MB'
hot_standby = on
fsync = off
full_page_writes = off
shared_buffers = '16MB'
max_connections = 80
autovacuum = off
wal_receiver_status_interval = '1s'
wal_retrieve_retry_interval = '100ms'
log_min_messages = warning
`
	if err := appendFile(filepath.Join(c.primary.data, "postgresql.conf"), conf); err != nil {
		return nil, err
	}
	if err := appendFile(filepath.Join(c.primary.data, "pg_hba.conf"),
		"\nhost replication all 127.0.0.1/32 trust\nhost all all 127.0.0.1/32 trust\n"); err != nil {
		return nil, err
	}
	phase("initdb")
	if err := c.startFresh(ctx, c.primary); err != nil {
		return nil, err
	}
	phase("primary")

	// Base backups in parallel, then start the replicas one by one.
	c.replicas = make([]*pgServer, replicas)
	errs := make([]error, replicas)
	var wg sync.WaitGroup
	for i := range replicas {
		s := c.newServer(fmt.Sprintf("replica%d", i))
		c.replicas[i] = s
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, errs[i] = c.pg(ctx, "pg_basebackup", "-h", "127.0.0.1", "-p", strconv.Itoa(c.primary.port),
				"-U", "postgres", "-D", s.data, "-R", "-X", "stream", "-c", "fast", "--no-sync", "-w")
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	phase("base backups")
	for _, s := range c.replicas {
		if err := c.startFresh(ctx, s); err != nil {
			return nil, err
		}
	}
	for i, s := range c.replicas {
		rec, err := inRecovery(ctx, s.dsn())
		if err != nil {
			return nil, fmt.Errorf("%s: %w", s.name, err)
		}
		if !rec {
			return nil, fmt.Errorf("%s is not in recovery", s.name)
		}
		if err := waitForReplica(c.primary.dsn(), s.dsn(), time.Until(deadline(ctx))); err != nil {
			return nil, fmt.Errorf("replica %d: %w\n%s", i, err, s.logTail())
		}
	}
	phase("replicas")
	t.Logf("testenv: cluster of a primary and %d replicas up in %v (primary port %d; %s)",
		replicas, time.Since(started).Round(time.Millisecond), c.primary.port, strings.Join(phases, ", "))
	return c, nil
}

func deadline(ctx context.Context) time.Time {
	d, ok := ctx.Deadline()
	if !ok {
		return time.Now().Add(clusterStartTimeout)
	}
	return d
}

func (c *Cluster) newServer(name string) *pgServer {
	return &pgServer{name: name, data: filepath.Join(c.dir, name), log: filepath.Join(c.dir, name+".log")}
}

func (s *pgServer) dsn() string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable&connect_timeout=5", s.port)
}

// logTail returns the end of the server's log, for error messages.
func (s *pgServer) logTail() string {
	b, err := os.ReadFile(s.log)
	if err != nil {
		return ""
	}
	const max = 2000
	if len(b) > max {
		b = b[len(b)-max:]
	}
	return fmt.Sprintf("--- end of %s ---\n%s", s.log, b)
}

var bindFailed = regexp.MustCompile(`(?i)could not bind|address already in use|could not create any TCP/IP sockets`)

// startFresh gives the server a FreePort and starts it, with a new port
// when another process took the previous one in between.
func (c *Cluster) startFresh(ctx context.Context, s *pgServer) error {
	var err error
	for range 3 {
		s.port = FreePort(c.t)
		if err = appendFile(filepath.Join(s.data, "postgresql.conf"), fmt.Sprintf("port = %d\n", s.port)); err != nil {
			return err
		}
		if err = c.start(ctx, s); err == nil || !bindFailed.MatchString(err.Error()) {
			return err
		}
	}
	return err
}

// start runs pg_ctl start and waits until the server accepts connections.
func (c *Cluster) start(ctx context.Context, s *pgServer) error {
	if _, err := c.pg(ctx, "pg_ctl", "-D", s.data, "-l", s.log, "-w", "-t", "60", "start"); err != nil {
		return fmt.Errorf("%w\n%s", err, s.logTail())
	}
	return nil
}

func (c *Cluster) stop(s *pgServer) error {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	_, err := c.pg(ctx, "pg_ctl", "-D", s.data, "-m", "immediate", "-w", "-t", "60", "stop")
	return err
}

// destroy stops every server and removes the cluster's directory.
func (c *Cluster) destroy() {
	var wg sync.WaitGroup
	for _, s := range append([]*pgServer{c.primary}, c.replicas...) {
		if s == nil {
			continue
		}
		if _, err := os.Stat(filepath.Join(s.data, "postmaster.pid")); err != nil {
			continue // never started, or stopped
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			_ = c.stop(s)
		}()
	}
	wg.Wait()
	if err := os.RemoveAll(c.dir); err != nil {
		c.t.Logf("testenv: removing %s: %v", c.dir, err)
	}
}

// pg runs one of the Postgres binaries, as the postgres user when the test
// runs as root, in the cluster's directory.
func (c *Cluster) pg(ctx context.Context, name string, args ...string) ([]byte, error) {
	path := filepath.Join(c.bin, name)
	var cmd *exec.Cmd
	if c.runuser != "" {
		cmd = exec.CommandContext(ctx, c.runuser, append([]string{"-u", "postgres", "--", path}, args...)...)
	} else {
		cmd = exec.CommandContext(ctx, path, args...)
	}
	cmd.Dir = c.dir
	if cmd.Dir == "" {
		cmd.Dir = os.TempDir() // somewhere the postgres user may be
	}
	cmd.Env = append(pgFreeEnv(), "LC_ALL=C", "LANG=C")
	cmd.WaitDelay = 5 * time.Second // pg_ctl's postmaster keeps no pipe open, but never hang on one
	out, err := cmd.CombinedOutput()
	if err != nil {
		return out, fmt.Errorf("%s %s: %w: %s", name, strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return out, nil
}

// pgFreeEnv is the environment without libpq's PG* variables, which would
// otherwise redirect the commands to another server or data directory.
func pgFreeEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "PG") {
			env = append(env, kv)
		}
	}
	return env
}

func (c *Cluster) chown(path string) error {
	if c.uid < 0 {
		return nil
	}
	return os.Chown(path, c.uid, c.gid)
}

func appendFile(path, text string) error {
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	if _, err := f.WriteString(text); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// findPGBin returns the directory of initdb, pg_ctl and pg_basebackup.
func findPGBin() (string, error) {
	has := func(dir string) bool {
		for _, b := range []string{"initdb", "pg_ctl", "pg_basebackup", "postgres"} {
			if fi, err := os.Stat(filepath.Join(dir, b)); err != nil || fi.IsDir() {
				return false
			}
		}
		return true
	}
	if dir := strings.TrimSpace(os.Getenv(EnvPGBin)); dir != "" {
		if !has(dir) {
			return "", fmt.Errorf("%s=%s does not hold initdb, pg_ctl, pg_basebackup and postgres", EnvPGBin, dir)
		}
		return dir, nil
	}
	if p, err := exec.LookPath("pg_ctl"); err == nil && has(filepath.Dir(p)) {
		return filepath.Dir(p), nil
	}
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	version := func(d string) int {
		v, _ := strconv.Atoi(filepath.Base(filepath.Dir(d)))
		return v
	}
	sort.Slice(dirs, func(i, j int) bool { return version(dirs[i]) > version(dirs[j]) })
	for _, d := range dirs {
		if has(d) {
			return d, nil
		}
	}
	return "", fmt.Errorf("no Postgres server binaries (initdb, pg_ctl, pg_basebackup) in PATH or /usr/lib/postgresql/*/bin; set %s", EnvPGBin)
}

// EnvClusterDir names the directory StartCluster creates its clusters in.
// Without it, /dev/shm when it has room (a tmpfs: initdb and base backups
// run several times faster than on disk), else the system temp directory.
const EnvClusterDir = "PGXPERF_TEST_CLUSTER_DIR"

// shmNeedKiB is the room /dev/shm must have for StartCluster to use it: a
// few clusters of 40 MB per server, their WAL, and Postgres's own shared memory.
const shmNeedKiB = 1 << 20

var clusterBase = sync.OnceValue(func() string {
	if d := strings.TrimSpace(os.Getenv(EnvClusterDir)); d != "" {
		return d
	}
	if fi, err := os.Stat("/dev/shm"); err == nil && fi.IsDir() {
		// df is there wherever /dev/shm is; a small one (Docker's default
		// is 64 MB) would fill up.
		if out, err := exec.Command("df", "-Pk", "/dev/shm").Output(); err == nil {
			lines := strings.Split(strings.TrimSpace(string(out)), "\n")
			if f := strings.Fields(lines[len(lines)-1]); len(f) >= 4 {
				if avail, err := strconv.ParseInt(f[3], 10, 64); err == nil && avail >= shmNeedKiB {
					return "/dev/shm"
				}
			}
		}
	}
	return os.TempDir()
})

func clusterBaseDir() string { return clusterBase() }

var sweepClusters sync.Once

// sweepDeadClusters stops the servers and removes the directories of
// clusters whose test process no longer runs (killed by a test timeout).
// Postmasters outlive a killed test process; this ends them.
func (c *Cluster) sweepDeadClusters() {
	var dirs []string
	for _, base := range []string{clusterBaseDir(), os.TempDir(), "/dev/shm"} {
		m, _ := filepath.Glob(filepath.Join(base, clusterDirPrefix+"*"))
		dirs = append(dirs, m...)
	}
	seen := map[string]bool{}
	for _, d := range dirs {
		if seen[d] {
			continue
		}
		seen[d] = true
		rest := strings.TrimPrefix(filepath.Base(d), clusterDirPrefix)
		pidText, _, ok := strings.Cut(rest, "-")
		pid, err := strconv.Atoi(pidText)
		if !ok || err != nil || pid == os.Getpid() || processAlive(pid) {
			continue
		}
		pids, _ := filepath.Glob(filepath.Join(d, "*", "postmaster.pid"))
		for _, p := range pids {
			s := &pgServer{data: filepath.Dir(p)}
			_ = c.stop(s)
		}
		_ = os.RemoveAll(d)
	}
}

// PrimaryDSN returns the primary's connection string (database postgres).
func (c *Cluster) PrimaryDSN() string { return c.primary.dsn() }

// ReplicaDSN returns replica i's connection string (database postgres).
func (c *Cluster) ReplicaDSN(i int) string { return c.replica(i).dsn() }

// Replicas returns the number of replicas.
func (c *Cluster) Replicas() int { return len(c.replicas) }

func (c *Cluster) replica(i int) *pgServer {
	if i < 0 || i >= len(c.replicas) {
		c.t.Fatalf("testenv: Cluster: no replica %d (the cluster has %d)", i, len(c.replicas))
	}
	return c.replicas[i]
}

// StopPrimary stops the primary in immediate mode (a crash: no shutdown
// checkpoint, clients see their connections drop).
func (c *Cluster) StopPrimary() {
	c.t.Helper()
	if err := c.stop(c.primary); err != nil {
		c.t.Fatalf("testenv: StopPrimary: %v", err)
	}
}

// StartPrimary starts the primary again after StopPrimary, on the same port.
func (c *Cluster) StartPrimary() {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), clusterStartTimeout)
	defer cancel()
	if err := c.start(ctx, c.primary); err != nil {
		c.t.Fatalf("testenv: StartPrimary: %v", err)
	}
}

// StopReplica stops replica i in immediate mode (a crash).
func (c *Cluster) StopReplica(i int) {
	c.t.Helper()
	if err := c.stop(c.replica(i)); err != nil {
		c.t.Fatalf("testenv: StopReplica(%d): %v", i, err)
	}
}

// StartReplica starts replica i again after StopReplica, on the same port,
// and waits until it accepts connections (in recovery). It resumes streaming
// from the primary; WaitReplayed waits until it has caught up.
func (c *Cluster) StartReplica(i int) {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), clusterStartTimeout)
	defer cancel()
	s := c.replica(i)
	if err := c.start(ctx, s); err != nil {
		c.t.Fatalf("testenv: StartReplica(%d): %v", i, err)
	}
	if rec, err := inRecovery(ctx, s.dsn()); err != nil || !rec {
		c.t.Fatalf("testenv: StartReplica(%d): in recovery %v, err %v", i, rec, err)
	}
}

// PauseReplay pauses WAL replay on replica i (pg_wal_replay_pause): it keeps
// receiving WAL but applies none until ResumeReplay, so its data and
// pg_last_wal_replay_lsn() stay where they are.
func (c *Cluster) PauseReplay(i int) {
	c.t.Helper()
	if err := c.exec(c.replica(i), "SELECT pg_wal_replay_pause()"); err != nil {
		c.t.Fatalf("testenv: PauseReplay(%d): %v", i, err)
	}
}

// ResumeReplay resumes WAL replay on replica i (pg_wal_replay_resume).
func (c *Cluster) ResumeReplay(i int) {
	c.t.Helper()
	if err := c.exec(c.replica(i), "SELECT pg_wal_replay_resume()"); err != nil {
		c.t.Fatalf("testenv: ResumeReplay(%d): %v", i, err)
	}
}

// WaitReplayed waits until replica i has replayed the primary's WAL position
// of the time of the call (see WaitForReplica), failing the test after
// ReplicaWaitTimeout.
func (c *Cluster) WaitReplayed(i int) {
	c.t.Helper()
	if err := waitForReplica(c.PrimaryDSN(), c.ReplicaDSN(i), ReplicaWaitTimeout); err != nil {
		c.t.Fatalf("testenv: WaitReplayed(%d): %v\n%s", i, err, c.replica(i).logTail())
	}
}

func (c *Cluster) exec(s *pgServer, sql string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return execOn(ctx, s.dsn(), sql)
}

func inRecovery(ctx context.Context, dsn string) (bool, error) {
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return false, err
	}
	defer conn.Close(context.Background())
	var rec bool
	err = conn.QueryRow(ctx, "SELECT pg_is_in_recovery()").Scan(&rec)
	return rec, err
}
