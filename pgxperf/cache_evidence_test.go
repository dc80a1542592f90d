package pgxperf_test

// Evidence for the query cache's three promises, against the real servers:
// safety under row-level security (and typed arguments that never collide),
// freshness under concurrent writers, and row fidelity of hits. Every test
// prints one "EVIDENCE" line per case (run with -v).

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"os"
	"reflect"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/pgxperf/pgxperf/internal/testenv"
	"github.com/pgxperf/pgxperf/pgxperf"
	"github.com/pgxperf/pgxperf/querycache"
)

// ---- helpers ----

// evRedis returns a Redis client for the test.
func evRedis(t *testing.T) *redis.Client {
	t.Helper()
	rdb := redis.NewClient(&redis.Options{Addr: testenv.RequireRedis(t), ContextTimeoutEnabled: true})
	t.Cleanup(func() { _ = rdb.Close() })
	return rdb
}

// evPrefix returns a key prefix of the test's own and deletes its keys (the
// generation counters have no TTL) when the test ends.
func evPrefix(t *testing.T, rdb *redis.Client) string {
	t.Helper()
	prefix := fmt.Sprintf("pgxperf-ev:%s:%d:", t.Name(), time.Now().UnixNano())
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		iter := rdb.Scan(ctx, 0, prefix+"*", 1000).Iterator()
		var keys []string
		for iter.Next(ctx) {
			keys = append(keys, iter.Val())
		}
		if len(keys) > 0 {
			_ = rdb.Del(ctx, keys...).Err()
		}
	})
	return prefix
}

// evPool opens a pgxperf Pool on dsn with the cache configured by qc (Client
// and Prefix must be set), after applying edit to the pool config.
func evPool(t *testing.T, dsn string, qc querycache.Config, edit ...func(*pgxpool.Config)) *pgxperf.Pool {
	t.Helper()
	cfg, err := pgxpool.ParseConfig(dsn)
	require.NoError(t, err)
	cfg.MaxConns = 4
	for _, e := range edit {
		e(cfg)
	}
	p, err := pgxperf.NewFromConfig(context.Background(), &pgxperf.Config{Pool: cfg, Cache: qc, Tracer: noSlowLog})
	require.NoError(t, err)
	t.Cleanup(p.Close)
	return p
}

// plainPool opens a pgxpool (no cache at all) on dsn: the reference.
func plainPool(t *testing.T, dsn string, edit ...func(*pgxpool.Config)) *pgxpool.Pool {
	t.Helper()
	cfg, err := pgxpool.ParseConfig(dsn)
	require.NoError(t, err)
	cfg.MaxConns = 4
	for _, e := range edit {
		e(cfg)
	}
	p, err := pgxpool.NewWithConfig(context.Background(), cfg)
	require.NoError(t, err)
	t.Cleanup(p.Close)
	return p
}

// totals sums a cache's per-statement counts.
type totals struct{ hits, l1Hits, misses, stores, bypasses, stale, coalesced int64 }

func cacheTotals(p *pgxperf.Pool) totals {
	var s totals
	for _, st := range p.Cache().Stats().Statements {
		s.hits += st.Hits
		s.l1Hits += st.L1Hits
		s.misses += st.Misses
		s.stores += st.Stores
		s.bypasses += st.Bypasses
		s.stale += st.Stale
		s.coalesced += st.Coalesced
	}
	return s
}

// evRoles creates n LOGIN roles of unique names (no superuser, no BYPASSRLS)
// and drops them when the test ends. Call it before NewDatabase, so that the
// scratch database (and the privileges granted in it) is dropped first.
func evRoles(t *testing.T, n int) []string {
	t.Helper()
	primary := testenv.RequirePrimary(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, primary)
	require.NoError(t, err)
	defer conn.Close(ctx)
	base := fmt.Sprintf("pgxperf_ev_%d_%d", os.Getpid(), time.Now().UnixNano()%1_000_000_000)
	var names []string
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		c, err := pgx.Connect(ctx, primary)
		if err != nil {
			t.Errorf("dropping roles: %v", err)
			return
		}
		defer c.Close(ctx)
		for _, r := range names {
			if _, err := c.Exec(ctx, "DROP ROLE IF EXISTS "+pgx.Identifier{r}.Sanitize()); err != nil {
				t.Errorf("dropping role %s: %v", r, err)
			}
		}
	})
	for i := range n {
		r := fmt.Sprintf("%s_%c", base, 'a'+i)
		_, err := conn.Exec(ctx, "CREATE ROLE "+pgx.Identifier{r}.Sanitize()+" LOGIN NOSUPERUSER NOBYPASSRLS")
		require.NoError(t, err)
		names = append(names, r)
	}
	return names
}

func asRole(role string, params map[string]string) func(*pgxpool.Config) {
	return func(cfg *pgxpool.Config) {
		cfg.ConnConfig.User = role
		for k, v := range params {
			cfg.ConnConfig.RuntimeParams[k] = v
		}
	}
}

// ---- 1. safety under row-level security ----

type rlsDoc struct {
	ID       int32  `db:"id"`
	TenantID int32  `db:"tenant_id"`
	Body     string `db:"body"`
}

const rlsDocs = 30 // rows per table: tenant of row g is 1 + g % 3

// rlsExpected returns the rows of a tenant in the RLS tables.
func rlsExpected(tenant int32) []rlsDoc {
	out := []rlsDoc{} // pgx.CollectRows returns an empty slice, not nil
	for g := int32(1); g <= rlsDocs; g++ {
		if 1+g%3 == tenant {
			out = append(out, rlsDoc{ID: g, TenantID: tenant, Body: fmt.Sprintf("doc-%d-of-tenant-%d", g, tenant)})
		}
	}
	return out
}

