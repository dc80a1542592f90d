package pgxperf

import (
	"crypto/tls"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"
)

func TestReplicaConfigDerivation(t *testing.T) {
	primary, err := pgxpool.ParseConfig("postgres://app:secret@db-primary:5432/appdb?sslmode=disable&target_session_attrs=read-write&search_path=app&pool_max_conns=7")
	require.NoError(t, err)
	primary.ConnConfig.DefaultQueryExecMode = pgx.QueryExecModeExec
	primary.ConnConfig.RuntimeParams["application_name"] = "svc"

	t.Run("address and credentials from the URL, the rest from the primary", func(t *testing.T) {
		rc, err := replicaConfig(primary, "postgres://ro:pw@db-replica:6432/appdb?statement_timeout=5000")
		require.NoError(t, err)
		cc := rc.ConnConfig
		require.Equal(t, "db-replica", cc.Host)
		require.EqualValues(t, 6432, cc.Port)
		require.Equal(t, "ro", cc.User)
		require.Equal(t, "pw", cc.Password)
		require.Equal(t, pgx.QueryExecModeExec, cc.DefaultQueryExecMode)
		require.Equal(t, "app", cc.RuntimeParams["search_path"])
		require.Equal(t, "svc", cc.RuntimeParams["application_name"])
		require.Equal(t, "5000", cc.RuntimeParams["statement_timeout"])
		require.EqualValues(t, 7, rc.MaxConns)
		require.Nil(t, cc.ValidateConnect, "the primary's target_session_attrs=read-write would refuse every replica")
		require.Equal(t, "secret", primary.ConnConfig.Password, "the primary's config is not modified")
	})

	t.Run("the URL's own pool and exec settings win", func(t *testing.T) {
		rc, err := replicaConfig(primary, "host=db-replica port=5433 user=ro dbname=appdb pool_max_conns=3 default_query_exec_mode=simple_protocol application_name='replica reader'")
		require.NoError(t, err)
		require.EqualValues(t, 3, rc.MaxConns)
		require.Equal(t, pgx.QueryExecModeSimpleProtocol, rc.ConnConfig.DefaultQueryExecMode)
		require.Equal(t, "replica reader", rc.ConnConfig.RuntimeParams["application_name"])
	})

	t.Run("TLS set in code never falls back to plaintext or to unverified TLS", func(t *testing.T) {
		p := primary.Copy()
		p.ConnConfig.TLSConfig = &tls.Config{ServerName: "db-primary", MinVersion: tls.VersionTLS13}
		p.ConnConfig.Fallbacks = nil
		rc, err := replicaConfig(p, "postgres://ro@db-replica:5432,db-replica2:5432/appdb") // sslmode=prefer by default
		require.NoError(t, err)
		require.Equal(t, "db-replica", rc.ConnConfig.TLSConfig.ServerName)
		require.EqualValues(t, tls.VersionTLS13, rc.ConnConfig.TLSConfig.MinVersion)
		require.NotEmpty(t, rc.ConnConfig.Fallbacks, "the second host is kept")
		for _, f := range rc.ConnConfig.Fallbacks {
			require.NotNil(t, f.TLSConfig, "plaintext fallback to %s", f.Host)
			require.False(t, f.TLSConfig.InsecureSkipVerify, "unverified fallback to %s", f.Host)
			require.Equal(t, f.Host, f.TLSConfig.ServerName)
		}
	})
}
