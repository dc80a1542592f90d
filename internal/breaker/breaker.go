// Package breaker is the fail-open circuit breaker that keeps a failing Redis
// out of the call path of pgxperf's caches (package rediscache and package
// querycache each hold one; neither shares its breaker with the other).
package breaker

import (
	"sync"
	"sync/atomic"
	"time"
)

// Config configures a Breaker. A zero Config consists entirely of defaults.
type Config struct {
	// Failures is how many consecutive Redis failures within Window open the
	// breaker. Zero means 5. A negative value disables the breaker: Redis is
	// always called.
	Failures int

	// Window bounds a run of consecutive failures: a failure more than Window
	// after the first failure of the run starts a new run. Zero means 10 s.
	Window time.Duration

	// Cooldown is how long the breaker stays open the first time it opens.
	// Each failed probe doubles it, up to MaxCooldown; a successful probe
	// resets it. Zero means 1 s.
	Cooldown time.Duration

	// MaxCooldown caps Cooldown's doubling. Zero means 30 s.
	MaxCooldown time.Duration
}

func (c Config) withDefaults() Config {
	if c.Failures == 0 {
		c.Failures = 5
	}
	if c.Window <= 0 {
		c.Window = 10 * time.Second
	}
	if c.Cooldown <= 0 {
		c.Cooldown = time.Second
	}
	if c.MaxCooldown <= 0 {
		c.MaxCooldown = 30 * time.Second
	}
	if c.MaxCooldown < c.Cooldown {
		c.MaxCooldown = c.Cooldown
	}
	return c
}

// State is the state of a circuit breaker. The public packages mirror it
// with a BreakerState of the same values.
type State int32

const (
	// Closed: Redis is called normally.
	Closed State = iota
	// Open: Redis is not called at all until the cooldown ends.
	Open
	// HalfOpen: one probe call goes to Redis; everything else still skips
	// it. The probe's outcome closes or reopens the breaker.
	HalfOpen
)

// Outcome is what a caller reports to the breaker after a Redis call.
type Outcome int

const (
	OK     Outcome = iota // Redis answered (including a miss or an error reply)
	Fail                  // Redis did not answer: network error, timeout
	Ignore                // the call says nothing about Redis (the caller gave up)
)

// epoch anchors the breaker's monotonic clock.
var epoch = time.Now()

// Now returns nanoseconds on the monotonic clock the breaker runs on.
func Now() int64 { return int64(time.Since(epoch)) }

// Breaker is a fail-open circuit breaker, shared by everything in one cache
// that calls Redis. Allow is lock-free while closed and while open
// before the cooldown ends; transitions take a mutex. Safe for concurrent use.
type Breaker struct {
	cfg Config
	now func() int64 // nanoseconds on a monotonic clock; replaced in tests

	state     atomic.Int32  // State
	openUntil atomic.Int64  // now() value at which an open breaker allows a probe
	failures  atomic.Int32  // consecutive failures in the current run (closed only)
	opens     atomic.Uint64 // times opened, read by Opens

	mu           sync.Mutex
	firstFailure int64         // now() of the current run's first failure
	cooldown     time.Duration // the next open period
	probing      bool          // a half-open probe is out
	probeStart   int64
}

// New returns a closed Breaker for cfg.
func New(cfg Config) *Breaker {
	cfg = cfg.withDefaults()
	return &Breaker{cfg: cfg, now: Now, cooldown: cfg.Cooldown}
}

// State returns the current state. An open breaker whose cooldown has ended
// reports Open until a call takes the probe.
func (b *Breaker) State() State { return State(b.state.Load()) }

// Opens returns how many times the breaker has opened since New.
func (b *Breaker) Opens() uint64 { return b.opens.Load() }

// Allow reports whether a call may go to Redis. If ok, the caller must call
// Done exactly once with the returned probe flag.
func (b *Breaker) Allow() (probe, ok bool) {
	if b.cfg.Failures < 0 {
		return false, true
	}
	s := State(b.state.Load())
	if s == Closed {
		return false, true
	}
	now := b.now()
	if s == Open && now < b.openUntil.Load() {
		return false, false
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	switch State(b.state.Load()) {
	case Closed:
		return false, true
	case Open:
		if now < b.openUntil.Load() {
			return false, false
		}
		b.state.Store(int32(HalfOpen))
	case HalfOpen:
		// A probe that never reported back (a bug, or a caller that hung)
		// must not wedge the breaker: after MaxCooldown allow another.
		if b.probing && now-b.probeStart < int64(b.cfg.MaxCooldown) {
			return false, false
		}
	}
	b.probing = true
	b.probeStart = now
	return true, true
}

// Done reports the outcome of a call that Allow let through.
func (b *Breaker) Done(probe bool, o Outcome) {
	if b.cfg.Failures < 0 {
		return
	}
	if probe {
		b.mu.Lock()
		defer b.mu.Unlock()
		if State(b.state.Load()) != HalfOpen {
			return
		}
		switch o {
		case OK:
			b.failures.Store(0)
			b.cooldown = b.cfg.Cooldown
			b.probing = false
			b.state.Store(int32(Closed))
		case Fail:
			b.cooldown = min(2*b.cooldown, b.cfg.MaxCooldown)
			b.openLocked(b.now())
		case Ignore:
			b.probing = false // let the next call probe
		}
		return
	}
	switch o {
	case OK:
		if b.failures.Load() != 0 { // avoid a shared write on the hot path
			b.mu.Lock()
			if State(b.state.Load()) == Closed {
				b.failures.Store(0)
			}
			b.mu.Unlock()
		}
	case Fail:
		b.mu.Lock()
		defer b.mu.Unlock()
		// Late results of calls that started before the breaker opened say
		// nothing new; only the probe moves an open breaker.
		if State(b.state.Load()) != Closed {
			return
		}
		now := b.now()
		n := b.failures.Load()
		if n == 0 || now-b.firstFailure > int64(b.cfg.Window) {
			n = 0
			b.firstFailure = now
		}
		n++
		b.failures.Store(n)
		if int(n) >= b.cfg.Failures {
			b.openLocked(now)
		}
	}
}

func (b *Breaker) openLocked(now int64) {
	b.probing = false
	b.failures.Store(0)
	b.openUntil.Store(now + int64(b.cooldown))
	b.state.Store(int32(Open))
	b.opens.Add(1)
}

// Recovered closes the breaker after a call made outside Allow (the retry
// of a pending invalidation, which must not wait for the cooldown) got an
// answer from Redis: Redis is back, so every other call may go to it again.
// A probe still out when it closes reports to a closed breaker and is
// ignored.
func (b *Breaker) Recovered() {
	if b.cfg.Failures < 0 {
		return
	}
	if State(b.state.Load()) == Closed && b.failures.Load() == 0 {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.failures.Store(0)
	b.cooldown = b.cfg.Cooldown
	b.probing = false
	b.state.Store(int32(Closed))
}