// rlsSetup is the SQL of the RLS test database. app owns the RLS tables
// (FORCE: the owner is subject to the policies); a and b are plain readers.
func rlsSetup(app, a, b string) []testenv.Option {
	q := func(r string) string { return pgx.Identifier{r}.Sanitize() }
	table := func(name string) string {
		return fmt.Sprintf(`CREATE TABLE %[1]s (id int PRIMARY KEY, tenant_id int NOT NULL, body text NOT NULL);
INSERT INTO %[1]s SELECT g, 1 + g %% 3, 'doc-' || g || '-of-tenant-' || (1 + g %% 3) FROM generate_series(1, %[2]d) g;
ALTER TABLE %[1]s ENABLE ROW LEVEL SECURITY;
ALTER TABLE %[1]s FORCE ROW LEVEL SECURITY;
ALTER TABLE %[1]s OWNER TO %[3]s;
GRANT SELECT ON %[1]s TO %[4]s, %[5]s;`, name, rlsDocs, q(app), q(a), q(b))
	}
	return []testenv.Option{
		testenv.WithSQL(table("tenant_docs")),
		testenv.WithSQL(`CREATE POLICY tenant_isolation ON tenant_docs USING (tenant_id = current_setting('app.tenant_id')::int)`),
		// Per-role policies: the role alone decides the rows.
		testenv.WithSQL(table("role_docs")),
		testenv.WithSQL(fmt.Sprintf(`CREATE POLICY a_rows ON role_docs TO %s USING (tenant_id = 1);
CREATE POLICY b_rows ON role_docs TO %s USING (tenant_id = 2);`, q(a), q(b))),
		// A policy that reads the setting through a function, where the
		// catalog's text of the policy does not show it.
		testenv.WithSQL(table("fn_docs")),
		testenv.WithSQL(`CREATE FUNCTION current_tenant() RETURNS int LANGUAGE sql STABLE AS $$ SELECT current_setting('app.tenant_id')::int $$;
CREATE POLICY fn_isolation ON fn_docs USING (tenant_id = current_tenant())`),
		// A policy whose subquery reads another table: memberships.
		testenv.WithSQL(table("member_docs")),
		testenv.WithSQL(fmt.Sprintf(`CREATE TABLE memberships (member name NOT NULL, tenant_id int NOT NULL);
INSERT INTO memberships VALUES (%[1]s, 1), (%[1]s, 2);
GRANT SELECT, DELETE ON memberships TO %[2]s;
CREATE POLICY member_rows ON member_docs USING (tenant_id IN (SELECT m.tenant_id FROM memberships m WHERE m.member = current_user))`,
			"'"+a+"'", q(a))),
	}
}

type tenantKey struct{}

// tenantHook is a PrepareConn hook that applies the request's tenant to the
// connection it is given.
func tenantHook(ctx context.Context, conn *pgx.Conn) (bool, error) {
	id, _ := ctx.Value(tenantKey{}).(string)
	if _, err := conn.Exec(ctx, "SELECT set_config('app.tenant_id', $1, false)", id); err != nil {
		return false, err
	}
	return true, nil
}

func readDocs(ctx context.Context, p *pgxperf.Pool, table string) ([]rlsDoc, error) {
	rows, err := p.Query(ctx, "SELECT id, tenant_id, body FROM "+table+" WHERE id > $1 ORDER BY id", 0)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, pgx.RowToStructByName[rlsDoc])
}

func stmtStats(p *pgxperf.Pool, sub string) querycache.StatementStats {
	for _, st := range p.Cache().Stats().Statements {
		if containsFold(st.Normalized, sub) {
			return st
		}
	}
	return querycache.StatementStats{}
}

