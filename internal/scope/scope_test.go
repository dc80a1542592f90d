package scope

import (
	"context"
	"fmt"
	"testing"
	"time"
)

type nop struct{}

func (nop) WantCallers() bool                                        { return false }
func (nop) ObserveStatement(context.Context, *Sink, Stmt, []uintptr) {}

func TestWithAndFrom(t *testing.T) {
	ctx := context.Background()
	if From(ctx) != nil {
		t.Fatal("a scope in an empty context")
	}
	var s Scope = nop{}
	inner := With(ctx, s)
	if From(inner) != s {
		t.Fatal("With then From lost the scope")
	}
	if From(With(inner, nil)) != nil {
		t.Fatal("a nil scope must hide the enclosing one")
	}
	type k struct{}
	if From(context.WithValue(inner, k{}, 1)) != s {
		t.Fatal("a derived context lost the scope")
	}
}

func TestSinkMergesByID(t *testing.T) {
	counted := map[uint64]int{}
	s := NewSink(func(fp uint64) { counted[fp]++ })
	s.Record(Record{ID: "a", Fingerprint: 1, Count: 3, Total: time.Millisecond, Finding: "a3"})
	s.Record(Record{ID: "b", Fingerprint: 2, Count: 2, Total: 5 * time.Millisecond, Finding: "b2"})
	s.Record(Record{ID: "a", Fingerprint: 1, Count: 5, Total: 2 * time.Millisecond, Finding: "a5"})
	s.Record(Record{ID: "a", Fingerprint: 1, Count: 4, Total: 9 * time.Millisecond, Finding: "a4"})

	got := s.Snapshot()
	if len(got) != 2 {
		t.Fatalf("%d records, want 2: %+v", len(got), got)
	}
	b, a := got[0], got[1] // largest total first
	if b.ID != "b" || a.ID != "a" {
		t.Fatalf("order %s, %s; want b (5ms) then a (2ms)", got[0].ID, got[1].ID)
	}
	if a.Occurrences != 3 || a.Count != 5 || a.Finding != "a5" || a.Total != 2*time.Millisecond {
		t.Fatalf("merged record %+v: want 3 occurrences, the largest Count's fields", a)
	}
	if a.FirstSeen.After(a.LastSeen) || a.FirstSeen.IsZero() {
		t.Fatalf("first %v, last %v", a.FirstSeen, a.LastSeen)
	}
	if counted[1] != 3 || counted[2] != 1 {
		t.Fatalf("counted %v, want every record counted against its fingerprint", counted)
	}
	s.Reset()
	if len(s.Snapshot()) != 0 {
		t.Fatal("Reset kept records")
	}
	var nilSink *Sink
	if nilSink.Snapshot() != nil {
		t.Fatal("a nil sink has records")
	}
}

func TestSinkBounded(t *testing.T) {
	n := 0
	s := NewSink(func(uint64) { n++ })
	for i := range maxRecords + 10 {
		s.Record(Record{ID: fmt.Sprint(i), Fingerprint: uint64(i)})
	}
	if got := len(s.Snapshot()); got != maxRecords {
		t.Fatalf("%d records, want at most %d", got, maxRecords)
	}
	if n != maxRecords+10 {
		t.Fatalf("counted %d, want every record counted", n)
	}
}
