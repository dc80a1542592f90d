package querycache

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestSessionOps(t *testing.T) {
	t.Parallel()
	set := func(n string) sessOp { return sessOp{kind: opSet, name: n} }
	clr := func(n string) sessOp { return sessOp{kind: opClear, name: n} }
	for _, tc := range []struct {
		sql  string
		want []sessOp
	}{
		{"SET search_path TO other, public", []sessOp{set("search_path")}},
		{"set SEARCH_PATH = other", []sessOp{set("search_path")}},
		{`SET "search_path" TO other`, []sessOp{set("search_path")}},
		{"SET SESSION search_path TO other", []sessOp{set("search_path")}},
		{"SET LOCAL search_path TO other", nil},
		{"SET search_path TO DEFAULT", []sessOp{clr("search_path")}},
		{"SET search_path = default", []sessOp{clr("search_path")}},
		{"SET SCHEMA 'other'", []sessOp{set("search_path")}},
		{"SET ROLE reader", []sessOp{set("role")}},
		{"SET ROLE NONE", []sessOp{clr("role")}},
		{"RESET ROLE", []sessOp{clr("role")}},
		{"SET SESSION AUTHORIZATION reader", []sessOp{set("session_authorization")}},
		{"SET SESSION AUTHORIZATION DEFAULT", []sessOp{clr("session_authorization"), clr("role")}},
		{"RESET SESSION AUTHORIZATION", []sessOp{clr("session_authorization"), clr("role")}},
		{"SET TIME ZONE 'America/New_York'", []sessOp{set("timezone")}},
		{"SET TIME ZONE LOCAL", []sessOp{clr("timezone")}},
		{"SET TimeZone = 'UTC'", []sessOp{set("timezone")}},
		{"RESET TIME ZONE", []sessOp{clr("timezone")}},
		{"SET DateStyle TO German", []sessOp{set("datestyle")}},
		{"SET IntervalStyle = iso_8601", []sessOp{set("intervalstyle")}},
		{"SET lc_monetary = 'de_DE.UTF-8'", []sessOp{set("lc_monetary")}},
		{"SET NAMES 'LATIN1'", []sessOp{set("client_encoding")}},
		{"SET XML OPTION DOCUMENT", []sessOp{set("xmloption")}},
		{"SET app.tenant_id = '7'", []sessOp{set("app.tenant_id")}},
		{"SET TRANSACTION ISOLATION LEVEL SERIALIZABLE", nil},
		{"SET CONSTRAINTS ALL DEFERRED", nil},
		{"SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY", []sessOp{set("default_transaction_isolation")}},
		{"RESET search_path", []sessOp{clr("search_path")}},
		{"RESET ALL", []sessOp{{kind: opResetAll}}},
		{"DISCARD ALL", []sessOp{{kind: opDiscardAll}}},
		{"DISCARD TEMP", []sessOp{{kind: opDiscardTemp}}},
		{"DISCARD PLANS", nil},
		{"LOAD 'auto_explain'", []sessOp{set("load")}},
		{"SELECT set_config('search_path', 'other', false)", []sessOp{set("search_path")}},
		{"SELECT pg_catalog.set_config('TimeZone', 'UTC', false)", []sessOp{set("timezone")}},
		{"SELECT set_config('search_path', 'other', true)", nil},
		{"SELECT set_config('search_path', 'other', 'on')", nil},
		{"SELECT set_config('search_path', $1, $2)", []sessOp{set("search_path")}},
		{"SELECT set_config($1, $2, false)", []sessOp{set("*")}},
		{"SELECT set_config(lower('X'), f(1, 2), false)", []sessOp{set("*")}},
		{"SELECT set_config('a', 'b'", []sessOp{set("*")}},
		{"SELECT 'set_config(''search_path'', ''x'', false)'", nil},
		{"SELECT 1 /* SET search_path TO x */", nil},
		{"-- SET ROLE x\nSELECT 1", nil},
		{"SELECT $$ SET ROLE x; $$", nil},
		{"CREATE TEMP TABLE t (id int)", []sessOp{set("pg_temp")}},
		{"CREATE GLOBAL TEMPORARY TABLE t (id int)", []sessOp{set("pg_temp")}},
		{"CREATE OR REPLACE TEMP VIEW v AS SELECT 1", []sessOp{set("pg_temp")}},
		{"CREATE TABLE pg_temp.t (id int)", []sessOp{set("pg_temp")}},
		{"CREATE TABLE temp (id int)", nil},
		{"SELECT * INTO TEMP t FROM users", []sessOp{set("pg_temp")}},
		{"SELECT * INTO TEMPORARY TABLE t FROM users", []sessOp{set("pg_temp")}},
		{"INSERT INTO temp VALUES (1)", nil},
		{"CREATE FUNCTION f() RETURNS int LANGUAGE sql SET search_path = pg_temp AS $$ SELECT 1 $$", nil},
		{"SET search_path TO a; SELECT 1; RESET ALL", []sessOp{set("search_path"), {kind: opResetAll}}},
		{"(SELECT set_config('x.y', 'z', false))", []sessOp{set("x.y")}},
		{"SET", []sessOp{set("*")}},
		{"", nil},
	} {
		t.Run(tc.sql, func(t *testing.T) {
			require.Equal(t, tc.want, sessionOps(tc.sql))
		})
	}
}

// The reader accepts any input in linear time and never panics.
func TestSessionOpsAnyInput(t *testing.T) {
	t.Parallel()
	for _, s := range []string{"'", "\"", "E'\\", "$", "$a", "$a$", "$a$ x", "/*", "/* /* */", "--", "set_config(", "SET \"",
		"SET a.", "SET a.b.", "RESET", "DISCARD", "\xff\xfe", strings.Repeat("(", 100000), strings.Repeat("set_config(", 10000)} {
		require.NotPanics(t, func() { sessionOps(s) }, "%q", s)
	}
}

func FuzzSessionOps(f *testing.F) {
	for _, s := range []string{"SET search_path TO x", "SELECT set_config('a', 'b', false)", "E'\\'' $x$ $$", "CREATE TEMP TABLE t()"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		for _, op := range sessionOps(s) {
			require.NotEmpty(t, op.name+string(rune('0'+op.kind)))
		}
	})
}
