package sqlinfo

import (
	"strconv"
	"time"
)

// Kind is the statement kind of a SQL text.
type Kind uint8

// Statement kinds. KindUnparsed means pg_query could not parse the text.
const (
	KindUnparsed    Kind = iota // pg_query rejected the text
	KindEmpty                   // empty or only comments/whitespace
	KindSelect                  // SELECT, VALUES, TABLE, SHOW-free reads (including SELECT INTO, see ReadOnly)
	KindInsert                  // INSERT
	KindUpdate                  // UPDATE
	KindDelete                  // DELETE
	KindMerge                   // MERGE
	KindCopy                    // COPY
	KindDDL                     // CREATE/ALTER/DROP/TRUNCATE/COMMENT/GRANT…
	KindTransaction             // BEGIN/START/COMMIT/ROLLBACK/SAVEPOINT/RELEASE/PREPARE TRANSACTION…
	KindUtility                 // SET/SHOW/EXPLAIN/LISTEN/NOTIFY/PREPARE/EXECUTE/DEALLOCATE/VACUUM/ANALYZE/LOCK/DO/CALL…
	KindMulti                   // more than one statement in the text
)

var kindNames = [...]string{"unparsed", "empty", "select", "insert", "update", "delete", "merge", "copy", "ddl", "transaction", "utility", "multi"}

// String returns the lower-case name of the kind ("select", "ddl", …).
func (k Kind) String() string {
	if int(k) < len(kindNames) {
		return kindNames[k]
	}
	return "kind(" + strconv.Itoa(int(k)) + ")"
}

// IsWrite reports whether statements of this kind modify data by their kind alone
// (insert, update, delete, merge, copy, ddl). A SELECT may still write (see Info.ReadOnly).
func (k Kind) IsWrite() bool {
	switch k {
	case KindInsert, KindUpdate, KindDelete, KindMerge, KindCopy, KindDDL:
		return true
	}
	return false
}

// TxOp says what a transaction-control statement does.
type TxOp uint8

// Transaction-control operations (only set when Kind == KindTransaction).
const (
	TxNone TxOp = iota
	TxBegin
	TxCommit
	TxRollback
	TxSavepoint
	TxRelease
	TxRollbackTo
	TxPrepare // PREPARE TRANSACTION / COMMIT PREPARED / ROLLBACK PREPARED
)

// HintPrimary is the SQL comment hint that keeps a statement on the primary:
// SELECT /* pgxperf:primary */ … or -- pgxperf:primary.
const HintPrimary = "pgxperf:primary"

// HintCache opts a statement into the query cache, optionally with a TTL:
// SELECT /* pgxperf:cache ttl=30s */ … (the cache still refuses statements it
// cannot prove safe to cache). HintNoCache keeps a statement out of it even
// when a rule or the context asks for caching.
const (
	HintCache   = "pgxperf:cache"
	HintNoCache = "pgxperf:nocache"
)

