package replica

import (
	"context"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
)

// monitor polls the primary's WAL position and each replica's recovery
// state, replay position and replay timestamp, on a jittered interval with a
// short timeout, over connections of its own (untraced, so checks never show
// in statistics or N+1 scopes).
type monitor struct {
	r      *Router
	conns  connSet
	mu     sync.Mutex // guards history
	stopCh chan struct{}
	done   chan struct{}
	// history holds the primary's WAL position at recent checks, oldest
	// first. A replica that has replayed the position of time T is at most
	// now − T behind: its time lag, measured without trusting
	// pg_last_xact_replay_timestamp (which looks old whenever the primary
	// was idle).
	history []walSample
	// catalog is the primary's signature of the catalogs that decide
	// routing at the last check ("": none yet).
	catalog string
}

// primaryCheckSQL reads the primary's WAL position and a signature of the
// user-defined catalog rows routing depends on (functions, operators,
// views' rules, policies, domains, constraints, permanent relations): it
// changes as soon as DDL commits, since a created, altered or dropped
// row changes the count or the row versions (xmin) summed.
const primaryCheckSQL = `SELECT pg_current_wal_lsn()::text, concat_ws('/',
	(SELECT count(*) || ':' || coalesce(sum(hashtext(oid::text || '/' || xmin::text)::bigint), 0) FROM pg_proc WHERE oid >= 16384),
	(SELECT count(*) || ':' || coalesce(sum(hashtext(oid::text || '/' || xmin::text)::bigint), 0) FROM pg_operator WHERE oid >= 16384),
	(SELECT count(*) || ':' || coalesce(sum(hashtext(oid::text || '/' || xmin::text)::bigint), 0) FROM pg_rewrite WHERE oid >= 16384),
	(SELECT count(*) || ':' || coalesce(sum(hashtext(oid::text || '/' || xmin::text)::bigint), 0) FROM pg_policy),
	(SELECT count(*) || ':' || coalesce(sum(hashtext(oid::text || '/' || xmin::text)::bigint), 0) FROM pg_type WHERE oid >= 16384 AND typtype = 'd'),
	(SELECT count(*) || ':' || coalesce(sum(hashtext(oid::text || '/' || xmin::text)::bigint), 0) FROM pg_constraint WHERE contypid <> 0),
	(SELECT count(*) || ':' || coalesce(sum(hashtext(oid::text || '/' || xmin::text)::bigint), 0) FROM pg_class
		WHERE oid >= 16384 AND relpersistence <> 't' AND relkind IN ('r', 'p', 'v', 'm', 'f')))`

type walSample struct {
	at  time.Time
	lsn pgLSN
}

const historyLen = 256

func (m *monitor) remember(lsn pgLSN) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if len(m.history) == historyLen {
		m.history = append(m.history[:0], m.history[1:]...)
	}
	m.history = append(m.history, walSample{at: time.Now(), lsn: lsn})
}

// timeLag bounds how far behind a replica that replayed lsn is: now minus
// the last check at which the primary was no further than lsn. ok is false
// when no remembered check is that old (it is behind all of them).
func (m *monitor) timeLag(lsn pgLSN) (time.Duration, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for i := len(m.history) - 1; i >= 0; i-- {
		if m.history[i].lsn <= lsn {
			if i == len(m.history)-1 {
				return 0, true
			}
			// Caught up with check i, not with check i+1.
			return time.Since(m.history[i+1].at), true
		}
	}
	if len(m.history) > 0 {
		return time.Since(m.history[0].at), false
	}
	return 0, false
}

func newMonitor(r *Router) *monitor {
	return &monitor{r: r, stopCh: make(chan struct{}), done: make(chan struct{})}
}

func (m *monitor) start() {
	if len(m.r.replicas) == 0 {
		close(m.done)
		return
	}
	go m.loop()
}

func (m *monitor) loop() {
	defer close(m.done)
	for {
		d := m.r.opts.CheckInterval
		d += time.Duration(rand.Int64N(int64(d))) // [interval, 2×interval)
		t := time.NewTimer(d)
		select {
		case <-m.stopCh:
			t.Stop()
			return
		case <-t.C:
		}
		ctx, cancel := context.WithCancel(context.Background())
		go func() {
			select {
			case <-m.stopCh:
				cancel()
			case <-ctx.Done():
			}
		}()
		m.checkAll(ctx)
		cancel()
	}
}

