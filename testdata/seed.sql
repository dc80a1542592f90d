-- pgxperf seed data for schema.sql: deterministic, arithmetic only (no random()),
-- so every load yields byte-identical rows and tests may assert on exact values.
--
--   users              2,000   ids 1..2000; every 17th inactive; every 5th never logged in
--   projects           5,000   ids 1..5000; owner_id = 1 + ((id - 1) * 7) % 2000
--   content           50,000   ids 1..50000; project_id = 1 + (id - 1) % 5000 (10 per project);
--                              status by id % 10: 0-5 published, 6 draft, 7 review, 8 scheduled, 9 archived
--   publications     100,000   two per content row (different platforms), same project as the content
--   platform_metrics  60,000   every project x 3 platforms x 4 months (2025-01 .. 2025-04)
--   sessions          10,000   even n expired in 2025, odd n expire after 2030-01-01
--
-- Timestamps are fixed (2024-2030, UTC), never now(). Identity sequences are
-- advanced past the seeded ids so tests can INSERT without giving ids.
-- Loads in a few seconds; ends with ANALYZE so plans are realistic at once.

-- timestamptz + '1 day' depends on the session time zone (DST); pin it so the
-- rows are identical wherever the seed is loaded. This stays set for the rest of
-- the session that loads the seed.
SET TimeZone = 'UTC';

-- The rows below satisfy every foreign key by construction, so when the loading
-- role is a superuser the per-row FK triggers are skipped, as pg_dump
-- --disable-triggers does; that makes the load about three times faster. Other
-- roles load with the checks on. Reset at the end.
SELECT set_config('session_replication_role', 'replica', false)
WHERE (SELECT rolsuper FROM pg_roles WHERE rolname = current_user);

INSERT INTO users (id, external_id, email, display_name, role, is_active, settings, interests,
                   credit_balance, created_at, last_login_at)
SELECT i,
       md5('user:' || i)::uuid,
       'user' || lpad(i::text, 4, '0') || '@example.com',
       CASE WHEN i % 50 = 0 THEN 'Zoë Ünal-Çelik №' || i ELSE 'User ' || i END,
       CASE WHEN i % 100 = 0 THEN 'admin' WHEN i % 10 = 0 THEN 'editor' ELSE 'member' END,
       i % 17 <> 0,
       jsonb_build_object(
           'theme', (ARRAY['light', 'dark', 'system'])[1 + i % 3],
           'notifications', i % 2 = 0,
           'timezone', (ARRAY['UTC', 'Europe/Berlin', 'America/New_York', 'Asia/Tokyo'])[1 + i % 4],
           'digest', jsonb_build_object('frequency', (ARRAY['daily', 'weekly', 'never'])[1 + i % 3],
                                        'hour', i % 24)),
       ARRAY[(ARRAY['go', 'postgres', 'redis', 'devops', 'design', 'marketing', 'ai', 'security'])[1 + i % 8],
             (ARRAY['go', 'postgres', 'redis', 'devops', 'design', 'marketing', 'ai', 'security'])[1 + (i * 3 + 1) % 8]],
       ((i * 3709) % 1000000) / 100.0,
       timestamptz '2024-01-01 00:00:00+00' + i * interval '4 hours 23 minutes',
       CASE WHEN i % 5 = 0 THEN NULL
            ELSE timestamptz '2024-01-01 00:00:00+00' + i * interval '4 hours 23 minutes' + (i % 300) * interval '1 day 17 minutes' END
FROM generate_series(1, 2000) AS i;

INSERT INTO projects (id, owner_id, name, slug, description, topics, settings, budget, is_archived,
                      created_at, updated_at)
SELECT i,
       1 + ((i - 1) * 7) % 2000,
       'Project ' || i,
       'project-' || i,
       CASE WHEN i % 4 = 0 THEN NULL ELSE 'Publishing project number ' || i || ' about ' || (ARRAY['go', 'postgres', 'redis', 'devops', 'design'])[1 + i % 5] END,
       CASE WHEN i % 9 = 0 THEN '{}'::text[]
            ELSE ARRAY[(ARRAY['go', 'postgres', 'redis', 'devops', 'design', 'marketing'])[1 + i % 6], 'topic-' || (i % 40)] END,
       jsonb_build_object('visibility', CASE WHEN i % 3 = 0 THEN 'private' ELSE 'public' END,
                          'default_platforms', to_jsonb(ARRAY['blog', (ARRAY['twitter', 'linkedin', 'mastodon'])[1 + i % 3]]),
                          'limits', jsonb_build_object('posts_per_day', 1 + i % 10)),
       CASE WHEN i % 3 = 0 THEN NULL ELSE (i % 1000) * 12.5 END,
       i % 20 = 0,
       timestamptz '2024-03-01 00:00:00+00' + i * interval '97 minutes',
       timestamptz '2024-03-01 00:00:00+00' + i * interval '97 minutes' + (i % 90) * interval '1 day'
