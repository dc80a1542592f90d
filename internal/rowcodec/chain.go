package rowcodec

import (
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/pgxperf/pgxperf/internal/pgxrows"
)

// chainRows reads a replayed head, then the live rest of the same result.
type chainRows struct {
	head, tail pgx.Rows
	onTail     bool
	closed     bool // Close was called
}

// ReplayThen returns a pgx.Rows that replays r (decoded with typeMap, as in
// Replay) and then reads on from tail, the live rows r was captured from when
// Capture stopped with ErrTooLarge. Closing it closes tail.
func (r *Result) ReplayThen(typeMap *pgtype.Map, tail pgx.Rows) pgx.Rows {
	return Then(r.Replay(typeMap), tail)
}

// ReplayThenFail returns a pgx.Rows that replays r, the rows a failed query
// delivered before its error (see Capture), and then reports err in Err, as
// the live rows did.
func (r *Result) ReplayThenFail(typeMap *pgtype.Map, err error) pgx.Rows {
	return Then(r.Replay(typeMap), pgxrows.Fail(err))
}

// Then returns a pgx.Rows that reads head, a replay, and then tail, the live
// rows head's Result was captured from. Closing it closes both.
func Then(head, tail pgx.Rows) pgx.Rows {
	return &chainRows{head: head, tail: tail}
}

func (c *chainRows) cur() pgx.Rows {
	if c.onTail {
		return c.tail
	}
	return c.head
}

func (c *chainRows) Next() bool {
	if !c.onTail {
		if c.head.Next() {
			return true
		}
		if c.head.Err() != nil {
			c.tail.Close()
			return false
		}
		c.head.Close()
		c.onTail = true
	}
	return c.tail.Next()
}

// Close closes both; as pgx's Close reads the rest of a result, Err then
// reports the tail's error too (QueryRow's Scan closes after the first row
// and returns Err).
func (c *chainRows) Close() {
	c.head.Close()
	c.tail.Close()
	c.closed = true
}

func (c *chainRows) Err() error {
	if err := c.head.Err(); err != nil {
		return err
	}
	if c.onTail || c.closed {
		return c.tail.Err()
	}
	return nil
}

func (c *chainRows) CommandTag() pgconn.CommandTag { return c.tail.CommandTag() }

// FieldDescriptions are the replay's (a copy), which hold after the rows
// are closed, as pgx's do; the tail's when the replay has none.
func (c *chainRows) FieldDescriptions() []pgconn.FieldDescription {
	if fds := c.head.FieldDescriptions(); len(fds) > 0 {
		return fds
	}
	return c.tail.FieldDescriptions()
}
func (c *chainRows) Scan(dest ...any) error { return c.cur().Scan(dest...) }
func (c *chainRows) Values() ([]any, error) { return c.cur().Values() }
func (c *chainRows) RawValues() [][]byte    { return c.cur().RawValues() }

// Conn and TypeMap are the live rows', or the replay's when the tail is a
// failure (ReplayThenFail).
func (c *chainRows) Conn() *pgx.Conn {
	if conn := c.tail.Conn(); conn != nil {
		return conn
	}
	return c.head.Conn()
}

func (c *chainRows) TypeMap() *pgtype.Map {
	if m := c.tail.TypeMap(); m != nil {
		return m
	}
	return c.head.TypeMap()
}

var (
	_ pgx.Rows = (*chainRows)(nil)
)
