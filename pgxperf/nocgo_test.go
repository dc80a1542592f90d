//go:build !cgo

package pgxperf_test

import (
	"bytes"
	"context"
	"log/slog"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/pgxperf/pgxperf/internal/testenv"
	"github.com/pgxperf/pgxperf/pgxperf"
)

// lockedBuffer is a log sink safe for the Pool's goroutines.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// Built without cgo there is no SQL parser, so nothing is proven read-only
// or cacheable: the Pool says so when replicas or the cache are configured,
// and keeps working on the primary. make test runs this with CGO_ENABLED=0.
func TestWithoutCgoRoutingAndCachingWarn(t *testing.T) {
	ctx := context.Background()
	cfg, err := pgxpool.ParseConfig(testenv.RequirePrimary(t))
	require.NoError(t, err)
	for _, tc := range []struct {
		name string
		opts pgxperf.Config
		want []string
	}{
		{"replicas", pgxperf.Config{ReplicaURLs: []string{testenv.RequireReplica(t)}}, []string{"read routing"}},
		{"cache", pgxperf.Config{RedisURL: "redis://" + testenv.RequireRedis(t)}, []string{"query cache"}},
		{"both", pgxperf.Config{ReplicaURLs: []string{testenv.RequireReplica(t)}, RedisURL: "redis://" + testenv.RequireRedis(t)},
			[]string{"read routing", "query cache"}},
		{"neither", pgxperf.Config{}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var log lockedBuffer
			tc.opts.Logger = slog.New(slog.NewTextHandler(&log, nil))
			tc.opts.Pool = cfg
			p, err := pgxperf.NewFromConfig(ctx, &tc.opts)
			require.NoError(t, err)
			defer p.Close()
			var n int
			require.NoError(t, p.QueryRow(ctx, "SELECT 1").Scan(&n))
			require.Equal(t, 1, n)
			if tc.want == nil {
				require.NotContains(t, log.String(), "without cgo")
				return
			}
			require.Contains(t, log.String(), "built without cgo")
			for _, w := range tc.want {
				require.Contains(t, log.String(), w)
			}
		})
	}
}
