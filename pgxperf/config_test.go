package pgxperf_test

import (
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/pgxperf/pgxperf/pgxperf"
)

func TestConfigFromEnv(t *testing.T) {
	base := map[string]string{"DATABASE_URL": "postgres://app:pw@db.example:5432/app"}
	for _, tc := range []struct {
		name    string
		env     map[string]string
		badVar  string
		check   func(t *testing.T, c *pgxperf.Config)
		errText string
	}{
		{name: "minimal", env: base, check: func(t *testing.T, c *pgxperf.Config) {
			require.Equal(t, "db.example", c.Pool.ConnConfig.Host)
			require.False(t, c.DisableMonitoring)
			require.Zero(t, c.QueryTimeout)
		}},
		{name: "everything", env: map[string]string{
			"DATABASE_URL":              "postgres://app@db/app",
			"DATABASE_READ_REPLICA_URL": "postgres://app@r1/app, postgres://app@r2/app",
			"REDIS_URL":                 "redis://127.0.0.1:6379/0",
			"DATABASE_CONNECTION_LIMIT": "25",
			"DATABASE_POOL_TIMEOUT":     "1500",
			"DATABASE_QUERY_TIMEOUT":    "30000",
			"ENABLE_QUERY_MONITORING":   "false",
		}, check: func(t *testing.T, c *pgxperf.Config) {
			require.Equal(t, []string{"postgres://app@r1/app", "postgres://app@r2/app"}, c.ReplicaURLs)
			require.Equal(t, "redis://127.0.0.1:6379/0", c.RedisURL)
			require.EqualValues(t, 25, c.Pool.MaxConns)
			require.Equal(t, 1500*time.Millisecond, c.AcquireTimeout)
			require.Equal(t, 30*time.Second, c.QueryTimeout)
			require.True(t, c.DisableMonitoring)
		}},
		{name: "missing url", env: map[string]string{}, badVar: "DATABASE_URL", errText: "not set"},
		{name: "bad url", env: map[string]string{"DATABASE_URL": "postgres://%zz"}, badVar: "DATABASE_URL"},
		{name: "bad replica", env: merge(base, "DATABASE_READ_REPLICA_URL", "postgres://%zz"), badVar: "DATABASE_READ_REPLICA_URL"},
		{name: "bad redis", env: merge(base, "REDIS_URL", "http://x"), badVar: "REDIS_URL"},
		{name: "bad limit", env: merge(base, "DATABASE_CONNECTION_LIMIT", "0"), badVar: "DATABASE_CONNECTION_LIMIT"},
		{name: "limit not a number", env: merge(base, "DATABASE_CONNECTION_LIMIT", "ten"), badVar: "DATABASE_CONNECTION_LIMIT"},
		{name: "bad pool timeout", env: merge(base, "DATABASE_POOL_TIMEOUT", "-5"), badVar: "DATABASE_POOL_TIMEOUT"},
		{name: "bad query timeout", env: merge(base, "DATABASE_QUERY_TIMEOUT", "1s"), badVar: "DATABASE_QUERY_TIMEOUT"},
		{name: "bad monitoring", env: merge(base, "ENABLE_QUERY_MONITORING", "maybe"), badVar: "ENABLE_QUERY_MONITORING"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, k := range []string{"DATABASE_URL", "DATABASE_READ_REPLICA_URL", "REDIS_URL", "DATABASE_CONNECTION_LIMIT",
				"DATABASE_POOL_TIMEOUT", "DATABASE_QUERY_TIMEOUT", "ENABLE_QUERY_MONITORING"} {
				t.Setenv(k, tc.env[k])
			}
			cfg, err := pgxperf.ConfigFromEnv()
			if tc.badVar != "" {
				require.Error(t, err)
				var envErr *pgxperf.EnvError
				require.True(t, errors.As(err, &envErr))
				require.Equal(t, tc.badVar, envErr.Var)
				require.Contains(t, err.Error(), tc.badVar)
				require.ErrorIs(t, err, pgxperf.ErrInvalidConfig)
				require.NotContains(t, err.Error(), ":pw@", "passwords are not printed")
				if tc.errText != "" {
					require.Contains(t, err.Error(), tc.errText)
				}
				return
			}
			require.NoError(t, err)
			tc.check(t, cfg)
		})
	}
}

func merge(base map[string]string, k, v string) map[string]string {
	out := map[string]string{k: v}
	for bk, bv := range base {
		out[bk] = bv
	}
	return out
}