// stop ends the loop and closes the monitor's connections.
func (m *monitor) stop() {
	close(m.stopCh)
	<-m.done
	m.conns.closeAll()
}

// checkAll reads the primary's position, then checks every replica in parallel.
func (m *monitor) checkAll(ctx context.Context) {
	var primaryLSN pgLSN
	var catalog string
	if err := m.query(ctx, m.r.primary, func(c *pgx.Conn, ctx context.Context) error {
		var s string
		if err := c.QueryRow(ctx, primaryCheckSQL).Scan(&s, &catalog); err != nil {
			return err
		}
		l, err := parseLSN(s)
		primaryLSN = l
		return err
	}); err == nil {
		if old := m.catalog; old != catalog {
			m.catalog = catalog
			if old != "" {
				m.r.code.forget() // DDL from elsewhere
			}
		}
		m.r.code.expire()
		m.remember(primaryLSN)
		m.r.primary.replayLSN.Store(uint64(primaryLSN))
		m.r.primary.checked.Store(time.Now().UnixNano())
		m.transition(m.r.primary, m.r.primary.State(), StateOnline)
	} else if ctx.Err() == nil {
		m.r.primary.errs.Add(1)
		msg := err.Error()
		m.r.primary.lastErr.Store(&msg)
		m.r.primary.checked.Store(time.Now().UnixNano())
		m.transition(m.r.primary, m.r.primary.State(), StateOffline, "err", err)
	}
	var wg sync.WaitGroup
	for _, n := range m.r.replicas {
		wg.Add(1)
		go func(n *node) {
			defer wg.Done()
			m.checkReplica(ctx, n, primaryLSN)
		}(n)
	}
	wg.Wait()
}

func (m *monitor) checkReplica(ctx context.Context, n *node, primaryLSN pgLSN) {
	var (
		inRecovery bool
		replay     string
	)
	err := m.query(ctx, n, func(c *pgx.Conn, ctx context.Context) error {
		return c.QueryRow(ctx, `SELECT pg_is_in_recovery(), coalesce(pg_last_wal_replay_lsn(), '0/0')::text`).
			Scan(&inRecovery, &replay)
	})
	n.checked.Store(time.Now().UnixNano())
	old := n.State()
	if err != nil {
		n.errs.Add(1)
		msg := err.Error()
		n.lastErr.Store(&msg)
		m.transition(n, old, StateOffline, "err", err)
		return
	}
	if !inRecovery {
		m.transition(n, old, StatePromoted, "reason", "pg_is_in_recovery() is false: the replica was promoted")
		return
	}
	lsn, err := parseLSN(replay)
	if err != nil {
		m.transition(n, old, StateOffline, "err", err)
		return
	}
	n.replayLSN.Store(uint64(lsn))
	var lagBytes int64
	var lag time.Duration
	if primaryLSN > lsn {
		lagBytes = int64(primaryLSN - lsn)
		lag, _ = m.timeLag(lsn)
	}
	n.lagBytes.Store(lagBytes)
	n.lagNanos.Store(int64(lag))
	state := StateOnline
	if lagBytes > m.r.opts.MaxLagBytes || lag > m.r.opts.MaxLagTime {
		state = StateLagging
	}
	m.transition(n, old, state, "lag_bytes", lagBytes, "lag", lag)
}

func (m *monitor) transition(n *node, old, state State, args ...any) {
	n.state.Store(int32(state))
	if old == state {
		return
	}
	level := m.r.logger.Warn
	if state == StateOnline {
		level = m.r.logger.Info
	}
	kind := "replica"
	if n.primary {
		kind = "primary"
	}
	level("pgxperf "+kind+" "+state.String(), append([]any{"node", n.name, "was", old.String()}, args...)...)
}

// query runs f on the node's monitor connection, (re)connecting as needed,
// bounded by the check timeout.
func (m *monitor) query(ctx context.Context, n *node, f func(*pgx.Conn, context.Context) error) error {
	ctx, cancel := context.WithTimeout(ctx, m.r.opts.CheckTimeout)
	defer cancel()
	return m.conns.query(ctx, n, func(c *pgx.Conn) error { return f(c, ctx) })
}
