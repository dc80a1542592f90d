package rowcodec_test

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/pgxtest"
	"github.com/klauspost/compress/s2"
	"github.com/stretchr/testify/require"

	"github.com/pgxperf/pgxperf/internal/rowcodec"
	"github.com/pgxperf/pgxperf/internal/testenv"
)

// Structs covering every column of the testdata schema, for RowToStructByName.

type fidelityUser struct {
	ID            int64          `db:"id"`
	ExternalID    pgtype.UUID    `db:"external_id"`
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

type fidelityProject struct {
	ID          int64          `db:"id"`
	OwnerID     int64          `db:"owner_id"`
	Name        string         `db:"name"`
	Slug        string         `db:"slug"`
	Description *string        `db:"description"`
	Topics      []string       `db:"topics"`
	Settings    map[string]any `db:"settings"`
	Budget      pgtype.Numeric `db:"budget"`
	IsArchived  bool           `db:"is_archived"`
	CreatedAt   time.Time      `db:"created_at"`
	UpdatedAt   time.Time      `db:"updated_at"`
}

type fidelityContent struct {
	ID          int64           `db:"id"`
	ExternalID  [16]byte        `db:"external_id"`
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

type fidelityPublication struct {
	ID           int64          `db:"id"`
	ContentID    int64          `db:"content_id"`
	ProjectID    int64          `db:"project_id"`
	Platform     string         `db:"platform"`
	Status       string         `db:"status"`
	ExternalURL  *string        `db:"external_url"`
	AttemptCount int16          `db:"attempt_count"`
	ErrorMessage *string        `db:"error_message"`
	Response     map[string]any `db:"response"`
	ScheduledFor *time.Time     `db:"scheduled_for"`
	PublishedAt  *time.Time     `db:"published_at"`
	CreatedAt    time.Time      `db:"created_at"`
}

type fidelityMetric struct {
	ID             int64          `db:"id"`
	ProjectID      int64          `db:"project_id"`
	PlatformType   string         `db:"platform_type"`
	PeriodStart    time.Time      `db:"period_start"`
	PeriodEnd      pgtype.Date    `db:"period_end"`
	Impressions    int64          `db:"impressions"`
	Clicks         int32          `db:"clicks"`
	EngagementRate pgtype.Numeric `db:"engagement_rate"`
	Revenue        float64        `db:"revenue"`
	Dimensions     map[string]any `db:"dimensions"`
	RecordedAt     time.Time      `db:"recorded_at"`
}

type fidelitySession struct {
	ID         pgtype.UUID    `db:"id"`
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

// fidelityTables lists every table of testdata/schema.sql with a check that
// compares a replay with the database through RowToStructByName.
var fidelityTables = map[string]func(t testing.TB, live, hit pgx.Rows){
	"users":            requireSameStructs[fidelityUser],
	"projects":         requireSameStructs[fidelityProject],
	"content":          requireSameStructs[fidelityContent],
	"publications":     requireSameStructs[fidelityPublication],
	"platform_metrics": requireSameStructs[fidelityMetric],
	"sessions":         requireSameStructs[fidelitySession],
}

// The result formats each exec mode is tried with: pgx's choice (binary for
// the types it knows, in the modes that describe statements), all text, all
// binary (QueryResultFormats takes effect in the describing modes).
var fidelityFormats = []struct {
	name string
	args []any
}{
	{"default", nil},
	{"text", []any{pgx.QueryResultFormats{pgx.TextFormatCode}}},
	{"binary", []any{pgx.QueryResultFormats{pgx.BinaryFormatCode}}},
}

func fidelityRunner(t testing.TB) pgxtest.ConnTestRunner {
	dsn := testenv.SharedSeededDatabase(t)
	ctr := pgxtest.DefaultConnTestRunner()
	ctr.CreateConfig = func(ctx context.Context, t testing.TB) *pgx.ConnConfig {
		cfg, err := pgx.ParseConfig(dsn)
		require.NoError(t, err)
		return cfg
	}
	return ctr
}

// roundTrip captures rows without a size limit, encodes and decodes the
// result, and returns it.
func roundTrip(t testing.TB, rows pgx.Rows) *rowcodec.Result {
	t.Helper()
	res, err := rowcodec.Capture(rows, 0)
	require.NoError(t, err)
	data, err := rowcodec.Append(nil, res)
	require.NoError(t, err)
	got, err := rowcodec.Decode(data)
	require.NoError(t, err)
	requireSameResult(t, res, got)
	return got
}

func fidelityQuery(t testing.TB, ctx context.Context, conn *pgx.Conn, sql string, args ...any) pgx.Rows {
	t.Helper()
	rows, err := conn.Query(ctx, sql, args...)
	require.NoError(t, err)
	return rows
}

// requireSameRows compares a live query with a replay of the same result row
// by row: field descriptions, raw values, Values, and Scan into *any.
func requireSameRows(t testing.TB, live, hit pgx.Rows) {
	t.Helper()
	require.Nil(t, hit.Conn())
	require.Same(t, live.TypeMap(), hit.TypeMap())
	require.Equal(t, live.FieldDescriptions(), hit.FieldDescriptions())
	n := 0
	for live.Next() {
		require.True(t, hit.Next(), "replay ends early, at row %d", n)
		require.Equal(t, live.RawValues(), hit.RawValues(), "row %d raw values", n)
		lv, err := live.Values()
		require.NoError(t, err)
		hv, err := hit.Values()
		require.NoError(t, err)
		require.Equal(t, lv, hv, "row %d values", n)

		ncols := len(live.FieldDescriptions())
		ld, hd := make([]any, ncols), make([]any, ncols)
		lp, hp := make([]any, ncols), make([]any, ncols)
		for i := range ncols {
			lp[i], hp[i] = &ld[i], &hd[i]
		}
		require.NoError(t, live.Scan(lp...))
		require.NoError(t, hit.Scan(hp...))
		require.Equal(t, ld, hd, "row %d scanned into *any", n)
		n++
	}
	require.NoError(t, live.Err())
	require.False(t, hit.Next(), "replay has more than %d rows", n)
	require.NoError(t, hit.Err())
	require.Equal(t, live.CommandTag(), hit.CommandTag())
	require.Equal(t, pgconn.NewCommandTag(fmt.Sprintf("SELECT %d", n)), hit.CommandTag())
}

func requireSameMaps(t testing.TB, live, hit pgx.Rows) {
	t.Helper()
	lm, lerr := pgx.CollectRows(live, pgx.RowToMap)
	hm, herr := pgx.CollectRows(hit, pgx.RowToMap)
	require.NoError(t, lerr)
	require.NoError(t, herr)
	require.Equal(t, lm, hm)
}

func requireSameStructs[T any](t testing.TB, live, hit pgx.Rows) {
	t.Helper()
	ls, lerr := pgx.CollectRows(live, pgx.RowToStructByName[T])
	hs, herr := pgx.CollectRows(hit, pgx.RowToStructByName[T])
	require.NoError(t, lerr)
	require.NoError(t, herr)
	require.NotEmpty(t, ls)
	require.Equal(t, ls, hs)
}

// TestReplayFidelity runs `SELECT * FROM t ORDER BY id LIMIT 50` for every
// table of the schema in every exec mode and result format, replays it through
// Capture, Encode and Decode, and compares the replay with a fresh query.
func TestReplayFidelity(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	ctr := fidelityRunner(t)

	// The list above must cover the whole schema.
	conn, err := pgx.Connect(ctx, testenv.SharedSeededDatabase(t))
	require.NoError(t, err)
	var tables []string
	require.NoError(t, conn.QueryRow(ctx,
		`SELECT array_agg(tablename::text ORDER BY tablename) FROM pg_tables WHERE schemaname = 'public'`).Scan(&tables))
	require.NoError(t, conn.Close(ctx))
	var listed []string
	for name := range fidelityTables {
		listed = append(listed, name)
	}
	slices.Sort(listed)
	require.Equal(t, tables, listed)

	sawFormat := map[int16]bool{}
	pgxtest.RunWithQueryExecModes(ctx, t, ctr, nil, func(ctx context.Context, t testing.TB, conn *pgx.Conn) {
		for _, f := range fidelityFormats {
			for _, table := range tables {
				sql := fmt.Sprintf("SELECT * FROM %s ORDER BY id LIMIT 50", pgx.Identifier{table}.Sanitize())
				res := roundTrip(t, fidelityQuery(t, ctx, conn, sql, f.args...))
				require.Len(t, res.Rows, 50, "%s %s", table, f.name)
				for _, fd := range res.FieldDescriptions {
					sawFormat[fd.Format] = true
				}
				tm := conn.TypeMap()

				requireSameRows(t, fidelityQuery(t, ctx, conn, sql, f.args...), res.Replay(tm))
				requireSameMaps(t, fidelityQuery(t, ctx, conn, sql, f.args...), res.Replay(tm))
				fidelityTables[table](t, fidelityQuery(t, ctx, conn, sql, f.args...), res.Replay(tm))
			}
		}
	})
	require.True(t, sawFormat[pgx.TextFormatCode] && sawFormat[pgx.BinaryFormatCode], "both formats covered: %v", sawFormat)
}

// fidelityTypesSQL returns one row of every type in the schema, plus arrays
// of enums and uuids, and one row of NULLs of each.
const fidelityTypesSQL = `
SELECT 9007199254740993::bigint AS i8, (-2147483648)::integer AS i4, 32767::smallint AS i2,
       12345678901234567890.123456789::numeric AS num, 'NaN'::numeric AS num_nan,
       (-1.5e300)::double precision AS f8, 'Infinity'::double precision AS f8_inf,
       true AS b, 'Zoë Ünal-Çelik №'::text AS t, ''::text AS t_empty, 'en'::varchar(8) AS vc,
       ARRAY['a', NULL, 'c""', ''] AS t_arr, '{"a": [1, 2.5, null, {"b": "ü"}]}'::jsonb AS j,
       'null'::jsonb AS j_null, '6ba7b810-9dad-11d1-80b4-00c04fd430c8'::uuid AS u,
       '\x00ff10'::bytea AS by, ''::bytea AS by_empty, '192.168.1.5/24'::inet AS ip, '::1'::inet AS ip6,
       '2025-02-28'::date AS d, '-infinity'::date AS d_inf,
       '2024-07-01 12:34:56.789012+02'::timestamptz AS ts, '1 year 2 mons 3 days 04:05:06.7'::interval AS iv,
       'published'::content_status AS e,
       (SELECT array_agg(status ORDER BY id) FROM content WHERE id <= 12) AS e_arr,
       (SELECT array_agg(platform ORDER BY id) FROM publications WHERE id <= 5) AS e_arr2,
       (SELECT array_agg(external_id ORDER BY id) FROM content WHERE id <= 5) AS u_arr,
       ARRAY[1.5, NULL, 2]::numeric[] AS num_arr, ARRAY['2024-01-01 00:00:00+00']::timestamptz[] AS ts_arr
UNION ALL
SELECT NULL::bigint, NULL::integer, NULL::smallint, NULL::numeric, NULL::numeric, NULL::double precision,
       NULL::double precision, NULL::boolean, NULL::text, NULL::text, NULL::varchar(8), NULL::text[],
       NULL::jsonb, NULL::jsonb, NULL::uuid, NULL::bytea, NULL::bytea, NULL::inet, NULL::inet, NULL::date,
       NULL::date, NULL::timestamptz, NULL::interval, NULL::content_status, NULL::content_status[],
       NULL::platform_type[], NULL::uuid[], NULL::numeric[], NULL::timestamptz[]`

type fidelityTypes struct {
	I8     *int64                   `db:"i8"`
	I4     *int32                   `db:"i4"`
	I2     *int16                   `db:"i2"`
	Num    pgtype.Numeric           `db:"num"`
	NumNaN pgtype.Numeric           `db:"num_nan"`
	F8     *float64                 `db:"f8"`
	F8Inf  pgtype.Float8            `db:"f8_inf"`
	B      *bool                    `db:"b"`
	T      *string                  `db:"t"`
	TEmpty pgtype.Text              `db:"t_empty"`
	VC     *string                  `db:"vc"`
	TArr   []*string                `db:"t_arr"`
	J      any                      `db:"j"`
	JNull  []byte                   `db:"j_null"`
	U      pgtype.UUID              `db:"u"`
	By     []byte                   `db:"by"`
	ByE    []byte                   `db:"by_empty"`
	IP     *netip.Prefix            `db:"ip"`
	IP6    *netip.Prefix            `db:"ip6"`
	D      pgtype.Date              `db:"d"`
	DInf   pgtype.Date              `db:"d_inf"`
	TS     pgtype.Timestamptz       `db:"ts"`
	IV     pgtype.Interval          `db:"iv"`
	E      *string                  `db:"e"`
	EArr   []string                 `db:"e_arr"`
	EArr2  pgtype.FlatArray[string] `db:"e_arr2"`
	UArr   []pgtype.UUID            `db:"u_arr"`
	NumArr []pgtype.Numeric         `db:"num_arr"`
	TSArr  []time.Time              `db:"ts_arr"`
}

// TestReplayFidelityTypes covers literal values of each type (edge values
// included), arrays of enums, uuids and numerics, and a row of NULLs.
func TestReplayFidelityTypes(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	pgxtest.RunWithQueryExecModes(ctx, t, fidelityRunner(t), nil, func(ctx context.Context, t testing.TB, conn *pgx.Conn) {
		for _, f := range fidelityFormats {
			res := roundTrip(t, fidelityQuery(t, ctx, conn, fidelityTypesSQL, f.args...))
			require.Len(t, res.Rows, 2)
			for _, v := range res.Rows[1] {
				require.Nil(t, v)
			}
			tm := conn.TypeMap()
			requireSameRows(t, fidelityQuery(t, ctx, conn, fidelityTypesSQL, f.args...), res.Replay(tm))
			requireSameMaps(t, fidelityQuery(t, ctx, conn, fidelityTypesSQL, f.args...), res.Replay(tm))
			requireSameStructs[fidelityTypes](t, fidelityQuery(t, ctx, conn, fidelityTypesSQL, f.args...), res.Replay(tm))

			var live, hit fidelityTypes
			require.NoError(t, conn.QueryRow(ctx, fidelityTypesSQL, f.args...).Scan(
				&live.I8, &live.I4, &live.I2, &live.Num, &live.NumNaN, &live.F8, &live.F8Inf, &live.B, &live.T,
				&live.TEmpty, &live.VC, &live.TArr, &live.J, &live.JNull, &live.U, &live.By, &live.ByE, &live.IP,
				&live.IP6, &live.D, &live.DInf, &live.TS, &live.IV, &live.E, &live.EArr, &live.EArr2, &live.UArr,
				&live.NumArr, &live.TSArr))
			require.NoError(t, res.ReplayRow(tm).Scan(
				&hit.I8, &hit.I4, &hit.I2, &hit.Num, &hit.NumNaN, &hit.F8, &hit.F8Inf, &hit.B, &hit.T,
				&hit.TEmpty, &hit.VC, &hit.TArr, &hit.J, &hit.JNull, &hit.U, &hit.By, &hit.ByE, &hit.IP,
				&hit.IP6, &hit.D, &hit.DInf, &hit.TS, &hit.IV, &hit.E, &hit.EArr, &hit.EArr2, &hit.UArr,
				&hit.NumArr, &hit.TSArr))
			require.Equal(t, live, hit)
			require.Len(t, hit.EArr, 12)
			require.Len(t, hit.UArr, 5)
		}
	})
}

// TestReplayEmptyResult: no rows replays as no rows, and QueryRow's Scan
// returns pgx.ErrNoRows, from the database and from a hit alike.
func TestReplayEmptyResult(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	pgxtest.RunWithQueryExecModes(ctx, t, fidelityRunner(t), nil, func(ctx context.Context, t testing.TB, conn *pgx.Conn) {
		const sql = "SELECT * FROM users WHERE id < $1"
		res := roundTrip(t, fidelityQuery(t, ctx, conn, sql, 0))
		require.Empty(t, res.Rows)
		require.Len(t, res.FieldDescriptions, 11)
		require.Equal(t, "SELECT 0", res.CommandTag)
		tm := conn.TypeMap()

		var id int64
		liveErr := conn.QueryRow(ctx, sql, 0).Scan(&id)
		hitErr := res.ReplayRow(tm).Scan(&id)
		require.ErrorIs(t, liveErr, pgx.ErrNoRows)
		require.ErrorIs(t, hitErr, pgx.ErrNoRows)
		require.Equal(t, liveErr.Error(), hitErr.Error())

		requireSameRows(t, fidelityQuery(t, ctx, conn, sql, 0), res.Replay(tm))
		users, err := pgx.CollectRows(res.Replay(tm), pgx.RowToStructByName[fidelityUser])
		require.NoError(t, err)
		require.Empty(t, users)
		_, err = pgx.CollectOneRow(res.Replay(tm), pgx.RowToStructByName[fidelityUser])
		require.ErrorIs(t, err, pgx.ErrNoRows)
	})
}

// TestReplayRowsSemantics checks the parts of the pgx.Rows contract that do
// not depend on values: the command tag, closing, errors, QueryRow.
func TestReplayRowsSemantics(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, testenv.SharedSeededDatabase(t))
	require.NoError(t, err)
	defer conn.Close(ctx)
	const sql = "SELECT id, email, created_at FROM users ORDER BY id LIMIT 3"
	res := roundTrip(t, fidelityQuery(t, ctx, conn, sql))
	tm := conn.TypeMap()

	t.Run("command tag", func(t *testing.T) {
		require.Equal(t, "SELECT 3", res.CommandTag)
		rows := res.Replay(tm)
		require.Empty(t, rows.CommandTag().String(), "only available once closed, as in pgx")
		require.True(t, rows.Next())
		rows.Close()
		tag := rows.CommandTag()
		require.Equal(t, "SELECT 3", tag.String())
		require.True(t, tag.Select())
		require.EqualValues(t, 3, tag.RowsAffected())
		require.False(t, rows.Next())
		rows.Close() // twice is fine
		_, err := rows.Values()
		require.Error(t, err)
	})

	t.Run("scan errors match pgx", func(t *testing.T) {
		live := fidelityQuery(t, ctx, conn, sql)
		defer live.Close()
		hit := res.Replay(tm)
		require.True(t, live.Next())
		require.True(t, hit.Next())
		var n int64
		lerr := live.Scan(&n, &n, &n)
		herr := hit.Scan(&n, &n, &n)
		require.Error(t, herr)
		require.Equal(t, lerr.Error(), herr.Error())
		var sae pgx.ScanArgError
		require.ErrorAs(t, herr, &sae)
		require.Equal(t, 1, sae.ColumnIndex)
		require.Equal(t, herr, hit.Err())
		require.False(t, hit.Next(), "a scan error closes the rows")

		hit = res.Replay(tm)
		require.True(t, hit.Next())
		require.Error(t, hit.Scan(&n))
		require.Error(t, res.Replay(tm).Scan(&n, nil, nil), "Scan before Next")
	})

	t.Run("nil destinations and RowScanner", func(t *testing.T) {
		hit := res.Replay(tm)
		var ids []int64
		for hit.Next() {
			var id int64
			require.NoError(t, hit.Scan(&id, nil, nil))
			ids = append(ids, id)
		}
		require.Equal(t, []int64{1, 2, 3}, ids)

		var live, replayed fidelityRowScanner
		require.NoError(t, conn.QueryRow(ctx, sql).Scan(&live))
		require.NoError(t, res.ReplayRow(tm).Scan(&replayed))
		require.Equal(t, live, replayed)
		require.Equal(t, int64(1), replayed.id)
	})

	t.Run("QueryRow ignores later rows", func(t *testing.T) {
		var id int64
		var email string
		var created time.Time
		require.NoError(t, res.ReplayRow(tm).Scan(&id, &email, &created))
		require.Equal(t, int64(1), id)
		require.Equal(t, "user0001@example.com", email)
		var db pgtype.DriverBytes
		require.Error(t, res.ReplayRow(tm).Scan(&id, &db, &created))
	})

	t.Run("nil type map", func(t *testing.T) {
		rows := res.Replay(nil)
		require.NotNil(t, rows.TypeMap())
		ids, err := pgx.CollectRows(rows, pgx.RowTo[int64]) // fails: 3 columns
		require.Error(t, err)
		require.Empty(t, ids)
	})

	t.Run("concurrent replays", func(t *testing.T) {
		done := make(chan []fidelityUserShort, 8)
		for range cap(done) {
			go func() {
				got, err := pgx.CollectRows(res.Replay(nil), pgx.RowToStructByName[fidelityUserShort])
				if err != nil {
					got = nil
				}
				done <- got
			}()
		}
		for range cap(done) {
			require.Len(t, <-done, 3)
		}
	})
}

type fidelityUserShort struct {
	ID        int64     `db:"id"`
	Email     string    `db:"email"`
	CreatedAt time.Time `db:"created_at"`
}

type fidelityRowScanner struct {
	id    int64
	email string
	ncols int
}

func (s *fidelityRowScanner) ScanRow(rows pgx.Rows) error {
	s.ncols = len(rows.FieldDescriptions())
	return rows.Scan(&s.id, &s.email, nil)
}

// TestCaptureTooLarge: past maxBytes Capture returns ErrTooLarge and the rows
// read so far, leaving the rest of the query readable.
func TestCaptureTooLarge(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, testenv.SharedSeededDatabase(t))
	require.NoError(t, err)
	defer conn.Close(ctx)
	const sql = "SELECT * FROM users ORDER BY id LIMIT 50"

	full, err := rowcodec.Capture(fidelityQuery(t, ctx, conn, sql), 0)
	require.NoError(t, err)
	size := full.Size()
	require.Len(t, full.Rows, 50)

	// Exactly the size fits; a byte less does not.
	exact, err := rowcodec.Capture(fidelityQuery(t, ctx, conn, sql), size)
	require.NoError(t, err)
	requireSameResult(t, full, exact)

	rows := fidelityQuery(t, ctx, conn, sql)
	part, err := rowcodec.Capture(rows, size-1)
	require.ErrorIs(t, err, rowcodec.ErrTooLarge)
	require.Len(t, part.Rows, 50, "the last row crossed the limit")
	require.False(t, rows.Next())
	rows.Close()
	require.NoError(t, rows.Err())

	rows = fidelityQuery(t, ctx, conn, sql)
	part, err = rowcodec.Capture(rows, 1000)
	require.ErrorIs(t, err, rowcodec.ErrTooLarge)
	require.NotEmpty(t, part.Rows)
	require.Less(t, len(part.Rows), 50)
	require.Greater(t, part.Size(), 1000)
	before := &rowcodec.Result{FieldDescriptions: part.FieldDescriptions, Rows: part.Rows[:len(part.Rows)-1]}
	require.LessOrEqual(t, before.Size(), 1000, "Capture stops at the first row past the limit")
	// The rest of the rows are still there, and together they are the result.
	n := len(part.Rows)
	for rows.Next() {
		require.Equal(t, full.Rows[n], rows.RawValues())
		n++
	}
	require.NoError(t, rows.Err())
	require.Equal(t, 50, n)
	for i, row := range part.Rows {
		require.Equal(t, full.Rows[i], row)
	}

	// A failed query is an error, not ErrTooLarge, and the Result holds
	// the rows read before it (ids 1 and 2), which replay then fail as
	// pgx's rows did.
	rows, _ = conn.Query(ctx, "SELECT 1/(id - 3) FROM users ORDER BY id LIMIT 5")
	res, err := rowcodec.Capture(rows, 0)
	require.NotNil(t, res)
	require.Len(t, res.Rows, 2)
	require.Error(t, err)
	replay := res.ReplayThenFail(conn.TypeMap(), err)
	var got []int32
	for replay.Next() {
		var v int32
		require.NoError(t, replay.Scan(&v))
		got = append(got, v)
	}
	require.Equal(t, []int32{-0, -1}, got)
	require.ErrorIs(t, replay.Err(), err)
	require.NotErrorIs(t, err, rowcodec.ErrTooLarge)
	var pgErr *pgconn.PgError
	require.True(t, errors.As(err, &pgErr))
	require.Equal(t, "22012", pgErr.Code)

	// Encoded sizes of the seeded tables, for the record.
	for _, table := range []string{"users", "projects", "content", "publications", "platform_metrics", "sessions"} {
		res, err := rowcodec.Capture(fidelityQuery(t, ctx, conn, fmt.Sprintf("SELECT * FROM %s ORDER BY id LIMIT 50", table)), 0)
		require.NoError(t, err)
		plain, err := rowcodec.Append(nil, res)
		require.NoError(t, err)
		packed := s2.Encode(nil, plain) // as package querycache compresses it
		t.Logf("%-16s 50 rows: Size %6d, encoded %6d bytes, compressed %6d bytes (%.0f%%)",
			table, res.Size(), len(plain), len(packed), 100*float64(len(packed))/float64(len(plain)))
	}
}
