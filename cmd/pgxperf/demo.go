package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/redis/go-redis/v9"

	"github.com/pgxperf/pgxperf/n1detect"
	"github.com/pgxperf/pgxperf/pgxperf"
	"github.com/pgxperf/pgxperf/querycache"
	"github.com/pgxperf/pgxperf/replica"
	"github.com/pgxperf/pgxperf/testdata"
	"github.com/pgxperf/pgxperf/tracer"
)

// demoDB is the scratch database the demo (re)creates; tests use another.
var demoDB = "pgxperf_demo"

// runDemo creates the scratch database, runs the workload through a
// pgxperf.Pool and prints the report.
func runDemo(ctx context.Context, out io.Writer, adminURL, replicaURL, redisURL string, keep bool) error {
	fmt.Fprintln(out, "pgxperf demo: what pgxperf sees of an application's database calls")
	fmt.Fprintln(out)

	start := time.Now()
	dsn, cleanup, err := scratchDatabase(ctx, adminURL)
	if err != nil {
		return err
	}
	if !keep {
		defer cleanup()
	}
	fmt.Fprintf(out, "loaded testdata/schema.sql and seed.sql into database %q in %v\n\n", demoDB, time.Since(start).Round(time.Millisecond))

	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		return err
	}
	cfg.MaxConns = 4
	// Slow-query records go to the terminal, as an application's logs would.
	logger := slog.New(slog.NewTextHandler(&prefixWriter{w: out, prefix: "  log: "}, nil))
	opts := pgxperf.Config{
		Logger: logger,
		Tracer: tracer.Config{SlowThreshold: 100 * time.Millisecond},
	}
	if replicaURL != "" {
		rdsn, err := waitForReplica(ctx, dsn, replicaURL)
		if err != nil {
			fmt.Fprintf(out, "no replica (%v): every read is served by the primary\n\n", err)
		} else {
			opts.ReplicaURLs = []string{rdsn}
			fmt.Fprintf(out, "streaming replica at %s has replayed the database: read-only statements go there\n\n", redact(replicaURL))
		}
	}
	if redisURL != "" {
		if err := pingRedis(ctx, redisURL); err != nil {
			fmt.Fprintf(out, "no Redis (%v): the query cache is off\n\n", err)
		} else {
			opts.RedisURL = redisURL
			// A prefix of this run's own, so that entries of earlier runs
			// (of a database with the same name) are never read.
			opts.Cache.Prefix = fmt.Sprintf("pgxperf-demo:%d:", time.Now().UnixNano())
			opts.Cache.L1.Enabled = true
			fmt.Fprintf(out, "Redis at %s: opted-in reads are cached (in process, then Redis)\n\n", redact(redisURL))
		}
	}
	opts.Pool = cfg
	pool, err := pgxperf.NewFromConfig(ctx, &opts)
	if err != nil {
		return err
	}
	defer pool.Close()

	fmt.Fprintln(out, "running the workload (4 workers; slow-query log below) …")
	wstart := time.Now()
	n, err := workload(ctx, pool)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "ran %d calls in %v\n\n", n, time.Since(wstart).Round(time.Millisecond))
	if pool.Router() != nil {
		if err := readYourWrites(ctx, out, pool); err != nil {
			return err
		}
	}

	if pool.Cache() != nil {
		if err := cacheDemo(ctx, out, pool); err != nil {
			return err
		}
	}

	fmt.Fprintln(out, "== statements by total time ==")
	if err := pool.Report().WriteText(out, 15); err != nil {
		return err
	}
	fmt.Fprintln(out)
	if keep {
		fmt.Fprintf(out, "kept database %q (-keep)\n", demoDB)
	}
	return nil
}

