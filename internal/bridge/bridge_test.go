package bridge_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/pgxperf/pgxperf/internal/bridge"
	_ "github.com/pgxperf/pgxperf/n1detect" // each sets its variables in init
	_ "github.com/pgxperf/pgxperf/querycache"
	_ "github.com/pgxperf/pgxperf/replica"
	_ "github.com/pgxperf/pgxperf/tracer"
)

// Every variable of the bridge is set once the public packages are
// initialised: a nil one would panic in the first call that needs it.
// A variable added to the bridge must be added here.
func TestBridgeIsWired(t *testing.T) {
	for name, set := range map[string]bool{
		"N1detectFindings":       bridge.N1detectFindings != nil,
		"QueryCacheForgetConn":   bridge.QueryCacheForgetConn != nil,
		"QueryCacheInvalidator":  bridge.QueryCacheInvalidator != nil,
		"QueryCacheNew":          bridge.QueryCacheNew != nil,
		"QueryCacheQuery":        bridge.QueryCacheQuery != nil,
		"QueryCacheQueryRow":     bridge.QueryCacheQueryRow != nil,
		"QueryCacheSessionConns": bridge.QueryCacheSessionConns != nil,
		"QueryCacheUseCatalog":   bridge.QueryCacheUseCatalog != nil,
		"QueryCacheWants":        bridge.QueryCacheWants != nil,
		"ReplicaPool":            bridge.ReplicaPool != nil,
		"ReplicaPools":           bridge.ReplicaPools != nil,
		"ReplicaReadAhead":       bridge.ReplicaReadAhead != nil,
		"ReplicaRunBatch":        bridge.ReplicaRunBatch != nil,
		"ReplicaRunPrimary":      bridge.ReplicaRunPrimary != nil,
		"ReplicaRunStmt":         bridge.ReplicaRunStmt != nil,
		"ReplicaRunTx":           bridge.ReplicaRunTx != nil,
		"ReplicaWriteWatch":      bridge.ReplicaWriteWatch != nil,
		"TracerFindings":         bridge.TracerFindings != nil,
		"TracerForRole":          bridge.TracerForRole != nil,
		"TracerForgetConn":       bridge.TracerForgetConn != nil,
		"TracerInUse":            bridge.TracerInUse != nil,
		"TracerSlowThreshold":    bridge.TracerSlowThreshold != nil,
	} {
		require.True(t, set, "bridge.%s is never set", name)
	}
}
