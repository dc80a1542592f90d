// Package pgend ends a server session and waits until the server has ended
// it, so that "closed" means gone from pg_stat_activity, not just a socket
// closed on the client's side.
package pgend

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgproto3"
)

// MaxWait is how long a closing connection waits for the server to end its
// session, at most: a backend exits in milliseconds (more with many
// temporary tables to drop); a server that does not answer must not hold a
// Close longer. Terminate uses it when ctx has no deadline.
const MaxWait = 500 * time.Millisecond

// Terminate asks the server to end pc's session (the protocol's Terminate
// message) and waits, until ctx is done, for the server to close the
// connection. A backend leaves pg_stat_activity before it closes its socket,
// so once the connection reads end-of-file the session is gone. pgconn's own
// Close sends Terminate and closes the socket without waiting: the server
// then ends the session a few milliseconds later.
//
// Terminate does not close pc: the caller does (pgconn then finds the server
// gone). pc must not be in use by another goroutine. It reports whether the
// server was seen to close the connection.
func Terminate(ctx context.Context, pc *pgconn.PgConn) bool {
	if pc == nil || pc.IsClosed() {
		return false
	}
	nc := pc.Conn()
	if nc == nil {
		return false
	}
	deadline, ok := ctx.Deadline()
	if !ok {
		deadline = time.Now().Add(MaxWait)
	}
	sctx, cancel := context.WithDeadline(ctx, deadline)
	defer cancel()
	// pgconn's background reader may still be reading after a slow write:
	// the socket is read directly below only once pgconn is done with it.
	if err := pc.SyncConn(sctx); err != nil {
		return false
	}
	_ = nc.SetDeadline(deadline)
	pc.Frontend().Send(&pgproto3.Terminate{})
	if err := pc.Frontend().Flush(); err != nil {
		return false
	}
	var buf [256]byte
	for {
		if _, err := nc.Read(buf[:]); err != nil {
			return !isTimeout(err)
		}
	}
}

func isTimeout(err error) bool {
	te, ok := err.(interface{ Timeout() bool })
	return ok && te.Timeout()
}
