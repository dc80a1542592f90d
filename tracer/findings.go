package tracer

// countFinding counts a finding (n1detect's, recorded in the registry's
// scope.Sink) against its statement's statistics (StatementStats.Findings):
// the per-value form's entry, else the batch-shaped form's (statKey).
func (r *registry) countFinding(fingerprint uint64) {
	var e *entry
	for _, key := range [2]uint64{fingerprint, fingerprint ^ batchShapeSalt} {
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