// waitForReplica returns the DSN of the demo database on the replica once
// the replica has replayed its creation and seed (bounded to 60 s).
func waitForReplica(ctx context.Context, primaryDSN, replicaURL string) (string, error) {
	u, err := url.Parse(replicaURL)
	if err != nil {
		return "", err
	}
	u.Path = "/" + demoDB
	rdsn := u.String()
	pc, err := pgx.Connect(ctx, primaryDSN)
	if err != nil {
		return "", err
	}
	defer pc.Close(context.Background())
	var target string
	if err := pc.QueryRow(ctx, "SELECT pg_current_wal_lsn()::text").Scan(&target); err != nil {
		return "", err
	}
	deadline := time.Now().Add(60 * time.Second)
	for {
		cctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		rc, err := pgx.Connect(cctx, rdsn)
		if err == nil {
			var done bool
			err = rc.QueryRow(cctx, "SELECT pg_is_in_recovery() AND pg_last_wal_replay_lsn() >= $1::text::pg_lsn", target).Scan(&done)
			rc.Close(context.Background())
			cancel()
			if err == nil && done {
				return rdsn, nil
			}
			if err == nil {
				err = errors.New("not in recovery, or still replaying")
			}
		} else {
			cancel()
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return "", err
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// readYourWrites shows read-your-writes: by default a read that starts
// after a write through the pool sees it, on any goroutine, with nothing
// carried; a Session's token carries the same across app instances.
func readYourWrites(ctx context.Context, out io.Writer, pool *pgxperf.Pool) error {
	served := func(ctx context.Context) (bool, error) {
		var rec bool
		err := pool.QueryRow(ctx, "SELECT pg_is_in_recovery()").Scan(&rec)
		return rec, err
	}
	where := func(rec bool) string {
		if rec {
			return "the replica (it had already replayed the write)"
		}
		return "the primary (the replica had not replayed the write yet)"
	}
	wrote := time.Now()
	if _, err := pool.Exec(ctx, touchContent, int64(7)); err != nil {
		return err
	}
	type result struct {
		rec bool
		err error
	}
	ch := make(chan result, 1)
	go func() { rec, err := served(ctx); ch <- result{rec, err} }() // another goroutine, nothing carried
	r := <-ch
	if r.err != nil {
		return r.err
	}
	back := "not within 2 s"
	for time.Since(wrote) < 2*time.Second {
		rec, err := served(ctx)
		if err != nil {
			return err
		}
		if rec {
			back = time.Since(wrote).Round(10 * time.Microsecond).String()
			break
		}
		time.Sleep(100 * time.Microsecond)
	}
	fmt.Fprintf(out, "read-your-writes (the default, no session): after an UPDATE, a read on another goroutine ran on %s; reads were back on the replica %s after the write\n", where(r.rec), back)

	sess := replica.NewSession()
	sctx := replica.WithSession(ctx, sess)
	if _, err := pool.Exec(sctx, touchContent, int64(7)); err != nil {
		return err
	}
	rec, err := served(sctx)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "  across app instances: a Session's token (%s) carries the write's position; its next read ran on %s\n\n", sess.Token(), where(rec))
	return nil
}

// projectStats is a dashboard aggregate worth caching: it reads thousands of
// rows to return a handful. The comment hint opts it into the query cache.
const languageStats = `-- name: ContentStatsByLanguage :many
SELECT /* pgxperf:cache ttl=1m */ status, count(*) AS n, sum(word_count) AS words
FROM content WHERE language = $1 GROUP BY status ORDER BY status`

// cacheDemo shows the query cache: a miss, hits, an invalidation by a write
// through the pool, and a statement the cache refuses.
func cacheDemo(ctx context.Context, out io.Writer, pool *pgxperf.Pool) error {
	stats := func() (time.Duration, int64, error) {
		start := time.Now()
		rows, err := pool.Query(ctx, languageStats, "fr")
		if err != nil {
			return 0, 0, err
		}
		var total int64
		for rows.Next() {
			var status string
			var n, words int64
			if err := rows.Scan(&status, &n, &words); err != nil {
				return 0, 0, err
			}
			total += n
		}
		return time.Since(start), total, rows.Err()
	}
	miss, n, err := stats()
	if err != nil {
		return err
	}
	var hits time.Duration
	const rounds = 200
	for range rounds {
		d, _, err := stats()
		if err != nil {
			return err
		}
		hits += d
	}
	fmt.Fprintf(out, "query cache: ContentStatsByLanguage over %d rows took %v from the database, then %v per call from the cache (%d calls)\n",
		n, miss.Round(time.Microsecond), (hits / rounds).Round(100*time.Nanosecond), rounds)
	tag, err := pool.Exec(ctx, "UPDATE content SET word_count = word_count + 1 WHERE id = $1", int64(7)) // a French post
	if err != nil {
		return err
	}
	after, _, err := stats()
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "query cache: %s invalidated the content table after commit; the next call read the database again (%v)\n",
		tag, after.Round(time.Microsecond))
	// The cache refuses what it cannot prove safe, and says why in the report.
	var now time.Time
	if err := pool.QueryRow(querycache.WithTTL(ctx, time.Minute),
		"SELECT max(published_at) FROM content WHERE published_at < now()").Scan(&now); err != nil {
		return err
	}
	fmt.Fprintln(out)
	return nil
}

func pingRedis(ctx context.Context, redisURL string) error {
	o, err := redis.ParseURL(redisURL)
	if err != nil {
		return err
	}
	c := redis.NewClient(o)
	defer c.Close()
	pctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	return c.Ping(pctx).Err()
}

// scratchDatabase (re)creates the demo database and loads the schema and seed.
func scratchDatabase(ctx context.Context, adminURL string) (string, func(), error) {
	admin, err := pgx.Connect(ctx, adminURL)
	if err != nil {
		return "", nil, fmt.Errorf("connect to %s: %w (is Postgres running? `bash scripts/testenv.sh` starts it)", redact(adminURL), err)
	}
	defer admin.Close(context.Background())
	if _, err := admin.Exec(ctx, "DROP DATABASE IF EXISTS "+demoDB+" WITH (FORCE)"); err != nil {
		return "", nil, err
	}
	if _, err := admin.Exec(ctx, "CREATE DATABASE "+demoDB); err != nil {
		return "", nil, err
	}
	cleanup := func() {
		c, err := pgx.Connect(context.Background(), adminURL)
		if err != nil {
			return
		}
		defer c.Close(context.Background())
		_, _ = c.Exec(context.Background(), "DROP DATABASE IF EXISTS "+demoDB+" WITH (FORCE)")
	}
	u, err := url.Parse(adminURL)
	if err != nil {
		return "", nil, err
	}
	u.Path = "/" + demoDB
	dsn := u.String()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		cleanup()
		return "", nil, err
	}
	defer conn.Close(context.Background())
	for _, script := range []string{testdata.Schema, testdata.Seed} {
		if _, err := conn.Exec(ctx, script); err != nil {
			cleanup()
			return "", nil, err
		}
	}
	return dsn, cleanup, nil
}