func TestEvidenceRLS(t *testing.T) {
	ctx := testCtx(t)
	roles := evRoles(t, 3)
	app, roleA, roleB := roles[0], roles[1], roles[2]
	dsn := testenv.NewDatabase(t, rlsSetup(app, roleA, roleB)...)
	rdb := evRedis(t)

	// (a) Two pools as two roles, one Redis, one prefix, same SQL and
	// arguments: each sees only its own rows, and both are served hits.
	t.Run("a_two_roles_one_prefix", func(t *testing.T) {
		for _, tc := range []struct {
			name             string
			table            string
			paramsA, paramsB map[string]string
			tenantSettings   []string
		}{
			{"setting per role in RuntimeParams", "tenant_docs",
				map[string]string{"app.tenant_id": "1"}, map[string]string{"app.tenant_id": "2"}, []string{"app.tenant_id"}},
			{"per-role policies, identical session settings", "role_docs",
				map[string]string{"app.tenant_id": "1"}, map[string]string{"app.tenant_id": "1"}, []string{"app.tenant_id"}},
			{"per-role policies, no settings", "role_docs", nil, nil, nil},
		} {
			t.Run(tc.name, func(t *testing.T) {
				prefix := evPrefix(t, rdb)
				qc := querycache.Config{Client: rdb, Prefix: prefix, TenantSettings: tc.tenantSettings}
				pa := evPool(t, dsn, qc, asRole(roleA, tc.paramsA))
				pb := evPool(t, dsn, qc, asRole(roleB, tc.paramsB))
				cctx := querycache.WithTTL(ctx, time.Minute)
				wantA, wantB := rlsExpected(1), rlsExpected(2)
				const rounds = 6
				for i := range rounds {
					first, second := pa, pb
					if i%2 == 1 {
						first, second = pb, pa
					}
					for _, p := range []*pgxperf.Pool{first, second} {
						got, err := readDocs(cctx, p, tc.table)
						require.NoError(t, err)
						if p == pa {
							require.Equal(t, wantA, got, "pool of role A, round %d", i)
						} else {
							require.Equal(t, wantB, got, "pool of role B, round %d", i)
						}
					}
				}
				ta, tb := cacheTotals(pa), cacheTotals(pb)
				require.Equal(t, int64(rounds-1), ta.hits, "role A: %+v", ta)
				require.Equal(t, int64(rounds-1), tb.hits, "role B: %+v", tb)
				require.Equal(t, int64(1), ta.stores)
				require.Equal(t, int64(1), tb.stores)
				t.Logf("EVIDENCE rls/a %q table=%s: %d rounds; role A: %d rows (tenant 1 only) hits=%d misses=%d; role B: %d rows (tenant 2 only) hits=%d misses=%d; cross-role rows seen=0",
					tc.name, tc.table, rounds, len(wantA), ta.hits, ta.misses, len(wantB), tb.hits, tb.misses)
			})
		}
	})

	// (b) One pool whose connections take the tenant from the request
	// (PrepareConn), the tenant declared with WithSettings: hundreds of
	// interleaved, concurrent reads, each checked against its tenant's rows.
	t.Run("b_prepareconn_tenant_per_request", func(t *testing.T) {
		prefix := evPrefix(t, rdb)
		p := evPool(t, dsn, querycache.Config{Client: rdb, Prefix: prefix, TenantSettings: []string{"app.tenant_id"}},
			asRole(app, nil), func(cfg *pgxpool.Config) { cfg.PrepareConn = tenantHook })
		want := map[string][]rlsDoc{"1": rlsExpected(1), "2": rlsExpected(2), "3": rlsExpected(3), "4": rlsExpected(4)}
		tenants := []string{"1", "2", "3", "4"}
		const workers, perWorker = 8, 60
		var reads, wrong atomic.Int64
		var firstWrong atomic.Pointer[string]
		var wg sync.WaitGroup
		errs := make(chan error, workers)
		for w := range workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				r := rand.New(rand.NewPCG(uint64(w), 42))
				for i := range perWorker {
					id := tenants[r.IntN(len(tenants))]
					rctx := querycache.WithSettings(querycache.WithTTL(context.WithValue(ctx, tenantKey{}, id), time.Minute),
						"app.tenant_id", id)
					if i%3 == 2 {
						var n int64
						if err := p.QueryRow(rctx, "SELECT count(*) FROM tenant_docs WHERE id > $1", 0).Scan(&n); err != nil {
							errs <- err
							return
						}
						reads.Add(1)
						if n != int64(len(want[id])) {
							wrong.Add(1)
							msg := fmt.Sprintf("tenant %s counted %d rows, want %d", id, n, len(want[id]))
							firstWrong.CompareAndSwap(nil, &msg)
						}
						continue
					}
					got, err := readDocs(rctx, p, "tenant_docs")
					if err != nil {
						errs <- err
						return
					}
					reads.Add(1)
					if !reflect.DeepEqual(got, want[id]) {
						wrong.Add(1)
						msg := fmt.Sprintf("tenant %s got %v, want %v", id, got, want[id])
						firstWrong.CompareAndSwap(nil, &msg)
					}
				}
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			require.NoError(t, err)
		}
		tot := cacheTotals(p)
		if m := firstWrong.Load(); m != nil {
			t.Errorf("first wrong result: %s", *m)
		}
		require.Zero(t, wrong.Load())
		require.Equal(t, int64(workers*perWorker), reads.Load())
		require.Greater(t, tot.hits, int64(workers*perWorker/2), "%+v", tot)
		t.Logf("EVIDENCE rls/b PrepareConn+WithSettings: %d interleaved reads over %d tenants by %d goroutines; hits=%d misses=%d stores=%d; wrong-tenant results=%d",
			reads.Load(), len(tenants), workers, tot.hits, tot.misses, tot.stores, wrong.Load())
	})

	// (c) Statements the cache must refuse on RLS tables.
	t.Run("c_refusals", func(t *testing.T) {
		for _, tc := range []struct {
			name           string
			table          string
			tenantSettings []string
			declare        bool   // WithSettings on the request
			why            string // in LastBypass
		}{
			{"setting not declared on the request", "tenant_docs", []string{"app.tenant_id"}, false, "setting app.tenant_id has no known value"},
			{"setting read by the policy not in TenantSettings", "tenant_docs", nil, true, "reads setting app.tenant_id, which is not in TenantSettings"},
			{"TenantSettings lists another setting", "tenant_docs", []string{"app.region"}, true, "reads setting app.tenant_id, which is not in TenantSettings"},
			{"policy reads the setting through a STABLE function", "fn_docs", nil, false, "row-level security policy on fn_docs calls current_tenant"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				prefix := evPrefix(t, rdb)
				p := evPool(t, dsn, querycache.Config{Client: rdb, Prefix: prefix, TenantSettings: tc.tenantSettings},
					asRole(app, nil), func(cfg *pgxpool.Config) { cfg.PrepareConn = tenantHook })
				for i, id := range []string{"1", "2", "1", "2"} {
					rctx := querycache.WithTTL(context.WithValue(ctx, tenantKey{}, id), time.Minute)
					if tc.declare {
						rctx = querycache.WithSettings(rctx, "app.tenant_id", id)
					}
					got, err := readDocs(rctx, p, tc.table)
					require.NoError(t, err)
					want := rlsExpected(int32(id[0] - '0'))
					require.Equal(t, want, got, "call %d as tenant %s", i, id)
				}
				st := stmtStats(p, "FROM "+tc.table)
				require.Zero(t, st.Hits, "%+v", st)
				require.Zero(t, st.Stores, "%+v", st)
				require.Equal(t, int64(4), st.Bypasses, "%+v", st)
				require.Contains(t, st.LastBypass, tc.why)
				t.Logf("EVIDENCE rls/c %q: 4 calls, hits=%d stores=%d bypasses=%d, LastBypass=%q",
					tc.name, st.Hits, st.Stores, st.Bypasses, st.LastBypass)
			})
		}
	})

	// (c, continued) A policy whose subquery reads another table: revoking a
	// membership must not leave the member served the rows it no longer sees.
	t.Run("c_policy_subquery_table_invalidates", func(t *testing.T) {
		prefix := evPrefix(t, rdb)
		p := evPool(t, dsn, querycache.Config{Client: rdb, Prefix: prefix}, asRole(roleA, nil))
		cctx := querycache.WithTTL(ctx, time.Minute)
		all := append(rlsExpected(1), rlsExpected(2)...)
		sortDocs(all)
		for range 2 {
			got, err := readDocs(cctx, p, "member_docs")
			require.NoError(t, err)
			require.Equal(t, all, got)
		}
		before := stmtStats(p, "FROM member_docs")
		_, err := p.Exec(ctx, "DELETE FROM memberships WHERE tenant_id = 2")
		require.NoError(t, err)
		got, err := readDocs(cctx, p, "member_docs")
		require.NoError(t, err)
		after := stmtStats(p, "FROM member_docs")
		require.Equal(t, rlsExpected(1), got)
		t.Logf("EVIDENCE rls/c policy subquery: before revoke hits=%d, after revoke %d rows (tenant 1 only), hits=%d misses=%d",
			before.Hits, len(got), after.Hits, after.Misses)
	})
}

