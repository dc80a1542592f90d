package breaker

import (
	"errors"

	"github.com/redis/go-redis/v9"
)

// RedisOutcome tells the breaker what a Redis error (not a miss) means: a
// reply that says the command was wrong comes from a working server; a
// network error, a timeout, or a server loading, failing over or down does
// not.
func RedisOutcome(err error) Outcome {
	var reply redis.Error
	if errors.As(err, &reply) && !redis.IsLoadingError(err) && !redis.IsClusterDownError(err) &&
		!redis.IsMasterDownError(err) && !redis.IsTryAgainError(err) {
		return OK
	}
	return Fail
}
