-- Replica-routing corpus: statements on the testdata schema (users, projects,
-- content, publications, platform_metrics, sessions), one per entry, in the
-- corpus.sql format: an entry ends with a line ending in ";", comment lines
-- before an entry are skipped unless they are a sqlc "-- name:" header.
--
-- The labels are not written by hand: TestStandbyLabels
-- (internal/sqlinfo/standby_test.go) runs every entry on the hot standby of the
-- test topology and in a BEGIN READ ONLY transaction on the primary, and writes
-- the outcome to routing.labels.golden. routing.golden beside this file is
-- TestCorpus's analysis golden, like corpus.golden.
--
-- Rules for editing: reads must be valid on the real schema (a read that fails
-- everywhere is labelled "fails-alike" and measures nothing); keep DO bodies
-- and function bodies on one line (a line ending in ";" ends an entry); never
-- add statements with effects outside the rolled-back transaction on a shared
-- server (CHECKPOINT, pg_switch_wal, pg_reload_conf, pg_promote, COPY TO a
-- server file, pg_terminate_backend of real sessions); and do not end an entry
-- with a "--" comment (TestReadOnlyIsSound appends clauses to entries).

-- Ordinary reads: lookups, joins, aggregates.
SELECT id, email, display_name FROM users WHERE id = $1;
SELECT id, email, display_name FROM users WHERE email = lower($1) AND is_active;
SELECT * FROM users WHERE id = ANY($1::bigint[]);
SELECT * FROM users WHERE id IN (1, 2, 3);
SELECT * FROM users WHERE external_id = $1;
SELECT u.id, u.display_name, count(c.id) AS posts
FROM users u
LEFT JOIN content c ON c.author_id = u.id AND c.status = 'published'
GROUP BY u.id, u.display_name
ORDER BY posts DESC
LIMIT 20;
SELECT p.id, p.name, p.slug FROM projects p WHERE p.owner_id = $1 ORDER BY p.created_at DESC LIMIT $2 OFFSET $3;
SELECT c.id, c.title, c.published_at FROM content c JOIN projects p ON p.id = c.project_id WHERE p.slug = $1 AND c.status = 'published' ORDER BY c.published_at DESC;
SELECT c.* FROM content c WHERE c.project_id = $1 AND c.tags && $2::text[];
SELECT c.id FROM content c WHERE c.project_id = 42 AND c.tags @> ARRAY['howto'];
SELECT id, title FROM content WHERE project_id = $1 AND to_tsvector('english', title || ' ' || body) @@ websearch_to_tsquery('english', $2);
SELECT id, ts_rank(to_tsvector('english', body), plainto_tsquery('english', $1)) AS rank FROM content WHERE project_id = $2 ORDER BY rank DESC LIMIT 10;
SELECT date_trunc('month', period_start) AS month, platform_type, sum(impressions), avg(engagement_rate), max(clicks)
FROM platform_metrics
WHERE project_id = $1
GROUP BY 1, 2
ORDER BY 1;
SELECT platform_type, percentile_cont(0.95) WITHIN GROUP (ORDER BY revenue) FROM platform_metrics GROUP BY platform_type;
SELECT extract(epoch FROM now() - max(recorded_at)) FROM platform_metrics;
SELECT date_part('hour', published_at), count(*) FROM publications WHERE project_id = 7 GROUP BY 1;
SELECT to_char(period_start, 'YYYY-MM'), sum(revenue) FROM platform_metrics GROUP BY 1 ORDER BY 1;
SELECT platform_type, date_trunc('month', period_start), sum(clicks) FROM platform_metrics WHERE project_id < 100 GROUP BY ROLLUP (1, 2);
SELECT * FROM sessions WHERE token_hash = $1 AND expires_at > CURRENT_TIMESTAMP AND NOT revoked;
SELECT s.user_id, s.last_seen_at FROM sessions s WHERE s.expires_at > now() AND s.ip_address << '10.0.0.0/8'::inet LIMIT 50;
SELECT count(*) FROM sessions WHERE expires_at < clock_timestamp();
SELECT count(*) FROM sessions WHERE ip_address <<= $1::inet;
SELECT id, expires_at - now() AS remaining FROM sessions WHERE user_id = $1;
SELECT id FROM sessions WHERE last_seen_at > now() - $1::interval LIMIT 10;
SELECT host(ip_address), masklen(ip_address), family(ip_address) FROM sessions WHERE user_id = 3;
SELECT u.id, u.display_name, p.name AS project FROM users u JOIN projects p ON p.owner_id = u.id WHERE u.id = ANY($1);
SELECT c.id, c.title, pub.platform, pub.external_url FROM content c LEFT JOIN publications pub ON pub.content_id = c.id WHERE c.author_id = $1;
SELECT p.id, m.platform_type, m.revenue FROM projects p FULL OUTER JOIN platform_metrics m ON m.project_id = p.id AND m.period_start = DATE '2025-02-01' WHERE p.id < 20;
SELECT u.id, d.day FROM users u CROSS JOIN generate_series(DATE '2025-01-01', DATE '2025-01-07', interval '1 day') AS d(day) WHERE u.id < 3;
SELECT id, credit_balance FROM users WHERE credit_balance > $1 ORDER BY credit_balance DESC LIMIT 5;
SELECT id FROM content WHERE status = $1 AND project_id = $2;
SELECT * FROM platform_metrics WHERE period_start >= $1::date AND period_end < $2::date AND project_id = $3;