func sortDocs(d []rlsDoc) {
	for i := 1; i < len(d); i++ {
		for j := i; j > 0 && d[j].ID < d[j-1].ID; j-- {
			d[j], d[j-1] = d[j-1], d[j]
		}
	}
}

// ---- 1, continued. typed arguments never collide ----

func TestEvidenceTypedArgsNeverCollide(t *testing.T) {
	ctx := testCtx(t)
	dsn := testenv.NewDatabase(t)
	rdb := evRedis(t)
	ref := plainPool(t, dsn)
	for _, tc := range []struct {
		name   string
		sql    string
		simple bool // pgx.QueryExecModeSimpleProtocol: pgx cannot encode an int for a text parameter otherwise
		a, b   any
	}{
		{"int 1 vs string \"1\"", "SELECT $1::text AS v", true, 1, "1"},
		{"nil vs empty string", "SELECT $1::text AS v", false, nil, ""},
		{"[a b] vs [ab]", "SELECT $1::text[] AS v", false, []string{"a", "b"}, []string{"ab"}},
		{"int64(1) vs float64(1)", "SELECT $1::text AS v", true, int64(1), float64(1)},
		{"int64(1) vs float64(1), numeric", "SELECT $1::numeric AS v", false, int64(1), float64(1)},
		{"[]byte(nil) vs []byte{}", "SELECT $1::bytea AS v", false, []byte(nil), []byte{}},
		{"[]string(nil) vs []string{}", "SELECT $1::text[] AS v", false, []string(nil), []string{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := evPool(t, dsn, querycache.Config{Client: rdb, Prefix: evPrefix(t, rdb)})
			cctx := querycache.WithTTL(ctx, time.Minute)
			values := func(q interface {
				Query(context.Context, string, ...any) (pgx.Rows, error)
			}, c context.Context, arg any) [][]any {
				args := []any{arg}
				if tc.simple {
					args = []any{pgx.QueryExecModeSimpleProtocol, arg}
				}
				rows, err := q.Query(c, tc.sql, args...)
				require.NoError(t, err)
				defer rows.Close()
				var out [][]any
				for rows.Next() {
					v, err := rows.Values()
					require.NoError(t, err)
					out = append(out, v)
				}
				require.NoError(t, rows.Err())
				return out
			}
			var line []string
			for _, step := range []struct {
				arg     any
				label   string
				wantHit bool
			}{{tc.a, "a", false}, {tc.a, "a", true}, {tc.b, "b", false}, {tc.b, "b", true}} {
				before := cacheTotals(p)
				got := values(p, cctx, step.arg)
				after := cacheTotals(p)
				want := values(ref, ctx, step.arg)
				require.Equal(t, want, got, "%s (%#v)", step.label, step.arg)
				hit := after.hits == before.hits+1
				require.Equal(t, step.wantHit, hit, "%s (%#v): hit=%v, %+v → %+v", step.label, step.arg, hit, before, after)
				kind := "miss"
				if hit {
					kind = "hit"
				}
				line = append(line, fmt.Sprintf("%s=%#v→%v(%s)", step.label, step.arg, got[0][0], kind))
			}
			tot := cacheTotals(p)
			require.Equal(t, int64(2), tot.stores, "two entries, one per argument")
			t.Logf("EVIDENCE typed-args %q %s: %s; stores=%d hits=%d", tc.name, tc.sql, strings.Join(line, ", "), tot.stores, tot.hits)
		})
	}
}

var _ = netip.Addr{}
var _ = pgtype.Numeric{}

// ---- 2. freshness under concurrent writers ----

// The freshness run lasts freshnessDuration, or freshnessShortDuration under
// -short.
const (
	freshnessDuration      = 10 * time.Second
	freshnessShortDuration = 2 * time.Second
)

func btoi(b bool) int64 {
	if b {
		return 1
	}
	return 0
}