// workload runs what a small publishing application would run, from four
// goroutines, and returns the number of calls.
func workload(ctx context.Context, pool *pgxperf.Pool) (int, error) {
	var (
		mu    sync.Mutex
		calls int
		first error
	)
	var wg sync.WaitGroup
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			n, err := worker(ctx, pool, w)
			mu.Lock()
			calls += n
			if err != nil && first == nil {
				first = err
			}
			mu.Unlock()
		}(w)
	}
	wg.Wait()
	if first != nil {
		return calls, first
	}
	n, err := deliberatelySlow(ctx, pool)
	if err != nil {
		return calls + n, err
	}
	m, err := dashboardRequest(ctx, pool)
	if err != nil {
		return calls + n + m, err
	}
	f, err := dashboardFixed(ctx, pool)
	return calls + n + m + f, err
}

// dashboardFixed is the same request written as n1detect's fix says: one
// batched count for every project. pg_query (and pg_stat_statements) give
// it the fingerprint of the per-project count; the report keeps it apart,
// marked [batch], so the N+1 and its fix can be compared side by side.
func dashboardFixed(ctx context.Context, pool *pgxperf.Pool) (int, error) {
	ctx, scope := n1detect.Start(ctx, "GET /users/{id}/dashboard (fixed)", n1detect.Config{})
	defer scope.Finish()
	rows, err := pool.Query(ctx, listUserProjects, int64(42))
	if err != nil {
		return 0, err
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[int64])
	if err != nil {
		return 1, fmt.Errorf("ListUserProjects: %w", err)
	}
	rows, err = pool.Query(ctx, countPublishedMany, ids)
	if err != nil {
		return 1, err
	}
	if _, err := pgx.CollectRows(rows, pgx.RowToStructByPos[struct{ ID, N int64 }]); err != nil {
		return 2, fmt.Errorf("CountPublishedMany: %w", err)
	}
	return 2, nil
}

// dashboardRequest is one request of a dashboard handler with a classic N+1:
// it lists a user's projects, then counts each project's published content
// with one query per project. It runs in an n1detect scope, as
// n1detect.Middleware would run it; Finish records the finding in the Pool's
// report.
func dashboardRequest(ctx context.Context, pool *pgxperf.Pool) (int, error) {
	ctx, scope := n1detect.Start(ctx, "GET /users/{id}/dashboard", n1detect.Config{})
	defer scope.Finish()
	const userID = 42
	rows, err := pool.Query(ctx, listUserProjects, int64(userID))
	if err != nil {
		return 0, err
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[int64])
	if err != nil {
		return 1, fmt.Errorf("ListUserProjects: %w", err)
	}
	for _, id := range ids {
		var n int64
		if err := pool.QueryRow(ctx, countPublished, id).Scan(&n); err != nil {
			return 1, fmt.Errorf("CountPublished: %w", err)
		}
	}
	return 1 + len(ids), nil
}