FROM generate_series(1, 5000) AS i;

INSERT INTO content (id, external_id, project_id, author_id, title, body, language, status, tags, metadata,
                     word_count, reading_time, score, content_hash, created_at, updated_at, published_at)
SELECT i,
       md5('content:' || i)::uuid,
       1 + (i - 1) % 5000,
       1 + (i * 13) % 2000,
       CASE WHEN i % 50 = 0 THEN 'Café naïve résumé — post ' || i || ' 🚀'
            ELSE 'Post ' || i || ': notes on ' || (ARRAY['go', 'postgres', 'redis', 'devops', 'design', 'marketing', 'ai'])[1 + i % 7] END,
       repeat('Lorem ipsum dolor sit amet, consectetur adipiscing elit. ', 1 + i % 5) || 'Post ' || i || '.',
       (ARRAY['en', 'de', 'fr', 'es', 'pt-BR'])[1 + i % 5],
       (ARRAY['published', 'published', 'published', 'published', 'published', 'published',
              'draft', 'review', 'scheduled', 'archived']::content_status[])[1 + i % 10],
       CASE WHEN i % 7 = 0 THEN '{}'::text[]
            ELSE ARRAY['tag-' || (i % 100), (ARRAY['howto', 'news', 'opinion', 'release'])[1 + i % 4]] END,
       jsonb_build_object('source', (ARRAY['editor', 'import', 'api'])[1 + i % 3],
                          'revision', i % 7,
                          'seo', jsonb_build_object('noindex', i % 11 = 0,
                                                    'keywords', to_jsonb(ARRAY['k' || (i % 13), 'k' || (i % 17)]))),
       50 + (i * 37) % 3000,
       CASE WHEN i % 11 = 0 THEN NULL ELSE (50 + (i * 37) % 3000) * interval '300 milliseconds' END,
       CASE WHEN i % 13 = 0 THEN NULL ELSE ((i * 7919) % 10000) / 100.0 END,
       decode(md5('content-body:' || i), 'hex'),
       timestamptz '2024-06-01 00:00:00+00' + i * interval '7 minutes',
       timestamptz '2024-06-01 00:00:00+00' + i * interval '7 minutes' + (i % 30) * interval '1 day',
       CASE WHEN i % 10 <= 5 OR i % 10 = 9
            THEN timestamptz '2024-06-01 00:00:00+00' + i * interval '7 minutes' + (1 + i % 72) * interval '1 hour' END
FROM generate_series(1, 50000) AS i;

-- Publication j belongs to content c = 1 + (j - 1) / 2; its second publication
-- (k = 1) uses a platform three places further along, so (content_id, platform)
-- is unique. Published content has mostly published publications; the rest queue.
INSERT INTO publications (id, content_id, project_id, platform, status, external_url, attempt_count,
                          error_message, response, scheduled_for, published_at, created_at)
SELECT j,
       c,
       1 + (c - 1) % 5000,
       (ARRAY['blog', 'newsletter', 'twitter', 'linkedin', 'mastodon', 'youtube']::platform_type[])[1 + (c + k * 3) % 6],
       st,
       CASE WHEN st IN ('published', 'retracted') THEN 'https://' || (1 + (c + k * 3) % 6) || '.platform.example/p/' || j END,
       CASE WHEN st = 'queued' THEN 0 ELSE 1 + j % 3 END,
       CASE WHEN st = 'failed' THEN (ARRAY['rate limited (HTTP 429)', 'timeout after 30s'])[1 + j % 2] END,
       CASE WHEN st = 'published' THEN jsonb_build_object('id', 'ext-' || j, 'status', 201, 'ok', true) END,
       timestamptz '2024-06-01 00:00:00+00' + c * interval '7 minutes' + interval '1 day',
       CASE WHEN st IN ('published', 'retracted')
            THEN timestamptz '2024-06-01 00:00:00+00' + c * interval '7 minutes' + interval '1 day' + (j % 60) * interval '1 minute' END,
       timestamptz '2024-06-01 00:00:00+00' + c * interval '7 minutes' + interval '1 hour' + k * interval '5 minutes'