func TestEvidenceFreshness(t *testing.T) {
	ctx := testCtx(t)
	run := freshnessDuration
	if testing.Short() {
		run = freshnessShortDuration
	}
	dsn := testenv.NewDatabase(t, testenv.WithSQL(`CREATE TABLE counters (id int PRIMARY KEY, v bigint NOT NULL);
INSERT INTO counters VALUES (1, 0)`))
	rdb := evRedis(t)
	for _, tc := range []struct {
		name     string
		l1       bool
		twoPools bool // writes through one Pool, reads through another
	}{
		{"one Pool, L1 off", false, false},
		{"one Pool, L1 on", true, false},
		{"two Pools sharing Redis, L1 off", false, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := plainPool(t, dsn).Exec(ctx, "UPDATE counters SET v = 0 WHERE id = 1")
			require.NoError(t, err)
			// A generous Redis timeout: on a loaded machine a timed-out INCR leaves
			// other instances reading the old generation until it is retried,
			// which is not what this test is about (the evidence line counts them).
			qc := querycache.Config{Client: rdb, Prefix: evPrefix(t, rdb), L1: querycache.L1Config{Enabled: tc.l1}, Timeout: 2 * time.Second}
			writer := evPool(t, dsn, qc, func(c *pgxpool.Config) { c.MaxConns = 8 })
			reader := writer
			if tc.twoPools {
				reader = evPool(t, dsn, qc, func(c *pgxpool.Config) { c.MaxConns = 8 })
			}
			if tc.l1 {
				require.Eventually(t, func() bool { return reader.Cache().Stats().L1Live }, 5*time.Second, 10*time.Millisecond)
			}
			const readers = 4
			const incr = "UPDATE counters SET v = v + 1 WHERE id = $1 RETURNING v"
			var committed atomic.Int64 // the last value whose commit returned
			var reads, stale, writes, txWrites atomic.Int64
			var firstStale atomic.Pointer[string]
			deadline := time.Now().Add(run)
			errs := make(chan error, readers+1)
			var wg sync.WaitGroup
			wg.Add(1)
			go func() { // the writer
				defer wg.Done()
				for i := 0; time.Now().Before(deadline); i++ {
					var v int64
					if i%2 == 0 {
						if err := writer.QueryRow(ctx, incr, 1).Scan(&v); err != nil {
							errs <- err
							return
						}
					} else {
						tx, err := writer.Begin(ctx)
						if err == nil {
							err = tx.QueryRow(ctx, incr, 1).Scan(&v)
							if err == nil {
								err = tx.Commit(ctx)
							} else {
								_ = tx.Rollback(ctx)
							}
						}
						if err != nil {
							errs <- err
							return
						}
						txWrites.Add(1)
					}
					committed.Store(v) // one writer: only ever increases
					writes.Add(1)
					time.Sleep(time.Millisecond) // room for hits between writes
				}
			}()
			for r := range readers {
				wg.Add(1)
				go func() {
					defer wg.Done()
					cctx := querycache.WithTTL(ctx, time.Minute)
					for i := 0; time.Now().Before(deadline); i++ {
						before := committed.Load()
						var v int64
						var err error
						if (r+i)%2 == 0 {
							err = reader.QueryRow(cctx, "SELECT v FROM counters WHERE id = $1", 1).Scan(&v)
						} else {
							var rows pgx.Rows
							if rows, err = reader.Query(cctx, "SELECT v FROM counters WHERE id = $1", 1); err == nil {
								v, err = pgx.CollectExactlyOneRow(rows, pgx.RowTo[int64])
							}
						}
						if err != nil {
							errs <- err
							return
						}
						reads.Add(1)
						if v < before {
							stale.Add(1)
							msg := fmt.Sprintf("read %d after the commit of %d had returned", v, before)
							firstStale.CompareAndSwap(nil, &msg)
						}
						runtime.Gosched() // hits take no I/O: let the writer run on a small machine
					}
				}()
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				require.NoError(t, err)
			}
			st := stmtStats(reader, "FROM counters WHERE")
			first := ""
			if m := firstStale.Load(); m != nil {
				first = "; first stale: " + *m
			}
			t.Logf("EVIDENCE freshness %q for %v: writes=%d (%d in transactions) reads=%d hits=%d (L1 %d) misses=%d coalesced=%d bypasses=%d stale-entries-skipped=%d redis-errors=%d STALE RESULTS=%d%s",
				tc.name, run, writes.Load(), txWrites.Load(), reads.Load(), st.Hits, st.L1Hits, st.Misses, st.Coalesced, st.Bypasses, st.Stale,
				writer.Cache().Stats().RedisErrors+reader.Cache().Stats().RedisErrors*btoi(reader != writer), stale.Load(), first)
			require.Greater(t, writes.Load(), int64(run/(50*time.Millisecond)), "the writer kept writing")
			require.Greater(t, st.Hits, reads.Load()/10, "a meaningful share of hits: %+v", st)
			if tc.l1 {
				require.Positive(t, st.L1Hits)
			} else {
				require.Zero(t, st.L1Hits)
			}
			require.Zero(t, stale.Load(), "stale results%s", first)
		})
	}
}

// ---- 3. row fidelity ----

const fidelitySetup = `CREATE TYPE mood AS ENUM ('sad', 'ok', 'happy');
CREATE TABLE fidelity (
	id      int PRIMARY KEY,
	ints    int[],
	texts   text[],
	moods   mood[],
	doc     jsonb,
	raw     json,
	big     numeric,
	at      timestamptz,
	local   timestamp,
	day     date,
	span    interval,
	uid     uuid,
	blob    bytea,
	addr    inet,
	feeling mood,
	small   smallint,
	big8    bigint,
	f8      double precision,
	f4      real,
	flag    boolean,
	name    varchar(20),
	ch      char(3),
	note    text
);
INSERT INTO fidelity VALUES
	(1, '{1,2,3}', '{a,"b c","d,e"}', '{sad,happy}', '{"k": [1, 2.5, "x", null, true], "n": {"deep": "v"}}', '{"b":1, "a":2}',
	 123456789012345678901234567890.123456789012345678901234567890, '2024-02-29 12:34:56.789012+05:30', '2024-02-29 12:34:56.789012',
	 '2024-02-29', '1 year 2 mons 3 days 04:05:06.789', 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', '\xdeadbeef00', '192.168.0.1/24',
	 'ok', -32768, 9223372036854775807, 3.141592653589793, 1.5, true, 'héllo wörld', 'ab', 'first'),
	(2, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL),
	(3, '{}', '{NULL,""}', '{}', '[]', 'null', 'NaN', 'infinity', '-infinity', 'infinity', '-1 days -00:00:01', '00000000-0000-0000-0000-000000000000',
	 '\x', '2001:db8::1', 'happy', 0, -9223372036854775808, -0.0, 0, false, '', '   ', ''),
	(4, '{-2147483648,2147483647}', ARRAY['"quoted"', E'new\nline', 'back\slash'], '{ok}', '{"emoji": "✓"}', '{}', -0.000000000000000000001,
	 '1970-01-01 00:00:00+00', '0001-01-01 00:00:00', '0001-01-01', '0', 'ffffffff-ffff-ffff-ffff-ffffffffffff', '\x00', '::1/128',
	 'sad', 1, 1, 1e308, 3.4e38, true, 'x', 'xyz', 'last')`

