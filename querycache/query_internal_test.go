package querycache

import (
	"math/big"
	"net/netip"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/pgxperf/pgxperf/internal/rowcodec"
	"github.com/pgxperf/pgxperf/internal/sqlinfo"
)

func testCache(t *testing.T) *QueryCache {
	t.Helper()
	c, err := newQueryCache(Config{Client: redis.NewClient(&redis.Options{Addr: "127.0.0.1:1"})},
		sessionInfo{Host: "h", Port: 5432, Database: "db", User: "u", RuntimeParams: map[string]string{"search_path": "app"}}, nil)
	require.NoError(t, err)
	t.Cleanup(func() { _ = c.Close() })
	return c
}

type myString string

func TestKeysNeverCollide(t *testing.T) {
	c := testCache(t)
	info := sqlinfo.Analyze("SELECT $1::text, $2::text")
	one := 1
	var nilPtr *int
	cases := []struct {
		name string
		args []any
	}{
		{"int 1", []any{1}},
		{"string 1", []any{"1"}},
		{"float 1", []any{1.0}},
		{"uint 1", []any{uint(1)}},
		{"bool true", []any{true}},
		{"nil", []any{nil}},
		{"empty string", []any{""}},
		{"empty bytes", []any{[]byte{}}},
		{"nil bytes", []any{[]byte(nil)}},
		{"bytes 1", []any{[]byte("1")}},
		{"two strings", []any{"a", "b"}},
		{"one string ab", []any{"ab"}},
		{"slice a b", []any{[]string{"a", "b"}}},
		{"slice ab", []any{[]string{"ab"}}},
		{"slice a,b in one", []any{[]string{"a,b"}}},
		{"named string", []any{myString("1")}},
		{"time utc", []any{time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)}},
		{"time +1", []any{time.Date(2024, 1, 1, 1, 0, 0, 0, time.FixedZone("X", 3600))}},
		{"duration", []any{time.Second}},
		{"big", []any{big.NewInt(1)}},
		{"addr", []any{netip.MustParseAddr("10.0.0.1")}},
		{"pgtype text", []any{pgtype.Text{String: "1", Valid: true}}},
		{"pgtype text null", []any{pgtype.Text{}}},
		{"map", []any{map[string]any{"a": 1, "b": "2"}}},
		{"map other", []any{map[string]any{"a": "1", "b": 2}}},
		{"named args", []any{pgx.NamedArgs{"id": 1}}},
		{"ptr", []any{&one}},
		{"nil ptr", []any{nilPtr}},
		{"none", nil},
	}
	seen := map[string]string{}
	for _, tc := range cases {
		k, err := c.buildKey(info, nil, nil, tc.args)
		require.NoError(t, err, tc.name)
		require.Contains(t, k, "pgxperf:qc:v1:r:")
		require.NotContains(t, k, "SELECT")
		if prev, dup := seen[k]; dup {
			// A pointer is its value: &one and 1 are one key, as pgx sends one value.
			// pgx sends a nil []byte as NULL too.
			nulls := map[string]bool{"nil": true, "nil ptr": true, "nil bytes": true}
			ptrOfOne := tc.name == "ptr" && prev == "int 1"
			bothNull := nulls[tc.name] && nulls[prev]
			if !ptrOfOne && !bothNull {
				t.Fatalf("%s and %s share key %s", prev, tc.name, k)
			}
		}
		seen[k] = tc.name
		again, err := c.buildKey(info, nil, nil, tc.args)
		require.NoError(t, err)
		require.Equal(t, k, again, "%s: keys must be deterministic", tc.name)
	}
	// The plan's precomputed digest gives the same key.
	d := c.stmtDigest(info)
	withDigest, err := c.buildKey(info, &d, nil, []any{1})
	require.NoError(t, err)
	without, _ := c.buildKey(info, nil, nil, []any{1})
	require.Equal(t, without, withDigest)
	// Integers of every width are one value to pgx.
	k1, _ := c.buildKey(info, nil, nil, []any{int32(7)})
	k2, _ := c.buildKey(info, nil, nil, []any{int64(7)})
	require.Equal(t, k1, k2)
	// Map order does not matter.
	m1, _ := c.buildKey(info, nil, nil, []any{map[string]int{"a": 1, "b": 2, "c": 3}})
	m2, _ := c.buildKey(info, nil, nil, []any{map[string]int{"c": 3, "b": 2, "a": 1}})
	require.Equal(t, m1, m2)
	// Settings and the session are part of the key.
	s1, _ := c.buildKey(info, nil, map[string]string{"app.tenant_id": "1"}, []any{1})
	s2, _ := c.buildKey(info, nil, map[string]string{"app.tenant_id": "2"}, []any{1})
	require.NotEqual(t, s1, s2)
	require.NotEqual(t, s1, seen["int 1"])
	other := testCache(t)
	other.sessionKey = sessionKey(sessionInfo{Host: "h", Port: 5432, Database: "db", User: "other"})
	o1, _ := other.buildKey(info, nil, nil, []any{1})
	require.NotEqual(t, o1, k1)
	// Unkeyable arguments are refused.
	_, err = c.buildKey(info, nil, nil, []any{make(chan int)})
	require.ErrorIs(t, err, errUnkeyable)
	type loop struct{ next *loop }
	l := &loop{}
	l.next = l
	_, err = c.buildKey(info, nil, nil, []any{l})
	require.ErrorIs(t, err, errUnkeyable)
}

