package rediscache

import "github.com/pgxperf/pgxperf/internal/breaker"

// BreakerState is the state of the Cache's circuit breaker around Redis.
type BreakerState int32

const (
	// BreakerClosed means Redis is called normally.
	BreakerClosed = BreakerState(breaker.Closed)
	// BreakerOpen means Redis is not called at all until the cooldown ends.
	BreakerOpen = BreakerState(breaker.Open)
	// BreakerHalfOpen means one probe call goes to Redis; everything else still
	// skips it. The probe's outcome closes or reopens the breaker.
	BreakerHalfOpen = BreakerState(breaker.HalfOpen)
)

// String returns "closed", "open" or "half-open".
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

func newBreaker(cfg Config) *breaker.Breaker {
	return breaker.New(breaker.Config{Failures: cfg.BreakerFailures, Window: cfg.BreakerWindow,
		Cooldown: cfg.BreakerCooldown, MaxCooldown: cfg.BreakerMaxCooldown})
}