SELECT to_timestamp(1735689600), make_interval(days => 3), now() AT TIME ZONE 'Europe/Berlin';
SELECT regexp_matches(email, '^user(\d+)@'), position('@' IN email), initcap(display_name) FROM users WHERE id < 4;
SELECT array_position(interests, 'go'), array_remove(interests, 'go'), array_append(topics, 'new') FROM users u JOIN projects p ON p.owner_id = u.id WHERE u.id = 8;
SELECT jsonb_array_elements(metadata->'seo'->'keywords') FROM content WHERE id = 3;
SELECT string_to_table('a,b,c', ','), generate_subscripts(ARRAY[10, 20], 1);
SELECT width_bucket(word_count, 0, 3000, 6) AS bucket, count(*) FROM content GROUP BY 1 ORDER BY 1;
SELECT mode() WITHIN GROUP (ORDER BY language) FROM content;
SELECT ts_headline('english', body, to_tsquery('english', 'lorem')) FROM content WHERE id = 2;
SELECT json_object_agg(platform, status) FROM publications WHERE content_id = 10;
SELECT jsonb_strip_nulls(jsonb_build_object('a', NULL, 'b', 1)), jsonb_build_array(1, 'x'), num_nonnulls(budget, description) FROM projects WHERE id = 1;
SELECT * FROM jsonb_populate_record(NULL::users, '{"id": 1, "email": "x@example.com"}');
SELECT daterange(period_start, period_end, '[]') @> DATE '2025-02-14', lower(daterange(period_start, period_end)) FROM platform_metrics WHERE id = 1;
SELECT pg_column_size(body), octet_length(body), sha256(convert_to(title, 'UTF8')) FROM content WHERE id = 4;
SELECT convert_from(convert_to(title, 'UTF8'), 'UTF8') FROM content WHERE id = 5;
SELECT id, title FROM content WHERE published_at >= date_trunc('month', TIMESTAMPTZ '2024-07-15') AND published_at < date_trunc('month', TIMESTAMPTZ '2024-07-15') + interval '1 month' ORDER BY id LIMIT 20;
SELECT id FROM content WHERE language = ANY(ARRAY['de', 'fr']) AND project_id = 77;
SELECT id FROM users WHERE email LIKE ANY (ARRAY['user001%', 'user002%']);
SELECT status, count(*) FROM publications WHERE project_id = ANY($1::bigint[]) GROUP BY status;
SELECT p.status IS DISTINCT FROM 'published', p.attempt_count FROM publications p WHERE p.id = 1;
SELECT users.id, users.email FROM users WHERE users.last_login_at IS NOT NULL AND users.role <> 'member' ORDER BY users.id LIMIT 10;
SELECT count(*) FROM content WHERE reading_time > interval '5 minutes' AND score BETWEEN 10 AND 20;
SELECT id FROM users WHERE external_id <> '00000000-0000-0000-0000-000000000000'::uuid AND id = 1;
SELECT overlay(email placing 'xxxx' from 1 for 4), lpad(id::text, 6, '0') FROM users WHERE id = 12;
SELECT date '2025-03-01' - period_start AS days, period_end - period_start FROM platform_metrics WHERE id = 2;

-- Subqueries, EXISTS, set operations.
SELECT c.id, (SELECT count(*) FROM publications pub WHERE pub.content_id = c.id) AS pubs FROM content c WHERE c.project_id = $1;
SELECT * FROM content c WHERE c.project_id = 9 AND EXISTS (SELECT 1 FROM publications p WHERE p.content_id = c.id AND p.platform = $1);
SELECT id, title FROM content WHERE author_id IN (SELECT id FROM users WHERE role = 'editor') LIMIT 25;
SELECT id FROM users WHERE NOT EXISTS (SELECT 1 FROM sessions WHERE sessions.user_id = users.id);
SELECT EXISTS (SELECT 1 FROM users WHERE email = $1);
SELECT id, title FROM content WHERE word_count > (SELECT avg(word_count) FROM content) ORDER BY id LIMIT 10;
SELECT u.id, ARRAY(SELECT p.slug FROM projects p WHERE p.owner_id = u.id ORDER BY p.id) AS slugs FROM users u WHERE u.id = $1;
SELECT id FROM users UNION SELECT author_id FROM content UNION ALL SELECT user_id FROM sessions;
SELECT id FROM users EXCEPT SELECT user_id FROM sessions;
SELECT id FROM users INTERSECT SELECT author_id FROM content;
SELECT id, 'project' AS kind FROM projects WHERE owner_id = 5 UNION ALL SELECT id, 'content' FROM content WHERE author_id = 5 ORDER BY 1;