FROM (SELECT j, 1 + (j - 1) / 2 AS c, (j - 1) % 2 AS k,
             CASE WHEN (1 + (j - 1) / 2) % 10 > 5 THEN 'queued'
                  WHEN j % 7 = 3 THEN 'failed'
                  WHEN j % 13 = 5 THEN 'retracted'
                  ELSE 'published' END::publication_status AS st
      FROM generate_series(1, 100000) AS j) AS p;

-- Metric row n: project 1 + n % 5000, q = n / 5000 in 0..11 picks one of the
-- project's three platforms (q % 3) and one of four months (q / 3).
INSERT INTO platform_metrics (id, project_id, platform_type, period_start, period_end, impressions, clicks,
                              engagement_rate, revenue, dimensions, recorded_at)
SELECT n + 1,
       pid,
       (ARRAY['blog', 'newsletter', 'twitter', 'linkedin', 'mastodon', 'youtube']::platform_type[])[1 + (pid + (q % 3) * 2) % 6],
       ps,
       (ps + interval '1 month' - interval '1 day')::date,
       imp,
       (imp / (20 + n % 50))::integer,
       round((imp / (20 + n % 50))::numeric / imp, 4),
       round(((n * 7) % 100000) / 100.0, 2),
       jsonb_build_object('country', (ARRAY['DE', 'US', 'FR', 'JP', 'BR'])[1 + n % 5],
                          'device', jsonb_build_object('mobile', n % 100, 'desktop', 100 - n % 100)),
       (ps + interval '1 month')::timestamp AT TIME ZONE 'UTC' + interval '2 hours'
FROM (SELECT n, 1 + n % 5000 AS pid, n / 5000 AS q,
             (date '2025-01-01' + (n / 5000 / 3) * interval '1 month')::date AS ps,
             CASE WHEN n % 997 = 0 THEN 3000000000 + n   -- a few values beyond int4
                  ELSE 1000 + ((1 + n % 5000) * 7919 + (n / 5000) * 104729) % 1000000 END::bigint AS imp
      FROM generate_series(0, 59999) AS n) AS m;

INSERT INTO sessions (id, user_id, token_hash, ip_address, user_agent, data, revoked, created_at,
                      last_seen_at, expires_at)
SELECT md5('session:' || n)::uuid,
       1 + (n * 3) % 2000,
       sha256(convert_to('token:' || n, 'UTF8')),
       CASE WHEN n % 10 = 0 THEN ('2001:db8::' || to_hex(n))::inet
            WHEN n % 23 = 0 THEN NULL
            ELSE ('10.' || (n / 65536) % 256 || '.' || (n / 256) % 256 || '.' || n % 256)::inet END,
       CASE WHEN n % 7 = 0 THEN NULL
            ELSE (ARRAY['Mozilla/5.0 (X11; Linux x86_64)', 'Mozilla/5.0 (Macintosh)', 'curl/8.5.0', 'pgxperf-test/1.0'])[1 + n % 4] END,
       jsonb_build_object('csrf', md5('csrf:' || n), 'mfa', n % 3 = 0),
       n % 25 = 0,
       timestamptz '2025-01-01 00:00:00+00' + n * interval '30 minutes',
       CASE WHEN n % 4 = 0 THEN NULL ELSE timestamptz '2025-01-01 00:00:00+00' + n * interval '30 minutes' + (n % 600) * interval '1 minute' END,
       CASE WHEN n % 2 = 0 THEN timestamptz '2025-01-01 00:00:00+00' + n * interval '30 minutes' + interval '30 days'
            ELSE timestamptz '2030-01-01 00:00:00+00' + n * interval '1 hour' END
FROM generate_series(1, 10000) AS n;

SELECT setval(pg_get_serial_sequence('users', 'id'), 2000),
       setval(pg_get_serial_sequence('projects', 'id'), 5000),
       setval(pg_get_serial_sequence('content', 'id'), 50000),
       setval(pg_get_serial_sequence('publications', 'id'), 100000),
       setval(pg_get_serial_sequence('platform_metrics', 'id'), 60000);

SELECT set_config('session_replication_role', 'origin', false)
WHERE current_setting('session_replication_role') <> 'origin';

ANALYZE users, projects, content, publications, platform_metrics, sessions;