// fidelityRow is a typed row of fidelity for pgx.RowToStructByName (with the
// enum types not registered: pgx reads them as text).
type fidelityRow struct {
	ID      int32              `db:"id"`
	Ints    []int32            `db:"ints"`
	Texts   []*string          `db:"texts"`
	Moods   *string            `db:"moods"`
	Doc     any                `db:"doc"`
	Raw     *string            `db:"raw"`
	Big     pgtype.Numeric     `db:"big"`
	At      pgtype.Timestamptz `db:"at"`
	Local   pgtype.Timestamp   `db:"local"`
	Day     pgtype.Date        `db:"day"`
	Span    pgtype.Interval    `db:"span"`
	UID     pgtype.UUID        `db:"uid"`
	Blob    []byte             `db:"blob"`
	Addr    *netip.Prefix      `db:"addr"`
	Feeling *string            `db:"feeling"`
	Small   *int16             `db:"small"`
	Big8    *int64             `db:"big8"`
	F8      *float64           `db:"f8"`
	F4      *float32           `db:"f4"`
	Flag    *bool              `db:"flag"`
	Name    *string            `db:"name"`
	Ch      *string            `db:"ch"`
	Note    *string            `db:"note"`
}

// fidelityRowReg is fidelityRow with the enum types registered.
type fidelityRowReg struct {
	fidelityRow
	Moods []string `db:"moods"`
}

type userRow struct {
	ID            int64          `db:"id"`
	ExternalID    [16]byte       `db:"external_id"`
	Email         string         `db:"email"`
	DisplayName   string         `db:"display_name"`
	Role          string         `db:"role"`
	IsActive      bool           `db:"is_active"`
	Settings      map[string]any `db:"settings"`
	Interests     []string       `db:"interests"`
	CreditBalance pgtype.Numeric `db:"credit_balance"`
	CreatedAt     time.Time      `db:"created_at"`
	LastLoginAt   *time.Time     `db:"last_login_at"`
}

type contentRow struct {
	ID          int64           `db:"id"`
	ExternalID  pgtype.UUID     `db:"external_id"`
	ProjectID   int64           `db:"project_id"`
	AuthorID    int64           `db:"author_id"`
	Title       string          `db:"title"`
	Body        string          `db:"body"`
	Language    string          `db:"language"`
	Status      string          `db:"status"`
	Tags        []string        `db:"tags"`
	Metadata    map[string]any  `db:"metadata"`
	WordCount   int32           `db:"word_count"`
	ReadingTime pgtype.Interval `db:"reading_time"`
	Score       *float64        `db:"score"`
	ContentHash []byte          `db:"content_hash"`
	CreatedAt   time.Time       `db:"created_at"`
	UpdatedAt   time.Time       `db:"updated_at"`
	PublishedAt *time.Time      `db:"published_at"`
}

type sessionRow struct {
	ID         [16]byte       `db:"id"`
	UserID     int64          `db:"user_id"`
	TokenHash  []byte         `db:"token_hash"`
	IPAddress  *netip.Prefix  `db:"ip_address"`
	UserAgent  *string        `db:"user_agent"`
	Data       map[string]any `db:"data"`
	Revoked    bool           `db:"revoked"`
	CreatedAt  time.Time      `db:"created_at"`
	LastSeenAt *time.Time     `db:"last_seen_at"`
	ExpiresAt  time.Time      `db:"expires_at"`
}

type querier interface {
	Query(context.Context, string, ...any) (pgx.Rows, error)
	QueryRow(context.Context, string, ...any) pgx.Row
}

// outcome is what one way of reading a result gave: its values or its error.
type outcome struct {
	Values any
	Err    string
}

func outcomeOf(v any, err error) outcome {
	if err != nil {
		return outcome{Err: err.Error()}
	}
	return outcome{Values: v}
}

// fidelityQuery is one statement and the ways its result is read.
type fidelityQuery struct {
	name    string
	sql     string
	arg     any
	struct_ func(pgx.Rows) (any, error) // pgx.CollectRows with pgx.RowToStructByName (or RowToMap)
}

func collectStruct[T any](rows pgx.Rows) (any, error) {
	return pgx.CollectRows(rows, pgx.RowToStructByName[T])
}

func collectMap(rows pgx.Rows) (any, error) { return pgx.CollectRows(rows, pgx.RowToMap) }

