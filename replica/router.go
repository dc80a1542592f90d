package replica

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/pgxperf/pgxperf/internal/sqlinfo"
)

// Balance chooses among the replicas that may serve a read.
type Balance uint8

// Balancing strategies.
const (
	RoundRobin    Balance = iota // in turn, each replica Weight times per round
	LeastInFlight                // the replica with the fewest calls in flight
)

// Replica is one streaming replica to route reads to.
type Replica struct {
	// Name identifies it in figures and logs (default "replica-N").
	Name string
	Pool *pgxpool.Pool
	// Weight is its share in round-robin (default 1).
	Weight int
}

// Options are the router's settings. The zero value is useful: round-robin,
// replicas excluded beyond 16 MiB or 30 s of lag, checked every 1–2 s.
type Options struct {
	Balance Balance
	// MaxLagBytes excludes a replica whose replay is this far behind the
	// primary's WAL (default 16 MiB). MaxLagTime excludes one that has not
	// replayed what the primary had this long ago (default 30 s; measured
	// against the primary's WAL positions at past checks, so an idle primary
	// does not make a replica look late).
	MaxLagBytes int64
	MaxLagTime  time.Duration
	// CheckInterval is the monitor's period; each check waits a random time
	// between it and twice it (default 1 s). CheckTimeout bounds one check
	// (default 500 ms).
	CheckInterval time.Duration
	CheckTimeout  time.Duration
	// ReadOnlyFunctions and WriteFunctions mark user functions explicitly
	// (lower-case, schema-qualified as called). A statement that may run
	// any other user-defined code (functions, operators, aggregates, domain
	// checks, views and row-level security policies over them, user
	// functions shadowing a built-in name) stays on the primary: Postgres
	// does not enforce declared volatility.
	ReadOnlyFunctions []string
	WriteFunctions    []string
	// TrustVolatility lets statements whose user functions and operators
	// are all declared STABLE or IMMUTABLE (plain functions, not
	// aggregates or procedures) run on replicas. Opt in only when every
	// such function in the database is known not to write, lock or change
	// settings.
	TrustVolatility bool
	// DisableFunctionLookup keeps every user function on the primary, even
	// with TrustVolatility.
	DisableFunctionLookup bool
	// AcquireTimeout bounds the wait for a primary connection of each
	// catalog lookup the router makes for itself (the first time it meets a
	// function, a view, a relation); zero means no bound but the caller's
	// deadline and the lookup's own 2 s. A lookup that fails sends the
	// statement to the primary. pgxperf.Pool sets it to its own AcquireTimeout.
	AcquireTimeout time.Duration
	// CatalogTTL bounds how long what the router read from the catalog
	// (user functions, operators, views) is trusted (default 1 minute). It
	// is also forgotten after DDL through the pool and when the monitor sees
	// the catalogs change.
	CatalogTTL time.Duration
	// Consistency says which writes a replica read must see: every write
	// through the primary pool that completed before the read started
	// (ConsistencyPool, the default) or only the context Session's
	// (ConsistencySession).
	Consistency Consistency
	// ReadOnlyTransactions lets BeginTx with AccessMode pgx.ReadOnly run on a
	// replica (also per context with PreferReplica).
	ReadOnlyTransactions bool
	// Logger receives state changes (offline, lagging, promoted, back online).
	Logger *slog.Logger
}

// Config is a Router's configuration: the pools and the Options.
type Config struct {
	Primary  *pgxpool.Pool
	Replicas []Replica
	Options
}

// ErrNoPrimary is returned by New without a primary pool.
var ErrNoPrimary = errors.New("replica: Config.Primary is nil")

// ErrPrimaryUnavailable is returned, wrapped with the monitor's last error,
// for a statement that needs the primary while the monitor finds it down:
// writes fail fast instead of each waiting for a connect timeout. Reads keep
// working from the replicas.
var ErrPrimaryUnavailable = errors.New("replica: the primary is unavailable")

// PrimaryErr returns nil while the primary answers its health checks, else
// an error matching ErrPrimaryUnavailable with the last check's error.
func (r *Router) PrimaryErr() error {
	if r.primary.State() != StateOffline {
		return nil
	}
	if e := r.primary.lastErr.Load(); e != nil {
		return fmt.Errorf("%w: %s", ErrPrimaryUnavailable, *e)
	}
	return ErrPrimaryUnavailable
}