func TestWriteTags(t *testing.T) {
	for _, tc := range []struct {
		sql         string
		rels        []string
		global, ddl bool
	}{
		{sql: "SELECT 1"},
		{sql: "BEGIN"},
		{sql: "COMMIT"},
		{sql: "SET search_path = app"},
		{sql: "SELECT nextval('s')"},
		{sql: "INSERT INTO users (id) VALUES (1)", rels: []string{"users"}},
		{sql: "UPDATE public.users SET x = 1", rels: []string{"users", "public.users"}},
		{sql: "DELETE FROM content WHERE id = $1", rels: []string{"content"}},
		{sql: "WITH d AS (DELETE FROM a RETURNING id) SELECT * FROM d", rels: []string{"a"}},
		{sql: "TRUNCATE sessions", rels: []string{"sessions"}, global: true, ddl: true},
		{sql: "ALTER TABLE users ADD COLUMN z int", rels: []string{"users"}, global: true, ddl: true},
		{sql: "CREATE INDEX ON users (email)", rels: []string{"users"}, global: true, ddl: true},
		{sql: "DO $$ BEGIN END $$", global: true},
		{sql: "CALL p()", global: true},
		{sql: "INSERT INTO t SELECT my_fn()", rels: []string{"t"}, global: true},
		{sql: "SELEC broken", global: true},
		{sql: "UPDATE a SET x = 1; UPDATE b SET x = 1", global: true},
	} {
		t.Run(tc.sql, func(t *testing.T) {
			rels, global, ddl := writeTags(sqlinfo.Analyze(tc.sql))
			if len(tc.rels) == 0 {
				require.Empty(t, rels)
			} else {
				require.ElementsMatch(t, tc.rels, rels)
			}
			require.Equal(t, tc.global, global, "global")
			require.Equal(t, tc.ddl, ddl, "ddl")
		})
	}
}

func TestStaticVerdict(t *testing.T) {
	for _, tc := range []struct{ sql, why string }{
		{"SELECT id FROM users WHERE id = $1", ""},
		{"SELECT count(*) FROM content GROUP BY status", ""},
		{"INSERT INTO users (id) VALUES (1)", "not a SELECT"},
		{"SELECT id FROM users FOR UPDATE SKIP LOCKED", "locking"},
		{"SELECT nextval('s')", "not read-only"},
		{"SELECT pg_advisory_lock(1)", "not read-only"},
		{"WITH d AS (DELETE FROM a RETURNING id) SELECT * FROM d", "not read-only"},
		{"SELECT * INTO t2 FROM t", "not read-only"},
		{"SELECT * FROM pg_catalog.pg_class", "system catalog"},
		{"SELECT * FROM pg_stat_activity", "system catalog"},
		{"SELECT * FROM information_schema.tables", "system catalog"},
		{"SELECT * FROM pg_temp.scratch", "temporary"},
		{"SELECT 1; SELECT 2", "not a SELECT"},
		{"SELEC broken", "not a SELECT"},
	} {
		t.Run(tc.sql, func(t *testing.T) {
			why := staticVerdict(sqlinfo.Analyze(tc.sql))
			if tc.why == "" {
				require.Empty(t, why)
			} else {
				require.Contains(t, why, tc.why)
			}
		})
	}
}