-- Window functions and aggregates.
SELECT id, title, row_number() OVER (PARTITION BY project_id ORDER BY published_at DESC) AS rn FROM content WHERE project_id < 50;
SELECT id, lag(published_at) OVER w, lead(published_at) OVER w FROM content WHERE author_id = 11 WINDOW w AS (PARTITION BY author_id ORDER BY published_at);
SELECT author_id, rank() OVER (ORDER BY sum(word_count) DESC), dense_rank() OVER (ORDER BY count(*) DESC) FROM content GROUP BY author_id;
SELECT project_id, period_start, sum(revenue) OVER (PARTITION BY project_id ORDER BY period_start ROWS BETWEEN 2 PRECEDING AND CURRENT ROW) FROM platform_metrics WHERE project_id = $1;
SELECT id, ntile(4) OVER (ORDER BY credit_balance), percent_rank() OVER (ORDER BY credit_balance) FROM users;
SELECT project_id, string_agg(title, ', ' ORDER BY title), array_agg(id) FROM content WHERE project_id < 10 GROUP BY project_id;
SELECT author_id, count(*) FILTER (WHERE status = 'draft') AS drafts FROM content GROUP BY author_id HAVING count(*) > 5;
SELECT count(DISTINCT author_id), bool_and(word_count > 0), bool_or(score IS NULL) FROM content;
SELECT CASE WHEN word_count > 1000 THEN 'long' ELSE 'short' END, count(*) FROM content GROUP BY 1;
SELECT DISTINCT ON (author_id) author_id, id, published_at FROM content WHERE author_id < 100 ORDER BY author_id, published_at DESC;
SELECT project_id, sum(clicks)::numeric / NULLIF(sum(impressions), 0) AS ctr FROM platform_metrics GROUP BY project_id ORDER BY ctr DESC NULLS LAST LIMIT 10;

-- jsonb, arrays, strings, numbers, time.
SELECT json_build_object('id', u.id, 'name', u.display_name, 'projects', (SELECT json_agg(p.name) FROM projects p WHERE p.owner_id = u.id)) FROM users u WHERE u.id = $1;
SELECT jsonb_agg(jsonb_build_object('id', id, 'title', title)) FROM content WHERE project_id = $1;
SELECT settings->>'theme', settings->'digest'->>'frequency' FROM users WHERE id = $1;
SELECT id FROM users WHERE settings @> '{"notifications": true}'::jsonb ORDER BY id LIMIT 10;
SELECT id FROM users WHERE settings @? '$.digest ? (@.hour > 20)' ORDER BY id LIMIT 5;
SELECT jsonb_path_query_first(settings, '$.digest.frequency') FROM users WHERE id = 2;
SELECT count(*) FROM content WHERE metadata ? 'source' AND project_id = 3;
SELECT key, value FROM projects, jsonb_each_text(settings) WHERE projects.id = $1;
SELECT DISTINCT jsonb_object_keys(dimensions) FROM platform_metrics WHERE project_id = 1;
SELECT id, jsonb_typeof(metadata->'seo'), jsonb_array_length(metadata->'seo'->'keywords') FROM content WHERE project_id = 12;
SELECT jsonb_set(settings, '{theme}', '"dark"') FROM users WHERE id = 1;
SELECT to_jsonb(p) - 'settings' FROM projects p WHERE p.id = $1;
SELECT row_to_json(u) FROM (SELECT id, email FROM users WHERE id = 1) u;
SELECT jsonb_pretty(settings) FROM users WHERE id = 1;
SELECT * FROM jsonb_to_recordset('[{"a": 1, "b": "x"}, {"a": 2, "b": "y"}]') AS x(a int, b text);
SELECT array_length(interests, 1), interests[1], cardinality(interests) FROM users WHERE id < 5;
SELECT unnest(tags) AS tag, count(*) FROM content GROUP BY tag ORDER BY count(*) DESC LIMIT 10;
SELECT * FROM unnest($1::bigint[]) AS ids(id) JOIN users u USING (id);
SELECT * FROM users u JOIN unnest($1::bigint[]) WITH ORDINALITY AS t(id, ord) ON t.id = u.id ORDER BY t.ord;
SELECT * FROM ROWS FROM (generate_series(1, 3), unnest(ARRAY['a', 'b'])) AS t(n, s);
SELECT array_to_string(topics, ','), string_to_array('a,b,c', ',') FROM projects WHERE id = 1;
SELECT coalesce(last_login_at, created_at), upper(substring(display_name FROM 1 FOR 1)), length(email) FROM users WHERE id < 10;
SELECT greatest(updated_at, published_at), least(word_count, 1000) FROM content WHERE project_id = 5;
SELECT trim(both ' ' FROM title), lower(title), concat(title, ' (', id, ')') FROM content WHERE project_id = 5;
SELECT split_part(email, '@', 2) AS domain, count(*) FROM users GROUP BY 1;
SELECT regexp_replace(title, '\s+', ' ', 'g'), left(body, 40) FROM content WHERE id = 1;
SELECT format('%s <%s>', display_name, email), quote_ident(display_name) FROM users WHERE id = 1;
SELECT encode(content_hash, 'hex'), md5(title) FROM content WHERE id = 7;
SELECT md5(email), gen_random_uuid(), random() FROM users LIMIT 1;
SELECT id FROM users ORDER BY random() LIMIT 1;
SELECT abs(revenue - $1), round(engagement_rate, 2) FROM platform_metrics WHERE project_id = $2;
SELECT id, age(now(), created_at) FROM users WHERE id = 1;
SELECT date_bin('15 minutes', recorded_at, TIMESTAMPTZ '2025-01-01') AS bucket, count(*) FROM platform_metrics GROUP BY 1 ORDER BY 1 LIMIT 5;
SELECT generate_series(1, 10);
SELECT d::date FROM generate_series(now() - interval '30 days', now(), interval '1 day') AS d;
SELECT id FROM content WHERE published_at BETWEEN $1 AND $2 LIMIT 100;
SELECT id FROM content WHERE project_id = 8 AND title ILIKE '%' || $1 || '%';
SELECT id FROM users WHERE email ~* '^user00';
SELECT id, display_name FROM users ORDER BY id LIMIT 100;
SELECT id FROM users WHERE id > $1 ORDER BY id LIMIT $2;
SELECT id FROM content ORDER BY score DESC NULLS LAST FETCH FIRST 5 ROWS WITH TIES;