// Router decides, per statement, which node serves it. Route is cheap (no
// allocation, no lock) once the statement's text has been vetted against
// the catalog (the first time: a few catalog queries on the primary), and
// safe for concurrent use; a background monitor keeps each replica's
// health and lag up to date.
type Router struct {
	opts     Options
	primary  *Node
	replicas []*Node
	wheel    []int // round-robin order, each replica Weight times
	next     atomic.Uint64
	code     *codeCatalog
	monitor  *monitor
	clock    *writeClock
	logger   *slog.Logger
	closeOne sync.Once
}

// New creates a Router, checks every replica once, and starts the monitor.
// Close stops the monitor; the pools stay open (they belong to the caller).
func New(ctx context.Context, cfg Config) (*Router, error) {
	if cfg.Primary == nil {
		return nil, ErrNoPrimary
	}
	o := cfg.Options
	if o.MaxLagBytes <= 0 {
		o.MaxLagBytes = 16 << 20
	}
	if o.MaxLagTime <= 0 {
		o.MaxLagTime = 30 * time.Second
	}
	if o.CheckInterval <= 0 {
		o.CheckInterval = time.Second
	}
	if o.CheckTimeout <= 0 {
		o.CheckTimeout = 500 * time.Millisecond
	}
	if o.CatalogTTL <= 0 {
		o.CatalogTTL = time.Minute
	}
	r := &Router{opts: o, logger: o.Logger}
	if r.logger == nil {
		r.logger = slog.Default()
	}
	r.primary = &Node{name: "primary", pool: cfg.Primary, primary: true}
	for i, rep := range cfg.Replicas {
		if rep.Pool == nil {
			return nil, errors.New("replica: Replica.Pool is nil")
		}
		name := rep.Name
		if name == "" {
			name = "replica-" + itoa(i+1)
		}
		w := rep.Weight
		if w <= 0 {
			w = 1
		}
		n := &Node{name: name, pool: rep.Pool, weight: w}
		n.state.Store(int32(StateOffline)) // until the first check says otherwise
		r.replicas = append(r.replicas, n)
		for range w {
			r.wheel = append(r.wheel, i)
		}
	}
	r.code = newCodeCatalog(r.catalogPool, o)
	r.monitor = newMonitor(r)
	r.monitor.checkAll(ctx)
	r.monitor.start()
	r.clock = newWriteClock(r)
	if len(r.replicas) > 0 {
		r.clock.start(ctx)
	}
	return r, nil
}

// Close stops the monitor and closes its connections. Safe to call twice.
func (r *Router) Close() {
	r.closeOne.Do(func() {
		r.monitor.stop()
		if len(r.replicas) > 0 {
			r.clock.stop()
		}
	})
}

// NoteWrite records that a write through the primary has completed (a
// statement that may change data, a COMMIT, DDL, COPY). Under
// ConsistencyPool, reads that start afterwards go only to replicas that
// have replayed it. pgxperf.Pool calls it for every write its primary pool
// runs, whichever method or connection ran it; call it yourself after each
// write when using the Router on its own. Cheap (an atomic add, no round
// trip on the caller's path); safe for concurrent use.
func (r *Router) NoteWrite() {
	if len(r.replicas) > 0 && r.opts.Consistency == ConsistencyPool {
		r.clock.wrote()
	}
}

// minLSN is the WAL position a replica must have replayed to serve a read
// with routing rt now; ok is false when only the primary may serve it (a
// completed write's position is not known yet and the primary answers).
func (r *Router) minLSN(rt routing) (LSN, bool) {
	min := rt.minLSN()
	if rt.allowStale || r.opts.Consistency != ConsistencyPool || len(r.replicas) == 0 {
		return min, true
	}
	l, ok := r.clock.minLSN()
	if !ok {
		// While the monitor finds the primary down its position cannot be
		// learnt: replicas serve what they have replayed. The bound: a
		// write that completed on a connection opened before (a
		// transaction, an acquired connection) in the monitor's window
		// between the primary failing a check and answering again may be
		// missed by such a read.
		return min, r.primary.State() == StateOffline
	}
	return max(min, l), true
}

// Primary returns the primary node.
func (r *Router) Primary() *Node { return r.primary }

// Replicas returns the replica nodes.
func (r *Router) Replicas() []*Node { return r.replicas }

// Nodes returns the figures of the primary and every replica.
func (r *Router) Nodes() []NodeStats {
	out := []NodeStats{r.primary.Stats()}
	for _, n := range r.replicas {
		out = append(out, n.Stats())
	}
	return out
}