// readers returns the four ways of reading q, in order: Values, Scan into
// typed values (the types are those of the reference's Values, behind a
// pointer for NULLs), the struct/map collector, and QueryRow().Scan.
func fidelityReaders(q fidelityQuery, scanTypes []reflect.Type) []struct {
	name string
	read func(context.Context, querier) outcome
} {
	newDests := func() []any {
		d := make([]any, len(scanTypes))
		for i, t := range scanTypes {
			d[i] = reflect.New(reflect.PointerTo(t)).Interface() // **T: NULL leaves nil
		}
		return d
	}
	derefs := func(d []any) []any {
		out := make([]any, len(d))
		for i, p := range d {
			if pv := reflect.ValueOf(p).Elem(); !pv.IsNil() {
				out[i] = pv.Elem().Interface()
			}
		}
		return out
	}
	return []struct {
		name string
		read func(context.Context, querier) outcome
	}{
		{"Values", func(ctx context.Context, db querier) outcome {
			rows, err := db.Query(ctx, q.sql, q.arg)
			if err != nil {
				return outcomeOf(nil, err)
			}
			defer rows.Close()
			var all [][]any
			for rows.Next() {
				v, err := rows.Values()
				if err != nil {
					return outcomeOf(nil, err)
				}
				all = append(all, v)
			}
			return outcomeOf(all, rows.Err())
		}},
		{"Scan", func(ctx context.Context, db querier) outcome {
			rows, err := db.Query(ctx, q.sql, q.arg)
			if err != nil {
				return outcomeOf(nil, err)
			}
			defer rows.Close()
			var all [][]any
			for rows.Next() {
				d := newDests()
				if err := rows.Scan(d...); err != nil {
					return outcomeOf(nil, err)
				}
				all = append(all, derefs(d))
			}
			return outcomeOf(all, rows.Err())
		}},
		{"CollectRows", func(ctx context.Context, db querier) outcome {
			rows, err := db.Query(ctx, q.sql, q.arg)
			if err != nil {
				return outcomeOf(nil, err)
			}
			return outcomeOf(q.struct_(rows))
		}},
		{"QueryRow.Scan", func(ctx context.Context, db querier) outcome {
			d := newDests()
			err := db.QueryRow(ctx, q.sql, q.arg).Scan(d...)
			return outcomeOf(derefs(d), err)
		}},
	}
}

// scanTypesOf returns, per column, the Go type of its non-NULL values (any
// when they differ).
func scanTypesOf(t *testing.T, ctx context.Context, db querier, q fidelityQuery) []reflect.Type {
	t.Helper()
	rows, err := db.Query(ctx, q.sql, q.arg)
	require.NoError(t, err)
	defer rows.Close()
	types := make([]reflect.Type, len(rows.FieldDescriptions()))
	anyType := reflect.TypeFor[any]()
	for rows.Next() {
		v, err := rows.Values()
		require.NoError(t, err)
		for i, x := range v {
			switch {
			case x == nil:
			case types[i] == nil:
				types[i] = reflect.TypeOf(x)
			case types[i] != reflect.TypeOf(x):
				types[i] = anyType // json of several shapes
			}
		}
	}
	require.NoError(t, rows.Err())
	for i := range types {
		if types[i] == nil {
			types[i] = reflect.TypeFor[any]()
		}
	}
	return types
}

var enumTypes = []string{"content_status", "_content_status", "publication_status", "_publication_status",
	"platform_type", "_platform_type", "mood", "_mood"}

// registerEnums is an AfterConnect hook that registers the schema's enums
// and their arrays on every connection.
func registerEnums(ctx context.Context, conn *pgx.Conn) error {
	types, err := conn.LoadTypes(ctx, enumTypes)
	if err != nil {
		return err
	}
	conn.TypeMap().RegisterTypes(types)
	return nil
}

func withEnums(cfg *pgxpool.Config) { cfg.AfterConnect = registerEnums }

