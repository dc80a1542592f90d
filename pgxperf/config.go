package pgxperf

import (
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/pgxperf/pgxperf/querycache"
	"github.com/pgxperf/pgxperf/replica"
	"github.com/pgxperf/pgxperf/tracer"
)

// Config is a complete pgxperf configuration: the primary's pool config and
// pgxperf's own settings. Apart from Pool, its zero value is useful:
// monitoring on, slow queries from 100 ms logged to slog.Default(), no
// timeouts added, everything served by the primary, no cache. New fields
// are added over time with zero values that keep today's behaviour, so a
// literal with field names never breaks. NewFromConfig copies what it
// needs; a Config may be reused and is not modified.
type Config struct {
	// Pool is the primary's pool config, made by pgxpool.ParseConfig
	// (required). Hooks and the tracer already set on it are kept and run
	// as before.
	Pool *pgxpool.Config

	// DisableMonitoring turns the tracer off: the Pool is then a plain pgxpool
	// (hooks and tracers already on the config still run).
	DisableMonitoring bool

	// Tracer configures the statistics and the slow-query log (see tracer.Config).
	Tracer tracer.Config

	// Logger is used for pgxperf's own messages and, unless Tracer.Logger is
	// set, for slow-query records. Nil means slog.Default().
	Logger *slog.Logger

	// QueryTimeout is the deadline given to a call whose context has none
	// (DATABASE_QUERY_TIMEOUT). Zero means none.
	QueryTimeout time.Duration

	// AcquireTimeout bounds the wait for a pool connection
	// (DATABASE_POOL_TIMEOUT); past it the call fails with ErrAcquireTimeout.
	// It bounds every acquire pgxperf makes: on the primary and on replicas,
	// and for its own catalog and write-position lookups (which also honour
	// the caller's deadline). Zero means the wait is bounded by the context only.
	AcquireTimeout time.Duration

	// CloseTimeout bounds Close: calls in flight get three quarters of it,
	// then are cancelled, then have their connections taken back (see
	// Pool.Close). Zero means 30 s.
	CloseTimeout time.Duration

	// ReplicaURLs are the connection strings of streaming replicas
	// (DATABASE_READ_REPLICA_URL). With replicas, statements the analyzer
	// proves read-only go to a healthy replica (see package replica); the pool
	// settings and hooks of the primary's config apply to each replica's pool.
	ReplicaURLs []string

	// Routing configures read routing when ReplicaURLs are set (balancing, lag
	// limits, function lists …); its zero value is useful. Its Primary and
	// Replicas are ignored: the Pool sets them.
	Routing replica.Config

	// RedisURL is the Redis server of the query cache (REDIS_URL). Setting
	// it turns the query cache on, with a client the Pool creates and closes
	// (Cache.Client, when set, is used instead).
	RedisURL string

	// Cache configures the query cache (package querycache). It is on when
	// Cache.Client is set or RedisURL is given; statements are then cached
	// only when opted in (querycache.WithTTL, Cache.Rules, or a
	// /* pgxperf:cache ttl=30s */ comment) and proven safe to cache. Every
	// write through the Pool then costs one Redis round trip after it
	// commits, to invalidate what it changed.
	Cache querycache.Config
}

// The environment variables ConfigFromEnv reads.
const (
	envDatabaseURL     = "DATABASE_URL"
	envReplicaURL      = "DATABASE_READ_REPLICA_URL"
	envRedisURL        = "REDIS_URL"
	envConnectionLimit = "DATABASE_CONNECTION_LIMIT"
	envPoolTimeout     = "DATABASE_POOL_TIMEOUT"
	envQueryTimeout    = "DATABASE_QUERY_TIMEOUT"
	envMonitoring      = "ENABLE_QUERY_MONITORING"
)

