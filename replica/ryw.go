package replica

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/pgxperf/pgxperf/internal/pgend"
)

// writeClock is a router's side of read-your-writes: the shared clock of its
// primary's cluster (the write positions) and the catch-up poller of its own
// replicas.
type writeClock struct {
	r      *Router
	sh     *sharedClock  // nil under Config.SessionConsistency
	want   atomic.Uint64 // the highest position a read has waited for (sessions' too)
	kickCh chan struct{}
	stopCh chan struct{}
	wg     sync.WaitGroup
	conns  connSet
}

func newWriteClock(r *Router) *writeClock {
	return &writeClock{r: r, kickCh: make(chan struct{}, 1), stopCh: make(chan struct{})}
}

// start joins the shared clock of the primary's cluster (learning its
// position: everything committed before the router existed is then visible
// to its reads) and starts the catch-up poller. Under SessionConsistency
// only the poller runs (for sessions' positions).
func (w *writeClock) start(ctx context.Context) {
	if !w.r.opts.SessionConsistency {
		w.sh = joinClock(ctx, w)
	}
	w.wg.Add(1)
	go w.catchUpLoop()
}

func (w *writeClock) stop() {
	if w.sh != nil {
		w.sh.leave(w)
	}
	close(w.stopCh)
	w.wg.Wait()
	w.conns.closeAll()
}

func kick(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}

// wrote records a completed write.
func (w *writeClock) wrote() { w.sh.wrote() }

// minLSN returns the position a replica must have replayed for a read that
// starts now, and false when a completed write's position is not known yet
// (the read then needs the primary).
func (w *writeClock) minLSN() (pgLSN, bool) { return w.sh.minLSN() }

// waitFor asks the catch-up poller to poll replicas until they have
// replayed lsn.
// The target is capped at the last position known of the primary: a
// session token from a client can name any position, and the poller must
// not chase one no replica will reach.
func (w *writeClock) waitFor(lsn pgLSN) {
	limit := pgLSN(w.r.primary.replayLSN.Load())
	if w.sh != nil {
		limit = max(limit, pgLSN(w.sh.lsn.Load()))
	}
	if lsn = min(lsn, limit); lsn == 0 {
		return
	}
	storeMax(&w.want, uint64(lsn))
	kick(w.kickCh)
}

func storeMax(a *atomic.Uint64, v uint64) {
	for {
		cur := a.Load()
		if v <= cur || a.CompareAndSwap(cur, v) {
			return
		}
	}
}

// sharedClock keeps the read-your-writes position of one Postgres cluster
// for every router of the process whose primary it is (pools made by the
// application and by its libraries alike): a write through one pool is
// seen by reads through another. seq counts the writes that completed;
// covered is the highest seq whose writes are all at or below lsn. A read
// loads seq, then covered: when covered has caught up, lsn (stored before
// covered) is at or past every write that completed before the read
// started.
type sharedClock struct {
	key     string
	seq     atomic.Uint64
	covered atomic.Uint64
	lsn     atomic.Uint64

	fetchKick chan struct{}
	stopCh    chan struct{}
	wg        sync.WaitGroup
	conns     connSet

	mu      sync.Mutex // guards members and primary
	members []*writeClock
	primary *node // where the position is read: a member's primary
}

var clocks = struct {
	mu sync.Mutex
	m  map[string]*sharedClock
}{m: map[string]*sharedClock{}}

// joinClock returns the shared clock of w's primary cluster, known by its
// system identifier (or its address, when that cannot be read), creating
// and starting it for the first member.
func joinClock(ctx context.Context, w *writeClock) *sharedClock {
	primary := w.r.primary
	cfg := primary.pool.Config().ConnConfig
	key := fmt.Sprintf("addr:%s:%d", cfg.Host, cfg.Port)
	var sysid string
	qctx, cancel := context.WithTimeout(ctx, w.r.opts.CheckTimeout)
	err := w.conns.query(qctx, primary, func(c *pgx.Conn) error {
		return c.QueryRow(qctx, "SELECT system_identifier::text FROM pg_control_system()").Scan(&sysid)
	})
	cancel()
	if err == nil {
		key = "sysid:" + sysid
	}
	clocks.mu.Lock()
	defer clocks.mu.Unlock()
	sh := clocks.m[key]
	if sh == nil {
		sh = &sharedClock{key: key, fetchKick: make(chan struct{}, 1), stopCh: make(chan struct{}), primary: primary}
		sh.seq.Store(1)
		clocks.m[key] = sh
		sh.wg.Add(1)
		go sh.fetchLoop()
	}
	sh.mu.Lock()
	sh.members = append(sh.members, w)
	sh.mu.Unlock()
	// Everything committed before this router existed must be visible to
	// its reads: one more write to cover, fetched now.
	sh.wrote()
	qctx, cancel = context.WithTimeout(ctx, w.r.opts.CheckTimeout)
	defer cancel()
	s := sh.seq.Load()
	if l, err := sh.primaryLSN(qctx); err == nil {
		sh.advance(s, l)
	}
	return sh
}