func TestTTLFor(t *testing.T) {
	c, err := newQueryCache(Config{
		Client: redis.NewClient(&redis.Options{Addr: "127.0.0.1:1"}),
		Rules:  []Rule{{Name: "GetUser", TTL: time.Minute}, {Fingerprint: sqlinfo.Analyze("SELECT id FROM t WHERE id = 2").FingerprintHex}},
	}, sessionInfo{}, nil)
	require.NoError(t, err)
	defer c.Close()
	ctx := t.Context()
	for _, tc := range []struct {
		name string
		sql  string
		ctx  func() *callOpts
		want time.Duration
	}{
		{"not opted in", "SELECT 1", nil, 0},
		{"context", "SELECT 1", func() *callOpts { return optsFrom(WithTTL(ctx, time.Second)) }, time.Second},
		{"skip beats context", "SELECT 1", func() *callOpts { return optsFrom(Skip(WithTTL(ctx, time.Second))) }, 0},
		{"hint", "SELECT /* pgxperf:cache ttl=30s */ 1", nil, 30 * time.Second},
		{"hint default", "SELECT /* pgxperf:cache */ 1", nil, defaultTTL},
		{"nocache hint", "SELECT /* pgxperf:nocache */ 1", func() *callOpts { return optsFrom(WithTTL(ctx, time.Second)) }, 0},
		{"sqlc rule", "-- name: GetUser :one\nSELECT 1", nil, time.Minute},
		{"fingerprint rule", "SELECT id FROM t WHERE id = $1", nil, defaultTTL},
		{"context beats rule", "-- name: GetUser :one\nSELECT 1", func() *callOpts { return optsFrom(WithTTL(ctx, time.Hour)) }, time.Hour},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var o *callOpts
			if tc.ctx != nil {
				o = tc.ctx()
			}
			require.Equal(t, tc.want, c.ttlFor(o, sqlinfo.Analyze(tc.sql)))
		})
	}
	_, err = newQueryCache(Config{Client: c.client, Rules: []Rule{{TTL: time.Second}}}, sessionInfo{}, nil)
	require.Error(t, err)
	_, err = newQueryCache(Config{}, sessionInfo{}, nil)
	require.ErrorIs(t, err, errNoClient)
}

func TestWithSettingsKeepsEarlierOnes(t *testing.T) {
	ctx := WithSettings(t.Context(), "App.Tenant_ID", "1", "role", "r")
	ctx = WithSettings(WithTTL(ctx, time.Second), "app.tenant_id", "2", "dangling")
	o := optsFrom(ctx)
	require.Equal(t, map[string]string{"app.tenant_id": "2", "role": "r"}, o.settings)
	require.Equal(t, time.Second, o.ttl)
}

func TestPolicySettings(t *testing.T) {
	require.Equal(t, []string{"app.tenant_id", "app.user"},
		policySettings("(tenant_id = (current_setting('app.tenant_id'::text))::integer) AND (u = current_setting( 'App.User', true))"))
	require.Empty(t, policySettings("(owner = CURRENT_USER)"))
}

func TestQueryEntryRoundTrip(t *testing.T) {
	res := &rowcodec.Result{CommandTag: "SELECT 1", Rows: [][][]byte{{[]byte("x"), nil}},
		FieldDescriptions: []pgconn.FieldDescription{{Name: "a", DataTypeOID: 25}, {Name: "b", DataTypeOID: 25}}}
	body, err := encodeResult(res)
	require.NoError(t, err)
	data := encodeQueryEntry([]uint64{3, 0, 1 << 40}, 123, 456, body)
	e, err := decodeQueryEntry(data)
	require.NoError(t, err)
	require.Equal(t, []uint64{3, 0, 1 << 40}, e.gens)
	require.Equal(t, int64(123), e.refreshAt)
	require.Equal(t, int64(456), e.expiresAt)
	require.Equal(t, res.Rows, e.res.Rows)
	for i := range data {
		_, _ = decodeQueryEntry(data[:i]) // never panics
	}
	_, err = decodeQueryEntry([]byte{9})
	require.ErrorIs(t, err, ErrCorrupt)
}

func FuzzDecodeQueryEntry(f *testing.F) {
	body, _ := encodeResult(&rowcodec.Result{CommandTag: "SELECT 1", Rows: [][][]byte{{[]byte("x")}},
		FieldDescriptions: []pgconn.FieldDescription{{Name: "a", DataTypeOID: 25}}})
	f.Add(encodeQueryEntry([]uint64{1, 2}, 1, 2, body))
	f.Add([]byte{1, 0xff, 0xff, 0xff, 0xff, 0x0f})
	f.Fuzz(func(t *testing.T, data []byte) {
		e, err := decodeQueryEntry(data)
		if err == nil && e.res == nil {
			t.Fatal("nil result without error")
		}
	})
}

func TestEpochs(t *testing.T) {
	var e epochs
	slots := []uint32{slotOf("db/users"), slotOf("db/*")}
	snap, all := e.snapshot(slots, nil)
	require.True(t, e.same(slots, snap, all))
	e.slots[slotOf("db/content")].Add(1)
	require.Equal(t, slotOf("db/users") == slotOf("db/content"), !e.same(slots, snap, all))
	e.slots[slots[0]].Add(1)
	require.False(t, e.same(slots, snap, all))
	snap, all = e.snapshot(slots, snap)
	e.all.Add(1)
	require.False(t, e.same(slots, snap, all))
}
