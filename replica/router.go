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

// Replica is one streaming replica to route reads to.
type Replica struct {
	// Name identifies it in figures and logs (default "replica-N", N from 1
	// in Config.Replicas order).
	Name string
	// Pool is the replica's pool; it must not be nil. The Router never
	// closes it.
	Pool *pgxpool.Pool
	// Weight is its share in round-robin (default 1).
	Weight int
}

// Config is a Router's configuration: the pools and the routing settings.
// Only Primary is required; the zero value of every setting is useful:
// round-robin, pool-wide read-your-writes, replicas excluded beyond 16 MiB
// or 30 s of lag, checked every 1–2 s. New copies it: changing a Config
// afterwards does not affect the Router. pgxperf.Pool takes the settings
// as Config.Routing and fills Primary and Replicas itself.
type Config struct {
	// Primary is the primary's pool; New fails with ErrNoPrimary when it
	// is nil. The Router never closes it.
	Primary *pgxpool.Pool
	// Replicas are the streaming replicas of Primary. With none, every
	// statement goes to the primary.
	Replicas []Replica

	// LeastInFlight sends a read to the replica with the fewest calls in
	// flight, instead of in turn (each replica Weight times per round).
	LeastInFlight bool
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
	// SessionConsistency says which writes a replica read must see. False
	// (the default, pool-wide read-your-writes): a read that starts after
	// a write through the primary pool — or through any other Router of
	// the process on the same Postgres cluster, such as a library's own
	// pool — has completed (a statement, a committed transaction, DDL,
	// COPY, on any goroutine) never sees state older than that write. The
	// router learns the primary's WAL position after writes (one query,
	// off the caller's path, shared by every write that completed before
	// it ran) and sends reads to the primary until a replica has replayed
	// that far; replicas that lag are polled quickly while reads wait for
	// them. Reads under a steady stream of writes go to the primary more
	// often: that is the price of the guarantee. True: only the writes
	// recorded in a context's Session order later reads (read-your-writes
	// per user or job, across app instances through Session tokens);
	// other reads may see a replica up to MaxLagBytes/MaxLagTime behind.
	// More reads go to replicas.
	SessionConsistency bool
	// ReadOnlyTransactions lets BeginTx with AccessMode pgx.ReadOnly run on a
	// replica (also per context with PreferReplica).
	ReadOnlyTransactions bool
	// Logger receives state changes (offline, lagging, promoted, back
	// online); nil means slog.Default().
	Logger *slog.Logger
}

// ErrNoPrimary is returned by New when Config.Primary is nil.
var ErrNoPrimary = errors.New("replica: Config.Primary is nil")

// ErrPrimaryUnavailable is returned, wrapped with the monitor's last error
// (match it with errors.Is), for a statement that needs the primary while
// the monitor finds it down: writes fail fast instead of each waiting for
// a connect timeout. Reads keep working from the replicas.
// pgxperf.ErrPrimaryUnavailable is the same value.
var ErrPrimaryUnavailable = errors.New("replica: the primary is unavailable")

// primaryErr returns nil while the primary answers its health checks, else
// an error matching ErrPrimaryUnavailable with the last check's error.
func (r *Router) primaryErr() error {
	if r.primary.State() != StateOffline {
		return nil
	}
	if e := r.primary.lastErr.Load(); e != nil {
		return fmt.Errorf("%w: %s", ErrPrimaryUnavailable, *e)
	}
	return ErrPrimaryUnavailable
}

// Router decides, per statement, whether the primary or a replica serves
// it; a background monitor keeps each replica's health and lag up to date.
// pgxperf.Pool routes its calls through one (Pool.Router returns it); on
// its own, over pools of the caller's, a Router watches the replicas'
// health and lag (Nodes). A decision is cheap (no allocation, no lock) once
// the statement's text has been vetted against the catalog (the first
// time: a few catalog queries on the primary). Its methods are safe for
// concurrent use. Make one with New; the zero Router is not usable.
type Router struct {
	opts     Config
	primary  *node
	replicas []*node
	wheel    []int // round-robin order, each replica Weight times
	turn     atomic.Uint64
	code     *codeCatalog
	monitor  *monitor
	clock    *writeClock
	logger   *slog.Logger
	closeOne sync.Once
}

