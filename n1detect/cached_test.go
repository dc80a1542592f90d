package n1detect_test

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/pgxperf/pgxperf/n1detect"
	"github.com/pgxperf/pgxperf/n1detect/internal/fakecache"
)

// Reads served from a result cache (tracer.Event.Cached) are statements for
// the detector: a loop of them is still one round trip per item, to the
// cache, and they count toward the budgets. A finding says how many were
// served from the cache.
func TestCachedReads(t *testing.T) {
	pool := n1SharedPool(t)
	ctx0 := n1TestCtx(t)
	ps, err := gtProjects(ctx0, pool, gtN)
	require.NoError(t, err)
	// warm reads the owners of the first n projects outside any scope.
	warm := func(c *fakecache.Cache, n int) {
		for _, p := range ps[:n] {
			_, err := c.Text(ctx0, gtUserEmailSQL, p.Owner)
			require.NoError(t, err)
		}
	}
	// owners reads the owner of each project through the cache, from one line.
	owners := func(ctx context.Context, c *fakecache.Cache) error {
		for _, p := range ps {
			if _, err := c.Text(ctx, gtUserEmailSQL, p.Owner); err != nil {
				return err
			}
		}
		return nil
	}

	for _, tc := range []struct {
		name   string
		warmed int // owners in the cache before the loop
		note   string
	}{
		{name: "no cache hit", warmed: 0},
		{name: "half from the cache", warmed: gtN / 2, note: "5 of 10 served from the query cache: each still costs a round trip to the cache"},
		{name: "all from the cache", warmed: gtN, note: "10 of 10 served from the query cache: each still costs a round trip to the cache"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := fakecache.New(pool, pool.Tracer())
			warm(c, tc.warmed)
			ctx, scope := n1detect.Start(ctx0, tc.name, n1detect.Config{})
			require.NoError(t, owners(ctx, c))
			fs := scope.Finish()
			require.Len(t, fs, 1, "%s", gtFindingsText(fs))
			f := fs[0]
			require.Equal(t, n1detect.NPlusOne, f.Kind)
			require.Equal(t, gtN, f.Count)
			require.Equal(t, gtN, scope.Statements(), "cache hits are statements")
			require.Equal(t, "cached_test.go", f.CallSite.File[len(f.CallSite.File)-len("cached_test.go"):], "one call site, cached or not")
			require.Equal(t, tc.warmed, f.Cached)
			var m map[string]any
			require.NoError(t, json.Unmarshal(f.JSON(), &m))
			if tc.note == "" {
				require.NotContains(t, f.String(), "query cache")
				require.NotContains(t, m, "cached")
				return
			}
			require.Contains(t, f.String(), tc.note)
			require.Equal(t, float64(tc.warmed), m["cached"])
		})
	}

	t.Run("redundant reads from the cache", func(t *testing.T) {
		c := fakecache.New(pool, pool.Tracer())
		ctx, scope := n1detect.Start(ctx0, "redundant", n1detect.Config{})
		for range 5 {
			_, err := c.Text(ctx, gtUserEmailSQL, int64(1))
			require.NoError(t, err)
		}
		fs := scope.Finish()
		require.Len(t, fs, 1, "%s", gtFindingsText(fs))
		require.Equal(t, n1detect.Redundant, fs[0].Kind)
		require.Equal(t, 5, fs[0].Count)
		require.Equal(t, 4, fs[0].Cached, "the first read went to the database")
		require.Contains(t, fs[0].String(), "4 of 5 served from the query cache")
	})

	t.Run("budgets count cache hits", func(t *testing.T) {
		c := fakecache.New(pool, pool.Tracer())
		warm(c, gtN)
		ftb := &n1FakeTB{name: "TestCachedBudget"}
		n1detect.Check(ftb, ctx0, func(ctx context.Context) {
			require.NoError(t, owners(ctx, c))
		}, n1detect.MaxStatements(gtN-1), n1detect.MaxCalls(gtUserEmailSQL, 3), n1detect.AllowNPlusOne())
		errs := ftb.errs()
		require.Len(t, errs, 2, "%q", errs)
		require.Contains(t, errs[0]+errs[1], "ran 10 statements, budget is 9")
		require.Contains(t, errs[0]+errs[1], "10 times, budget is 3")
	})

	t.Run("middleware logs the cached count", func(t *testing.T) {
		c := fakecache.New(pool, pool.Tracer())
		warm(c, 3)
		var logs n1LogBuffer
		h := n1detect.Middleware(n1detect.MiddlewareConfig{
			Config: n1detect.Config{Threshold: 2},
			Logger: slog.New(slog.NewJSONHandler(&logs, nil)),
		})(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			require.NoError(t, owners(r.Context(), c))
		}))
		h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/owners", nil))
		recs := logs.records(t)
		require.Len(t, recs, 1, "%s", logs.String())
		require.Equal(t, float64(3), recs[0]["cached"])
		require.Equal(t, float64(gtN), recs[0]["count"])
	})

	t.Run("ForTest fails on a loop served from the cache", func(t *testing.T) {
		c := fakecache.New(pool, pool.Tracer())
		warm(c, gtN)
		ftb := &n1FakeTB{name: "TestCachedLoop"}
		require.NoError(t, owners(n1detect.ForTest(ftb), c))
		ftb.finish()
		errs := ftb.errs()
		require.Len(t, errs, 1, "%q", errs)
		require.Contains(t, errs[0], "10 of 10 served from the query cache")
	})
}