-- CTEs and LATERAL.
WITH recent AS (
  SELECT * FROM content WHERE published_at > TIMESTAMPTZ '2025-01-01' - interval '1 day'
)
SELECT r.id, u.display_name FROM recent r JOIN users u ON u.id = r.author_id;
WITH authors AS (SELECT DISTINCT author_id FROM content), active AS (SELECT user_id FROM sessions WHERE expires_at > now())
SELECT * FROM authors JOIN active ON active.user_id = authors.author_id;
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 10) SELECT sum(i) FROM n;
WITH content AS (SELECT * FROM content WHERE status = 'published') SELECT count(*) FROM content;
WITH totals AS MATERIALIZED (SELECT project_id, sum(revenue) AS revenue FROM platform_metrics GROUP BY project_id) SELECT * FROM totals ORDER BY revenue DESC LIMIT 3;
SELECT * FROM users u, LATERAL (SELECT * FROM content c WHERE c.author_id = u.id ORDER BY published_at DESC LIMIT 3) latest WHERE u.id < 5;
SELECT p.id, last_pub.* FROM projects p LEFT JOIN LATERAL (SELECT platform, published_at FROM publications WHERE project_id = p.id ORDER BY published_at DESC NULLS LAST LIMIT 1) last_pub ON true WHERE p.owner_id = $1;
SELECT * FROM content TABLESAMPLE SYSTEM (1) REPEATABLE (7) LIMIT 5;

-- Constants, server and catalog introspection.
SELECT 1;
SELECT $1::int;
SELECT now();
SELECT version();
SELECT current_setting('server_version_num');
SELECT current_setting('app.tenant_id', true);
SELECT pg_is_in_recovery();
SELECT pg_last_wal_replay_lsn(), pg_last_xact_replay_timestamp();
SELECT pg_last_wal_receive_lsn();
SELECT pg_backend_pid();
SELECT current_database(), current_user, session_user, current_schema();
SELECT pg_size_pretty(pg_total_relation_size('content'));
SELECT pg_get_serial_sequence('users', 'id');
SELECT has_table_privilege('users', 'SELECT');
SELECT to_regclass('public.users');
SELECT pg_get_indexdef('users_email_key'::regclass);
SELECT column_name, data_type FROM information_schema.columns WHERE table_name = 'content' ORDER BY ordinal_position;
SELECT relname, n_live_tup FROM pg_stat_user_tables ORDER BY n_live_tup DESC;
SELECT pid, state FROM pg_stat_activity WHERE datname = current_database();
SELECT count(*) FROM pg_locks WHERE NOT granted;
SELECT pg_listening_channels();
SELECT txid_current_snapshot(), pg_current_snapshot();
SELECT pg_sleep(0.01);
SELECT last_value, is_called FROM users_id_seq;
VALUES (1, 'a'), (2, 'b');
TABLE users;
TABLE public.projects;
SELECT * FROM public.users WHERE id = $1;
SELECT pg_catalog.lower(email) FROM users WHERE id = 1;

-- sqlc-style queries.
-- name: GetUser :one
SELECT id, email, display_name FROM users WHERE id = $1 LIMIT 1;
-- name: ListUsers :many
SELECT id, email, display_name FROM users ORDER BY display_name;
-- name: ListUsersByIDs :many
SELECT * FROM users WHERE id = ANY($1::bigint[]);
-- name: GetProjectBySlug :one
SELECT * FROM projects WHERE slug = $1;
-- name: ListPublicationsForContent :many
SELECT id, platform, status, external_url FROM publications WHERE content_id = $1 ORDER BY platform;
-- name: GetSession :one
SELECT s.*, u.email FROM sessions s JOIN users u ON u.id = s.user_id WHERE s.id = $1 AND NOT s.revoked;
-- name: ProjectRevenue :many
-- Revenue per platform of one project.
SELECT platform_type, sum(revenue)::numeric(14, 2) AS revenue FROM platform_metrics WHERE project_id = $1 GROUP BY platform_type;
-- name: CountContent :one
-- Counts a project's content.
SELECT count(*) FROM content WHERE project_id = @project_id;
-- name: CreateUser :one
INSERT INTO users (email, display_name) VALUES ($1, $2) RETURNING *;
-- name: DeleteSession :exec
DELETE FROM sessions WHERE id = $1;
-- name: PublishContent :execrows
UPDATE content SET status = 'published', published_at = now() WHERE id = $1;
-- name: CreateProject :execresult
INSERT INTO projects (owner_id, name, slug) VALUES ($1, $2, $3);
-- name: TouchSessions :batchexec
UPDATE sessions SET last_seen_at = now() WHERE id = $1;
-- name: CopyMetrics :copyfrom
INSERT INTO platform_metrics (project_id, platform_type, period_start, period_end) VALUES ($1, $2, $3, $4);
-- name: ClaimPublication :one
SELECT id, content_id FROM publications WHERE status = 'queued' ORDER BY scheduled_for LIMIT 1 FOR UPDATE SKIP LOCKED;

