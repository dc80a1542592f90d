package replica

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
)

// Consistency says which writes a read routed to a replica must see.
type Consistency uint8

// Consistency modes.
const (
	// ConsistencyPool (the default): a read that starts after a write
	// through the Router's primary pool has completed (a statement, a
	// committed transaction, DDL, COPY — on any goroutine) never sees state
	// older than that write. The router learns the primary's WAL position
	// after writes (one query, off the caller's path, shared by every write
	// that completed before it ran) and sends reads to the primary until a
	// replica has replayed that far; replicas that lag are polled quickly
	// while reads wait for them. Reads under a steady stream of writes go to
	// the primary more often: that is the price of the guarantee.
	ConsistencyPool Consistency = iota
	// ConsistencySession: only the writes recorded in a context's Session
	// order later reads (read-your-writes per user or job, across app
	// instances through Session tokens); other reads may see a replica up
	// to MaxLagBytes/MaxLagTime behind. More reads go to replicas.
	ConsistencySession
)

// writeClock keeps the pool-wide read-your-writes position. seq counts the
// writes that completed; covered is the highest seq whose writes are all
// at or below lsn. A read loads seq, then covered: when covered has caught
// up, lsn (stored before covered) is at or past every write that completed
// before the read started.
type writeClock struct {
	r       *Router
	seq     atomic.Uint64
	covered atomic.Uint64
	lsn     atomic.Uint64
	want    atomic.Uint64 // the highest position a read has waited for (sessions' too)

	fetchKick chan struct{}
	catchKick chan struct{}
	stopCh    chan struct{}
	wg        sync.WaitGroup

	mu    sync.Mutex // guards conns (each goroutine uses its own connections)
	conns map[*Node]*pgx.Conn
}

func newWriteClock(r *Router) *writeClock {
	return &writeClock{r: r, fetchKick: make(chan struct{}, 1), catchKick: make(chan struct{}, 1),
		stopCh: make(chan struct{}), conns: map[*Node]*pgx.Conn{}}
}

// start learns the primary's position once (everything committed before
// the router existed is then visible to its reads) and starts the fetcher
// and the catch-up poller.
//
// Under ConsistencySession only the catch-up poller runs (for sessions'
// positions).
func (w *writeClock) start(ctx context.Context) {
	w.wg.Add(1)
	go w.catchUpLoop()
	if w.r.opts.Consistency != ConsistencyPool {
		return
	}
	w.seq.Store(1)
	if l, err := w.primaryLSN(ctx); err == nil {
		w.advance(1, l)
	}
	w.wg.Add(1)
	go w.fetchLoop()
	kick(w.fetchKick)
}

// waitFor asks the catch-up poller to poll replicas until they have
// replayed lsn.
func (w *writeClock) waitFor(lsn LSN) {
	storeMax(&w.want, uint64(lsn))
	kick(w.catchKick)
}

func (w *writeClock) stop() {
	close(w.stopCh)
	w.wg.Wait()
	w.mu.Lock()
	defer w.mu.Unlock()
	for n, c := range w.conns {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		_ = c.Close(ctx)
		cancel()
		delete(w.conns, n)
	}
}

func kick(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}

// wrote records a completed write.
func (w *writeClock) wrote() {
	w.seq.Add(1)
	kick(w.fetchKick)
}

// minLSN returns the position a replica must have replayed for a read that
// starts now, and false when a completed write's position is not known yet
// (the read then needs the primary).
func (w *writeClock) minLSN() (LSN, bool) {
	s := w.seq.Load()
	if w.covered.Load() < s {
		kick(w.fetchKick)
		return 0, false
	}
	return LSN(w.lsn.Load()), true
}

// advance records that every write up to seq s is at or below l.
func (w *writeClock) advance(s uint64, l LSN) {
	storeMax(&w.lsn, uint64(l))
	storeMax(&w.covered, s)
}

func storeMax(a *atomic.Uint64, v uint64) {
	for {
		cur := a.Load()
		if v <= cur || a.CompareAndSwap(cur, v) {
			return
		}
	}
}

// fetchLoop learns the primary's WAL insert position after writes: one
// query covers every write that completed before it started. It retries
// with a growing pause while the primary does not answer (reads meanwhile
// go to the primary, or to replicas when the primary is down).
func (w *writeClock) fetchLoop() {
	defer w.wg.Done()
	pause := time.Millisecond
	for {
		select {
		case <-w.stopCh:
			return
		case <-w.fetchKick:
		}
		for {
			s := w.seq.Load()
			if w.covered.Load() >= s {
				break
			}
			ctx, cancel := w.ctx()
			l, err := w.primaryLSN(ctx)
			cancel()
			if err != nil {
				select {
				case <-w.stopCh:
					return
				case <-time.After(pause):
				}
				pause = min(pause*2, w.r.opts.CheckInterval)
				continue
			}
			pause = time.Millisecond
			w.advance(s, l)
			kick(w.catchKick)
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
		case <-w.catchKick:
		}
		pause := catchUpStart
		for {
			target := LSN(max(w.lsn.Load(), w.want.Load()))
			behind := false
			progressed := false
			for _, n := range w.r.replicas {
				if n.State() != StateOnline || LSN(n.replayLSN.Load()) >= target {
					continue
				}
				ctx, cancel := w.ctx()
				l, err := w.replayLSN(ctx, n)
				cancel()
				if err != nil {
					continue // the monitor decides about health
				}
				if l > LSN(n.replayLSN.Load()) {
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

func (w *writeClock) ctx() (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithTimeout(context.Background(), w.r.opts.CheckTimeout)
	go func() {
		select {
		case <-w.stopCh:
			cancel()
		case <-ctx.Done():
		}
	}()
	return ctx, cancel
}

func (w *writeClock) primaryLSN(ctx context.Context) (LSN, error) {
	var s string
	err := w.query(ctx, w.r.primary, func(c *pgx.Conn) error {
		return c.QueryRow(ctx, "SELECT pg_current_wal_insert_lsn()::text").Scan(&s)
	})
	if err != nil {
		return 0, err
	}
	return ParseLSN(s)
}

func (w *writeClock) replayLSN(ctx context.Context, n *Node) (LSN, error) {
	var s string
	err := w.query(ctx, n, func(c *pgx.Conn) error {
		return c.QueryRow(ctx, "SELECT coalesce(pg_last_wal_replay_lsn(), '0/0')::text").Scan(&s)
	})
	if err != nil {
		return 0, err
	}
	return ParseLSN(s)
}

// query runs f on the clock's own connection to n (untraced: these are not
// application statements), reconnecting as needed.
func (w *writeClock) query(ctx context.Context, n *Node, f func(*pgx.Conn) error) error {
	w.mu.Lock()
	c := w.conns[n]
	w.mu.Unlock()
	if c == nil || c.IsClosed() {
		cfg := n.pool.Config().ConnConfig.Copy()
		cfg.Tracer = nil
		cfg.RuntimeParams["application_name"] = "pgxperf-monitor"
		var err error
		if c, err = pgx.ConnectConfig(ctx, cfg); err != nil {
			return err
		}
		w.mu.Lock()
		select {
		case <-w.stopCh:
			w.mu.Unlock()
			_ = c.Close(context.Background())
			return errors.New("replica: router closed")
		default:
		}
		w.conns[n] = c
		w.mu.Unlock()
	}
	if err := f(c); err != nil {
		w.mu.Lock()
		delete(w.conns, n)
		w.mu.Unlock()
		cctx, cancel := context.WithTimeout(context.Background(), time.Second)
		_ = c.Close(cctx)
		cancel()
		return err
	}
	return nil
}
