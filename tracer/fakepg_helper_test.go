package tracer_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"net"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgproto3"
	"github.com/jackc/pgx/v5/pgxpool"
)

// fakePG is a Postgres server good enough for pgx, in-process over
// net.Pipe (as otelpgx's tests do it): no server needed. It answers by the
// statement's text:
//
//   - a SELECT returns one bigint column "v": three rows (1, 2, 3) when the
//     statement reads items, one row (1) otherwise;
//   - INSERT, UPDATE and DELETE affect one row; BEGIN, COMMIT and SET succeed;
//   - a statement naming missing_table fails with SQLSTATE 42P01 (undefined
//     table) when it is parsed, or run with the simple protocol.
//
// Parameters are all bigint. It speaks the simple protocol and the extended
// one (Parse, Bind, Describe, Execute, Close, Sync, Flush).
type fakePG struct {
	mu      sync.Mutex
	queries []string // every Query and Parse received, in order
}

// dial connects a new client to a new session of the fake server.
func (f *fakePG) dial(context.Context, string, string) (net.Conn, error) {
	client, server := net.Pipe()
	go f.serve(server)
	return client, nil
}

func fakeConnString() string { return "postgres://app@fakepg:5432/app?sslmode=disable" }

// connConfig returns a pgx config that dials f, with tr as its tracer.
func (f *fakePG) connConfig(t testing.TB, tr pgx.QueryTracer) *pgx.ConnConfig {
	t.Helper()
	cfg, err := pgx.ParseConfig(fakeConnString())
	if err != nil {
		t.Fatal(err)
	}
	cfg.DialFunc = f.dial
	cfg.LookupFunc = func(context.Context, string) ([]string, error) { return []string{"127.0.0.1"}, nil }
	cfg.Tracer = tr
	return cfg
}

// connect opens a pgx.Conn on f, closed at the end of the test.
func (f *fakePG) connect(t testing.TB, tr pgx.QueryTracer) *pgx.Conn {
	t.Helper()
	conn, err := pgx.ConnectConfig(context.Background(), f.connConfig(t, tr))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}

// pool opens a pgxpool.Pool on f whose connections are traced by tr.
func (f *fakePG) pool(t testing.TB, tr pgx.QueryTracer) *pgxpool.Pool {
	t.Helper()
	cfg, err := pgxpool.ParseConfig(fakeConnString())
	if err != nil {
		t.Fatal(err)
	}
	cfg.ConnConfig.DialFunc = f.dial
	cfg.ConnConfig.LookupFunc = func(context.Context, string) ([]string, error) { return []string{"127.0.0.1"}, nil }
	cfg.ConnConfig.Tracer = tr
	cfg.MaxConns = 2
	pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	return pool
}

type fakeStmt struct {
	sql     string
	formats []int16 // result formats of the portal bound to it
}

func (f *fakePG) serve(c net.Conn) {
	defer c.Close()
	be := pgproto3.NewBackend(c, c)
	if _, err := be.ReceiveStartupMessage(); err != nil {
		return
	}
	be.Send(&pgproto3.AuthenticationOk{})
	for _, p := range [][2]string{{"server_version", "17.0"}, {"client_encoding", "UTF8"}, {"standard_conforming_strings", "on"},
		{"DateStyle", "ISO, MDY"}, {"integer_datetimes", "on"}, {"TimeZone", "UTC"}} {
		be.Send(&pgproto3.ParameterStatus{Name: p[0], Value: p[1]})
	}
	be.Send(&pgproto3.BackendKeyData{ProcessID: 1, SecretKey: []byte{0, 0, 0, 1}})
	be.Send(&pgproto3.ReadyForQuery{TxStatus: 'I'})
	if be.Flush() != nil {
		return
	}
	stmts := map[string]string{}      // statement name → SQL
	portals := map[string]*fakeStmt{} // portal name → statement
	failed := false                   // an error: skip to the next Sync
	for {
		msg, err := be.Receive()
		if err != nil {
			return
		}
		if failed {
			if _, ok := msg.(*pgproto3.Sync); !ok {
				continue
			}
		}
		switch m := msg.(type) {
		case *pgproto3.Query:
			f.record(m.String)
			for _, sql := range strings.Split(m.String, ";") {
				if strings.TrimSpace(sql) == "" {
					continue
				}
				if fakeFails(sql) {
					be.Send(fakeError(sql))
					break
				}
				fakeResult(be, sql, nil, true)
			}
			be.Send(&pgproto3.ReadyForQuery{TxStatus: 'I'})
			if be.Flush() != nil {
				return
			}
		case *pgproto3.Parse:
			f.record(m.Query)
			if fakeFails(m.Query) {
				be.Send(fakeError(m.Query))
				failed = true
				continue
			}
			stmts[m.Name] = m.Query
			be.Send(&pgproto3.ParseComplete{})
		case *pgproto3.Describe:
			if m.ObjectType == 'S' {
				sql := stmts[m.Name]
				be.Send(&pgproto3.ParameterDescription{ParameterOIDs: fakeParams(sql)})
				fakeDescribe(be, sql, nil)
			} else {
				p := portals[m.Name]
				fakeDescribe(be, p.sql, p.formats)
			}
		case *pgproto3.Bind:
			portals[m.DestinationPortal] = &fakeStmt{sql: stmts[m.PreparedStatement], formats: append([]int16(nil), m.ResultFormatCodes...)}
			be.Send(&pgproto3.BindComplete{})
		case *pgproto3.Execute:
			p := portals[m.Portal]
			fakeResult(be, p.sql, p.formats, false)
		case *pgproto3.Close:
			if m.ObjectType == 'S' {
				delete(stmts, m.Name)
			} else {
				delete(portals, m.Name)
			}
			be.Send(&pgproto3.CloseComplete{})
		case *pgproto3.Sync:
			failed = false
			be.Send(&pgproto3.ReadyForQuery{TxStatus: 'I'})
			if be.Flush() != nil {
				return
			}
		case *pgproto3.Flush:
			if be.Flush() != nil {
				return
			}
		case *pgproto3.Terminate:
			return
		default:
			be.Send(fakeError(fmt.Sprintf("unexpected %T", msg)))
			be.Send(&pgproto3.ReadyForQuery{TxStatus: 'I'})
			if be.Flush() != nil {
				return
			}
		}
	}
}

