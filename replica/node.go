package replica

import (
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
)

// State is a node's health as the monitor last saw it (NodeStats.State).
// The zero value is StateOnline.
type State int32

// Node states. Only StateOnline replicas receive reads; the primary is
// used whatever its state, but while it is StateOffline writes fail fast
// with ErrPrimaryUnavailable. A replica starts StateOffline until its
// first check.
const (
	StateOnline   State = iota // answering and within the lag limits
	StateLagging               // answering, but behind the primary beyond a limit
	StateOffline               // not answering (connection error, timeout)
	StatePromoted              // no longer in recovery: taken out of rotation
)

// String returns "online", "lagging", "offline" or "promoted" ("unknown"
// for another value).
func (s State) String() string {
	switch s {
	case StateOnline:
		return "online"
	case StateLagging:
		return "lagging"
	case StateOffline:
		return "offline"
	case StatePromoted:
		return "promoted"
	}
	return "unknown"
}

// node is one server: the primary or a replica, with its pool and the
// figures the router and monitor keep about it. Its methods are safe for
// concurrent use.
type node struct {
	name    string
	pool    *pgxpool.Pool
	primary bool
	weight  int

	state     atomic.Int32
	inFlight  atomic.Int64
	replayLSN atomic.Uint64 // replicas: last replayed WAL position; primary: current position
	lagBytes  atomic.Int64
	lagNanos  atomic.Int64
	checked   atomic.Int64 // unix nanos of the last check
	routed    atomic.Int64
	retries   atomic.Int64
	errs      atomic.Int64
	lastErr   atomic.Pointer[string]
}

// Name returns the node's name ("primary", or the replica's configured name).
func (n *node) Name() string { return n.name }

// Pool returns the node's pool.
func (n *node) Pool() *pgxpool.Pool { return n.pool }

// IsPrimary reports whether the node is the primary.
func (n *node) IsPrimary() bool { return n.primary }

// State returns the node's health as last checked.
func (n *node) State() State { return State(n.state.Load()) }

// Begin marks one more call in flight on the node; Released ends it.
func (n *node) Begin() { n.inFlight.Add(1) }

// Released marks a call begun with Begin (or Acquired) as ended.
func (n *node) Released() { n.inFlight.Add(-1) }

// NodeStats is a copy of one node's figures, from Router.Nodes (and
// pgxperf.Pool.Report). It is a plain value: it does not change after it
// is returned.
type NodeStats struct {
	Name     string // "primary", or the Replica's Name
	Primary  bool
	State    State
	LagBytes int64         // replicas: WAL bytes behind the primary at the last check
	Lag      time.Duration // replicas: how long ago the primary was where the replica is
	// ReplayLSN is, for a replica, the last WAL position it was seen to
	// have replayed; for the primary, its WAL position at the last check.
	// Postgres's pg_lsn text form ("16/B374D848"), "0/0" before any check.
	ReplayLSN string
	InFlight  int64     // calls running on the node now
	Routed    int64     // statements routed to the node
	Retries   int64     // reads retried elsewhere after failing here
	Errors    int64     // connection errors and failed checks
	LastError string    // the last of those errors ("" if none)
	CheckedAt time.Time // the last check (zero before any)
}

// Stats returns a copy of the node's figures.
func (n *node) Stats() NodeStats {
	s := NodeStats{
		Name: n.name, Primary: n.primary, State: n.State(),
		LagBytes: n.lagBytes.Load(), Lag: time.Duration(n.lagNanos.Load()),
		ReplayLSN: pgLSN(n.replayLSN.Load()).String(), InFlight: n.inFlight.Load(),
		Routed: n.routed.Load(), Retries: n.retries.Load(), Errors: n.errs.Load(),
	}
	if e := n.lastErr.Load(); e != nil {
		s.LastError = *e
	}
	if c := n.checked.Load(); c > 0 {
		s.CheckedAt = time.Unix(0, c)
	}
	return s
}

// CountRetry records a read that failed on this node and was retried elsewhere.
func (n *node) CountRetry() { n.retries.Add(1) }

// MarkFailed records a connection-level failure seen by a caller and takes
// a replica out of rotation until the monitor sees it answer again.
func (n *node) MarkFailed(err error) {
	n.errs.Add(1)
	if err != nil {
		msg := err.Error()
		n.lastErr.Store(&msg)
	}
	if !n.primary {
		n.state.Store(int32(StateOffline))
	}
}
