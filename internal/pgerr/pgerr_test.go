package pgerr_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/pgxperf/pgxperf/internal/pgerr"
	"github.com/pgxperf/pgxperf/internal/testenv"
)

func pgErr(code string) error {
	return &pgconn.PgError{Code: code, Message: "whatever the server says"}
}

func TestClassifyTable(t *testing.T) {
	tests := []struct {
		name    string
		err     error
		standby bool
		want    pgerr.Class
	}{
		{"nil", nil, false, pgerr.None},
		{"no rows", pgx.ErrNoRows, true, pgerr.Client},
		{"wrapped no rows", fmt.Errorf("lookup: %w", pgx.ErrNoRows), true, pgerr.Client},
		{"scan error", pgx.ScanArgError{ColumnIndex: 0, Err: errors.New("cannot scan")}, true, pgerr.Client},
		{"plain error", errors.New("number of field descriptions must equal number of destinations"), true, pgerr.Client},
		{"canceled", context.Canceled, true, pgerr.Canceled},
		{"deadline", fmt.Errorf("x: %w", context.DeadlineExceeded), true, pgerr.Canceled},
		{"syntax error", pgErr("42601"), true, pgerr.Statement},
		{"unique violation", pgErr("23505"), false, pgerr.Statement},
		{"statement timeout", pgErr("57014"), true, pgerr.Statement},
		{"read only", pgErr("25006"), true, pgerr.ReadOnly},
		{"serialization on primary", pgErr("40001"), false, pgerr.Statement},
		{"recovery conflict", pgErr("40001"), true, pgerr.Conflict},
		{"deadlock on primary", pgErr("40P01"), false, pgerr.Statement},
		{"buffer pin conflict", pgErr("40P01"), true, pgerr.Conflict},
		{"too many connections", pgErr("53300"), true, pgerr.Conflict},
		{"admin shutdown", pgErr("57P01"), true, pgerr.Connection},
		{"cannot connect now", pgErr("57P03"), true, pgerr.Connection},
		{"crash shutdown", pgErr("57P02"), true, pgerr.Connection},
		{"database dropped", pgErr("57P04"), true, pgerr.Connection},
		{"connection failure", pgErr("08006"), true, pgerr.Connection},
		{"eof", io.ErrUnexpectedEOF, true, pgerr.Connection},
		{"net op", &net.OpError{Op: "read", Net: "tcp", Err: errors.New("connection reset by peer")}, true, pgerr.Connection},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			require.Equal(t, tt.want, pgerr.Classify(tt.err, tt.standby), "%v", tt.err)
			retry, down := pgerr.Retry(tt.err)
			c := pgerr.Classify(tt.err, true)
			require.Equal(t, c == pgerr.Connection || c == pgerr.ReadOnly || c == pgerr.Conflict, retry)
			code := pgerr.SQLState(tt.err)
			require.Equal(t, code == "57P02" || code == "57P03", down, "one connection lost is not a node down")
		})
	}
}

// TestClassifyRealErrors classifies errors produced by pgx against a real
// server and a closed port: the class must not depend on message text.
func TestClassifyRealErrors(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	pool, err := pgxpool.New(ctx, testenv.RequirePrimary(t))
	require.NoError(t, err)
	defer pool.Close()

	var n int
	err = pool.QueryRow(ctx, "SELECT 1 WHERE false").Scan(&n)
	require.Equal(t, pgerr.Client, pgerr.Classify(err, true), "%v", err)

	var s struct{}
	err = pool.QueryRow(ctx, "SELECT 1").Scan(&s)
	require.Error(t, err)
	require.Equal(t, pgerr.Client, pgerr.Classify(err, true), "%v", err)

	err = pool.QueryRow(ctx, "SELECT 1, 2").Scan(&n)
	require.Error(t, err)
	require.Equal(t, pgerr.Client, pgerr.Classify(err, true), "%v", err)

	_, err = pool.Exec(ctx, "SELEC 1")
	require.Equal(t, pgerr.Statement, pgerr.Classify(err, true))
	require.True(t, pgerr.Rejected(err))
	require.Equal(t, "42601", pgerr.SQLState(err))

	_, err = pool.Exec(ctx, "SELECT 1/0")
	require.Equal(t, pgerr.Statement, pgerr.Classify(err, true))

	cctx, ccancel := context.WithCancel(ctx)
	ccancel()
	_, err = pool.Exec(cctx, "SELECT 1")
	require.Equal(t, pgerr.Canceled, pgerr.Classify(err, true), "%v", err)

	// A port nobody listens on: a connection failure.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().(*net.TCPAddr)
	require.NoError(t, ln.Close())
	dead, err := pgxpool.New(ctx, fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?connect_timeout=2", addr.Port))
	require.NoError(t, err)
	_, err = dead.Exec(ctx, "SELECT 1")
	dead.Close()
	require.Error(t, err)
	require.Equal(t, pgerr.Connection, pgerr.Classify(err, true), "%v", err)
	require.False(t, pgerr.Rejected(err))
	retry, down := pgerr.Retry(err)
	require.True(t, retry)
	require.True(t, down, "a node that cannot be reached is down")

	// A connection the server terminates: a connection failure.
	conn, err := pool.Acquire(ctx)
	require.NoError(t, err)
	pid := conn.Conn().PgConn().PID()
	_, err = pool.Exec(ctx, "SELECT pg_terminate_backend($1)", pid)
	require.NoError(t, err)
	require.Eventually(t, func() bool { // the server has ended the session
		var n int
		return pool.QueryRow(ctx, "SELECT count(*) FROM pg_stat_activity WHERE pid = $1", pid).Scan(&n) == nil && n == 0
	}, 10*time.Second, time.Millisecond)
	_, err = conn.Exec(ctx, "SELECT 1")
	conn.Release()
	require.Error(t, err)
	require.Equal(t, pgerr.Connection, pgerr.Classify(err, true), "%v", err)

	// A closed pool: its own class, not a node failure.
	closed, err := pgxpool.New(ctx, testenv.RequirePrimary(t))
	require.NoError(t, err)
	closed.Close()
	_, err = closed.Exec(ctx, "SELECT 1")
	require.Error(t, err)
	require.Equal(t, pgerr.PoolClosed, pgerr.Classify(err, true), "%v", err)
}

func TestMain(m *testing.M) { testenv.Main(m) }
