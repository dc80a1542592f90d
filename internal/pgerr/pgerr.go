package pgerr

import (
	"context"
	"errors"
	"io"
	"net"
	"syscall"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/puddle/v2"
)

// Class says what an error means for the node that returned it and for the
// statement that got it.
type Class uint8

// The classes, from "no error" to "the node is gone".
const (
	// None: no error.
	None Class = iota
	// Client: an error on the client side after or without the server's
	// answer, such as pgx.ErrNoRows, a Scan or decode error, an argument
	// that cannot be encoded. The caller's answer; says nothing about the
	// node. Anything this package cannot identify is Client.
	Client
	// Canceled: the caller's context was cancelled or its deadline passed.
	Canceled
	// PoolClosed: the pgxpool the statement was sent through is closed.
	PoolClosed
	// Statement: the server rejected the statement (a *pgconn.PgError not
	// in a class below): the statement changed nothing, the node is fine.
	Statement
	// ReadOnly: the server refused because it is in recovery or the
	// transaction is read-only (SQLSTATE 25006): run it on the primary.
	ReadOnly
	// Conflict: a hot standby cancelled the statement because of a conflict
	// with recovery (40001 or 40P01 on a standby) or is too busy to take a
	// connection (53300): run it elsewhere; the node is not down.
	Conflict
	// Connection: the connection failed (network errors, connect errors,
	// EOF, SQLSTATE classes 08 and 57P01–57P04): the node may be down.
	Connection
)

var classNames = [...]string{"none", "client", "canceled", "pool closed", "statement", "read-only", "conflict", "connection"}

// String names the class in lower case.
func (c Class) String() string {
	if int(c) < len(classNames) {
		return classNames[c]
	}
	return "unknown"
}

// Classify returns the class of err as returned by pgx or pgxpool for a
// statement. standby says the node is a hot standby, where 40001 and 40P01
// can only be recovery conflicts (serializable transactions and deadlocks
// between writers do not happen there).
func Classify(err error, standby bool) Class {
	if err == nil {
		return None
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		return codeClass(pgErr.Code, standby)
	}
	switch {
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return Canceled
	case errors.Is(err, puddle.ErrClosedPool):
		return PoolClosed
	case IsConnectionFailure(err):
		return Connection
	}
	return Client
}

// codeClass classifies a SQLSTATE.
func codeClass(code string, standby bool) Class {
	switch {
	case code == "25006":
		return ReadOnly
	case standby && (code == "40001" || code == "40P01"), code == "53300":
		return Conflict
	case len(code) == 5 && code[:2] == "08",
		code == "57P01", code == "57P02", code == "57P03", code == "57P04", code == "57P05":
		return Connection
	}
	return Statement
}

// IsConnectionFailure reports whether err is a failure of the connection
// itself rather than an answer: a connect error, a network error, an
// unexpected end of the stream, or an error pgconn reports as safe to retry
// (the request was never sent, so the connection, not the statement,
// failed). Server errors and context errors are not.
func IsConnectionFailure(err error) bool {
	if err == nil {
		return false
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		return codeClass(pgErr.Code, false) == Connection
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) ||
		errors.Is(err, puddle.ErrClosedPool) {
		return false
	}
	var connErr *pgconn.ConnectError
	var netErr net.Error
	var errno syscall.Errno
	switch {
	case errors.As(err, &connErr), errors.As(err, &netErr),
		errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, net.ErrClosed):
		return true
	case errors.As(err, &errno):
		return true
	case pgconn.SafeToRetry(err):
		return true
	}
	return false
}

// SQLState returns the SQLSTATE of a server error in err's chain, or "".
func SQLState(err error) string {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		return pgErr.Code
	}
	return ""
}

// Rejected reports whether the server answered the statement with an error,
// so it changed nothing (a failed statement is rolled back). Any other
// error may follow a change: a Scan error after INSERT … RETURNING, a
// connection lost after the server committed.
func Rejected(err error) bool {
	var pgErr *pgconn.PgError
	return err != nil && errors.As(err, &pgErr)
}

// Retry says whether a read-only statement that failed on a replica may be
// run again on another node, and whether the replica looks down. A retry is
// only safe before any row reached the caller; the caller checks that.
//
// Only a node that cannot be reached or says it cannot take connections
// (a connect error, 57P02 crash shutdown, 57P03 cannot connect now) is
// down at once: one connection lost (EOF, a reset, 57P01 when a backend is
// terminated, 57P05 idle-session timeout) is retried elsewhere, and the
// monitor, or the next connect, decides about the node.
func Retry(err error) (retry, down bool) {
	switch Classify(err, true) {
	case ReadOnly, Conflict:
		return true, false
	case Connection:
		var connErr *pgconn.ConnectError
		code := SQLState(err)
		return true, errors.As(err, &connErr) || code == "57P02" || code == "57P03"
	}
	return false, false
}
