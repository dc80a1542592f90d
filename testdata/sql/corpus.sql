-- Statements of a publishing platform (users, projects, content, publications,
-- platform_metrics, sessions), one per entry, entries separated by ";" at the
-- end of a line. Used to seed FuzzAnalyze and by TestCorpus (golden file
-- corpus.golden beside this one). Comment-only entries are skipped.
SELECT id, email, name FROM users WHERE id = $1;
SELECT id, email, name FROM users WHERE email = lower($1) AND deleted_at IS NULL;
SELECT * FROM users WHERE id = ANY($1::bigint[]);
SELECT * FROM users WHERE id IN (1, 2, 3);
SELECT * FROM users WHERE id IN ($1);
SELECT * FROM users WHERE id IN ($1, $2, $3);
SELECT u.id, u.name, count(c.id) AS posts
FROM users u
LEFT JOIN content c ON c.author_id = u.id AND c.status = 'published'
GROUP BY u.id, u.name
ORDER BY posts DESC
LIMIT 20;
SELECT p.id, p.name, p.slug FROM projects p WHERE p.owner_id = $1 ORDER BY p.created_at DESC LIMIT $2 OFFSET $3;
SELECT c.id, c.title, c.published_at FROM content c JOIN projects p ON p.id = c.project_id WHERE p.slug = $1 AND c.status = 'published' ORDER BY c.published_at DESC;
SELECT c.* FROM content c WHERE c.project_id = $1 AND c.tags && $2::text[];
SELECT c.id FROM content c WHERE c.tags @> ARRAY['go', 'postgres'];
SELECT id, title FROM content WHERE to_tsvector('english', title || ' ' || body) @@ websearch_to_tsquery('english', $1);
SELECT id, ts_rank(to_tsvector('english', body), plainto_tsquery('english', $1)) AS rank FROM content ORDER BY rank DESC LIMIT 10;
SELECT date_trunc('day', recorded_at) AS day, metric, avg(value), max(value), min(value)
FROM platform_metrics
WHERE recorded_at >= now() - interval '7 days'
GROUP BY 1, 2
ORDER BY 1;
SELECT metric, percentile_cont(0.95) WITHIN GROUP (ORDER BY value) FROM platform_metrics WHERE recorded_at > $1 GROUP BY metric;
SELECT extract(epoch FROM now() - max(recorded_at)) FROM platform_metrics;
SELECT date_part('hour', published_at), count(*) FROM publications GROUP BY 1;
SELECT to_char(published_at, 'YYYY-MM'), sum(views) FROM publications GROUP BY 1 ORDER BY 1;
SELECT * FROM sessions WHERE token = $1 AND expires_at > CURRENT_TIMESTAMP;
SELECT s.user_id, s.last_seen_at FROM sessions s WHERE s.expires_at > now() AND s.ip << '10.0.0.0/8'::inet;
SELECT count(*) FROM sessions WHERE expires_at < clock_timestamp();
SELECT u.id, u.name, p.name AS project FROM users u JOIN projects p ON p.owner_id = u.id WHERE u.id = ANY($1);
SELECT c.id, c.title, pub.channel, pub.url FROM content c LEFT JOIN publications pub ON pub.content_id = c.id WHERE c.author_id = $1;
SELECT c.id, (SELECT count(*) FROM publications pub WHERE pub.content_id = c.id) AS pubs FROM content c WHERE c.project_id = $1;
SELECT * FROM content c WHERE EXISTS (SELECT 1 FROM publications p WHERE p.content_id = c.id AND p.channel = $1);
SELECT * FROM content WHERE author_id IN (SELECT id FROM users WHERE role = 'editor');
SELECT * FROM users WHERE NOT EXISTS (SELECT 1 FROM sessions WHERE sessions.user_id = users.id);
SELECT id, title, row_number() OVER (PARTITION BY project_id ORDER BY published_at DESC) AS rn FROM content;
SELECT id, lag(published_at) OVER w, lead(published_at) OVER w FROM content WINDOW w AS (PARTITION BY author_id ORDER BY published_at);
SELECT author_id, rank() OVER (ORDER BY sum(word_count) DESC), dense_rank() OVER (ORDER BY count(*) DESC) FROM content GROUP BY author_id;
SELECT project_id, string_agg(title, ', ' ORDER BY title), array_agg(id) FROM content GROUP BY project_id;
SELECT json_build_object('id', u.id, 'name', u.name, 'projects', (SELECT json_agg(p.name) FROM projects p WHERE p.owner_id = u.id)) FROM users u WHERE u.id = $1;
SELECT jsonb_agg(jsonb_build_object('id', id, 'title', title)) FROM content WHERE project_id = $1;
SELECT settings->>'theme', settings->'features' FROM projects WHERE id = $1;
SELECT id FROM projects WHERE settings @> '{"public": true}'::jsonb;
SELECT id, jsonb_array_length(settings->'members') FROM projects WHERE jsonb_typeof(settings->'members') = 'array';
SELECT key, value FROM projects, jsonb_each_text(settings) WHERE projects.id = $1;
SELECT coalesce(name, email), upper(substring(name FROM 1 FOR 1)), length(bio) FROM users;
SELECT greatest(updated_at, published_at), least(word_count, 1000) FROM content;
SELECT trim(both ' ' FROM title), lower(title), concat(title, ' (', id, ')') FROM content;
SELECT md5(email), gen_random_uuid(), random() FROM users LIMIT 1;
SELECT abs(value - $1), round(value::numeric, 2) FROM platform_metrics WHERE metric = $2;
SELECT generate_series(1, 10);
SELECT d::date FROM generate_series(now() - interval '30 days', now(), interval '1 day') AS d;
SELECT unnest(tags) AS tag, count(*) FROM content GROUP BY tag ORDER BY count(*) DESC;
SELECT * FROM unnest($1::bigint[]) AS ids(id) JOIN users u USING (id);
SELECT * FROM users u JOIN unnest($1::bigint[]) WITH ORDINALITY AS t(id, ord) ON t.id = u.id ORDER BY t.ord;
SELECT DISTINCT ON (author_id) author_id, id, published_at FROM content ORDER BY author_id, published_at DESC;
SELECT author_id, count(*) FILTER (WHERE status = 'draft') AS drafts FROM content GROUP BY author_id HAVING count(*) > 5;
SELECT CASE WHEN word_count > 1000 THEN 'long' ELSE 'short' END, count(*) FROM content GROUP BY 1;
SELECT id FROM content WHERE published_at BETWEEN $1 AND $2;
SELECT id FROM content WHERE title ILIKE '%' || $1 || '%';
SELECT id FROM users WHERE email ~* '^admin@';
SELECT id, name FROM users ORDER BY id LIMIT 100;
SELECT id FROM users WHERE id > $1 ORDER BY id LIMIT $2;
SELECT 1;
SELECT $1::int;
SELECT now();
SELECT version();
SELECT current_setting('server_version_num');
SELECT pg_is_in_recovery();
SELECT pg_last_wal_replay_lsn(), pg_last_xact_replay_timestamp();
SELECT pg_backend_pid();
SELECT current_database(), current_user, session_user, current_schema();
SELECT pg_size_pretty(pg_total_relation_size('content'));
SELECT relname, n_live_tup FROM pg_stat_user_tables ORDER BY n_live_tup DESC;
SELECT pid, state, query FROM pg_stat_activity WHERE datname = current_database();
SELECT count(*) FROM pg_locks WHERE NOT granted;
SELECT pg_sleep(0.01);
VALUES (1, 'a'), (2, 'b');
VALUES (1);
TABLE users;
TABLE public.projects;
SELECT * FROM public.users WHERE id = $1;
SELECT * FROM app.users u JOIN app.projects p ON p.owner_id = u.id;
SELECT id FROM users UNION SELECT author_id FROM content UNION ALL SELECT user_id FROM sessions;
SELECT id FROM users EXCEPT SELECT user_id FROM sessions;
SELECT id FROM users INTERSECT SELECT author_id FROM content;
WITH recent AS (
  SELECT * FROM content WHERE published_at > now() - interval '1 day'
)
SELECT r.id, u.name FROM recent r JOIN users u ON u.id = r.author_id;
WITH authors AS (SELECT DISTINCT author_id FROM content), active AS (SELECT user_id FROM sessions WHERE expires_at > now())
SELECT * FROM authors JOIN active ON active.user_id = authors.author_id;
WITH RECURSIVE tree AS (
  SELECT id, parent_id, 1 AS depth FROM projects WHERE id = $1
  UNION ALL
  SELECT p.id, p.parent_id, t.depth + 1 FROM projects p JOIN tree t ON p.parent_id = t.id
)
SELECT * FROM tree;
WITH content AS (SELECT * FROM content WHERE status = 'published') SELECT count(*) FROM content;
SELECT * FROM users u, LATERAL (SELECT * FROM content c WHERE c.author_id = u.id ORDER BY published_at DESC LIMIT 3) latest;
SELECT * FROM content TABLESAMPLE SYSTEM (1);
SELECT id FROM content WHERE status = 'queued' ORDER BY id LIMIT 10 FOR UPDATE SKIP LOCKED;
SELECT * FROM users WHERE id = $1 FOR UPDATE;
SELECT * FROM users WHERE id = $1 FOR UPDATE NOWAIT;
SELECT * FROM projects WHERE id = $1 FOR NO KEY UPDATE;
SELECT * FROM projects WHERE id = $1 FOR SHARE;
SELECT * FROM projects WHERE id = $1 FOR KEY SHARE SKIP LOCKED;
SELECT * FROM content c JOIN users u ON u.id = c.author_id WHERE c.id = $1 FOR UPDATE OF c;
SELECT * INTO TEMP recent_content FROM content WHERE published_at > now() - interval '1 hour';
SELECT id, email INTO archived_users FROM users WHERE deleted_at IS NOT NULL;
SELECT nextval('content_id_seq');
SELECT setval('content_id_seq', (SELECT max(id) FROM content));
SELECT currval('content_id_seq');
SELECT lastval();
SELECT txid_current();
SELECT pg_current_xact_id();
SELECT pg_current_wal_lsn();
SELECT pg_current_wal_insert_lsn();
SELECT pg_advisory_lock($1);
SELECT pg_try_advisory_xact_lock(hashtext('publish:' || $1));
SELECT pg_advisory_unlock_all();
SELECT set_config('app.tenant_id', $1, true);
SELECT pg_notify('content_published', $1);
SELECT lo_create(0);
SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = 'app' AND state = 'idle';
SELECT pg_cancel_backend($1);
SELECT pg_reload_conf();
SELECT pg_stat_reset();
SELECT dblink_exec('dbname=other', 'DELETE FROM audit');
SELECT publish_content($1);
SELECT app.slugify(title) FROM content;
SELECT id FROM content WHERE app.is_visible(content, $1);
INSERT INTO users (email, name) VALUES ($1, $2) RETURNING id;
INSERT INTO users (email, name) VALUES ($1, $2), ($3, $4), ($5, $6);
INSERT INTO users (email, name) VALUES ('a@example.com', 'A'), ('b@example.com', 'B');
INSERT INTO users (email, name) SELECT unnest($1::text[]), unnest($2::text[]);
INSERT INTO content (project_id, author_id, title, body, status) VALUES ($1, $2, $3, $4, 'draft') RETURNING id, created_at;
INSERT INTO publications (content_id, channel, url) VALUES ($1, $2, $3) ON CONFLICT (content_id, channel) DO UPDATE SET url = EXCLUDED.url, published_at = now();
INSERT INTO platform_metrics (metric, value, recorded_at) VALUES ($1, $2, now()) ON CONFLICT DO NOTHING;
INSERT INTO sessions (id, user_id, token, expires_at) VALUES (gen_random_uuid(), $1, $2, now() + interval '30 days');
INSERT INTO projects (owner_id, name, slug) SELECT id, name || '''s project', lower(name) FROM users WHERE id = $1;
INSERT INTO content_archive SELECT * FROM content WHERE status = 'archived';
INSERT INTO platform_metrics (metric, value) SELECT * FROM jsonb_to_recordset($1::jsonb) AS x(metric text, value float8);
INSERT INTO users (id, email) VALUES (nextval('users_id_seq'), $1);
UPDATE users SET name = $2, updated_at = now() WHERE id = $1;
UPDATE content SET status = 'published', published_at = now() WHERE id = $1 AND status = 'draft' RETURNING published_at;
UPDATE content c SET word_count = v.wc FROM unnest($1::bigint[], $2::int[]) AS v(id, wc) WHERE c.id = v.id;
UPDATE content SET status = 'archived' WHERE id = ANY($1);
UPDATE publications p SET views = p.views + 1 FROM content c WHERE c.id = p.content_id AND c.project_id = $1;
UPDATE sessions SET last_seen_at = now() WHERE id = $1;
UPDATE projects SET settings = jsonb_set(settings, '{theme}', to_jsonb($2::text)) WHERE id = $1;
UPDATE users SET name = v.name FROM (VALUES (1, 'a'), (2, 'b')) AS v(id, name) WHERE users.id = v.id;
DELETE FROM sessions WHERE expires_at < now();
DELETE FROM sessions WHERE user_id = $1 RETURNING id;
DELETE FROM content c USING projects p WHERE p.id = c.project_id AND p.deleted_at IS NOT NULL;
DELETE FROM platform_metrics WHERE recorded_at < now() - interval '90 days';
DELETE FROM users WHERE id IN (SELECT user_id FROM sessions GROUP BY user_id HAVING count(*) > 100);
MERGE INTO platform_metrics m USING (SELECT $1::text AS metric, $2::float8 AS value) s ON m.metric = s.metric
WHEN MATCHED THEN UPDATE SET value = s.value
WHEN NOT MATCHED THEN INSERT (metric, value) VALUES (s.metric, s.value);
MERGE INTO content c USING staging_content s ON c.id = s.id WHEN MATCHED AND s.deleted THEN DELETE WHEN NOT MATCHED THEN DO NOTHING;
WITH moved AS (DELETE FROM sessions WHERE expires_at < now() RETURNING *) INSERT INTO sessions_archive SELECT * FROM moved;
WITH upd AS (UPDATE content SET status = 'published' WHERE id = $1 RETURNING id, project_id) SELECT * FROM upd JOIN projects p ON p.id = upd.project_id;
WITH ins AS (INSERT INTO users (email) VALUES ($1) RETURNING id) SELECT id FROM ins;
WITH claimed AS (SELECT id FROM content WHERE status = 'queued' LIMIT 10 FOR UPDATE SKIP LOCKED) UPDATE content SET status = 'processing' FROM claimed WHERE content.id = claimed.id RETURNING content.id;
COPY users (id, email, name) FROM STDIN;
COPY platform_metrics FROM STDIN WITH (FORMAT csv);
COPY (SELECT id, title FROM content WHERE status = 'published') TO STDOUT WITH (FORMAT csv, HEADER);
COPY users TO STDOUT;
TRUNCATE sessions;
TRUNCATE TABLE platform_metrics, sessions RESTART IDENTITY CASCADE;
CREATE TABLE IF NOT EXISTS users (id bigserial PRIMARY KEY, email text NOT NULL UNIQUE, name text, role text NOT NULL DEFAULT 'author', created_at timestamptz NOT NULL DEFAULT now(), deleted_at timestamptz);
CREATE TABLE projects (id bigserial PRIMARY KEY, owner_id bigint NOT NULL REFERENCES users (id), parent_id bigint REFERENCES projects (id), name text NOT NULL, slug text UNIQUE, settings jsonb NOT NULL DEFAULT '{}');
CREATE TABLE content (id bigserial PRIMARY KEY, project_id bigint REFERENCES projects, author_id bigint REFERENCES users, title text, body text, status text, tags text[], word_count int, published_at timestamptz, updated_at timestamptz);
CREATE TEMP TABLE tmp_ids (id bigint) ON COMMIT DROP;
CREATE TABLE content_2024 PARTITION OF content_partitioned FOR VALUES FROM ('2024-01-01') TO ('2025-01-01');
CREATE TABLE content_copy (LIKE content INCLUDING ALL);
CREATE TABLE top_authors AS SELECT author_id, count(*) FROM content GROUP BY author_id;
CREATE MATERIALIZED VIEW daily_views AS SELECT date_trunc('day', published_at) AS day, sum(views) FROM publications GROUP BY 1;
REFRESH MATERIALIZED VIEW CONCURRENTLY daily_views;
CREATE VIEW published_content AS SELECT * FROM content WHERE status = 'published';
CREATE INDEX CONCURRENTLY IF NOT EXISTS content_project_idx ON content (project_id, published_at DESC);
CREATE UNIQUE INDEX sessions_token_idx ON sessions (token);
CREATE INDEX content_tags_idx ON content USING gin (tags);
ALTER TABLE content ADD COLUMN summary text;
ALTER TABLE content ADD CONSTRAINT content_author_fk FOREIGN KEY (author_id) REFERENCES users (id);
ALTER TABLE users RENAME COLUMN name TO display_name;
ALTER TABLE IF EXISTS public.sessions ALTER COLUMN ip TYPE inet USING ip::inet;
DROP TABLE IF EXISTS tmp_ids;
DROP INDEX CONCURRENTLY content_tags_idx;
DROP VIEW published_content, public.old_view CASCADE;
DROP FUNCTION IF EXISTS publish_content(bigint);
CREATE SEQUENCE content_seq START 1000;
CREATE FUNCTION publish_content(bigint) RETURNS void LANGUAGE sql AS $$ UPDATE content SET status = 'published' WHERE id = $1 $$;
CREATE OR REPLACE FUNCTION touch_updated_at() RETURNS trigger LANGUAGE plpgsql AS $fn$ BEGIN NEW.updated_at := now(); RETURN NEW; END $fn$;
CREATE TRIGGER content_touch BEFORE UPDATE ON content FOR EACH ROW EXECUTE FUNCTION touch_updated_at();
CREATE EXTENSION IF NOT EXISTS pg_trgm;
CREATE SCHEMA IF NOT EXISTS app;
CREATE TYPE content_status AS ENUM ('draft', 'published', 'archived');
COMMENT ON TABLE content IS 'articles and pages';
GRANT SELECT ON content, publications TO reporting;
REVOKE ALL ON sessions FROM public;
CREATE ROLE reporting NOLOGIN;
CREATE POLICY owner_only ON projects USING (owner_id = current_setting('app.user_id')::bigint);
BEGIN;
BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY;
START TRANSACTION;
COMMIT;
END;
ROLLBACK;
ABORT;
SAVEPOINT before_publish;
RELEASE SAVEPOINT before_publish;
ROLLBACK TO SAVEPOINT before_publish;
PREPARE TRANSACTION 'publish-42';
COMMIT PREPARED 'publish-42';
ROLLBACK PREPARED 'publish-42';
SET search_path TO app, public;
SET LOCAL statement_timeout = '5s';
SET TIME ZONE 'UTC';
RESET search_path;
RESET ALL;
SHOW search_path;
SHOW transaction_isolation;
SHOW ALL;
EXPLAIN SELECT * FROM content WHERE project_id = 1;
EXPLAIN (FORMAT JSON) SELECT * FROM users WHERE id = $1;
EXPLAIN ANALYZE SELECT * FROM content WHERE project_id = 1;
EXPLAIN (ANALYZE, BUFFERS) SELECT count(*) FROM publications;
EXPLAIN ANALYZE DELETE FROM sessions WHERE expires_at < now();
EXPLAIN (ANALYZE false) UPDATE users SET name = 'x';
EXPLAIN UPDATE users SET name = 'x' WHERE id = 1;
EXPLAIN ANALYZE SELECT nextval('content_id_seq');
LISTEN content_published;
UNLISTEN *;
NOTIFY content_published, '42';
PREPARE get_user (bigint) AS SELECT * FROM users WHERE id = $1;
EXECUTE get_user(1);
DEALLOCATE get_user;
DEALLOCATE ALL;
DISCARD ALL;
VACUUM ANALYZE content;
VACUUM (VERBOSE) sessions;
ANALYZE platform_metrics;
LOCK TABLE content IN SHARE ROW EXCLUSIVE MODE;
DO $$ BEGIN PERFORM pg_sleep(1); END $$;
CALL refresh_rankings($1);
CHECKPOINT;
CLUSTER content USING content_project_idx;
REINDEX TABLE content;
DECLARE c CURSOR FOR SELECT * FROM content;
FETCH 100 FROM c;
CLOSE c;
SELECT 1; SELECT 2;
INSERT INTO sessions (user_id) VALUES (1); DELETE FROM sessions WHERE user_id = 2;
-- name: GetUser :one
SELECT id, email, name FROM users WHERE id = $1 LIMIT 1;
-- name: ListUsers :many
SELECT id, email, name FROM users ORDER BY name;
-- name: ListUsersByIDs :many
SELECT * FROM users WHERE id = ANY($1::bigint[]);
-- name: CreateUser :one
INSERT INTO users (email, name) VALUES ($1, $2) RETURNING *;
-- name: DeleteUser :exec
DELETE FROM users WHERE id = $1;
-- name: PublishContent :execrows
UPDATE content SET status = 'published' WHERE id = $1;
-- name: CreateProject :execresult
INSERT INTO projects (owner_id, name) VALUES ($1, $2);
-- name: CreateMetric :execlastid
INSERT INTO platform_metrics (metric, value) VALUES ($1, $2);
-- name: TouchSessions :batchexec
UPDATE sessions SET last_seen_at = now() WHERE id = $1;
-- name: GetProjects :batchmany
SELECT * FROM projects WHERE owner_id = $1;
-- name: GetContent :batchone
SELECT * FROM content WHERE id = $1;
-- name: CopyMetrics :copyfrom
INSERT INTO platform_metrics (metric, value) VALUES ($1, $2);
-- name: CountContent :one
-- Counts a project's content.
SELECT count(*) FROM content WHERE project_id = @project_id;
SELECT * FROM users WHERE id = @id;
SELECT * FROM content WHERE project_id = @project_id AND status = @status ORDER BY published_at DESC LIMIT @limit;
UPDATE users SET name = @name WHERE id = @id;
SELECT * FROM users WHERE email = '@not_an_arg' AND id = @id;
/* leading block comment */ SELECT id FROM users;
SELECT id FROM users -- trailing comment
WHERE id = 1;
SELECT * FROM "Users" WHERE "Name" = $1;
SELECT E'tab\there', $tag$dollar 'quoted'$tag$, B'1010', X'1F', U&'\0041';
SELECT id FROM users WHERE id = $1 AND;
SELECT * FROM users WHERE name = 'unterminated;
SELEC * FROM users;
SELECT FROM WHERE;
DELETE users;
SELECT * FROM users WHERE id = ?;
SELECT * FROM users WHERE id = :id;
