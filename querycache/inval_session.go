package querycache

import (
	"runtime"
	"slices"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/pgxperf/pgxperf/internal/sqlinfo"
)

// Session state that a statement sets on one pooled connection changes what
// the same SQL returns there (search_path, role, time zone, DateStyle,
// temporary tables shadowing tables…), and the cache key holds only the
// pool's configured session. So while any connection of the pool carries
// such state, the cache neither serves nor stores anything (a bypass with
// its reason), until that connection is closed or runs RESET ALL or
// DISCARD ALL (or RESET / SET … TO DEFAULT of each setting it changed; a
// role needs RESET ROLE or DISCARD ALL, as RESET ALL keeps it).
// Transaction-local state (SET LOCAL, set_config(…, true)) ends with the
// transaction, and nothing is cached inside one.

// reportedParams are the settings the server reports to the client when
// they change (ParameterStatus): a change made by code the tracer cannot
// read (a function, a procedure, a DO block) is still seen for them.
// search_path is reported from Postgres 18 on.
var reportedParams = [...]string{"TimeZone", "DateStyle", "IntervalStyle", "session_authorization", "is_superuser",
	"client_encoding", "standard_conforming_strings", "search_path", "role"}

// neutralSettings change how statements run, never what they return.
var neutralSettings = map[string]struct{}{
	"statement_timeout": {}, "lock_timeout": {}, "idle_in_transaction_session_timeout": {},
	"idle_session_timeout": {}, "transaction_timeout": {}, "application_name": {}, "client_min_messages": {},
	"work_mem": {}, "maintenance_work_mem": {}, "synchronous_commit": {}, "log_statement": {},
	"log_min_duration_statement": {}, "log_min_messages": {}, "log_min_error_statement": {},
}

// diverges reports whether a session setting changed by a statement makes
// the connection's results differ from what the key says.
func (c *QueryCache) diverges(name string) bool {
	if _, ok := neutralSettings[name]; ok {
		return false
	}
	if slices.Contains(c.tenant, name) {
		// Declared per call with WithSettings, so in the key; unless the
		// pool's RuntimeParams set it, and the key holds their value.
		_, pool := c.runtimeParams[name]
		return pool
	}
	// Any other: a custom setting (app.tenant_id) too. The plan refuses
	// what reads one (current_setting is not IMMUTABLE; a policy must read
	// only TenantSettings) but an extension's setting can change what its
	// operators return (pg_trgm.similarity_threshold, hnsw.ef_search).
	return true
}

// mayRunUserCode reports whether a statement may run code (functions,
// procedures, DO blocks) that changes session state out of the tracer's
// sight: the reported parameters are compared around it.
func mayRunUserCode(info *sqlinfo.Info) bool {
	switch info.Kind {
	case sqlinfo.KindUtility, sqlinfo.KindMulti, sqlinfo.KindUnparsed:
		return true
	}
	return len(info.UnknownFunctions) > 0
}

// maySetSession reports, cheaply, whether a statement may change session
// state in a way sessionOps sees; only those texts are read.
func maySetSession(info *sqlinfo.Info) bool {
	switch info.Kind {
	case sqlinfo.KindUtility, sqlinfo.KindMulti, sqlinfo.KindUnparsed, sqlinfo.KindDDL:
		return true
	case sqlinfo.KindTransaction, sqlinfo.KindEmpty:
		return false
	case sqlinfo.KindSelect:
		if len(info.TablesWritten) > 0 { // SELECT … INTO TEMP
			return true
		}
	}
	for _, f := range info.Functions {
		if strings.HasSuffix(f, "set_config") {
			return true
		}
	}
	return false
}

func (i *invalidator) beforeStatement(conn *pgx.Conn, st *connState, info *sqlinfo.Info) {
	st.psSaved = false
	if info == nil || !mayRunUserCode(info) {
		return
	}
	pc := conn.PgConn()
	for k, p := range reportedParams {
		st.psBefore[k] = pc.ParameterStatus(p)
	}
	st.psSaved = true
}