func TestEvidenceRowFidelity(t *testing.T) {
	ctx := testCtx(t)
	dsn := testenv.NewDatabase(t, testenv.WithSeed(), testenv.WithSQL(fidelitySetup))
	rdb := evRedis(t)
	queries := func(registered bool) []fidelityQuery {
		fid := collectStruct[fidelityRow]
		if registered {
			fid = collectStruct[fidelityRowReg]
		}
		return []fidelityQuery{
			{"fidelity", "SELECT * FROM fidelity WHERE id <= $1 ORDER BY id", 100, fid},
			{"users", "SELECT * FROM users WHERE id <= $1 ORDER BY id", 25, collectStruct[userRow]},
			{"projects", "SELECT * FROM projects WHERE id <= $1 ORDER BY id", 25, collectMap},
			{"content", "SELECT * FROM content WHERE id <= $1 ORDER BY id", 25, collectStruct[contentRow]},
			{"publications", "SELECT * FROM publications WHERE id <= $1 ORDER BY id", 25, collectMap},
			{"platform_metrics", "SELECT * FROM platform_metrics WHERE id <= $1 ORDER BY id", 25, collectMap},
			{"sessions", "SELECT * FROM sessions ORDER BY id LIMIT $1", 25, collectStruct[sessionRow]},
		}
	}

	// check reads q every way through p (whose cache must serve a hit each
	// time unless firstMiss) and compares with the reference.
	type tally struct{ hits, misses int }
	check := func(t *testing.T, label string, p *pgxperf.Pool, ref querier, q fidelityQuery, types []reflect.Type, firstMiss bool) tally {
		t.Helper()
		cctx := querycache.WithTTL(ctx, time.Hour)
		var n tally
		for i, r := range fidelityReaders(q, types) {
			want := r.read(ctx, ref)
			require.Empty(t, want.Err, "%s %s: the reference failed", q.name, r.name)
			before := cacheTotals(p)
			got := r.read(cctx, p)
			after := cacheTotals(p)
			switch {
			case after.hits == before.hits+1:
				n.hits++
			case after.misses == before.misses+1:
				n.misses++
				require.True(t, i == 0 && firstMiss, "%s: %s %s was a miss, want a hit: %+v → %+v", label, q.name, r.name, before, after)
			default:
				t.Fatalf("%s: %s %s neither hit nor missed: %+v → %+v", label, q.name, r.name, before, after)
			}
			require.Equal(t, want, got, "%s: %s via %s differs from the database", label, q.name, r.name)
		}
		require.Zero(t, cacheTotals(p).l1Hits, "hits are served from Redis")
		return n
	}

	for _, tc := range []struct {
		name       string
		registered bool
	}{{"enums unregistered", false}, {"enums registered with AfterConnect+LoadTypes", true}} {
		t.Run(tc.name, func(t *testing.T) {
			var edit []func(*pgxpool.Config)
			if tc.registered {
				edit = append(edit, withEnums)
			}
			ref := plainPool(t, dsn, edit...)
			prefix := evPrefix(t, rdb)
			qc := querycache.Config{Client: rdb, Prefix: prefix}
			first := evPool(t, dsn, qc, edit...)
			second := evPool(t, dsn, qc, edit...) // another instance: nothing learned yet
			for _, q := range queries(tc.registered) {
				types := scanTypesOf(t, ctx, ref, q)
				// Fill with a Values read (a miss), then every way is a hit.
				a := check(t, "filling pool", first, ref, q, types, true)
				require.Equal(t, tally{hits: 3, misses: 1}, a)
				a2 := check(t, "filling pool again", first, ref, q, types, false)
				require.Equal(t, tally{hits: 4}, a2)
				// A Pool that has not learned the enums' OIDs serves its first
				// read of a result with user types as a miss (which teaches it);
				// results of built-in types only are hits at once.
				b := check(t, "other pool", second, ref, q, types, true)
				t.Logf("EVIDENCE fidelity %s %q (%d cols: %s): 4 ways (Values, Scan, %s, QueryRow.Scan) identical to the database; filling pool hits=%d misses=%d then hits=%d; other Pool instance hits=%d misses=%d",
					tc.name, q.name, len(types), typeNames(types), collectorName(q), a.hits, a.misses, a2.hits, b.hits, b.misses)
			}
		})
	}

	// Empty, non-NULL values at the start of a result (row 3: note = '',
	// name = '', blob = '\x').
	t.Run("empty values first in a result", func(t *testing.T) {
		ref := plainPool(t, dsn)
		p := evPool(t, dsn, querycache.Config{Client: rdb, Prefix: evPrefix(t, rdb)})
		q := fidelityQuery{"fidelity empty", "SELECT note, name, blob, id FROM fidelity WHERE id = $1", 3, collectMap}
		types := scanTypesOf(t, ctx, ref, q)
		cctx := querycache.WithTTL(ctx, time.Hour)
		for i, r := range fidelityReaders(q, types) {
			before := cacheTotals(p)
			want, got := r.read(ctx, ref), r.read(cctx, p)
			require.Equal(t, want, got, "%s", r.name)
			require.Equal(t, i > 0, cacheTotals(p).hits == before.hits+1, "%s: the first read misses, the others hit", r.name)
		}
		t.Logf("EVIDENCE fidelity empty-first (note='', name='', blob='\\x' before any other value): Values, Scan, RowToMap, QueryRow.Scan identical to the database on the miss and 3 hits (hits=%d)", cacheTotals(p).hits)
	})

	// One instance registers the enums, another does not, on one prefix: each
	// must read what its own connections would give it.
	t.Run("mixed registrations share a prefix", func(t *testing.T) {
		refPlain, refEnums := plainPool(t, dsn), plainPool(t, dsn, withEnums)
		qc := querycache.Config{Client: rdb, Prefix: evPrefix(t, rdb)}
		plain := evPool(t, dsn, qc)
		enums := evPool(t, dsn, qc, withEnums)
		qPlain, qEnums := queries(false)[0], queries(true)[0] // fidelity
		tPlain, tEnums := scanTypesOf(t, ctx, refPlain, qPlain), scanTypesOf(t, ctx, refEnums, qEnums)
		// plain fills and learns the OIDs (as unknown); enums has not learned
		// them, misses and stores its own (binary enum arrays); plain then hits it.
		check(t, "plain fills", plain, refPlain, qPlain, tPlain, true)
		check(t, "enums fills", enums, refEnums, qEnums, tEnums, true)
		cctx := querycache.WithTTL(ctx, time.Hour)
		r := fidelityReaders(qPlain, tPlain)[0] // Values
		want := r.read(ctx, refPlain)
		before := cacheTotals(plain)
		got := r.read(cctx, plain)
		after := cacheTotals(plain)
		if !reflect.DeepEqual(want, got) {
			wv, gv := want.Values.([][]any), got.Values.([][]any)
			t.Logf("EVIDENCE fidelity mixed: pool without registered enums, hit=%v on the entry stored by the pool with them: moods = %#v, its own connection gives %#v",
				after.hits > before.hits, gv[0][3], wv[0][3])
			t.Fatal("regression: a hit is replayed in the wire format of the process that filled it: an enum array (ArrayCodec: binary) stored by an instance that registered the enums is replayed as raw binary " +
				"by one that did not (its connections read it as text). querycache/query_lookup.go get only checks c.types.known(fds), not that each column's format is the one this process's type map would ask for")
		}
		require.Equal(t, want, got)
		t.Logf("EVIDENCE fidelity mixed registrations: identical")
	})
}

func typeNames(ts []reflect.Type) string {
	seen := map[string]bool{}
	var out []string
	for _, t := range ts {
		if n := t.String(); !seen[n] {
			seen[n] = true
			out = append(out, n)
		}
	}
	return strings.Join(out, " ")
}

func collectorName(q fidelityQuery) string {
	if reflect.ValueOf(q.struct_).Pointer() == reflect.ValueOf(collectMap).Pointer() {
		return "CollectRows(RowToMap)"
	}
	return "CollectRows(RowToStructByName)"
}
