package querycache

import (
	"time"

	"github.com/pgxperf/pgxperf/internal/breaker"
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

func newBreaker(c BreakerConfig) *breaker.Breaker {
	return breaker.New(breaker.Config{Failures: c.Failures, Window: c.Window, Cooldown: c.Cooldown, MaxCooldown: c.MaxCooldown})
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