-- Named arguments (pgx.NamedArgs), comments, quoting, literals.
SELECT * FROM users WHERE id = @id;
SELECT * FROM content WHERE project_id = @project_id AND status = @status ORDER BY published_at DESC LIMIT @limit;
SELECT * FROM users WHERE email = '@not_an_arg' AND id = @id;
UPDATE users SET display_name = @name WHERE id = @id;
/* leading block comment */ SELECT id FROM users WHERE id < 3;
SELECT id FROM users -- trailing comment
WHERE id = 1;
SELECT "users"."email" FROM "users" WHERE "id" = $1;
SELECT E'tab\there', $tag$dollar 'quoted'$tag$, B'1010', X'1F', U&'\0041';

-- EXPLAIN.
EXPLAIN SELECT * FROM content WHERE project_id = 1;
EXPLAIN (FORMAT JSON) SELECT * FROM users WHERE id = $1;
EXPLAIN ANALYZE SELECT * FROM content WHERE project_id = 1;
EXPLAIN (ANALYZE, BUFFERS) SELECT count(*) FROM publications;
EXPLAIN UPDATE users SET display_name = 'x' WHERE id = 1;
EXPLAIN SELECT * FROM users WHERE id = 1 FOR UPDATE;
EXPLAIN CREATE TABLE top_authors AS SELECT author_id, count(*) FROM content GROUP BY author_id;
EXPLAIN ANALYZE DELETE FROM sessions WHERE expires_at < now();
EXPLAIN ANALYZE SELECT nextval('content_id_seq');
EXPLAIN ANALYZE SELECT * FROM users WHERE id = 1 FOR UPDATE;
EXPLAIN ANALYZE CREATE TABLE top_authors AS SELECT author_id, count(*) FROM content GROUP BY author_id;

-- SHOW and COPY TO STDOUT.
SHOW search_path;
SHOW transaction_isolation;
SHOW ALL;
COPY users TO STDOUT;
COPY (SELECT id, title FROM content WHERE status = 'published' AND project_id = 1) TO STDOUT WITH (FORMAT csv, HEADER);

-- Locking clauses.
SELECT * FROM users WHERE id = $1 FOR UPDATE;
SELECT * FROM users WHERE id = $1 FOR UPDATE NOWAIT;
SELECT id FROM publications WHERE status = 'queued' ORDER BY id LIMIT 10 FOR UPDATE SKIP LOCKED;
SELECT * FROM projects WHERE id = $1 FOR NO KEY UPDATE;
SELECT * FROM projects WHERE id = $1 FOR SHARE;
SELECT * FROM projects WHERE id = $1 FOR SHARE NOWAIT;
SELECT * FROM projects WHERE id = $1 FOR KEY SHARE;
SELECT * FROM projects WHERE id = $1 FOR KEY SHARE SKIP LOCKED;
SELECT * FROM content c JOIN users u ON u.id = c.author_id WHERE c.id = $1 FOR UPDATE OF c;
SELECT * FROM sessions WHERE user_id = @user_id FOR UPDATE;
SELECT * FROM (SELECT * FROM users WHERE id = 1 FOR SHARE) s;
SELECT EXISTS (SELECT 1 FROM users WHERE id = 1 FOR UPDATE);
WITH locked AS (SELECT id FROM content WHERE id = 1 FOR UPDATE) SELECT * FROM locked;
SELECT id FROM users WHERE id = 1 UNION SELECT id FROM users WHERE id = 2 FOR UPDATE;

-- SELECT INTO, CREATE TABLE AS, materialized views.
SELECT * INTO TEMP recent_content FROM content WHERE published_at > now() - interval '1 hour';
SELECT id, email INTO archived_users FROM users WHERE NOT is_active;
SELECT id INTO UNLOGGED TABLE content_ids FROM content WHERE project_id = 1;
CREATE TABLE top_authors AS SELECT author_id, count(*) FROM content GROUP BY author_id;
CREATE TEMP TABLE tmp_top AS SELECT author_id, count(*) FROM content GROUP BY author_id;
CREATE TABLE empty_copy AS SELECT * FROM users WITH NO DATA;
CREATE MATERIALIZED VIEW daily_revenue AS SELECT period_start, sum(revenue) FROM platform_metrics GROUP BY 1;
REFRESH MATERIALIZED VIEW daily_revenue;