const (
	getUserByEmail = `-- name: GetUserByEmail :one
SELECT id, email, display_name, role FROM users WHERE email = $1`
	listPublished = `-- name: ListPublishedContent :many
SELECT id, title, published_at FROM content
WHERE project_id = $1 AND status = 'published'
ORDER BY published_at DESC LIMIT 20`
	projectMetrics = `-- name: ProjectMetrics :many
SELECT platform_type, sum(impressions), sum(clicks), sum(revenue)
FROM platform_metrics
WHERE project_id = $1 AND period_start >= $2
GROUP BY platform_type`
	touchContent = `-- name: TouchContent :exec
UPDATE content SET updated_at = now() WHERE id = $1`
	listUserProjects = `-- name: ListUserProjects :many
SELECT id FROM projects WHERE owner_id = $1 ORDER BY id`
	countPublished = `-- name: CountPublished :one
SELECT count(*) FROM content WHERE project_id = $1 AND status = 'published'`
	countPublishedMany = `-- name: CountPublishedMany :many
SELECT project_id, count(*) FROM content WHERE project_id = ANY($1) AND status = 'published' GROUP BY project_id`
	createSession = `-- name: CreateSession :one
INSERT INTO sessions (user_id, token_hash, expires_at) VALUES ($1, $2, now() + interval '1 day') RETURNING id`
)

func worker(ctx context.Context, pool *pgxperf.Pool, w int) (int, error) {
	calls := 0
	for i := 0; i < 60; i++ {
		userID := int64(1 + (w*97+i*13)%2000)
		projectID := int64(1 + (w*31+i*7)%5000)

		var id int64
		var email, name, role string
		err := pool.QueryRow(ctx, getUserByEmail, fmt.Sprintf("user%04d@example.com", userID)).Scan(&id, &email, &name, &role)
		if err != nil && !errors.Is(err, pgx.ErrNoRows) {
			return calls, fmt.Errorf("GetUserByEmail: %w", err)
		}
		calls++

		rows, err := pool.Query(ctx, listPublished, projectID)
		if err != nil {
			return calls, fmt.Errorf("ListPublishedContent: %w", err)
		}
		type item struct {
			ID          int64
			Title       string
			PublishedAt *time.Time
		}
		if _, err := pgx.CollectRows(rows, pgx.RowToStructByPos[item]); err != nil {
			return calls, fmt.Errorf("ListPublishedContent: %w", err)
		}
		calls++

		if i%3 == 0 {
			rows, err := pool.Query(ctx, projectMetrics, projectID, time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC))
			if err != nil {
				return calls, err
			}
			rows.Close()
			if err := rows.Err(); err != nil {
				return calls, fmt.Errorf("ProjectMetrics: %w", err)
			}
			calls++
		}
		if i%5 == 0 {
			if _, err := pool.Exec(ctx, touchContent, int64(1+(w*1000+i)%50000)); err != nil {
				return calls, fmt.Errorf("TouchContent: %w", err)
			}
			calls++
		}
		if i%10 == 0 {
			if err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
				var sid [16]byte
				return tx.QueryRow(ctx, createSession, userID, []byte("token")).Scan(&sid)
			}); err != nil {
				return calls, fmt.Errorf("CreateSession: %w", err)
			}
			calls += 3 // BEGIN, INSERT, COMMIT
		}
		if i%20 == 0 {
			// A typo that reaches Postgres: the report counts it by SQLSTATE.
			_, err := pool.Exec(ctx, "SELECT titel FROM content WHERE id = $1", int64(1))
			if err == nil {
				return calls, errors.New("expected an error from a misspelled column")
			}
			calls++
		}
	}
	return calls, nil
}

// deliberatelySlow runs one report query that has no index to help it: a
// full scan of content with a text search over every body, made slower with
// one pg_sleep (an InitPlan, run once) so that it is over the 100 ms threshold
// on any machine.
func deliberatelySlow(ctx context.Context, pool *pgxperf.Pool) (int, error) {
	const q = `-- name: SearchAllContent :many
SELECT c.project_id, count(*) AS hits
FROM content c
WHERE c.body ILIKE '%' || $1 || '%' AND (SELECT pg_sleep(0.15)) IS NOT NULL
GROUP BY c.project_id
ORDER BY hits DESC LIMIT 10`
	rows, err := pool.Query(ctx, q, "adipiscing elit. Post 4")
	if err != nil {
		return 0, err
	}
	rows.Close()
	return 1, rows.Err()
}

func redact(u string) string {
	p, err := url.Parse(u)
	if err != nil || p.User == nil {
		return u
	}
	if _, ok := p.User.Password(); ok {
		p.User = url.UserPassword(p.User.Username(), "xxxxx")
	}
	return p.String()
}

// prefixWriter indents log lines under the demo's output.
type prefixWriter struct {
	mu     sync.Mutex
	w      io.Writer
	prefix string
}

func (p *prefixWriter) Write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, line := range strings.SplitAfter(string(b), "\n") {
		if line == "" {
			continue
		}
		if _, err := io.WriteString(p.w, p.prefix+line); err != nil {
			return 0, err
		}
	}
	return len(b), nil
}
