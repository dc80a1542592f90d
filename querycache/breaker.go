package querycache

import (
	"sync"
	"sync/atomic"
	"time"
)

// BreakerConfig configures the circuit breaker that keeps a failing Redis out
// of the call path. A zero BreakerConfig consists entirely of defaults.
type BreakerConfig struct {
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

func (c BreakerConfig) withDefaults() BreakerConfig {
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

// BreakerState is the state of a circuit breaker.
type BreakerState int32

const (
	// BreakerClosed: Redis is called normally.
	BreakerClosed BreakerState = iota
	// BreakerOpen: Redis is not called at all until the cooldown ends.
	BreakerOpen
	// BreakerHalfOpen: one probe call goes to Redis; everything else still
	// skips it. The probe's outcome closes or reopens the breaker.
	BreakerHalfOpen
)

func (s BreakerState) String() string {
	switch s {
	case BreakerClosed:
		return "closed"
	case BreakerOpen:
		return "open"
	case BreakerHalfOpen:
		return "half-open"
	}
	return "unknown"
}

// outcome is what a caller reports to the breaker after a Redis call.
type outcome int

const (
	outcomeOK     outcome = iota // Redis answered (including a miss or an error reply)
	outcomeFail                  // Redis did not answer: network error, timeout
	outcomeIgnore                // the call says nothing about Redis (the caller gave up)
)

// breakerEpoch anchors the breaker's monotonic clock.
var breakerEpoch = time.Now()

func monotonicNow() int64 { return int64(time.Since(breakerEpoch)) }

// breaker is a fail-open circuit breaker. It is shared by everything in this
// package that calls Redis. allow is lock-free while closed and while open
// before the cooldown ends; transitions take a mutex. Safe for concurrent use.
type breaker struct {
	cfg BreakerConfig
	now func() int64 // nanoseconds on a monotonic clock; replaced in tests

	state     atomic.Int32 // BreakerState
	openUntil atomic.Int64 // now() value at which an open breaker allows a probe
	failures  atomic.Int32 // consecutive failures in the current run (closed only)
	opens     atomic.Uint64

	mu           sync.Mutex
	firstFailure int64         // now() of the current run's first failure
	cooldown     time.Duration // the next open period
	probing      bool          // a half-open probe is out
	probeStart   int64
}

func newBreaker(cfg BreakerConfig) *breaker {
	cfg = cfg.withDefaults()
	return &breaker{cfg: cfg, now: monotonicNow, cooldown: cfg.Cooldown}
}

// State returns the current state. An open breaker whose cooldown has ended
// reports BreakerOpen until a call takes the probe.
func (b *breaker) State() BreakerState { return BreakerState(b.state.Load()) }

// allow reports whether a call may go to Redis. If ok, the caller must call
// done exactly once with the returned probe flag.
func (b *breaker) allow() (probe, ok bool) {
	if b.cfg.Failures < 0 {
		return false, true
	}
	s := BreakerState(b.state.Load())
	if s == BreakerClosed {
		return false, true
	}
	now := b.now()
	if s == BreakerOpen && now < b.openUntil.Load() {
		return false, false
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	switch BreakerState(b.state.Load()) {
	case BreakerClosed:
		return false, true
	case BreakerOpen:
		if now < b.openUntil.Load() {
			return false, false
		}
		b.state.Store(int32(BreakerHalfOpen))
	case BreakerHalfOpen:
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

// done reports the outcome of a call that allow let through.
func (b *breaker) done(probe bool, o outcome) {
	if b.cfg.Failures < 0 {
		return
	}
	if probe {
		b.mu.Lock()
		defer b.mu.Unlock()
		if BreakerState(b.state.Load()) != BreakerHalfOpen {
			return
		}
		switch o {
		case outcomeOK:
			b.failures.Store(0)
			b.cooldown = b.cfg.Cooldown
			b.probing = false
			b.state.Store(int32(BreakerClosed))
		case outcomeFail:
			b.cooldown = min(2*b.cooldown, b.cfg.MaxCooldown)
			b.openLocked(b.now())
		case outcomeIgnore:
			b.probing = false // let the next call probe
		}
		return
	}
	switch o {
	case outcomeOK:
		if b.failures.Load() != 0 { // avoid a shared write on the hot path
			b.mu.Lock()
			if BreakerState(b.state.Load()) == BreakerClosed {
				b.failures.Store(0)
			}
			b.mu.Unlock()
		}
	case outcomeFail:
		b.mu.Lock()
		defer b.mu.Unlock()
		// Late results of calls that started before the breaker opened say
		// nothing new; only the probe moves an open breaker.
		if BreakerState(b.state.Load()) != BreakerClosed {
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

func (b *breaker) openLocked(now int64) {
	b.probing = false
	b.failures.Store(0)
	b.openUntil.Store(now + int64(b.cooldown))
	b.state.Store(int32(BreakerOpen))
	b.opens.Add(1)
}

// recovered closes the breaker after a call made outside allow (the retry
// of a pending invalidation, which must not wait for the cooldown) got an
// answer from Redis: Redis is back, so every other call may go to it again.
// A probe still out when it closes reports to a closed breaker and is
// ignored.
func (b *breaker) recovered() {
	if b.cfg.Failures < 0 {
		return
	}
	if BreakerState(b.state.Load()) == BreakerClosed && b.failures.Load() == 0 {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.failures.Store(0)
	b.cooldown = b.cfg.Cooldown
	b.probing = false
	b.state.Store(int32(BreakerClosed))
}