-- Writable CTEs.
WITH moved AS (DELETE FROM sessions WHERE expires_at < now() RETURNING id) SELECT count(*) FROM moved;
WITH upd AS (UPDATE content SET status = 'published', published_at = now() WHERE id = $1 RETURNING id, project_id) SELECT * FROM upd JOIN projects p ON p.id = upd.project_id;
WITH ins AS (INSERT INTO users (email, display_name) VALUES ($1, $2) RETURNING id) SELECT id FROM ins;
WITH ins AS (INSERT INTO users (email, display_name) VALUES ('cte@example.com', 'CTE') RETURNING id) SELECT 1;
WITH a AS (SELECT id FROM users WHERE id = 1), b AS (UPDATE users SET last_login_at = now() WHERE id IN (SELECT id FROM a) RETURNING id) SELECT * FROM b;
WITH claimed AS (SELECT id FROM publications WHERE status = 'queued' LIMIT 10 FOR UPDATE SKIP LOCKED) UPDATE publications SET status = 'publishing' FROM claimed WHERE publications.id = claimed.id RETURNING publications.id;
SELECT * FROM (WITH d AS (DELETE FROM sessions WHERE false RETURNING id) SELECT * FROM d) s;
EXPLAIN ANALYZE WITH d AS (DELETE FROM sessions WHERE id = $1 RETURNING id) SELECT * FROM d;

-- Sequences.
SELECT nextval('content_id_seq');
SELECT nextval('users_id_seq'::regclass);
SELECT pg_catalog.nextval('projects_id_seq');
SELECT NEXTVAL('projects_id_seq');
SELECT "nextval"('projects_id_seq');
SELECT * FROM users WHERE id = nextval('users_id_seq');
SELECT id, (SELECT nextval('users_id_seq')) FROM users WHERE id = 1;
SELECT * FROM generate_series(1, nextval('users_id_seq') - 2000);
VALUES (nextval('users_id_seq'));
SELECT setval('content_id_seq', (SELECT max(id) FROM content));
SELECT setval('content_id_seq', 50000, true);
SELECT currval('content_id_seq');
SELECT lastval();

-- Side effects and locks in unusual places.
SELECT 1 FROM users LIMIT nextval('users_id_seq') - 2000;
SELECT id FROM users ORDER BY id OFFSET nextval('users_id_seq') - 2000 LIMIT 1;
SELECT author_id, count(*) FROM content GROUP BY author_id HAVING count(*) > nextval('users_id_seq') - 1990;
SELECT count(*) FILTER (WHERE nextval('users_id_seq') > 0) FROM users;
SELECT string_agg(email, ',' ORDER BY nextval('users_id_seq')) FROM users WHERE id < 3;
SELECT sum(id) OVER (ORDER BY id ROWS BETWEEN nextval('users_id_seq') - 2000 PRECEDING AND CURRENT ROW) FROM users WHERE id < 3;
SELECT * FROM (VALUES (nextval('users_id_seq'))) AS v(id);
SELECT ARRAY[nextval('users_id_seq')];
SELECT CASE WHEN id = 1 THEN nextval('users_id_seq') END FROM users WHERE id = 1;
SELECT coalesce(NULL, nextval('users_id_seq'));
SELECT nextval('users_id_seq')::text;
SELECT * FROM users u JOIN projects p ON p.owner_id = u.id AND nextval('users_id_seq') > 0 WHERE u.id = 1;
SELECT DISTINCT ON (nextval('users_id_seq')) id FROM users WHERE id = 1;
SELECT id FROM users WHERE id IN (SELECT nextval('users_id_seq'));
SELECT U&"nextval"('users_id_seq');
SELECT (SELECT id FROM users WHERE id = 1 FOR UPDATE);
SELECT u.id, l.id FROM users u, LATERAL (SELECT id FROM projects WHERE owner_id = u.id LIMIT 1 FOR UPDATE) l WHERE u.id = 1;
SELECT ARRAY(SELECT id FROM users WHERE id < 3 FOR SHARE);
SELECT * FROM users WHERE id IN (SELECT id FROM users WHERE id = 1 FOR KEY SHARE);
SELECT * FROM (WITH l AS (SELECT id FROM users WHERE id = 1 FOR UPDATE) SELECT * FROM l) s;
SELECT * FROM users WHERE id = 1 /* FOR UPDATE */ FOR UPDATE OF users SKIP LOCKED;
WITH l AS (SELECT id FROM users WHERE id = 1 FOR NO KEY UPDATE NOWAIT) SELECT count(*) FROM l;
SELECT * FROM users WHERE id = 1 AND EXISTS (SELECT pg_advisory_xact_lock(hashtext('routing-7')));
SELECT pg_catalog.pg_advisory_xact_lock(hashtext('routing-8'));
SELECT "pg_advisory_xact_lock"(hashtext('routing-9'));
SELECT PG_TRY_ADVISORY_XACT_LOCK(hashtext('routing-10'));
SELECT pg_catalog.set_config('app.tenant_id', '1', false);
SELECT pg_catalog.txid_current_if_assigned();
SELECT pg_catalog.pg_current_wal_lsn();
EXPLAIN ANALYZE SELECT * INTO TEMP analyzed_users FROM users;
EXPLAIN (ANALYZE false) UPDATE users SET display_name = 'x' WHERE id = 1;
EXPLAIN (ANALYZE 0) DELETE FROM sessions WHERE false;
EXPLAIN (ANALYZE on) DELETE FROM sessions WHERE false;
EXPLAIN (ANALYZE 1) UPDATE users SET display_name = display_name WHERE false;
EXPLAIN (ANALYZE 'yes', COSTS off) UPDATE users SET display_name = display_name WHERE false;
EXPLAIN (COSTS off, ANALYZE) INSERT INTO users (email, display_name) SELECT email, display_name FROM users WHERE false;
EXPLAIN ANALYZE VERBOSE DELETE FROM sessions WHERE false;
EXPLAIN (ANALYZE) WITH d AS (DELETE FROM sessions WHERE false RETURNING id) SELECT * FROM d;
EXPLAIN WITH d AS (DELETE FROM sessions WHERE false RETURNING id) SELECT * FROM d;
WITH a AS (WITH b AS (DELETE FROM sessions WHERE false RETURNING id) SELECT * FROM b) SELECT * FROM a;

