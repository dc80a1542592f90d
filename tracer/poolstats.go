package tracer

import (
	"sync/atomic"
	"time"
)

// PoolStats are the connection-level figures a Tracer sees: connects, acquires
// and releases. pgxpool.Stat gives the pool's own view; these add timing.
type PoolStats struct {
	Connects       int64
	ConnectErrors  int64
	ConnectTime    time.Duration // total time spent establishing connections
	Acquires       int64
	AcquireErrors  int64
	AcquireWait    time.Duration // total time spent in Acquire
	MaxAcquireWait time.Duration
	Releases       int64
	Prepares       int64
	PrepareTime    time.Duration
}

type poolStats struct {
	connects, connectErrors, connectNanos atomic.Int64
	acquires, acquireErrors, acquireNanos atomic.Int64
	maxAcquire                            atomic.Int64
	releases, prepares, prepareNanos      atomic.Int64
}

func (p *poolStats) snapshot() PoolStats {
	return PoolStats{
		Connects:       p.connects.Load(),
		ConnectErrors:  p.connectErrors.Load(),
		ConnectTime:    time.Duration(p.connectNanos.Load()),
		Acquires:       p.acquires.Load(),
		AcquireErrors:  p.acquireErrors.Load(),
		AcquireWait:    time.Duration(p.acquireNanos.Load()),
		MaxAcquireWait: time.Duration(p.maxAcquire.Load()),
		Releases:       p.releases.Load(),
		Prepares:       p.prepares.Load(),
		PrepareTime:    time.Duration(p.prepareNanos.Load()),
	}
}

func (p *poolStats) reset() {
	for _, v := range []*atomic.Int64{&p.connects, &p.connectErrors, &p.connectNanos, &p.acquires,
		&p.acquireErrors, &p.acquireNanos, &p.maxAcquire, &p.releases, &p.prepares, &p.prepareNanos} {
		v.Store(0)
	}
}

func (p *poolStats) acquired(d time.Duration, err error) {
	p.acquires.Add(1)
	if err != nil {
		p.acquireErrors.Add(1)
	}
	p.acquireNanos.Add(int64(d))
	for {
		cur := p.maxAcquire.Load()
		if int64(d) <= cur || p.maxAcquire.CompareAndSwap(cur, int64(d)) {
			return
		}
	}
}