// leave removes w; the last member stops the clock.
func (sh *sharedClock) leave(w *writeClock) {
	clocks.mu.Lock()
	sh.mu.Lock()
	sh.members = slices.DeleteFunc(sh.members, func(m *writeClock) bool { return m == w })
	last := len(sh.members) == 0
	if !last && sh.primary == w.r.primary {
		sh.primary = sh.members[0].r.primary
	}
	sh.mu.Unlock()
	if last {
		delete(clocks.m, sh.key)
	}
	clocks.mu.Unlock()
	if last {
		close(sh.stopCh)
		sh.wg.Wait()
		sh.conns.closeAll()
	}
}

func (sh *sharedClock) wrote() {
	sh.seq.Add(1)
	kick(sh.fetchKick)
}

func (sh *sharedClock) minLSN() (pgLSN, bool) {
	s := sh.seq.Load()
	if sh.covered.Load() < s {
		kick(sh.fetchKick)
		return 0, false
	}
	return pgLSN(sh.lsn.Load()), true
}

// advance records that every write up to seq s is at or below l, and wakes
// the members' catch-up pollers.
func (sh *sharedClock) advance(s uint64, l pgLSN) {
	storeMax(&sh.lsn, uint64(l))
	storeMax(&sh.covered, s)
	sh.mu.Lock()
	for _, m := range sh.members {
		kick(m.kickCh)
	}
	sh.mu.Unlock()
}

func (sh *sharedClock) primaryLSN(ctx context.Context) (pgLSN, error) {
	sh.mu.Lock()
	primary := sh.primary
	sh.mu.Unlock()
	var s string
	err := sh.conns.query(ctx, primary, func(c *pgx.Conn) error {
		return c.QueryRow(ctx, "SELECT pg_current_wal_insert_lsn()::text").Scan(&s)
	})
	if err != nil {
		return 0, err
	}
	return parseLSN(s)
}

// fetchLoop learns the primary's WAL insert position after writes: one
// query covers every write that completed before it started. It retries
// with a growing pause while the primary does not answer (reads meanwhile
// go to the primary, or to replicas when the primary is down).
func (sh *sharedClock) fetchLoop() {
	defer sh.wg.Done()
	pause := time.Millisecond
	for {
		select {
		case <-sh.stopCh:
			return
		case <-sh.fetchKick:
		}
		for {
			s := sh.seq.Load()
			if sh.covered.Load() >= s {
				break
			}
			ctx, cancel := stopContext(sh.stopCh, time.Second)
			l, err := sh.primaryLSN(ctx)
			cancel()
			if err != nil {
				select {
				case <-sh.stopCh:
					return
				case <-time.After(pause):
				}
				pause = min(pause*2, time.Second)
				continue
			}
			pause = time.Millisecond
			sh.advance(s, l)
		}
	}
}

// catchUpStart is the catch-up poller's first pause: a replica on a fast
// network replays a small write within a few hundred microseconds.
const catchUpStart = 100 * time.Microsecond