// ConfigFromEnv reads the configuration from the environment:
//
//	DATABASE_URL               connection string of the primary (required)
//	DATABASE_READ_REPLICA_URL  one replica URL or a comma-separated list
//	REDIS_URL                  redis:// or rediss:// URL of the query cache
//	DATABASE_CONNECTION_LIMIT  maximum connections of the pool (> 0)
//	DATABASE_POOL_TIMEOUT      acquire timeout in milliseconds (≥ 0)
//	DATABASE_QUERY_TIMEOUT     default query deadline in milliseconds (≥ 0)
//	ENABLE_QUERY_MONITORING    true/false (default true)
//
// A missing DATABASE_URL or a bad value gives an *EnvError naming the variable
// (it matches ErrInvalidConfig).
func ConfigFromEnv() (*Config, error) { return configFromLookup(os.LookupEnv) }

func configFromLookup(lookup func(string) (string, bool)) (*Config, error) {
	get := func(name string) string {
		v, _ := lookup(name)
		return strings.TrimSpace(v)
	}
	dsn := get(envDatabaseURL)
	if dsn == "" {
		return nil, &EnvError{Var: envDatabaseURL, Err: errors.New("not set")}
	}
	poolCfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		return nil, &EnvError{Var: envDatabaseURL, Value: redactURL(dsn), Err: err}
	}
	cfg := &Config{Pool: poolCfg}

	if v := get(envReplicaURL); v != "" {
		for _, u := range strings.Split(v, ",") {
			u = strings.TrimSpace(u)
			if u == "" {
				continue
			}
			if _, err := pgxpool.ParseConfig(u); err != nil {
				return nil, &EnvError{Var: envReplicaURL, Value: redactURL(u), Err: err}
			}
			cfg.ReplicaURLs = append(cfg.ReplicaURLs, u)
		}
	}
	if v := get(envRedisURL); v != "" {
		if err := validateRedisURL(v); err != nil {
			return nil, &EnvError{Var: envRedisURL, Value: redactURL(v), Err: err}
		}
		cfg.RedisURL = v
	}
	if v := get(envConnectionLimit); v != "" {
		n, err := strconv.ParseInt(v, 10, 32)
		if err != nil || n <= 0 {
			return nil, &EnvError{Var: envConnectionLimit, Value: v, Err: errors.New("want a positive integer")}
		}
		cfg.Pool.MaxConns = int32(n)
		if cfg.Pool.MinConns > cfg.Pool.MaxConns {
			cfg.Pool.MinConns = cfg.Pool.MaxConns
		}
	}
	ms := func(name string) (time.Duration, error) {
		v := get(name)
		if v == "" {
			return 0, nil
		}
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 0 || n > int64(24*time.Hour/time.Millisecond) {
			return 0, &EnvError{Var: name, Value: v, Err: errors.New("want a whole number of milliseconds between 0 and 86400000")}
		}
		return time.Duration(n) * time.Millisecond, nil
	}
	if cfg.AcquireTimeout, err = ms(envPoolTimeout); err != nil {
		return nil, err
	}
	if cfg.QueryTimeout, err = ms(envQueryTimeout); err != nil {
		return nil, err
	}
	if v := get(envMonitoring); v != "" {
		on, err := strconv.ParseBool(v)
		if err != nil {
			return nil, &EnvError{Var: envMonitoring, Value: v, Err: errors.New("want true or false")}
		}
		cfg.DisableMonitoring = !on
	}
	return cfg, nil
}

func validateRedisURL(v string) error {
	u, err := url.Parse(v)
	if err != nil {
		return err
	}
	switch u.Scheme {
	case "redis", "rediss", "unix":
	default:
		return fmt.Errorf("scheme %q: want redis://, rediss:// or unix://", u.Scheme)
	}
	if u.Scheme != "unix" && u.Host == "" {
		return errors.New("no host")
	}
	return nil
}

// redactURL hides a password in a URL for error messages.
func redactURL(s string) string {
	u, err := url.Parse(s)
	if err != nil || u.User == nil {
		return s
	}
	if _, has := u.User.Password(); has {
		u.User = url.UserPassword(u.User.Username(), "xxxxx")
	}
	return u.String()
}
