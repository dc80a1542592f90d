package main

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/pgxperf/pgxperf/internal/testenv"
)

// The demo is the README's main command: it must keep working and keep
// showing what pgxperf sees.
func TestDemo(t *testing.T) {
	if testing.Short() {
		t.Skip("loads the seed data (about 10 s); skipped with -short")
	}
	dsn := testenv.RequirePrimary(t)
	demoDB = fmt.Sprintf("pgxperf_demo_test_%d", os.Getpid())
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()

	var out strings.Builder
	replicaDSN := testenv.RequireReplica(t)
	redisURL := "redis://" + testenv.RequireRedis(t) + "/0"
	require.NoError(t, runDemo(ctx, &out, dsn, replicaDSN, redisURL, false))
	text := out.String()
	for _, want := range []string{
		"== statements by total time ==",
		`msg="slow query"`,           // the deliberately slow query is logged…
		"caller=",                    // …with the application's call site
		"SearchAllContent:",          // sqlc names label statements
		"GetUserByEmail:",            //
		"slow statements (≥ 100ms):", // and reported
		"demo.go:",                   // with its call site
		"statements with errors:",    // the misspelled column is counted
		"42703",                      // by SQLSTATE
		"query cache: ContentStatsByLanguage over", // the cache section:
		"invalidated the content table",            // a write invalidates,
		"not cached: calls function now",           // a volatile read is refused
		"ContentStatsByLanguage:",                  // and the report counts hits
	} {
		require.Contains(t, text, want)
	}
}
