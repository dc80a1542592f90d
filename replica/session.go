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
// requests or into job payloads with Token and ParseToken. Safe for
// concurrent use; the zero value is an empty session.
type Session struct {
	lsn atomic.Uint64
}

// NewSession returns an empty session.
func NewSession() *Session { return &Session{} }

// LSN returns the WAL position the session's reads must see (0: none yet).
func (s *Session) LSN() LSN { return LSN(s.lsn.Load()) }

// Observe raises the session's position to lsn (never lowers it).
func (s *Session) Observe(lsn LSN) {
	for {
		cur := s.lsn.Load()
		if uint64(lsn) <= cur || s.lsn.CompareAndSwap(cur, uint64(lsn)) {
			return
		}
	}
}

const tokenPrefix = "pgxperf1."

// Token encodes the session as a short string for a cookie, a header or a
// job payload, e.g. "pgxperf1.16b374d848". An empty session gives "".
func (s *Session) Token() string {
	l := s.lsn.Load()
	if l == 0 {
		return ""
	}
	return tokenPrefix + strconv.FormatUint(l, 16)
}

// ErrBadToken is returned by ParseToken for a string Token did not make.
var ErrBadToken = errors.New("replica: malformed session token")

// ParseToken decodes a Token. The empty string gives an empty session.
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

// ObserveWrite records in s the primary's current WAL insert position: call
// it after a write (an autocommit statement or a committed transaction) when
// using the Router on its own; pgxperf.Pool does it for you. One round trip
// to the primary; a nil session does nothing.
func (r *Router) ObserveWrite(ctx context.Context, s *Session) error {
	if s == nil {
		return nil
	}
	// Bounded like the catalog lookups: the caller's deadline, the lookup's
	// own and Options.AcquireTimeout for the connection.
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
	lsn, err := ParseLSN(text)
	if err != nil {
		return err
	}
	s.Observe(lsn)
	return nil
}

// Mode overrides routing for the calls of a context.
type Mode uint8

// Modes.
const (
	ModeAuto          Mode = iota // read-only statements to replicas, the rest to the primary
	ModePrimary                   // everything to the primary
	ModePreferReplica             // also route transactions opened read-only (BeginTx) to replicas
)

// routing is what a context says about routing; one context value holds it all.
type routing struct {
	session    *Session
	mode       Mode
	allowStale bool
}

// minLSN is the WAL position a replica must have replayed for this context.
func (r routing) minLSN() LSN {
	if r.session == nil || r.allowStale {
		return 0
	}
	return r.session.LSN()
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

// WithSession returns a context whose calls use s for read-your-writes.
func WithSession(ctx context.Context, s *Session) context.Context {
	return with(ctx, func(r *routing) { r.session = s })
}

// SessionFromContext returns the session ctx carries, or nil.
func SessionFromContext(ctx context.Context) *Session { return fromContext(ctx).session }

// ForcePrimary returns a context whose calls all go to the primary.
func ForcePrimary(ctx context.Context) context.Context {
	return with(ctx, func(r *routing) { r.mode = ModePrimary })
}

// PreferReplica returns a context whose read-only transactions (BeginTx with
// AccessMode pgx.ReadOnly) may run on a replica.
func PreferReplica(ctx context.Context) context.Context {
	return with(ctx, func(r *routing) { r.mode = ModePreferReplica })
}

// AllowStale returns a context whose reads may go to any online replica,
// ignoring the session's read-your-writes position (lag limits still apply).
func AllowStale(ctx context.Context) context.Context {
	return with(ctx, func(r *routing) { r.allowStale = true })
}

// ModeFromContext returns the routing mode ctx sets.
func ModeFromContext(ctx context.Context) Mode { return fromContext(ctx).mode }
