package querycache

import "github.com/pgxperf/pgxperf/internal/breaker"

// BreakerState is the state of the query cache's circuit breaker around
// Redis (Stats.Breaker, QueryCache.BreakerState).
type BreakerState int32

const (
	// BreakerClosed means Redis is called normally.
	BreakerClosed BreakerState = iota
	// BreakerOpen means Redis is not called at all until the cooldown ends;
	// reads go to the database.
	BreakerOpen
	// BreakerHalfOpen means one probe call goes to Redis; everything else still
	// skips it. The probe's outcome closes or reopens the breaker.
	BreakerHalfOpen
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

// The constants above have the values of internal/breaker's states, which
// Stats converts.
// (A constant index out of [0, 1) does not compile.)
var (
	_ = [1]struct{}{}[int(BreakerClosed)-int(breaker.Closed)]
	_ = [1]struct{}{}[int(BreakerOpen)-int(breaker.Open)]
	_ = [1]struct{}{}[int(BreakerHalfOpen)-int(breaker.HalfOpen)]
)
