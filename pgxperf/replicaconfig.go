package pgxperf

import (
	"crypto/tls"
	"fmt"
	"net/url"
	"slices"
	"strings"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// replicaConfig derives a replica pool's config from a copy of the
// primary's, so that everything configured in code or in the primary's
// connection string (RuntimeParams such as search_path,
// DefaultQueryExecMode for PgBouncer, TLS built in code, OnNotice, type
// registrations in AfterConnect, pool sizes and hooks) holds on replicas too.
// From the replica URL it takes only where to connect and as whom (host,
// port, fallbacks, user, password, database) and the parameters the URL
// itself names: its runtime parameters override the primary's, and its
// TLS, connect-timeout, exec-mode and pool_* settings replace the primary's
// when it names them.
func replicaConfig(primary *pgxpool.Config, replicaURL string) (*pgxpool.Config, error) {
	rc, err := pgxpool.ParseConfig(replicaURL)
	if err != nil {
		return nil, err
	}
	named, err := connStringKeys(replicaURL)
	if err != nil {
		return nil, err
	}
	cfg := primary.Copy()
	cc, rcc := cfg.ConnConfig, rc.ConnConfig
	cc.Host, cc.Port, cc.Fallbacks = rcc.Host, rcc.Port, rcc.Fallbacks
	cc.User, cc.Password, cc.Database = rcc.User, rcc.Password, rcc.Database

	tlsNamed := named["sslmode"] || named["sslrootcert"] || named["sslcert"] || named["sslkey"] ||
		named["sslpassword"] || named["sslsni"] || named["sslnegotiation"]
	switch {
	case tlsNamed:
		cc.TLSConfig = rcc.TLSConfig
		for i := range cc.Fallbacks {
			cc.Fallbacks[i].TLSConfig = rcc.Fallbacks[i].TLSConfig
		}
	case cc.TLSConfig != nil:
		// TLS configured for the primary: the same settings, verified
		// against each replica host's name; a plaintext fallback only if the
		// primary had one (the replica URL's default sslmode=prefer would
		// add one).
		plain := slices.ContainsFunc(primary.ConnConfig.Fallbacks, func(f *pgconn.FallbackConfig) bool { return f.TLSConfig == nil })
		base := cc.TLSConfig
		forHost := func(host string) *tls.Config {
			t := base.Clone()
			if t.ServerName != "" {
				t.ServerName = host
			}
			return t
		}
		cc.TLSConfig = forHost(rcc.Host)
		var fbs []*pgconn.FallbackConfig
		for _, f := range rcc.Fallbacks {
			f := *f
			if f.TLSConfig == nil {
				if !plain {
					continue
				}
			} else {
				f.TLSConfig = forHost(f.Host)
			}
			fbs = append(fbs, &f)
		}
		cc.Fallbacks = fbs
	default:
		for i := range cc.Fallbacks {
			cc.Fallbacks[i].TLSConfig = nil
		}
	}
	if named["connect_timeout"] {
		cc.ConnectTimeout = rcc.ConnectTimeout
	}
	// Which servers are acceptable is the replica URL's own business: a
	// primary's target_session_attrs=read-write would refuse every replica.
	cc.ValidateConnect = rcc.ValidateConnect
	if named["default_query_exec_mode"] {
		cc.DefaultQueryExecMode = rcc.DefaultQueryExecMode
	}
	if named["statement_cache_capacity"] {
		cc.StatementCacheCapacity = rcc.StatementCacheCapacity
	}
	if named["description_cache_capacity"] {
		cc.DescriptionCacheCapacity = rcc.DescriptionCacheCapacity
	}
	for k, v := range rcc.RuntimeParams {
		if named[k] {
			cc.RuntimeParams[k] = v
		}
	}
	// The URL's own pool_* settings: each copies one field from the
	// replica URL's parsed config.
	for key, take := range map[string]func(){
		"pool_max_conns":                func() { cfg.MaxConns = rc.MaxConns },
		"pool_min_conns":                func() { cfg.MinConns = rc.MinConns },
		"pool_min_idle_conns":           func() { cfg.MinIdleConns = rc.MinIdleConns },
		"pool_max_conn_lifetime":        func() { cfg.MaxConnLifetime = rc.MaxConnLifetime },
		"pool_max_conn_idle_time":       func() { cfg.MaxConnIdleTime = rc.MaxConnIdleTime },
		"pool_health_check_period":      func() { cfg.HealthCheckPeriod = rc.HealthCheckPeriod },
		"pool_max_conn_lifetime_jitter": func() { cfg.MaxConnLifetimeJitter = rc.MaxConnLifetimeJitter },
	} {
		if named[key] {
			take()
		}
	}
	return cfg, nil
}

// connStringKeys returns the parameter names a connection string sets
// itself: the query parameters of a postgres:// URL, or the keywords of a
// key=value string.
func connStringKeys(s string) (map[string]bool, error) {
	keys := map[string]bool{}
	if strings.HasPrefix(s, "postgres://") || strings.HasPrefix(s, "postgresql://") {
		u, err := url.Parse(s)
		if err != nil {
			return nil, fmt.Errorf("pgxperf: replica URL: %w", err)
		}
		for k := range u.Query() {
			keys[k] = true
		}
		return keys, nil
	}
	// key=value pairs; values may be quoted with single quotes.
	for i := 0; i < len(s); {
		for i < len(s) && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r') {
			i++
		}
		eq := strings.IndexByte(s[i:], '=')
		if eq < 0 {
			break
		}
		keys[strings.TrimSpace(s[i:i+eq])] = true
		i += eq + 1
		for i < len(s) && s[i] == ' ' {
			i++
		}
		if i < len(s) && s[i] == '\'' {
			for i++; i < len(s) && s[i] != '\''; i++ {
				if s[i] == '\\' {
					i++
				}
			}
			i++
		} else {
			for i < len(s) && s[i] != ' ' && s[i] != '\t' && s[i] != '\n' {
				i++
			}
		}
	}
	return keys, nil
}
