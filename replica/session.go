package replica

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"sync/atomic"
)

// Session gives a unit of work (a user's requests, a job) read-your-writes:
// after a write in the session, its reads go only to replicas that have
// replayed past the primary's WAL position of that write, else to the
// primary. Carry it in a context with WithSession; persist it between
// requests or into job payloads with Token and ParseToken. pgxperf.Pool
// records the position after each write made with the session's context
// (one extra round trip per write). Safe for concurrent use, also by the
// calls of several goroutines; the zero value is an empty session.
type Session struct {
	lsn atomic.Uint64
}

// NewSession returns an empty session (its Token is ""); it is never nil.
func NewSession() *Session { return &Session{} }

// position returns the WAL position the session's reads must see (0: none yet).
func (s *Session) position() pgLSN { return pgLSN(s.lsn.Load()) }

// observe raises the session's position to lsn (never lowers it).
func (s *Session) observe(lsn pgLSN) {
	for {
		cur := s.lsn.Load()
		if uint64(lsn) <= cur || s.lsn.CompareAndSwap(cur, uint64(lsn)) {
			return
		}
	}
}

const tokenPrefix = "pgxperf1."

// Token encodes the session as a short string for a cookie, a header or a
// job payload, e.g. "pgxperf1.16b374d848". An empty session gives "", and
// so does a nil one. Safe for concurrent use with the session's calls (it
// encodes the position at the time).
func (s *Session) Token() string {
	if s == nil {
		return ""
	}
	l := s.lsn.Load()
	if l == 0 {
		return ""
	}
	return tokenPrefix + strconv.FormatUint(l, 16)
}

// ErrBadToken is returned by ParseToken for a string Token did not make
// (a token from another pgxperf version, a truncated or forged one).
var ErrBadToken = errors.New("replica: malformed session token")

// ParseToken decodes a Token into a new Session, or returns ErrBadToken
// (and a nil Session). The empty string gives an empty session. A token
// names a position: a forged one can only send its session's reads to the
// primary.
func ParseToken(token string) (*Session, error) {
	s := NewSession()
	if token == "" {
		return s, nil
	}
	hex, ok := strings.CutPrefix(token, tokenPrefix)
	if !ok || hex == "" || len(hex) > 16 {
		return nil, ErrBadToken
	}
	v, err := strconv.ParseUint(hex, 16, 64)
	if err != nil {
		return nil, ErrBadToken
	}
	s.lsn.Store(v)
	return s, nil
}

// observeWrite records in s the primary's current WAL insert position after
// a write (an autocommit statement or a committed transaction). One round
// trip to the primary; a nil session does nothing.
func (r *Router) observeWrite(ctx context.Context, s *Session) error {
	if s == nil {
		return nil
	}
	// Bounded like the catalog lookups: the caller's deadline, the lookup's
	// own and Config.AcquireTimeout for the connection.
	ctx, cancel := context.WithTimeout(ctx, lookupTimeout)
	defer cancel()
	var text string
	actx := ctx
	if r.opts.AcquireTimeout > 0 {
		var acancel context.CancelFunc
		actx, acancel = context.WithTimeout(ctx, r.opts.AcquireTimeout)
		defer acancel()
	}
	c, err := r.primary.pool.Acquire(actx)
	if err != nil {
		return err
	}
	defer c.Release()
	if err := c.QueryRow(ctx, "/* pgxperf:catalog */ SELECT pg_current_wal_insert_lsn()::text").Scan(&text); err != nil {
		return err
	}
	lsn, err := parseLSN(text)
	if err != nil {
		return err
	}
	s.observe(lsn)
	return nil
}

// routeMode overrides routing for the calls of a context.
type routeMode uint8

// Modes.
const (
	modeAuto          routeMode = iota // read-only statements to replicas, the rest to the primary
	modePrimary                        // everything to the primary
	modePreferReplica                  // also route transactions opened read-only (BeginTx) to replicas
)

// routing is what a context says about routing; one context value holds it all.
type routing struct {
	session    *Session
	mode       routeMode
	allowStale bool
}

// minLSN is the WAL position a replica must have replayed for this context.
func (r routing) minLSN() pgLSN {
	if r.session == nil || r.allowStale {
		return 0
	}
	return r.session.position()
}

type routingKey struct{}

func fromContext(ctx context.Context) routing {
	if ctx == nil {
		return routing{}
	}
	r, _ := ctx.Value(routingKey{}).(*routing)
	if r == nil {
		return routing{}
	}
	return *r
}

func with(ctx context.Context, edit func(*routing)) context.Context {
	r := fromContext(ctx)
	edit(&r)
	return context.WithValue(ctx, routingKey{}, &r)
}

// WithSession returns a copy of ctx whose calls through pgxperf.Pool use s
// for read-your-writes, keeping what ctx says about routing (ForcePrimary,
// PreferReplica, AllowStale). A nil s removes the session ctx carried; ctx
// must not be nil.
func WithSession(ctx context.Context, s *Session) context.Context {
	return with(ctx, func(r *routing) { r.session = s })
}

// SessionFromContext returns the session ctx carries (WithSession), or nil;
// nil for a nil ctx.
func SessionFromContext(ctx context.Context) *Session { return fromContext(ctx).session }

// ForcePrimary returns a copy of ctx whose calls through pgxperf.Pool all go
// to the primary, transactions included. It keeps
// ctx's session, and replaces PreferReplica. ctx must not be nil.
func ForcePrimary(ctx context.Context) context.Context {
	return with(ctx, func(r *routing) { r.mode = modePrimary })
}

// PreferReplica returns a copy of ctx whose read-only transactions (BeginTx
// with AccessMode pgx.ReadOnly) may run on a replica, as with
// Config.ReadOnlyTransactions. It keeps ctx's session, and replaces
// ForcePrimary. ctx must not be nil.
func PreferReplica(ctx context.Context) context.Context {
	return with(ctx, func(r *routing) { r.mode = modePreferReplica })
}

// AllowStale returns a copy of ctx whose reads may go to any online
// replica, ignoring read-your-writes — the session's position and the
// pool-wide one (the lag limits still apply). It keeps ctx's session (whose
// writes are still recorded) and mode. ctx must not be nil.
func AllowStale(ctx context.Context) context.Context {
	return with(ctx, func(r *routing) { r.allowStale = true })
}