// Route returns the node that should run a statement analyzed as info with
// the context ctx: a replica only when the statement is proven read-only,
// the context does not force the primary, and a healthy replica has
// replayed the context's session position; otherwise the primary.
func (r *Router) Route(ctx context.Context, info *sqlinfo.Info) *Node {
	if len(r.replicas) == 0 || !r.readOnly(ctx, info) {
		return r.primary
	}
	rt := fromContext(ctx)
	if rt.mode == ModePrimary {
		return r.primary
	}
	return r.pickOrPrimary(rt, nil)
}

// pickOrPrimary picks a replica that may serve a read with routing rt,
// skipping tried, or returns the primary. When replicas are only behind
// the write position, it wakes the catch-up poller.
func (r *Router) pickOrPrimary(rt routing, tried []*Node) *Node {
	min, ok := r.minLSN(rt)
	if !ok {
		return r.primary
	}
	if n := r.pick(min, tried); n != nil {
		return n
	}
	if min > 0 && r.clock != nil {
		r.clock.waitFor(min)
	}
	return r.primary
}

// RouteTx returns the node for a transaction: the primary, unless it is
// read-only and read-only transactions may use replicas (Options or
// PreferReplica).
func (r *Router) RouteTx(ctx context.Context, readOnly bool) *Node {
	rt := fromContext(ctx)
	if len(r.replicas) == 0 || !readOnly || rt.mode == ModePrimary ||
		(!r.opts.ReadOnlyTransactions && rt.mode != ModePreferReplica) {
		return r.primary
	}
	return r.pickOrPrimary(rt, nil)
}

// Next returns another replica for a read that failed on the nodes in tried,
// or the primary when none is left.
func (r *Router) Next(ctx context.Context, tried []*Node) *Node {
	return r.pickOrPrimary(fromContext(ctx), tried)
}

// readOnly decides whether a statement may run on a replica: proven
// read-only by the parser (but for the functions it calls) and running no
// user-defined code the options do not vouch for (usercode.go).
func (r *Router) readOnly(ctx context.Context, info *sqlinfo.Info) bool {
	if info.HintPrimary || !info.ReadOnly && !info.ReadOnlyIfFunctions {
		return false
	}
	return r.code.safe(ctx, info)
}

// IsRead reports whether the router already knows info to be a read a
// replica may serve: proven read-only and vetted against the catalog (no
// user-defined code it does not vouch for). False when it is not known yet:
// IsRead never queries the catalog. Safe for concurrent use.
func (r *Router) IsRead(info *sqlinfo.Info) bool {
	if info.HintPrimary || !info.ReadOnly && !info.ReadOnlyIfFunctions {
		return false
	}
	v, ok := r.code.state.Load().stmts.Load(info)
	return ok && v.(bool)
}

// NoteSchemaChange makes the router forget what it read from the catalog
// (user functions, operators, views). pgxperf.Pool calls it after DDL it
// runs; call it after migrations run elsewhere when using the Router on its
// own. Safe for concurrent use.
func (r *Router) NoteSchemaChange() { r.code.forget() }

// pick chooses a healthy replica that has replayed min, skipping tried.
func (r *Router) pick(min LSN, tried []*Node) *Node {
	ok := func(n *Node) bool {
		if n.State() != StateOnline || (min != 0 && LSN(n.replayLSN.Load()) < min) {
			return false
		}
		for _, t := range tried {
			if t == n {
				return false
			}
		}
		return true
	}
	if r.opts.Balance == LeastInFlight {
		var best *Node
		for _, n := range r.replicas {
			if ok(n) && (best == nil || n.inFlight.Load() < best.inFlight.Load()) {
				best = n
			}
		}
		if best != nil {
			best.routed.Add(1)
		}
		return best
	}
	start := r.next.Add(1)
	for i := range len(r.wheel) {
		n := r.replicas[r.wheel[(start+uint64(i))%uint64(len(r.wheel))]]
		if ok(n) {
			n.routed.Add(1)
			return n
		}
	}
	return nil
}

// catalogPool is where function volatility is read: the primary while it
// answers, else an online replica.
func (r *Router) catalogPool() *pgxpool.Pool {
	if r.PrimaryErr() != nil {
		for _, n := range r.replicas {
			if n.State() == StateOnline {
				return n.pool
			}
		}
	}
	return r.primary.pool
}

// CountPrimary records a statement routed to the primary (for the figures).
func (r *Router) CountPrimary() { r.primary.routed.Add(1) }

func itoa(i int) string {
	if i < 10 {
		return string(rune('0' + i))
	}
	return itoa(i/10) + string(rune('0'+i%10))
}