-- Transaction ids and WAL positions.
SELECT txid_current();
SELECT pg_current_xact_id();
SELECT txid_current_if_assigned();
SELECT pg_current_xact_id_if_assigned();
SELECT pg_current_wal_lsn();
SELECT pg_current_wal_insert_lsn();
SELECT pg_current_wal_flush_lsn();
SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), '0/0');

-- Advisory locks: a standby grants them, but only against its own sessions.
SELECT pg_advisory_lock(hashtext('routing-1'));
SELECT pg_try_advisory_lock(hashtext('routing-2'));
SELECT pg_advisory_xact_lock(hashtext('routing-3'));
SELECT pg_try_advisory_xact_lock(hashtext('publish:' || $1));
SELECT pg_advisory_lock_shared(hashtext('routing-4'));
SELECT id FROM users WHERE id = 1 AND pg_try_advisory_xact_lock(id + 7700000000);
SELECT pg_advisory_unlock(hashtext('routing-5'));
SELECT pg_advisory_unlock_all();

-- set_config and other session state set from a SELECT.
SELECT set_config('app.tenant_id', $1, true);
SELECT set_config('search_path', 'public', false);
SELECT set_config('statement_timeout', '10s', false) FROM users WHERE id = 1;
SELECT setseed(0.5);

-- LISTEN / NOTIFY.
LISTEN content_published;
UNLISTEN content_published;
UNLISTEN *;
NOTIFY content_published, '42';
SELECT pg_notify('content_published', $1);

-- SET, temporary objects, PREPARE, cursors.
SET search_path TO public;
SET LOCAL statement_timeout = '5s';
SET TIME ZONE 'UTC';
SET SESSION CHARACTERISTICS AS TRANSACTION ISOLATION LEVEL REPEATABLE READ;
SET TRANSACTION READ WRITE;
SET TRANSACTION ISOLATION LEVEL SERIALIZABLE;
RESET search_path;
RESET ALL;
CREATE TEMP TABLE tmp_ids (id bigint) ON COMMIT DROP;
CREATE TEMPORARY VIEW tmp_active AS SELECT id FROM users WHERE is_active;
CREATE TEMP SEQUENCE tmp_seq;
DROP TABLE IF EXISTS pg_temp.tmp_ids;
SELECT * FROM pg_temp.tmp_ids;
PREPARE get_user (bigint) AS SELECT * FROM users WHERE id = $1;
EXECUTE get_user(1);
DEALLOCATE get_user;
DEALLOCATE ALL;
DISCARD ALL;
DISCARD TEMP;
DECLARE recent_cur CURSOR FOR SELECT id FROM content ORDER BY id;
FETCH 100 FROM recent_cur;
CLOSE recent_cur;

-- Transaction control.
BEGIN;
BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY;
BEGIN ISOLATION LEVEL SERIALIZABLE;
START TRANSACTION READ WRITE;
COMMIT;
ROLLBACK;
SAVEPOINT before_publish;
RELEASE SAVEPOINT before_publish;
ROLLBACK TO SAVEPOINT before_publish;
PREPARE TRANSACTION 'publish-42';
COMMIT PREPARED 'publish-42';

-- Multi-statement text.
SELECT 1; SELECT 2;
SELECT count(*) FROM users; SELECT count(*) FROM projects;
SELECT id FROM users WHERE id = 1; UPDATE users SET last_login_at = now() WHERE id = 1;
SET search_path TO public; SELECT count(*) FROM users;
PREPARE count_users AS SELECT count(*) FROM users; EXECUTE count_users;

-- Procedural code and server functions.
DO $$ BEGIN PERFORM count(*) FROM users; END $$;
DO $$ BEGIN UPDATE users SET last_login_at = now() WHERE id = 1; END $$;
DO $$ BEGIN PERFORM pg_advisory_xact_lock(hashtext('routing-6')); END $$;
SELECT lo_create(0);
SELECT pg_cancel_backend(0);
SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'pgxperf-no-such-app';
SELECT pg_stat_reset();
SELECT pg_stat_reset_single_table_counters('users'::regclass);

