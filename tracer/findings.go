package tracer

import (
	"sort"
	"sync"
	"time"
)

// Finding is a detector's verdict about a statement (n1detect reports N+1
// patterns here), kept by the Registry for reports. Findings with the same ID
// are merged: Occurrences counts how many scopes produced it.
type Finding struct {
	ID          string // stable: the same problem gets the same ID across runs
	Kind        string // "n+1", "n+1 write", "redundant", …
	Fingerprint uint64
	Query       string // normalized SQL
	CallSite    CallSite
	Scope       string        // the unit of work, e.g. "GET /projects/{id}"
	Count       int           // statements in the worst occurrence
	Total       time.Duration // their total duration
	Fix         string        // suggested fix
	Text        string        // the full readable report of the worst occurrence
	FirstSeen   time.Time
	LastSeen    time.Time
	Occurrences int64
}

// maxFindings bounds the distinct findings a Registry keeps.
const maxFindings = 256

type findings struct {
	mu   sync.Mutex
	byID map[string]*Finding
}

// RecordFinding adds a finding, merging it with an earlier one of the same
// ID, and counts it against its fingerprint's statistics. Safe for
// concurrent use. Beyond 256 distinct findings new IDs are only counted.
func (r *Registry) RecordFinding(f Finding) {
	now := time.Now()
	r.findings.mu.Lock()
	if r.findings.byID == nil {
		r.findings.byID = make(map[string]*Finding)
	}
	if cur, ok := r.findings.byID[f.ID]; ok {
		cur.Occurrences++
		cur.LastSeen = now
		if f.Count > cur.Count {
			occ, first := cur.Occurrences, cur.FirstSeen
			*cur = f
			cur.Occurrences, cur.FirstSeen, cur.LastSeen = occ, first, now
		}
	} else if len(r.findings.byID) < maxFindings {
		f.Occurrences, f.FirstSeen, f.LastSeen = 1, now, now
		r.findings.byID[f.ID] = &f
	}
	r.findings.mu.Unlock()

	// The per-value form's entry, else the batch-shaped form's (statKey).
	var e *entry
	for _, key := range [2]uint64{f.Fingerprint, f.Fingerprint ^ batchShapeSalt} {
		sh := &r.shards[key%registryShards]
		sh.mu.RLock()
		e = sh.m[key]
		sh.mu.RUnlock()
		if e != nil {
			break
		}
	}
	if e != nil {
		e.mu.Lock()
		e.findings++
		e.mu.Unlock()
	}
}

func (f *findings) snapshot() []Finding {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make([]Finding, 0, len(f.byID))
	for _, v := range f.byID {
		out = append(out, *v)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Total != out[j].Total {
			return out[i].Total > out[j].Total
		}
		return out[i].ID < out[j].ID
	})
	return out
}

func (f *findings) reset() {
	f.mu.Lock()
	f.byID = nil
	f.mu.Unlock()
}
