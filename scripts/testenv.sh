#!/usr/bin/env bash
# scripts/testenv.sh: bring up pgxperf's integration-test topology on a Debian
# machine without Docker, idempotently. CI runs it through `make test`.
#
#   Postgres primary             127.0.0.1:5432  (the machine's own cluster; shared)
#   Postgres streaming replica   127.0.0.1:5433  (pg_basebackup -R of the primary; owned by this script)
#   Redis                        127.0.0.1:6379  (shared)
#
# Usage:
#   bash scripts/testenv.sh          bring everything up (the default; same as "up")
#   bash scripts/testenv.sh status   print the state of each service, change nothing
#   bash scripts/testenv.sh down     stop the replica (never the shared primary or Redis)
#
# What "up" does, each step only when it is needed, so a second run costs well
# under a second:
#   - installs postgresql + postgresql-client, redis-server and gcc with apt-get
#     when their commands are missing;
#   - starts the primary with pg_ctlcluster (creates a cluster when there is none);
#   - makes sure pg_hba.conf trusts 127.0.0.1, for ordinary and replication
#     connections (adds a line only when missing, then reloads);
#   - makes sure wal_level >= replica, max_wal_senders >= 5 and hot_standby=on
#     (ALTER SYSTEM; restarts the primary only for wal_level/max_wal_senders) and
#     sets wal_keep_size=256MB so a replica that was down for a while can catch up
#     without a replication slot (a slot with no consumer would retain WAL forever);
#   - builds the replica with pg_basebackup -R as the postgres user, starts it with
#     pg_ctl, restarts it when stopped, rebuilds it when its data directory is
#     broken, belongs to another primary, was promoted, or cannot catch up;
#   - waits (bounded) until the replica is in recovery and has replayed the
#     primary's current WAL position;
#   - starts Redis when it does not answer PING.
# It prints one line per service and exits non-zero with a message saying what
# could not be brought up.
#
# Environment:
#   PGXPERF_TEST_PRIMARY, PGXPERF_TEST_REPLICA, PGXPERF_TEST_REDIS
#       The same variables the tests read (see internal/testenv). When one points
#       somewhere other than this script's default address, the script does not set
#       that service up; it only checks that it answers. (A local replica needs the
#       local primary: with PGXPERF_TEST_PRIMARY pointing elsewhere, point
#       PGXPERF_TEST_REPLICA at a replica of that server too.)
#   PGXPERF_REPLICA_DIR     replica data directory (default /var/lib/postgresql/pgxperf-replica)
#   PGXPERF_REPLICA_WAIT    seconds to wait for the replica to catch up (default 60)
#
# Needs root (or to run as the postgres user) to manage Postgres; Postgres
# refuses to run as root, so initdb/pg_ctl/pg_basebackup run via runuser.

set -euo pipefail

readonly PRIMARY_PORT=5432
readonly REPLICA_PORT=5433
readonly REDIS_PORT=6379
readonly HOST=127.0.0.1

REPLICA_DIR="${PGXPERF_REPLICA_DIR:-/var/lib/postgresql/pgxperf-replica}"
REPLICA_WAIT="${PGXPERF_REPLICA_WAIT:-60}"
REPLICA_MARKER=".pgxperf-replica" # file we put in a replica data dir we built

log() { printf 'testenv: %s\n' "$*" >&2; }
die() { printf 'testenv: ERROR: %s\n' "$*" >&2; exit 1; }
state() { printf '%-8s %-16s %s\n' "$1" "$2" "$3"; }

# ---------------------------------------------------------------- helpers