// afterStatement applies what a statement (that ended with err) did to the
// connection's session state.
func (i *invalidator) afterStatement(conn *pgx.Conn, st *connState, info *sqlinfo.Info, sql string, err error) {
	var changed []string
	if st.psSaved {
		st.psSaved = false
		pc := conn.PgConn()
		for k, p := range reportedParams {
			if pc.ParameterStatus(p) != st.psBefore[k] {
				name := strings.ToLower(p)
				if name == "is_superuser" {
					name = "role" // SET ROLE changes it; RESET ROLE undoes it
				}
				changed = append(changed, name)
			}
		}
	}
	if info == nil || (!maySetSession(info) && len(changed) == 0) {
		return
	}
	var ops []sessOp
	if maySetSession(info) {
		ops = sessionOps(sql)
	}
	if len(ops) == 0 {
		// Only what the server reported: code the tracer cannot read
		// changed it. (A statement it can read is described by its ops:
		// RESET ALL changes reported parameters too, back.)
		for _, name := range changed {
			ops = append(ops, sessOp{kind: opSet, name: name})
		}
	}
	if len(ops) == 0 {
		return
	}
	rejected := failedOnServer(err)
	i.sessMu.Lock()
	defer i.sessMu.Unlock()
	if st.forgotten {
		return
	}
	for _, op := range ops {
		switch {
		case op.kind == opSet:
			if i.c.diverges(op.name) {
				i.divergeLocked(conn, st, op.name)
			}
		case rejected:
			// The statement failed: a reset in it may not have run, and a
			// set before it may have.
		case op.kind == opClear:
			delete(st.sess, op.name)
		case op.kind == opResetAll:
			for n := range st.sess {
				if n != "role" && n != "session_authorization" && n != "pg_temp" {
					delete(st.sess, n)
				}
			}
		case op.kind == opDiscardTemp:
			delete(st.sess, "pg_temp")
		case op.kind == opDiscardAll:
			clear(st.sess)
		}
	}
	i.syncLocked(st)
}

// divergeLocked records that the connection carries session state name.
func (i *invalidator) divergeLocked(conn *pgx.Conn, st *connState, name string) {
	if st.sess == nil {
		st.sess = map[string]struct{}{}
	}
	st.sess[name] = struct{}{}
	why := name
	i.sessWhy.Store(&why)
	if !st.cleanup {
		// A connection closed without ForgetConn (hijacked, or of a pool
		// that does not call it) stops counting once it is collected. The
		// state does not reference the connection.
		st.cleanup = true
		runtime.AddCleanup(conn, func(st *connState) {
			i.sessMu.Lock()
			st.forgotten = true
			i.clearSessLocked(st)
			i.sessMu.Unlock()
		}, st)
	}
}

// clearSessLocked records that the connection carries no session state any
// more. What the catalog and the plans learned meanwhile is forgotten: a
// catalog lookup may have run on that connection and resolved names under
// its search_path or role.
func (i *invalidator) clearSessLocked(st *connState) {
	clear(st.sess)
	i.syncLocked(st)
}

// syncLocked brings sessConns and the counts in line with st.sess.
func (i *invalidator) syncLocked(st *connState) {
	was, in := i.sessConns[st]
	if len(st.sess) == 0 {
		if in {
			delete(i.sessConns, st)
			if was {
				i.sessHard.Add(-1)
			}
			i.sessCount.Store(int64(len(i.sessConns)))
			i.c.forgetCatalog()
		}
		return
	}
	hard := false
	for n := range st.sess {
		if !strings.Contains(n, ".") {
			hard = true
			break
		}
	}
	i.sessConns[st] = hard
	switch {
	case hard && (!in || !was):
		i.sessHard.Add(1)
	case !hard && in && was:
		i.sessHard.Add(-1)
	}
	if !in {
		// Count first, then the epoch: a lookup that read the epoch after
		// this bump sees the count too.
		i.sessCount.Store(int64(len(i.sessConns)))
		i.sessEpoch.Add(1)
	}
}

// sessionBypass returns the reason the cache is off for session state, or
// "" when no connection carries any. With hardOnly it looks only at
// settings that change how names resolve or values print (anything but a
// custom setting, whose name has a dot): the catalog must not be read on
// such a connection, so they are checked before the plan is made.
func (i *invalidator) sessionBypass(hardOnly bool) string {
	if (hardOnly && i.sessHard.Load() == 0) || i.sessCount.Load() == 0 {
		return ""
	}
	name := "session state"
	if p := i.sessWhy.Load(); p != nil {
		name = *p
	}
	if name == "pg_temp" {
		name = "a temporary table"
	}
	return "session state not in the key (" + name + ") set by a statement on a pooled connection; cached again after RESET ALL, DISCARD ALL or the connection's close"
}

// sessionConns returns how many connections carry session state set by a
// statement (SET, set_config, a temporary table…), during which the cache
// is bypassed.
func (c *QueryCache) sessionConns() int { return int(c.inval.sessCount.Load()) }
