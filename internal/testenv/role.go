package testenv

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"os"
	"regexp"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// RolePrefix starts the name of every role NewRole creates, followed by the
// test process's pid.
const RolePrefix = DatabasePrefix + "role_"

// NewRole creates a login role on the primary with no attribute beyond
// LOGIN (not a superuser, cannot create databases or roles) and a random
// password, and returns its name and password, for tests that must run
// with few privileges: grant it what the test needs. Roles belong to the
// whole server, not to a database. A cleanup registered on t ends the
// role's sessions and drops it, which fails while it still holds
// privileges in a database: call NewRole before NewDatabase for a database
// that grants it some (cleanups run last-in first-out, so the database is
// dropped first, and its grants with it). Roles left by test processes that
// no longer run (fuzzing workers are killed without cleanups) are dropped
// by the next call of any process, after the sweep of their databases. It
// skips (or, in CI, fails) the test when the primary is unreachable.
func NewRole(t testing.TB) (name, password string) {
	t.Helper()
	SkipShort(t)
	primary := RequirePrimary(t)
	sweepOnce(primary) // their databases first: they hold the roles' grants
	ctx, cancel := context.WithTimeout(context.Background(), setupTimeout)
	defer cancel()
	conn, err := pgx.Connect(ctx, primary)
	if err != nil {
		t.Fatalf("testenv: NewRole: %v", err)
	}
	defer conn.Close(context.Background())
	roleSweep.Do(func() { sweepRoles(ctx, conn) })

	var b [12]byte
	_, _ = rand.Read(b[:])
	name = fmt.Sprintf("%s%d_%s", RolePrefix, os.Getpid(), hex.EncodeToString(b[:3]))
	password = hex.EncodeToString(b[3:])
	if _, err := conn.Exec(ctx, fmt.Sprintf(
		"CREATE ROLE %s LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS PASSWORD '%s'",
		ident(name), password)); err != nil {
		t.Fatalf("testenv: NewRole: %v", err)
	}
	t.Cleanup(func() {
		if err := dropRole(primary, name); err != nil {
			t.Errorf("testenv: dropping role %s: %v", name, err)
		}
	})
	return name, password
}

func dropRole(primary, name string) error {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	conn, err := pgx.Connect(ctx, primary)
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(ctx, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = $1", name); err != nil {
		return err
	}
	_, err = conn.Exec(ctx, "DROP ROLE IF EXISTS "+ident(name))
	return err
}

var roleSweep sync.Once

// leftoverRole matches the roles NewRole creates, with the pid of their process.
var leftoverRole = regexp.MustCompile(`^` + RolePrefix + `([0-9]+)_`)

// sweepRoles drops the roles of test processes of this machine that have
// exited; only on a primary at a loopback address (the pid means nothing
// elsewhere). Best effort: a role that still holds privileges stays.
func sweepRoles(ctx context.Context, conn *pgx.Conn) {
	host := conn.Config().Host
	if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return
	}
	dropOrphans(ctx, conn, `SELECT rolname FROM pg_roles WHERE rolname LIKE 'pgxperf\_test\_role\_%'`,
		leftoverRole, func(n string) string { return "DROP ROLE IF EXISTS " + ident(n) })
}