# is_local_default VALUE DEFAULT_PORT: true when VALUE is empty or names
# 127.0.0.1/localhost at DEFAULT_PORT (a URL, a key=value DSN or host:port).
is_local_default() {
	local v="$1" port="$2" host="" p=""
	[[ -z "$v" ]] && return 0
	if [[ "$v" == postgres://* || "$v" == postgresql://* || "$v" == redis://* ]]; then
		v="${v#*://}"
		v="${v##*@}"
		v="${v%%/*}"
		v="${v%%\?*}"
		host="${v%:*}"
		[[ "$v" == *:* ]] && p="${v##*:}"
	elif [[ "$v" == *=* ]]; then
		[[ "$v" =~ (^|[[:space:]])host=\'?([^[:space:]\']*) ]] && host="${BASH_REMATCH[2]}"
		[[ "$v" =~ (^|[[:space:]])port=\'?([0-9]+) ]] && p="${BASH_REMATCH[2]}"
	else
		host="${v%:*}"
		[[ "$v" == *:* ]] && p="${v##*:}"
	fi
	if [[ -z "$p" ]]; then
		p=5432
		if [[ "$port" == "$REDIS_PORT" ]]; then p=6379; fi
	fi
	[[ "$host" == "127.0.0.1" || "$host" == "localhost" || -z "$host" ]] && [[ "$p" == "$port" ]]
}

PG_HOME=""
# as_pg CMD...: run a command as the postgres user, from a directory it owns.
# Children never inherit fd 9 (the lock below): a postmaster started here would
# otherwise hold the lock for as long as it runs.
as_pg() {
	if [[ -z "$PG_HOME" ]]; then
		PG_HOME="$(getent passwd postgres | cut -d: -f6)"
		[[ -d "$PG_HOME" ]] || PG_HOME=/tmp
	fi
	if [[ "$(id -un)" == postgres ]]; then
		(cd "$PG_HOME" && "$@") 9>&-
	elif [[ $EUID -eq 0 ]]; then
		(cd "$PG_HOME" && runuser -u postgres -- "$@") 9>&-
	elif command -v sudo >/dev/null 2>&1; then
		(cd "$PG_HOME" && sudo -n -u postgres -- "$@") 9>&-
	else
		die "need root (or the postgres user) to run: $*"
	fi
}

as_root() {
	if [[ $EUID -eq 0 ]]; then "$@" 9>&-
	elif command -v sudo >/dev/null 2>&1; then sudo -n -- "$@" 9>&-
	else die "need root to run: $*"; fi
}

APT_UPDATED=0
apt_install() {
	command -v apt-get >/dev/null 2>&1 || die "missing $*, and no apt-get to install it; install it by hand"
	if [[ $APT_UPDATED -eq 0 ]]; then
		log "apt-get update"
		as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2
		APT_UPDATED=1
	fi
	log "apt-get install $*"
	as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >&2
}

# psql_at PORT SQL: one query over TCP as postgres, unaligned tuples only.
psql_at() {
	PGCONNECT_TIMEOUT=3 psql -X -w -q -At -v ON_ERROR_STOP=1 -h "$HOST" -p "$1" -U postgres -d postgres -c "$2"
}

# primary_sql SQL: TCP when it works, else the unix socket as the postgres user
# (a freshly installed Debian cluster does not trust TCP connections yet). The
# first call decides which.
PRIMARY_VIA=""
primary_sql() {
	if [[ -z "$PRIMARY_VIA" ]]; then
		if psql_at "$PRIMARY_PORT" "$1" 2>/dev/null; then
			PRIMARY_VIA=tcp
			return 0
		fi
		PRIMARY_VIA=socket
	fi
	if [[ "$PRIMARY_VIA" == tcp ]]; then
		psql_at "$PRIMARY_PORT" "$1"
	else
		as_pg psql -X -w -q -At -v ON_ERROR_STOP=1 -p "$PRIMARY_PORT" -U postgres -d postgres -c "$1"
	fi
}

pg_ready() { pg_isready -q -h "$HOST" -p "$1" -t "${2:-1}" >/dev/null 2>&1; }

# wait_for SECONDS CMD...: poll CMD every 0.2 s until it succeeds.
wait_for() {
	local secs="$1"; shift
	local deadline=$((SECONDS + secs))
	until "$@"; do
		((SECONDS < deadline)) || return 1
		sleep 0.2
	done
}

redis_ping() {
	local addr="${1:-$HOST:$REDIS_PORT}" h p reply=""
	addr="${addr#redis://}"
	addr="${addr##*@}"
	addr="${addr%%/*}"
	h="${addr%:*}" p="${addr##*:}"
	if command -v redis-cli >/dev/null 2>&1; then
		reply="$(timeout 3 redis-cli -h "$h" -p "$p" ping 2>/dev/null || true)"
	else
		reply="$(timeout 3 bash -c "exec 3<>/dev/tcp/$h/$p && printf 'PING\r\n' >&3 && head -c 5 <&3" 2>/dev/null || true)"
		reply="${reply#+}"
	fi
	[[ "$reply" == PONG* ]]
}

# ---------------------------------------------------------------- install

ensure_packages() {
	local pkgs=()
	if ! command -v psql >/dev/null 2>&1 || ! command -v pg_basebackup >/dev/null 2>&1 ||
		! command -v pg_isready >/dev/null 2>&1; then
		pkgs+=(postgresql-client)
	fi
	if ! compgen -G '/usr/lib/postgresql/*/bin/pg_ctl' >/dev/null; then
		pkgs+=(postgresql)
	fi
	if ! command -v redis-server >/dev/null 2>&1 || ! command -v redis-cli >/dev/null 2>&1; then
		pkgs+=(redis-server redis-tools)
	fi
	if ! command -v gcc >/dev/null 2>&1; then
		pkgs+=(gcc libc6-dev)
	fi
	if ((${#pkgs[@]})); then apt_install "${pkgs[@]}"; fi
}

# ---------------------------------------------------------------- primary

PGBIN=""

# The Debian cluster listening on PRIMARY_PORT, as "version name", if any.
debian_cluster() {
	command -v pg_lsclusters >/dev/null 2>&1 || return 0
	pg_lsclusters -h 2>/dev/null | awk -v p="$PRIMARY_PORT" '$3 == p { print $1, $2; exit }'
}

start_primary() {
	local cl ver name
	cl="$(debian_cluster)"
	if [[ -z "$cl" ]]; then
		command -v pg_createcluster >/dev/null 2>&1 ||
			die "primary: nothing answers on $HOST:$PRIMARY_PORT and pg_createcluster is missing"
		ver="$(ls /usr/lib/postgresql | sort -V | tail -n1)"
		name=main
		[[ -d "/etc/postgresql/$ver/main" ]] && name=pgxperf
		log "creating Postgres cluster $ver/$name on port $PRIMARY_PORT"
		as_root pg_createcluster -p "$PRIMARY_PORT" "$ver" "$name" >&2 ||
			die "primary: pg_createcluster $ver $name failed"
		cl="$ver $name"
	fi
	read -r ver name <<<"$cl"
	log "starting Postgres cluster $ver/$name"
	as_root pg_ctlcluster --skip-systemctl-redirect "$ver" "$name" start >&2 || true
	wait_for 30 pg_ready "$PRIMARY_PORT" ||
		die "primary: cluster $ver/$name did not start on $HOST:$PRIMARY_PORT (see /var/log/postgresql/postgresql-$ver-$name.log)"
}

restart_primary() {
	local cl ver name datadir
	cl="$(debian_cluster)"
	if [[ -n "$cl" ]]; then
		read -r ver name <<<"$cl"
		log "restarting Postgres cluster $ver/$name (settings that need a restart changed)"
		as_root pg_ctlcluster --skip-systemctl-redirect "$ver" "$name" restart >&2 ||
			die "primary: restart of cluster $ver/$name failed"
	else
		datadir="$(primary_sql 'show data_directory')"
		log "restarting Postgres in $datadir (settings that need a restart changed)"
		as_pg "$PGBIN/pg_ctl" -D "$datadir" -w -t 60 restart -m fast >&2 ||
			die "primary: pg_ctl restart of $datadir failed"
	fi
	PRIMARY_VIA=""
	wait_for 30 pg_ready "$PRIMARY_PORT" || die "primary: did not come back after restart"
}

# ensure_hba_line LINE: make LINE ("host DB USER ADDR METHOD") effective. If an
# earlier active line for the same type/database/address would win (first match
# wins, e.g. a fresh cluster's scram-sha-256 line), insert LINE before it;
# otherwise append. Returns 0 when the file changed.
ensure_hba_line() {
	local hba="$1" line="$2" typ db user addr
	read -r typ db user addr _ <<<"$line"
	if awk -v t="$typ" -v d="$db" -v u="$user" -v a="$addr" -v m="trust" '
		/^[[:space:]]*(#|$)/ { next }
		$1 == t && $2 == d && $3 == u && $4 == a && $5 == m { found = 1; exit }
		END { exit !found }' "$hba"; then
		return 1
	fi
	local shadow
	shadow="$(awk -v t="$typ" -v d="$db" -v a="$addr" '
		/^[[:space:]]*(#|$)/ { next }
		($1 == t || $1 == "hostnossl") && ($2 == d || ($2 == "all" && d != "replication")) && ($4 == a || $4 == "127.0.0.1" || $4 == "all" || $4 == "samehost") { print NR; exit }' "$hba")"
	if [[ -n "$shadow" ]]; then
		log "pg_hba.conf: inserting '$line' before line $shadow"
		as_root sed -i "${shadow}i ${line}  # added by pgxperf scripts/testenv.sh" "$hba"
	else
		log "pg_hba.conf: appending '$line'"
		printf '%s  # added by pgxperf scripts/testenv.sh\n' "$line" | as_root tee -a "$hba" >/dev/null
	fi
	return 0
}

# primary_facts: one round trip for everything the script needs from the primary.
P_MAJOR="" P_HBA="" P_WAL_LEVEL="" P_SENDERS="" P_KEEP="" P_HOT="" P_SYSID="" P_LSN="" P_VERSION=""
primary_facts() {
	local q out
	q="select current_setting('server_version_num')::int / 10000, current_setting('hba_file'),
		current_setting('wal_level'), current_setting('max_wal_senders'),
		(select setting from pg_settings where name = 'wal_keep_size'), current_setting('hot_standby'),
		(select system_identifier from pg_control_system()), pg_current_wal_lsn(), current_setting('server_version')"
	out="$(primary_sql "$q")" || return 1
	IFS='|' read -r P_MAJOR P_HBA P_WAL_LEVEL P_SENDERS P_KEEP P_HOT P_SYSID P_LSN P_VERSION <<<"$out"
}

ensure_primary() {
	if ! primary_facts 2>/dev/null; then
		pg_ready "$PRIMARY_PORT" || start_primary
		primary_facts || die "primary: answers on $HOST:$PRIMARY_PORT but refuses queries as postgres"
	fi
	PGBIN="/usr/lib/postgresql/$P_MAJOR/bin"
	[[ -x "$PGBIN/pg_ctl" ]] || apt_install "postgresql-$P_MAJOR"
	[[ -x "$PGBIN/pg_ctl" ]] || die "primary: Postgres $P_MAJOR binaries not found in $PGBIN"

	# Authentication: trust on 127.0.0.1 for normal and replication connections.
	local changed=0
	[[ -r "$P_HBA" ]] || die "primary: cannot read $P_HBA"
	if ensure_hba_line "$P_HBA" "host all all 127.0.0.1/32 trust"; then changed=1; fi
	if ensure_hba_line "$P_HBA" "host replication all 127.0.0.1/32 trust"; then changed=1; fi
	if ((changed)); then
		primary_sql 'select pg_reload_conf()' >/dev/null
		sleep 0.3
		PRIMARY_VIA=""
		[[ "$(primary_sql "select count(*) from pg_hba_file_rules where error is not null")" == 0 ]] ||
			die "primary: $P_HBA has errors after editing: see pg_hba_file_rules"
	fi
	if [[ "$PRIMARY_VIA" != tcp ]] && ! psql_at "$PRIMARY_PORT" 'select 1' >/dev/null 2>&1; then
		die "primary: TCP connections as postgres to $HOST:$PRIMARY_PORT are refused; check $P_HBA"
	fi

	# WAL settings. wal_keep_size and hot_standby need no restart (hot_standby only
	# matters in recovery, and the replica inherits it through postgresql.auto.conf).
	local restart=0 reload=0
	if [[ "$P_WAL_LEVEL" == minimal ]]; then
		primary_sql "alter system set wal_level = 'replica'" >/dev/null
		restart=1
	fi
	if ((P_SENDERS < 5)); then
		primary_sql "alter system set max_wal_senders = 10" >/dev/null
		restart=1
	fi
	if [[ "$P_HOT" != on ]]; then
		primary_sql "alter system set hot_standby = on" >/dev/null
	fi
	if ((P_KEEP < 256)); then # pg_settings.setting is in MB
		primary_sql "alter system set wal_keep_size = '256MB'" >/dev/null
		reload=1
	fi
	if ((restart)); then
		restart_primary
	elif ((reload)); then
		primary_sql 'select pg_reload_conf()' >/dev/null
	fi
	if ((changed || restart || reload)); then
		primary_facts || die "primary: stopped answering"
	fi
}

# ---------------------------------------------------------------- replica

replica_running() { as_pg "$PGBIN/pg_ctl" -D "$REPLICA_DIR" status >/dev/null 2>&1; }

replica_log() { printf '%s.log' "$REPLICA_DIR"; }

replica_log_tail() {
	local f
	f="$(replica_log)"
	if [[ -f "$f" ]]; then
		{ echo "--- last lines of $f:"; tail -n 15 "$f"; } >&2
	fi
}

stop_replica() {
	replica_running || return 0
	as_pg "$PGBIN/pg_ctl" -D "$REPLICA_DIR" -w -t 30 stop -m fast >/dev/null 2>&1 ||
		as_pg "$PGBIN/pg_ctl" -D "$REPLICA_DIR" -w -t 30 stop -m immediate >/dev/null 2>&1 || true
}

# A directory we may delete: ours by marker, empty, or the default location.
replica_dir_is_ours() {
	[[ ! -e "$REPLICA_DIR" ]] && return 0
	[[ -f "$REPLICA_DIR/$REPLICA_MARKER" ]] && return 0
	[[ -z "$(ls -A "$REPLICA_DIR" 2>/dev/null)" ]] && return 0
	[[ "$REPLICA_DIR" == /var/lib/postgresql/pgxperf-replica ]] && return 0
	return 1
}

build_replica() {
	local reason="$1"
	log "building replica in $REPLICA_DIR ($reason)"
	case "$REPLICA_DIR" in /|/var|/var/lib|/var/lib/postgresql|/usr*|/etc*|"") die "replica: refusing to use $REPLICA_DIR" ;; esac
	replica_dir_is_ours || die "replica: $REPLICA_DIR exists and was not created by this script; remove it or set PGXPERF_REPLICA_DIR"
	stop_replica
	if pg_ready "$REPLICA_PORT"; then
		die "replica: another server already listens on $HOST:$REPLICA_PORT (not $REPLICA_DIR); stop it first"
	fi
	as_root rm -rf "$REPLICA_DIR" || die "replica: cannot remove $REPLICA_DIR"
	local parent
	parent="$(dirname "$REPLICA_DIR")"
	[[ -d "$parent" ]] || { as_root mkdir -p "$parent" && as_root chown postgres:postgres "$parent"; }

	# --no-sync: this replica is disposable (a crash-damaged one is rebuilt), and
	# syncing every file dominates the build time on a busy disk.
	as_pg "$PGBIN/pg_basebackup" -h "$HOST" -p "$PRIMARY_PORT" -U postgres -w \
		-D "$REPLICA_DIR" -R -X stream -c fast --no-sync >&2 ||
		die "replica: pg_basebackup from $HOST:$PRIMARY_PORT failed"

	# A Debian primary keeps postgresql.conf and pg_hba.conf in /etc, so the backup
	# may lack them; write our own (replacing any copied from the primary). The
	# limits below must be at least the primary's or a hot standby refuses to start.
	local limits
	limits="$(psql_at "$PRIMARY_PORT" "select string_agg(name || ' = ' || setting, E'\n' order by name) from pg_settings
		where name in ('max_connections', 'max_locks_per_transaction', 'max_prepared_transactions',
		               'max_wal_senders', 'max_worker_processes')")" || die "primary: stopped answering"
	local sockdir=/var/run/postgresql
	[[ -d "$sockdir" ]] || sockdir=/tmp
	as_pg tee "$REPLICA_DIR/postgresql.conf" >/dev/null <<-EOF || die "replica: cannot write postgresql.conf"
		# Written by pgxperf scripts/testenv.sh; rewritten on every rebuild.
		port = $REPLICA_PORT
		listen_addresses = '$HOST'
		unix_socket_directories = '$sockdir'
		cluster_name = 'pgxperf-replica'
		hot_standby = on
		hot_standby_feedback = on
		wal_receiver_status_interval = 1s
		logging_collector = off
		log_line_prefix = '%m [%p] replica '
		$limits
	EOF
	as_pg tee "$REPLICA_DIR/pg_hba.conf" >/dev/null <<-EOF || die "replica: cannot write pg_hba.conf"
		# Written by pgxperf scripts/testenv.sh.
		local all all trust
		host all all 127.0.0.1/32 trust
		host all all ::1/128 trust
		host replication all 127.0.0.1/32 trust
	EOF
	as_pg touch "$REPLICA_DIR/pg_ident.conf" "$REPLICA_DIR/$REPLICA_MARKER" || die "replica: cannot write to $REPLICA_DIR"
	as_pg test -f "$REPLICA_DIR/standby.signal" || die "replica: pg_basebackup -R wrote no standby.signal"
}

start_replica() {
	log "starting replica ($REPLICA_DIR, log $(replica_log))"
	# Command-line settings win over a postgresql.auto.conf copied from the primary.
	as_pg "$PGBIN/pg_ctl" -D "$REPLICA_DIR" -l "$(replica_log)" -w -t 60 \
		-o "-c port=$REPLICA_PORT -c listen_addresses=$HOST -c hot_standby=on" start >/dev/null
}

# replica_check: one query. Sets REPLICA_WHY (empty when the replica is usable)
# and REPLICA_CAUGHT_UP (t when it has replayed P_LSN) and REPLICA_LSN.
REPLICA_WHY="" REPLICA_CAUGHT_UP="" REPLICA_LSN=""
replica_check() {
	local out rec sysid dir
	REPLICA_WHY="" REPLICA_CAUGHT_UP=f
	out="$(psql_at "$REPLICA_PORT" "select pg_is_in_recovery(), (select system_identifier from pg_control_system()),
		current_setting('data_directory'), coalesce(pg_last_wal_replay_lsn() >= '$P_LSN'::pg_lsn, false),
		pg_last_wal_replay_lsn()" 2>&1)" || { REPLICA_WHY="does not answer on $HOST:$REPLICA_PORT: ${out%%$'\n'*}"; return 1; }
	IFS='|' read -r rec sysid dir REPLICA_CAUGHT_UP REPLICA_LSN <<<"$out"
	if [[ ! "$dir" -ef "$REPLICA_DIR" ]]; then
		die "replica: $HOST:$REPLICA_PORT is served from $dir, not $REPLICA_DIR; stop that server first"
	fi
	[[ "$rec" == t ]] || { REPLICA_WHY="not in recovery (was it promoted?)"; return 1; }
	[[ "$sysid" == "$P_SYSID" ]] || { REPLICA_WHY="system identifier $sysid differs from the primary's $P_SYSID"; return 1; }
}

# Structural check of the data directory before starting it.
replica_dir_problem() {
	[[ -d "$REPLICA_DIR" ]] || { echo "missing"; return; }
	[[ -s "$REPLICA_DIR/PG_VERSION" ]] || { echo "no PG_VERSION"; return; }
	[[ -f "$REPLICA_DIR/standby.signal" ]] || { echo "no standby.signal (promoted?)"; return; }
	[[ -f "$REPLICA_DIR/postgresql.conf" ]] || { echo "no postgresql.conf"; return; }
	local v
	v="$(<"$REPLICA_DIR/PG_VERSION")"
	[[ "$v" == "$P_MAJOR" ]] || { echo "Postgres $v data, primary is $P_MAJOR"; return; }
}

caught_up() {
	[[ "$(psql_at "$REPLICA_PORT" "select coalesce(pg_last_wal_replay_lsn() >= '$P_LSN'::pg_lsn, false)" 2>/dev/null)" == t ]]
}

# replica_attempt: one try at a running, caught-up replica. On failure it sets
# REPLICA_WHY and returns 1 (the caller rebuilds once). Called in an `if`, where
# set -e is off, so every step checks its own status.
replica_attempt() {
	REPLICA_WHY="$(replica_dir_problem)"
	if [[ -n "$REPLICA_WHY" ]]; then build_replica "$REPLICA_WHY"; fi
	if ! replica_running; then
		if pg_ready "$REPLICA_PORT"; then
			die "replica: another server already listens on $HOST:$REPLICA_PORT (not $REPLICA_DIR); stop it first"
		fi
		start_replica || { REPLICA_WHY="pg_ctl start failed"; return 1; }
	fi
	if ! replica_check; then
		# Starting up or a transient error: give it a moment, then judge.
		wait_for 30 pg_ready "$REPLICA_PORT" 2 || { REPLICA_WHY="running but not accepting connections"; return 1; }
		replica_check || return 1
	fi
	[[ "$REPLICA_CAUGHT_UP" == t ]] && return 0
	if ! wait_for "$REPLICA_WAIT" caught_up; then
		REPLICA_WHY="did not replay the primary's LSN $P_LSN within ${REPLICA_WAIT}s"
		return 1
	fi
	REPLICA_LSN="$(psql_at "$REPLICA_PORT" 'select pg_last_wal_replay_lsn()' 2>/dev/null || echo '?')"
}

ensure_replica() {
	if replica_attempt; then return; fi
	log "replica: $REPLICA_WHY; rebuilding it"
	replica_log_tail
	stop_replica
	build_replica "$REPLICA_WHY"
	# The rebuilt replica must reach the primary's position after the backup.
	P_LSN="$(psql_at "$PRIMARY_PORT" 'select pg_current_wal_lsn()')" || die "primary: stopped answering"
	if ! replica_attempt; then
		replica_log_tail
		die "replica: $REPLICA_WHY (even after a rebuild)"
	fi
}

# ---------------------------------------------------------------- redis

ensure_redis() {
	redis_ping && return 0
	log "starting redis-server on $HOST:$REDIS_PORT"
	redis-server --daemonize yes --bind 127.0.0.1 -::1 --port "$REDIS_PORT" --save "" --appendonly no >&2 9>&- ||
		die "redis: redis-server failed to start"
	wait_for 10 redis_ping || die "redis: started but does not answer PING on $HOST:$REDIS_PORT"
}

# ---------------------------------------------------------------- external services

check_external_pg() {
	local what="$1" var="$2" dsn="$3" out
	command -v psql >/dev/null 2>&1 || { state "$what" "external" "not checked (no psql), $var"; return; }
	if out="$(PGCONNECT_TIMEOUT=3 psql -X -w -At "$dsn" -c 'select pg_is_in_recovery()' 2>&1)"; then
		state "$what" "external" "up (in recovery: $out), from $var"
	else
		die "$what: $var points to a server that does not answer: ${out%%$'\n'*}"
	fi
}

# ---------------------------------------------------------------- commands

cmd_up() {
	local manage_primary=1 manage_replica=1 manage_redis=1
	is_local_default "${PGXPERF_TEST_PRIMARY:-}" "$PRIMARY_PORT" || manage_primary=0
	is_local_default "${PGXPERF_TEST_REPLICA:-}" "$REPLICA_PORT" || manage_replica=0
	is_local_default "${PGXPERF_TEST_REDIS:-}" "$REDIS_PORT" || manage_redis=0

	if ((manage_primary || manage_replica || manage_redis)); then ensure_packages; fi

	# Serialise concurrent runs (two `make test` at once).
	exec 9>/tmp/pgxperf-testenv.lock
	flock -w 180 9 || die "another scripts/testenv.sh is still running (lock /tmp/pgxperf-testenv.lock)"

	if ((manage_primary)); then
		ensure_primary
		state primary "$HOST:$PRIMARY_PORT" "up, PostgreSQL ${P_VERSION%% *}, wal_level=$P_WAL_LEVEL, max_wal_senders=$P_SENDERS, wal_keep_size=${P_KEEP}MB"
	else
		check_external_pg primary PGXPERF_TEST_PRIMARY "$PGXPERF_TEST_PRIMARY"
	fi

	if ((manage_replica)); then
		if ((!manage_primary)); then
			state replica "$HOST:$REPLICA_PORT" "skipped: PGXPERF_TEST_PRIMARY points elsewhere; set PGXPERF_TEST_REPLICA to a replica of it"
		else
			ensure_replica
			state replica "$HOST:$REPLICA_PORT" "up, in recovery, streaming from $HOST:$PRIMARY_PORT, replayed $REPLICA_LSN >= primary's $P_LSN ($REPLICA_DIR)"
		fi
	else
		check_external_pg replica PGXPERF_TEST_REPLICA "$PGXPERF_TEST_REPLICA"
	fi

	if ((manage_redis)); then
		ensure_redis
		state redis "$HOST:$REDIS_PORT" "up (PING -> PONG)"
	elif redis_ping "$PGXPERF_TEST_REDIS"; then
		state redis external "up (PING -> PONG), from PGXPERF_TEST_REDIS"
	else
		die "redis: PGXPERF_TEST_REDIS=$PGXPERF_TEST_REDIS does not answer PING"
	fi
}

pg_state() {
	local port="$1" out
	pg_ready "$port" || { echo "down"; return; }
	out="$(psql_at "$port" "select case when pg_is_in_recovery() then 'up, in recovery' else 'up, primary' end" 2>&1)" ||
		{ echo "answers but refuses queries: ${out%%$'\n'*}"; return; }
	echo "$out"
}

cmd_status() {
	state primary "$HOST:$PRIMARY_PORT" "$(pg_state "$PRIMARY_PORT")"
	state replica "$HOST:$REPLICA_PORT" "$(pg_state "$REPLICA_PORT") ($REPLICA_DIR)"
	if redis_ping; then state redis "$HOST:$REDIS_PORT" "up"; else state redis "$HOST:$REDIS_PORT" "down"; fi
}

cmd_down() {
	local v
	v="$(ls /usr/lib/postgresql 2>/dev/null | sort -V | tail -n1)"
	[[ -f "$REPLICA_DIR/PG_VERSION" ]] && v="$(cat "$REPLICA_DIR/PG_VERSION")"
	PGBIN="/usr/lib/postgresql/$v/bin"
	if [[ -x "$PGBIN/pg_ctl" ]] && replica_running; then
		as_pg "$PGBIN/pg_ctl" -D "$REPLICA_DIR" -w -t 60 stop -m fast >/dev/null || die "replica: pg_ctl stop failed"
		state replica "$HOST:$REPLICA_PORT" "stopped ($REPLICA_DIR kept; primary and Redis left running)"
	else
		state replica "$HOST:$REPLICA_PORT" "not running"
	fi
}

case "${1:-up}" in
	up) cmd_up ;;
	down) cmd_down ;;
	status) cmd_status ;;
	-h|--help|help) sed -n '2,/^$/p' "$0" | sed 's/^# \{0,1\}//' ;;
	*) die "unknown command '$1' (use up, status or down)" ;;
esac
