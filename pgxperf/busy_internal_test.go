package pgxperf

import (
	"context"
	"runtime"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/pgxperf/pgxperf/internal/testenv"
)

// With monitoring off the Pool keeps the connections in use itself (for
// Close). A connection the application takes out of the pool with Hijack
// is never released: the Pool must not keep it alive, and forgets it once
// it is collected.
func TestBusyConnectionsAreHeldWeakly(t *testing.T) {
	cfg, err := pgxpool.ParseConfig(testenv.RequirePrimary(t))
	require.NoError(t, err)
	p, err := NewFromConfig(context.Background(), &Config{Pool: cfg, DisableMonitoring: true})
	require.NoError(t, err)
	defer p.Close()

	func() {
		c, err := p.Acquire(t.Context())
		require.NoError(t, err)
		require.Len(t, p.busyConns(), 1)
		pc := c.Hijack()
		require.NoError(t, pc.Close(t.Context()))
	}()
	require.Eventually(t, func() bool {
		runtime.GC()
		p.busyMu.Lock()
		defer p.busyMu.Unlock()
		return len(p.busy) == 0
	}, 10*time.Second, 10*time.Millisecond, "the hijacked connection is forgotten once collected")

	// An acquire and release cycle leaves nothing behind either, and
	// acquiring the same connection again registers no second cleanup.
	for range 3 {
		c, err := p.Acquire(t.Context())
		require.NoError(t, err)
		require.Len(t, p.busyConns(), 1)
		c.Release()
		require.Empty(t, p.busyConns())
	}
}
