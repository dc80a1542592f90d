package sqlinfo

import (
	"math"
	"strings"
	"sync"
	"sync/atomic"
	"unsafe"

	"github.com/maypok86/otter/v2"
)

// DefaultMaxBytes is the cache bound used when Config.MaxBytes is zero.
const DefaultMaxBytes = 64 << 20

// entryOverhead approximates the bytes an entry costs beyond the lengths
// of its strings: the Info struct in its allocation size class (384), otter's
// node and hash-table slot (~130) and the rounding of the small allocations
// behind strings and slices (~60). TestCacheMemoryBound checks it against
// the heap.
const entryOverhead = 576

// Config configures an Analyzer. The zero value is ready to use.
type Config struct {
	// MaxBytes bounds the memory of the cache (keys + values, approximate
	// weight). Zero means DefaultMaxBytes (64 MiB); a negative value disables
	// caching, so every call analyzes. A text whose entry would weigh more than
	// MaxBytes/8 is analyzed but not cached.
	MaxBytes int64
}

// Analyzer analyzes SQL texts and caches one immutable *Info per distinct
// text in a bounded cache. It is safe for concurrent use by any number of
// goroutines. Create one with New; the zero Analyzer and a nil *Analyzer
// analyze without caching.
type Analyzer struct {
	cache    *otter.Cache[string, *entry] // nil: no caching
	maxEntry uint64                       // heavier entries are not cached
	// front is a small direct-mapped table in front of the cache, indexed by
	// the address of the caller's string. Applications send the same string
	// value (a constant, sqlc's generated text) again and again, so a hit is
	// one atomic load and one string comparison instead of hashing the whole
	// text. Entries are verified by content, so a collision or a reused
	// address only costs a trip to the cache.
	front *[frontSlots]atomic.Pointer[entry]
}

// entry is a cached analysis with the text it belongs to.
type entry struct {
	text string
	info *Info
}

const (
	frontBits   = 12
	frontSlots  = 1 << frontBits
	frontMaxLen = 4 << 10 // longer texts bypass the front table (bounds what it pins)
)

func frontIndex(sql string) uint64 {
	p := uint64(uintptr(unsafe.Pointer(unsafe.StringData(sql)))) ^ uint64(len(sql))
	return (p * 0x9E3779B97F4A7C15) >> (64 - frontBits)
}

// New returns an Analyzer whose cache holds at most about cfg.MaxBytes bytes.
// It never returns nil.
func New(cfg Config) *Analyzer {
	maxBytes := cfg.MaxBytes
	switch {
	case maxBytes == 0:
		maxBytes = DefaultMaxBytes
	case maxBytes < 0:
		return &Analyzer{}
	}
	c := otter.Must(&otter.Options[string, *entry]{
		MaximumWeight: uint64(maxBytes),
		Weigher:       weigh,
	})
	return &Analyzer{
		cache:    c,
		maxEntry: min(uint64(maxBytes)/8, math.MaxUint32),
		front:    new([frontSlots]atomic.Pointer[entry]),
	}
}

// Analyze returns the analysis of sql, from the cache when the same text
// was analyzed before (a hit costs a hash lookup and no allocation). It
// never returns nil and never panics; see AnalyzeUncached for unparsable
// text. The result is shared: callers must not modify it. Two goroutines
// that miss on the same text at once may both analyze it; one result wins
// and both are equal.
func (a *Analyzer) Analyze(sql string) *Info {
	if a == nil || a.cache == nil {
		return analyze(sql)
	}
	if len(sql) > frontMaxLen {
		if e, ok := a.cache.GetIfPresent(sql); ok {
			return e.info
		}
		return a.miss(sql).info
	}
	slot := &a.front[frontIndex(sql)]
	if e := slot.Load(); e != nil && e.text == sql {
		return e.info
	}
	e, ok := a.cache.GetIfPresent(sql)
	if !ok {
		e = a.miss(sql)
	}
	slot.Store(e)
	return e.info
}

// miss analyzes sql and caches the result unless it is too heavy. The key
// is a copy, so the cache never pins a larger buffer sql may point into.
func (a *Analyzer) miss(sql string) *entry {
	key := strings.Clone(sql)
	e := &entry{text: key, info: analyze(key)}
	if uint64(weight(key, e.info)) > a.maxEntry {
		return e
	}
	e, _ = a.cache.SetIfAbsent(key, e)
	return e
}

// Len returns the number of cached entries (an estimate while other
// goroutines insert). Safe for concurrent use; zero for a nil Analyzer.
func (a *Analyzer) Len() int {
	if a == nil || a.cache == nil {
		return 0
	}
	return a.cache.EstimatedSize()
}

// weightedSize returns the summed weight of the cached entries (tests).
func (a *Analyzer) weightedSize() uint64 {
	if a == nil || a.cache == nil {
		return 0
	}
	return a.cache.WeightedSize()
}

// weigh is the otter Weigher: an entry's approximate size in bytes.
func weigh(key string, e *entry) uint32 { return weight(key, e.info) + 32 }

// weight approximates the bytes held by a cache entry, saturating at
// math.MaxUint32. Strings that share the key's memory are counted anyway:
// the estimate errs on the heavy side.
func weight(key string, info *Info) uint32 {
	n := uint64(entryOverhead) + uint64(len(key)) + uint64(len(info.FingerprintHex)) +
		uint64(len(info.Reason)) + uint64(len(info.Locking)) +
		uint64(len(info.SQLCName)) + uint64(len(info.SQLCCommand))
	if info.Normalized != key {
		n += uint64(len(info.Normalized))
	}
	for _, list := range [...][]string{info.TablesRead, info.TablesWritten, info.Functions, info.UnknownFunctions, info.NamedArgs} {
		for _, s := range list {
			n += 16 + uint64(len(s))
		}
	}
	// Calls' names share the bytes of Functions' names.
	n += 40 * uint64(len(info.Calls))
	n += uint64(len(info.Volatile))
	if info.ParseError != nil {
		n += 64 + uint64(len(info.ParseError.Error()))
	}
	return uint32(min(n, math.MaxUint32))
}

var defaultAnalyzer = sync.OnceValue(func() *Analyzer { return New(Config{}) })

// Default returns the process-wide Analyzer, created on first use with the
// default Config (a 64 MiB cache). Safe for concurrent use; never nil.
func Default() *Analyzer { return defaultAnalyzer() }

// Analyze is Default().Analyze(sql): the cached analysis of sql, never nil.
// Safe for concurrent use; the result must not be modified.
func Analyze(sql string) *Info { return defaultAnalyzer().Analyze(sql) }
