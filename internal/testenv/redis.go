package testenv

import (
	"net"
	"os/exec"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"
)

// RedisServer is a redis-server of a test's own, on a free port, which the
// test may kill, stop and restart without disturbing the shared Redis. It
// keeps nothing on disk unless the test asks it to SAVE: its working
// directory is the test's own, so a restarted server then comes back with
// the entries it had.
type RedisServer struct {
	t    testing.TB
	port int
	dir  string

	// appendOnly makes the server log every write to an append-only file
	// (fsynced after each) in its directory, so a restart, even after
	// SIGKILL, comes back with everything it had acknowledged.
	appendOnly bool

	mu  sync.Mutex
	cmd *exec.Cmd
}

// StartRedis starts a redis-server for the test and kills it when the test
// ends. Without redis-server installed the test is skipped, or fails when
// CI=true.
func StartRedis(t testing.TB) *RedisServer {
	t.Helper()
	SkipShort(t)
	return startRedis(t, false)
}

// StartRedisAOF is StartRedis with persistence: the server runs with
// appendonly yes and appendfsync always in the test's own directory, so that
// after Kill (or Stop) and Start it has every write it acknowledged, as a
// production Redis with AOF does after a restart.
func StartRedisAOF(t testing.TB) *RedisServer {
	t.Helper()
	SkipShort(t)
	return startRedis(t, true)
}

func startRedis(t testing.TB, appendOnly bool) *RedisServer {
	t.Helper()
	if _, err := exec.LookPath("redis-server"); err != nil {
		if InCI() {
			t.Fatalf("testenv: redis-server not installed: %v", err)
		}
		t.Skipf("testenv: redis-server not installed: %v", err)
	}
	s := &RedisServer{t: t, port: FreePort(t), dir: t.TempDir(), appendOnly: appendOnly}
	s.Start()
	t.Cleanup(s.Kill)
	return s
}

// Addr is the server's host:port.
func (s *RedisServer) Addr() string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(s.port)) }

// Start (re)starts the server on its port and waits until it answers PING.
func (s *RedisServer) Start() {
	s.t.Helper()
	aof := []string{"--appendonly", "no"}
	if s.appendOnly {
		aof = []string{"--appendonly", "yes", "--appendfsync", "always"}
	}
	cmd := exec.Command("redis-server", append([]string{"--port", strconv.Itoa(s.port), "--bind", "127.0.0.1",
		"--save", "", "--dir", s.dir}, aof...)...)
	if err := cmd.Start(); err != nil {
		s.t.Fatalf("testenv: starting redis-server: %v", err)
	}
	s.mu.Lock()
	s.cmd = cmd
	s.mu.Unlock()
	deadline := time.Now().Add(10 * time.Second)
	for {
		err := pingRedis(s.Addr())
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("testenv: redis-server on %s did not start: %v", s.Addr(), err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Kill SIGKILLs the server (resuming it first if the test stopped it) and
// waits for it to exit. Killing a server that is not running does nothing.
func (s *RedisServer) Kill() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil {
		return
	}
	_ = s.cmd.Process.Signal(syscall.SIGCONT)
	_ = s.cmd.Process.Kill()
	_ = s.cmd.Wait()
	s.cmd = nil
}

// Signal sends sig to the running server (SIGSTOP makes it hang: connections
// stay open, nothing answers; SIGCONT resumes it).
func (s *RedisServer) Signal(sig syscall.Signal) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil {
		s.t.Fatalf("testenv: redis-server is not running")
	}
	if err := s.cmd.Process.Signal(sig); err != nil {
		s.t.Fatalf("testenv: signalling redis-server: %v", err)
	}
}

// Stop shuts the server down gracefully (SIGTERM: with AOF it flushes and
// exits) and waits for it. Stopping a server that is not running does
// nothing.
func (s *RedisServer) Stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil {
		return
	}
	_ = s.cmd.Process.Signal(syscall.SIGCONT)
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	_ = s.cmd.Wait()
	s.cmd = nil
}