// Info is the immutable analysis of one SQL text. Every field is computed once
// per distinct text; an *Info returned by Analyze must never be modified (slices included).
type Info struct {
	// Fingerprint is pg_query's 64-bit fingerprint, or, for text pg_query cannot
	// parse, a hash of the whitespace- and literal-normalized text (Fallback is then true).
	Fingerprint uint64
	// FingerprintHex is Fingerprint as 16 lower-case hex digits (as pg_query prints it).
	FingerprintHex string
	// Fallback is true when Fingerprint and Normalized come from the fallback normalizer.
	Fallback bool
	// Normalized is the text with constants replaced by $n (pg_query Normalize), or the
	// fallback normalized form. Long texts are kept whole; callers truncate for display.
	Normalized string
	// Kind is the statement kind.
	Kind Kind
	// TxOp is the transaction-control operation when Kind == KindTransaction.
	TxOp TxOp
	// ReadOnly is true only when the analyzer can prove the statement neither writes
	// nor takes locks nor has side effects (safe on a hot standby and to cache).
	ReadOnly bool
	// Reason explains the ReadOnly verdict in a few words, e.g. "plain select",
	// "locking clause FOR UPDATE", "calls volatile function nextval", "parse error".
	Reason string
	// TablesRead and TablesWritten list relation names as written in the SQL
	// ("users", "public.users"), de-duplicated, sorted. CTE names are not tables.
	TablesRead    []string
	TablesWritten []string
	// Functions lists the functions called, schema-qualified when written so,
	// de-duplicated, sorted. Names are lower-case unless quoted in the SQL
	// ("MyFunc" keeps its case, as Postgres resolves it); SQL-standard value
	// functions such as CURRENT_TIMESTAMP are listed as "current_timestamp".
	Functions []string
	// UnknownFunctions lists the called functions that are not known built-ins
	// (user functions). The statement is then not ReadOnly unless a caller proves otherwise.
	UnknownFunctions []string
	// ReadOnlyIfFunctions is true for a SELECT that would be ReadOnly if every
	// function in UnknownFunctions were read-only (stable or immutable, no
	// side effects): a router that knows them from pg_proc may route it to a replica.
	ReadOnlyIfFunctions bool
	// HintPrimary is true when the text carries the comment hint
	// /* pgxperf:primary */: a router must send it to the primary.
	HintPrimary bool
	// CacheHint is true when the text carries the comment hint
	// /* pgxperf:cache */, with CacheTTL its ttl= value (zero when absent or
	// unreadable: the cache's default TTL). NoCacheHint is true for
	// /* pgxperf:nocache */.
	CacheHint   bool
	CacheTTL    time.Duration
	NoCacheHint bool
	// Locking is the locking clause if any ("FOR UPDATE", "FOR SHARE SKIP LOCKED", …).
	Locking string
	// SQLCName and SQLCCommand come from a leading "-- name: GetUser :one" comment.
	SQLCName    string
	SQLCCommand string
	// BatchShaped is true when the statement works on a set of values in one round
	// trip: "= ANY($n)", an IN (…) list of two or more items or a parameter array,
	// or a multi-row VALUES list.
	BatchShaped bool
	// Paged is true for a SELECT that reads one page of a longer result: a
	// LIMIT with an OFFSET, or an ORDER BY with a range comparison in WHERE
	// (keyset pagination). Running it in a loop is not an N+1.
	Paged bool
	// CursorParams are the $n numbers that move a page (the keyset values
	// compared with < or >, or the OFFSET), when Paged.
	CursorParams []int
	// Params is the highest $n placeholder number referenced.
	Params int
	// NamedArgs lists the pgx named arguments (@name) of the text in the order
	// pgx numbers them ($1, $2, …); nil when the text has none. The analysis
	// (Fingerprint, Normalized, Kind, …) is that of the text with the names
	// replaced by those numbers, which is what pgx.NamedArgs sends.
	NamedArgs []string
	// ParseError is pg_query's error for unparsed text, nil otherwise.
	ParseError error

	// Text is the SQL text analyzed, exactly as given (before the named
	// argument rewrite). An Info describes one text: the Analyzer's cache is
	// keyed by the whole text, so two texts never share an Info. Fingerprint
	// and Normalized leave the statement's constants out; a result cache must
	// key on Text (or on every constant) as well.
	Text string
	// Calls lists the function calls of the text with their argument
	// counts, de-duplicated, sorted by name, then Args, then the flags. SQL
	// standard value functions (CURRENT_TIMESTAMP, CURRENT_USER, …) are
	// listed with ValueFunction set. Together with pg_proc's pronargs,
	// pronargdefaults and provariadic, Args narrows the overloads a call can
	// resolve to (see Call).
	Calls []Call
	// Volatile names the first construct met whose value may change from
	// call to call although no function is called, "" when there is none:
	// a string constant holding a clock-relative date/time input ('now',
	// 'today', 'tomorrow', 'yesterday' as a word anywhere in the string, in
	// any case: see HasClockWord), TABLESAMPLE, or a system column (ctid,
	// xmin, xmax, cmin, cmax, tableoid). It does not change ReadOnly (such
	// a statement runs on a standby alike); a result cache must refuse it.
	Volatile string
}

// Call is one function call of a statement.
type Call struct {
	// Name is the function's name as in Info.Functions.
	Name string
	// Args is the number of arguments written, named ones (a => 1)
	// included; for an ordered-set aggregate (… WITHIN GROUP (ORDER BY x))
	// the ORDER BY arguments count too, as in pg_proc. count(*) has none.
	// An overload with pronargs parameters, pronargdefaults of which have
	// defaults, can be the one called when
	// pronargs-pronargdefaults <= Args <= pronargs, or, for a variadic one,
	// when Args >= pronargs-1.
	Args int
	// Variadic is true when the last argument is marked VARIADIC (an array
	// passed to the variadic parameter as a whole).
	Variadic bool
	// ValueFunction is true for an SQL-standard value function
	// (CURRENT_DATE, LOCALTIMESTAMP, CURRENT_USER, …), which has no pg_proc
	// entry of that name; Args is then 0.
	ValueFunction bool
}