// New creates a Router, checks the primary and every replica once (bounded
// by ctx and Config.CheckTimeout), and starts the monitor, which runs until
// Close. It returns ErrNoPrimary when cfg.Primary is nil and an error when
// a Replica's Pool is nil; a node that does not answer is not an error (it
// stays offline until the monitor sees it answer). The pools stay open and
// belong to the caller.
func New(ctx context.Context, cfg Config) (*Router, error) {
	if cfg.Primary == nil {
		return nil, ErrNoPrimary
	}
	o := cfg
	o.Replicas = nil // the nodes hold them
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
	r.primary = &node{name: "primary", pool: cfg.Primary, primary: true}
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
		n := &node{name: name, pool: rep.Pool, weight: w}
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

// Close stops the monitor and the read-your-writes pollers and closes
// their connections; it does not close the pools. It waits for them to
// stop. Safe to call more than once and concurrently; a nil Router does
// nothing.
func (r *Router) Close() {
	if r == nil {
		return
	}
	r.closeOne.Do(func() {
		r.monitor.stop()
		if len(r.replicas) > 0 {
			r.clock.stop()
		}
	})
}

// noteWrite records that a write through the primary has completed (a
// statement that may change data, a COMMIT, DDL, COPY). Under pool-wide
// read-your-writes (Config.SessionConsistency false), reads that start
// afterwards go only to replicas that have replayed it. pgxperf.Pool calls
// it for every write its primary pool runs, whichever method or connection
// ran it. Cheap (an atomic add, no round trip on the caller's path); safe
// for concurrent use.
func (r *Router) noteWrite() {
	if len(r.replicas) > 0 && !r.opts.SessionConsistency {
		r.clock.wrote()
	}
}

// minLSN is the WAL position a replica must have replayed to serve a read
// with routing rt now; ok is false when only the primary may serve it (a
// completed write's position is not known yet and the primary answers).
func (r *Router) minLSN(rt routing) (pgLSN, bool) {
	min := rt.minLSN()
	if rt.allowStale || r.opts.SessionConsistency || len(r.replicas) == 0 {
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

// Nodes returns a copy of the figures of the primary and of every replica,
// the primary first and the replicas in Config.Replicas order: a snapshot
// for dashboards and logs, taken without locks. Safe for concurrent use,
// also after Close (the figures then stop changing); a nil Router returns
// nil.
func (r *Router) Nodes() []NodeStats {
	if r == nil {
		return nil
	}
	out := []NodeStats{r.primary.Stats()}
	for _, n := range r.replicas {
		out = append(out, n.Stats())
	}
	return out
}

// route returns the node that should run a statement analyzed as info with
// the context ctx: a replica only when the statement is proven read-only,
// the context does not force the primary, and a healthy replica has
// replayed the context's session position; otherwise the primary.
func (r *Router) route(ctx context.Context, info *sqlinfo.Info) *node {
	if len(r.replicas) == 0 || !r.readOnly(ctx, info) {
		return r.primary
	}
	rt := fromContext(ctx)
	if rt.mode == modePrimary {
		return r.primary
	}
	return r.pickOrPrimary(rt, nil)
}

// pickOrPrimary picks a replica that may serve a read with routing rt,
// skipping tried, or returns the primary. When replicas are only behind
// the write position, it wakes the catch-up poller.
func (r *Router) pickOrPrimary(rt routing, tried []*node) *node {
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

// routeTx returns the node for a transaction: the primary, unless it is
// read-only and read-only transactions may use replicas (Config or
// PreferReplica).
func (r *Router) routeTx(ctx context.Context, readOnly bool) *node {
	rt := fromContext(ctx)
	if len(r.replicas) == 0 || !readOnly || rt.mode == modePrimary ||
		(!r.opts.ReadOnlyTransactions && rt.mode != modePreferReplica) {
		return r.primary
	}
	return r.pickOrPrimary(rt, nil)
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

// isRead reports whether the router already knows info to be a read a
// replica may serve: proven read-only and vetted against the catalog (no
// user-defined code it does not vouch for). False when it is not known yet:
// isRead never queries the catalog. Safe for concurrent use.
func (r *Router) isRead(info *sqlinfo.Info) bool {
	if info.HintPrimary || !info.ReadOnly && !info.ReadOnlyIfFunctions {
		return false
	}
	v, ok := r.code.state.Load().stmts.Load(info)
	return ok && v.(bool)
}

// noteSchemaChange makes the router forget what it read from the catalog
// (user functions, operators, views). pgxperf.Pool calls it after DDL it
// runs. Safe for concurrent use.
func (r *Router) noteSchemaChange() { r.code.forget() }

// pick chooses a healthy replica that has replayed min, skipping tried.
func (r *Router) pick(min pgLSN, tried []*node) *node {
	ok := func(n *node) bool {
		if n.State() != StateOnline || (min != 0 && pgLSN(n.replayLSN.Load()) < min) {
			return false
		}
		for _, t := range tried {
			if t == n {
				return false
			}
		}
		return true
	}
	if r.opts.LeastInFlight {
		var best *node
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
	start := r.turn.Add(1)
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
	if r.primaryErr() != nil {
		for _, n := range r.replicas {
			if n.State() == StateOnline {
				return n.pool
			}
		}
	}
	return r.primary.pool
}

// countPrimary records a statement routed to the primary (for the figures).
func (r *Router) countPrimary() { r.primary.routed.Add(1) }

func itoa(i int) string {
	if i < 10 {
		return string(rune('0' + i))
	}
	return itoa(i/10) + string(rune('0'+i%10))
}