// catchUpLoop polls the replicas that are behind the write position, from
// every 100 µs up to every CheckInterval while they make no progress,
// so that reads return to them as soon as they have replayed the writes.
func (w *writeClock) catchUpLoop() {
	defer w.wg.Done()
	for {
		select {
		case <-w.stopCh:
			return
		case <-w.kickCh:
		}
		pause := catchUpStart
		for {
			target := pgLSN(w.want.Load())
			if w.sh != nil {
				target = max(target, pgLSN(w.sh.lsn.Load()))
			}
			behind := false
			progressed := false
			for _, n := range w.r.replicas {
				if n.State() != StateOnline || pgLSN(n.replayLSN.Load()) >= target {
					continue
				}
				ctx, cancel := stopContext(w.stopCh, w.r.opts.CheckTimeout)
				l, err := w.replayLSN(ctx, n)
				cancel()
				if err != nil {
					continue // the monitor decides about health
				}
				if l > pgLSN(n.replayLSN.Load()) {
					n.replayLSN.Store(uint64(l))
					progressed = true
				}
				if l < target {
					behind = true
				}
			}
			if !behind {
				break
			}
			if progressed {
				pause = catchUpStart
			} else {
				pause = min(pause*2, w.r.opts.CheckInterval)
			}
			select {
			case <-w.stopCh:
				return
			case <-time.After(pause):
			}
		}
	}
}

// stopContext is a context with a timeout that also ends when stop closes.
func stopContext(stop <-chan struct{}, timeout time.Duration) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	go func() {
		select {
		case <-stop:
			cancel()
		case <-ctx.Done():
		}
	}()
	return ctx, cancel
}

func (w *writeClock) replayLSN(ctx context.Context, n *node) (pgLSN, error) {
	var s string
	err := w.conns.query(ctx, n, func(c *pgx.Conn) error {
		return c.QueryRow(ctx, "SELECT coalesce(pg_last_wal_replay_lsn(), '0/0')::text").Scan(&s)
	})
	if err != nil {
		return 0, err
	}
	return parseLSN(s)
}

// connSet holds connections of their own (untraced: these are not
// application statements) to nodes, one per node; queries to one node run
// one at a time, to different nodes in parallel.
type connSet struct {
	mu     sync.Mutex // guards m and closed
	m      map[*node]*nodeConn
	closed bool
}

type nodeConn struct {
	mu sync.Mutex // held for a whole query
	c  *pgx.Conn
}

func (cs *connSet) entry(n *node) (*nodeConn, error) {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	if cs.closed {
		return nil, errRouterClosed
	}
	if cs.m == nil {
		cs.m = map[*node]*nodeConn{}
	}
	e := cs.m[n]
	if e == nil {
		e = &nodeConn{}
		cs.m[n] = e
	}
	return e, nil
}

var errRouterClosed = errors.New("replica: router closed")

// query runs f on the set's connection to n, (re)connecting as needed; a
// failed call drops the connection (a failed or timed-out query leaves it
// in doubt).
func (cs *connSet) query(ctx context.Context, n *node, f func(*pgx.Conn) error) error {
	e, err := cs.entry(n)
	if err != nil {
		return err
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.c == nil || e.c.IsClosed() {
		cfg := n.pool.Config().ConnConfig.Copy()
		cfg.Tracer = nil
		cfg.RuntimeParams["application_name"] = "pgxperf-monitor"
		c, err := pgx.ConnectConfig(ctx, cfg)
		if err != nil {
			return err
		}
		cs.mu.Lock()
		closed := cs.closed
		cs.mu.Unlock()
		if closed {
			_ = c.Close(context.Background())
			return errRouterClosed
		}
		e.c = c
	}
	if err := f(e.c); err != nil {
		cctx, cancel := context.WithTimeout(context.Background(), time.Second)
		_ = e.c.Close(cctx)
		cancel()
		e.c = nil
		return err
	}
	return nil
}

// closeAll closes every connection; later queries fail.
func (cs *connSet) closeAll() {
	cs.mu.Lock()
	cs.closed = true
	entries := cs.m
	cs.m = nil
	cs.mu.Unlock()
	var wg sync.WaitGroup
	for _, e := range entries {
		wg.Go(func() {
			e.mu.Lock()
			defer e.mu.Unlock()
			if e.c != nil {
				ctx, cancel := context.WithTimeout(context.Background(), pgend.MaxWait)
				pgend.Terminate(ctx, e.c.PgConn()) // gone from pg_stat_activity when Close returns
				_ = e.c.Close(ctx)
				cancel()
				e.c = nil
			}
		})
	}
	wg.Wait()
}