-- Reads against a stale schema and unknown functions (fail on every server).
SELECT id, email, name FROM users WHERE id = $1;
SELECT * FROM users WHERE deleted_at IS NULL;
SELECT * FROM app.users u JOIN app.projects p ON p.owner_id = u.id;
SELECT publish_content($1);
SELECT app.slugify(title) FROM content;
CALL refresh_rankings(1);

-- Unparsable text.
SELEC * FROM users;
SELECT FROM WHERE;
DELETE users;
SELECT * FROM users WHERE id = ?;
SELECT * FROM users WHERE id = :id;
SELECT id FROM users WHERE id = $1 AND;
SELECT * FROM users WHERE email = 'unterminated;

-- Writes: DML.
INSERT INTO users (email, display_name) VALUES ($1, $2) RETURNING id;
INSERT INTO users (email, display_name) VALUES ($1, $2), ($3, $4), ($5, $6);
INSERT INTO users (email, display_name) SELECT unnest($1::text[]), unnest($2::text[]);
INSERT INTO content (project_id, author_id, title, body, status) VALUES ($1, $2, $3, $4, 'draft') RETURNING id, created_at;
INSERT INTO publications (content_id, project_id, platform, external_url) VALUES ($1, $2, $3, $4) ON CONFLICT (content_id, platform) DO UPDATE SET external_url = EXCLUDED.external_url, published_at = now();
INSERT INTO platform_metrics (project_id, platform_type, period_start, period_end, impressions) VALUES (1, 'blog', DATE '2025-01-01', DATE '2025-01-31', 5) ON CONFLICT DO NOTHING;
INSERT INTO sessions (user_id, token_hash, expires_at) VALUES ($1, $2, now() + interval '30 days');
INSERT INTO projects (owner_id, name, slug) SELECT id, display_name || '''s project', 'p-' || id FROM users WHERE id = $1;
INSERT INTO users (id, email, display_name) VALUES (nextval('users_id_seq'), $1, $2);
UPDATE users SET display_name = $2, last_login_at = now() WHERE id = $1;
UPDATE content SET status = 'published', published_at = now() WHERE id = $1 AND status = 'draft' RETURNING published_at;
UPDATE content c SET word_count = v.wc FROM unnest($1::bigint[], $2::int[]) AS v(id, wc) WHERE c.id = v.id;
UPDATE publications p SET attempt_count = p.attempt_count + 1 FROM content c WHERE c.id = p.content_id AND c.project_id = $1;
UPDATE projects SET settings = jsonb_set(settings, '{theme}', to_jsonb($2::text)) WHERE id = $1;
UPDATE users SET display_name = v.name FROM (VALUES (1, 'a'), (2, 'b')) AS v(id, name) WHERE users.id = v.id;
DELETE FROM sessions WHERE expires_at < now();
DELETE FROM sessions WHERE user_id = $1 RETURNING id;
DELETE FROM content c USING projects p WHERE p.id = c.project_id AND p.is_archived;
DELETE FROM users WHERE id IN (SELECT user_id FROM sessions GROUP BY user_id HAVING count(*) > 100);
MERGE INTO platform_metrics m USING (SELECT 1 AS project_id, 'blog'::platform_type AS platform_type, DATE '2025-01-01' AS period_start) s
ON m.project_id = s.project_id AND m.platform_type = s.platform_type AND m.period_start = s.period_start
WHEN MATCHED THEN UPDATE SET clicks = m.clicks + 1
WHEN NOT MATCHED THEN INSERT (project_id, platform_type, period_start, period_end) VALUES (s.project_id, s.platform_type, s.period_start, s.period_start);
COPY users (email, display_name) FROM STDIN;
COPY platform_metrics FROM STDIN WITH (FORMAT csv);
TRUNCATE sessions;
TRUNCATE TABLE platform_metrics, sessions RESTART IDENTITY CASCADE;

-- Writes: DDL, maintenance, explicit locks.
CREATE TABLE content_copy (LIKE content INCLUDING ALL);
CREATE VIEW published_content AS SELECT * FROM content WHERE status = 'published';
CREATE INDEX content_tags_idx ON content USING gin (tags);
CREATE INDEX CONCURRENTLY IF NOT EXISTS content_score_idx ON content (score);
ALTER TABLE content ADD COLUMN summary text;
ALTER TABLE users RENAME COLUMN display_name TO name;
DROP TABLE IF EXISTS tmp_ids;
DROP INDEX IF EXISTS content_tags_idx;
CREATE SEQUENCE content_seq START 1000;
CREATE FUNCTION publish_content(bigint) RETURNS void LANGUAGE sql AS $$ UPDATE content SET status = 'published' WHERE id = $1 $$;
CREATE EXTENSION IF NOT EXISTS pg_trgm;
CREATE SCHEMA IF NOT EXISTS app;
COMMENT ON TABLE content IS 'articles and pages';
GRANT SELECT ON content, publications TO PUBLIC;
CREATE DATABASE pgxperf_routing_never_created;
VACUUM ANALYZE content;
ANALYZE platform_metrics;
CLUSTER sessions USING sessions_user_id_idx;
REINDEX TABLE sessions;
LOCK TABLE content IN SHARE ROW EXCLUSIVE MODE;
LOCK TABLE users;
LOCK TABLE users IN ACCESS SHARE MODE;
LOCK TABLE projects IN ROW EXCLUSIVE MODE;