func (f *fakePG) record(sql string) {
	f.mu.Lock()
	f.queries = append(f.queries, sql)
	f.mu.Unlock()
}

func fakeFails(sql string) bool { return strings.Contains(sql, "missing_table") }

func fakeError(sql string) *pgproto3.ErrorResponse {
	return &pgproto3.ErrorResponse{Severity: "ERROR", SeverityUnlocalized: "ERROR", Code: "42P01",
		Message: fmt.Sprintf("relation \"missing_table\" does not exist (%s)", strings.TrimSpace(sql))}
}

var fakeParam = regexp.MustCompile(`\$(\d+)`)

// fakeParams types every parameter of sql bigint.
func fakeParams(sql string) []uint32 {
	n := 0
	for _, m := range fakeParam.FindAllStringSubmatch(sql, -1) {
		if i, _ := strconv.Atoi(m[1]); i > n {
			n = i
		}
	}
	oids := make([]uint32, n)
	for i := range oids {
		oids[i] = 20 // int8
	}
	return oids
}

func fakeVerb(sql string) string {
	fields := strings.Fields(strings.ToUpper(sql))
	if len(fields) == 0 {
		return ""
	}
	return fields[0]
}

func fakeRowCount(sql string) int {
	if strings.Contains(sql, "items") {
		return 3
	}
	return 1
}

func fakeDescribe(be *pgproto3.Backend, sql string, formats []int16) {
	if fakeVerb(sql) != "SELECT" {
		be.Send(&pgproto3.NoData{})
		return
	}
	format := int16(0)
	if len(formats) > 0 {
		format = formats[0]
	}
	be.Send(&pgproto3.RowDescription{Fields: []pgproto3.FieldDescription{
		{Name: []byte("v"), DataTypeOID: 20, DataTypeSize: 8, TypeModifier: -1, Format: format},
	}})
}

// fakeResult sends the rows and command tag of sql (and its row
// description first, for the simple protocol).
func fakeResult(be *pgproto3.Backend, sql string, formats []int16, simple bool) {
	verb := fakeVerb(sql)
	if simple {
		fakeDescribe(be, sql, nil)
	}
	switch verb {
	case "SELECT":
		n := fakeRowCount(sql)
		binaryFormat := len(formats) > 0 && formats[0] == 1
		for i := 1; i <= n; i++ {
			var v []byte
			if binaryFormat {
				v = binary.BigEndian.AppendUint64(nil, uint64(i))
			} else {
				v = []byte(strconv.Itoa(i))
			}
			be.Send(&pgproto3.DataRow{Values: [][]byte{v}})
		}
		be.Send(&pgproto3.CommandComplete{CommandTag: []byte("SELECT " + strconv.Itoa(n))})
	case "INSERT":
		be.Send(&pgproto3.CommandComplete{CommandTag: []byte("INSERT 0 1")})
	case "UPDATE", "DELETE":
		be.Send(&pgproto3.CommandComplete{CommandTag: []byte(verb + " 1")})
	default:
		be.Send(&pgproto3.CommandComplete{CommandTag: bytes.TrimSpace([]byte(verb))})
	}
}
