package querycache

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/klauspost/compress/s2"
	"github.com/stretchr/testify/require"

	"github.com/pgxperf/pgxperf/internal/rowcodec"
)

// requireSameResult fails unless a and b hold the same field descriptions,
// values (NULL and empty told apart) and command tag. A nil and an empty Rows
// are the same.
func requireSameResult(t testing.TB, want, got *rowcodec.Result) {
	t.Helper()
	require.Equal(t, len(want.FieldDescriptions), len(got.FieldDescriptions), "column count")
	for i := range want.FieldDescriptions {
		require.Equal(t, want.FieldDescriptions[i], got.FieldDescriptions[i], "column %d", i)
	}
	require.Equal(t, len(want.Rows), len(got.Rows), "row count")
	for i := range want.Rows {
		require.Equal(t, len(want.Rows[i]), len(got.Rows[i]), "row %d length", i)
		for j := range want.Rows[i] {
			w, g := want.Rows[i][j], got.Rows[i][j]
			require.Equal(t, w == nil, g == nil, "row %d column %d NULL", i, j)
			require.True(t, bytes.Equal(w, g), "row %d column %d: want %q, got %q", i, j, w, g)
		}
	}
	require.Equal(t, want.CommandTag, got.CommandTag)
}

// codecSample builds a deterministic result of n rows in the binary format
// with columns of the common types, encoded by pgtype as a server would.
func codecSample(tb testing.TB, n int) *rowcodec.Result {
	tb.Helper()
	m := pgtype.NewMap()
	fds := []pgconn.FieldDescription{
		{Name: "id", TableOID: 16401, TableAttributeNumber: 1, DataTypeOID: pgtype.Int8OID, DataTypeSize: 8, TypeModifier: -1, Format: pgx.BinaryFormatCode},
		{Name: "external_id", TableOID: 16401, TableAttributeNumber: 2, DataTypeOID: pgtype.UUIDOID, DataTypeSize: 16, TypeModifier: -1, Format: pgx.BinaryFormatCode},
		{Name: "email", TableOID: 16401, TableAttributeNumber: 3, DataTypeOID: pgtype.TextOID, DataTypeSize: -1, TypeModifier: -1, Format: pgx.BinaryFormatCode},
		{Name: "is_active", TableOID: 16401, TableAttributeNumber: 6, DataTypeOID: pgtype.BoolOID, DataTypeSize: 1, TypeModifier: -1, Format: pgx.BinaryFormatCode},
		{Name: "settings", TableOID: 16401, TableAttributeNumber: 7, DataTypeOID: pgtype.JSONBOID, DataTypeSize: -1, TypeModifier: -1, Format: pgx.BinaryFormatCode},
		{Name: "interests", TableOID: 16401, TableAttributeNumber: 8, DataTypeOID: pgtype.TextArrayOID, DataTypeSize: -1, TypeModifier: -1, Format: pgx.BinaryFormatCode},
		{Name: "credit_balance", TableOID: 16401, TableAttributeNumber: 9, DataTypeOID: pgtype.NumericOID, DataTypeSize: -1, TypeModifier: 786438, Format: pgx.BinaryFormatCode},
		{Name: "created_at", TableOID: 16401, TableAttributeNumber: 10, DataTypeOID: pgtype.TimestamptzOID, DataTypeSize: 8, TypeModifier: -1, Format: pgx.BinaryFormatCode},
		{Name: "last_login_at", TableOID: 16401, TableAttributeNumber: 11, DataTypeOID: pgtype.TimestamptzOID, DataTypeSize: 8, TypeModifier: -1, Format: pgx.TextFormatCode},
	}
	enc := func(oid uint32, format int16, v any) []byte {
		b, err := m.Encode(oid, format, v, nil)
		require.NoError(tb, err)
		return b
	}
	base := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	res := &rowcodec.Result{FieldDescriptions: fds, CommandTag: fmt.Sprintf("SELECT %d", n)}
	for i := range n {
		var u [16]byte
		for k := range u {
			u[k] = byte(i*31 + k)
		}
		var num pgtype.Numeric
		require.NoError(tb, num.Scan(fmt.Sprintf("%d.%02d", i*3709%10000, i%100)))
		row := [][]byte{
			enc(pgtype.Int8OID, 1, int64(i+1)),
			enc(pgtype.UUIDOID, 1, u),
			enc(pgtype.TextOID, 1, fmt.Sprintf("user%04d@example.com", i+1)),
			enc(pgtype.BoolOID, 1, i%17 != 0),
			enc(pgtype.JSONBOID, 1, map[string]any{"theme": []string{"light", "dark", "system"}[i%3], "notifications": i%2 == 0, "hour": i % 24}),
			enc(pgtype.TextArrayOID, 1, []string{"go", "postgres", "redis"}[:1+i%3]),
			enc(pgtype.NumericOID, 1, num),
			enc(pgtype.TimestamptzOID, 1, base.Add(time.Duration(i)*263*time.Minute)),
			nil,
		}
		if i%5 != 0 {
			row[8] = []byte(base.Add(time.Duration(i) * 97 * time.Hour).Format("2006-01-02 15:04:05Z07"))
		}
		res.Rows = append(res.Rows, row)
	}
	return res
}

func codecCases(t testing.TB) map[string]*rowcodec.Result {
	big := make([]byte, 5000)
	r := rand.New(rand.NewPCG(1, 2))
	for i := range big {
		big[i] = byte(r.Uint32())
	}
	return map[string]*rowcodec.Result{
		"empty":    {},
		"tag only": {CommandTag: "SELECT 0"},
		"no rows": {
			FieldDescriptions: []pgconn.FieldDescription{{Name: "id", DataTypeOID: pgtype.Int8OID, DataTypeSize: 8, TypeModifier: -1, Format: 1}},
			CommandTag:        "SELECT 0",
		},
		"zero columns": {Rows: [][][]byte{{}, {}, {}}, CommandTag: "SELECT 3"},
		"null vs empty": {
			FieldDescriptions: []pgconn.FieldDescription{{Name: "a", DataTypeOID: pgtype.TextOID, DataTypeSize: -1, TypeModifier: -1}, {Name: "", DataTypeOID: pgtype.ByteaOID, DataTypeSize: -1, TypeModifier: -1, Format: 1}},
			Rows:              [][][]byte{{nil, []byte{}}, {[]byte{}, nil}, {nil, nil}, {[]byte("x"), []byte{0}}},
			CommandTag:        "SELECT 4",
		},
		"extreme field values": {
			FieldDescriptions: []pgconn.FieldDescription{
				{Name: "Zoë Ünal-Çelik №", TableOID: math.MaxUint32, TableAttributeNumber: math.MaxUint16, DataTypeOID: math.MaxUint32, DataTypeSize: math.MinInt16, TypeModifier: math.MinInt32, Format: 1},
				{Name: strings.Repeat("n", 300), DataTypeSize: math.MaxInt16, TypeModifier: math.MaxInt32},
			},
			Rows:       [][][]byte{{big[:200], big[200:201]}},
			CommandTag: "SELECT 1",
		},
		"incompressible": {
			FieldDescriptions: []pgconn.FieldDescription{{Name: "b", DataTypeOID: pgtype.ByteaOID, DataTypeSize: -1, TypeModifier: -1, Format: 1}},
			Rows:              [][][]byte{{big}},
			CommandTag:        "SELECT 1",
		},
		"sample 1":   codecSample(t, 1),
		"sample 50":  codecSample(t, 50),
		"sample 500": codecSample(t, 500),
	}
}

func TestEncodeDecodeRoundTrip(t *testing.T) {
	t.Parallel()
	encoders := map[string]resultEncoder{
		"default":        {},
		"never compress": {compressAbove: -1},
		"always":         {compressAbove: 1},
	}
	for name, res := range codecCases(t) {
		for ename, e := range encoders {
			t.Run(name+"/"+ename, func(t *testing.T) {
				t.Parallel()
				data, err := e.encode(res)
				require.NoError(t, err)
				got, err := decodeResult(data)
				require.NoError(t, err)
				requireSameResult(t, res, got)

				// The flag says compressed only when asked for and smaller.
				compressed := data[0]&1 != 0
				if e.compressAbove < 0 {
					require.False(t, compressed)
				}
				if compressed {
					plain, err := resultEncoder{compressAbove: -1}.encode(res)
					require.NoError(t, err)
					require.Less(t, len(data), len(plain))
				}
			})
		}
	}
}

func TestEncodeCompressesAboveThreshold(t *testing.T) {
	t.Parallel()
	small, err := encodeResult(codecSample(t, 1))
	require.NoError(t, err)
	require.Less(t, len(small), defaultCompressAbove)
	require.Equal(t, byte(0x10), small[0], "version 1, not compressed")

	res := codecSample(t, 50)
	plain, err := resultEncoder{compressAbove: -1}.encode(res)
	require.NoError(t, err)
	packed, err := encodeResult(res)
	require.NoError(t, err)
	require.Equal(t, byte(0x11), packed[0], "version 1, compressed")
	require.Less(t, len(packed), len(plain)/2)
	t.Logf("50 sample rows: Size %d, encoded %d bytes, compressed %d bytes", res.Size(), len(plain), len(packed))

	// Exactly at the threshold stays plain; one byte above compresses.
	bodyLen := len(plain) - 1
	at, err := resultEncoder{compressAbove: bodyLen}.encode(res)
	require.NoError(t, err)
	require.Equal(t, plain, at)
	above, err := resultEncoder{compressAbove: bodyLen - 1}.encode(res)
	require.NoError(t, err)
	require.Equal(t, byte(0x11), above[0])
}

func TestEncodeStoresTooCompressibleBodiesPlain(t *testing.T) {
	t.Parallel()
	res := &rowcodec.Result{
		FieldDescriptions: []pgconn.FieldDescription{{Name: "z", DataTypeOID: pgtype.ByteaOID, Format: 1}},
		Rows:              [][][]byte{{make([]byte, 1<<20)}},
	}
	data, err := encodeResult(res)
	require.NoError(t, err)
	require.Equal(t, byte(0x10), data[0], "a 1 MiB run of zeros would compress past Decode's bound")
	got, err := decodeResult(data)
	require.NoError(t, err)
	requireSameResult(t, res, got)
}

func TestEncodeRejects(t *testing.T) {
	t.Parallel()
	fd := pgconn.FieldDescription{Name: "a", DataTypeOID: pgtype.TextOID}
	cases := map[string]*rowcodec.Result{
		"nil":          nil,
		"short row":    {FieldDescriptions: []pgconn.FieldDescription{fd, fd}, Rows: [][][]byte{{nil}}},
		"long row":     {FieldDescriptions: []pgconn.FieldDescription{fd}, Rows: [][][]byte{{nil, nil}}},
		"format code":  {FieldDescriptions: []pgconn.FieldDescription{{Name: "a", Format: 2}}},
		"columnless":   {Rows: make([][][]byte, 1<<16+1)},
		"row no cols":  {Rows: [][][]byte{{nil}}},
		"negative fmt": {FieldDescriptions: []pgconn.FieldDescription{{Format: -1}}},
	}
	for name, res := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := encodeResult(res)
			require.ErrorIs(t, err, rowcodec.ErrUnencodable)
		})
	}
}

func requireCorrupt(t testing.TB, data []byte) {
	t.Helper()
	res, err := decodeResult(data)
	require.Nil(t, res)
	require.ErrorIs(t, err, ErrCorrupt)
	var de *rowcodec.DecodeError
	require.ErrorAs(t, err, &de)
	require.NotEmpty(t, de.Error())
}

func TestDecodeRejectsCorruptInput(t *testing.T) {
	t.Parallel()
	for name, res := range codecCases(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			for _, e := range []resultEncoder{{compressAbove: -1}, {compressAbove: 1}} {
				data, err := e.encode(res)
				require.NoError(t, err)
				// Every proper prefix is corrupt (for long encodings: the
				// first and last KiB, and a sample in between), and so is
				// anything appended.
				for n := 0; n < len(data); n++ {
					if n > 1024 && n < len(data)-1024 && n%61 != 0 {
						continue
					}
					requireCorrupt(t, data[:n])
				}
				requireCorrupt(t, append(bytes.Clone(data), 0))
				// Unknown versions and flags.
				for _, h := range []byte{0x00, 0x20, 0xf0, 0x12, 0x18, 0x1f} {
					bad := bytes.Clone(data)
					bad[0] = h
					requireCorrupt(t, bad)
				}
				// Flipping any byte never panics; most flips are corrupt.
				for i := 1; i < len(data); i++ {
					if len(data) > 4096 && i%127 != 0 {
						continue
					}
					bad := bytes.Clone(data)
					bad[i] ^= 0xff
					got, err := decodeResult(bad)
					if err != nil {
						require.ErrorIs(t, err, ErrCorrupt)
						require.Nil(t, got)
					}
				}
			}
		})
	}

	t.Run("handmade", func(t *testing.T) {
		cases := map[string][]byte{
			"empty":                 nil,
			"huge column count":     {0x10, 0xff, 0xff, 0xff, 0xff, 0x0f},
			"varint overflow":       {0x10, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01},
			"huge row count":        {0x10, 0x00, 0xff, 0xff, 0xff, 0xff, 0x0f, 0x00},
			"columnless rows bound": {0x10, 0x00, 0x81, 0x80, 0x04, 0x00},
			"huge value":            {0x10, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0xff, 0xff, 0x03, 0x00},
			"format 2":              {0x10, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x02, 0x00, 0x00},
			"type size range":       {0x10, 0x01, 0x00, 0x00, 0x00, 0x00, 0x80, 0x80, 0x04, 0x00, 0x00, 0x00, 0x00},
			"OID range":             {0x10, 0x01, 0x00, 0x00, 0x00, 0x80, 0x80, 0x80, 0x80, 0x10, 0x00, 0x00, 0x00, 0x00, 0x00},
			"compressed bomb claim": {0x11, 0xff, 0xff, 0xff, 0xff, 0x0f, 0x01, 0x00},
			"compressed length":     {0x11, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01, 0x00},
			"compressed zero":       {0x11, 0x00},
			"compressed garbage":    {0x11, 0x05, 0xff, 0xff, 0xff},
			"compressed short":      append([]byte{0x11, 0x7f}, s2.Encode(nil, []byte{0, 0, 0})[1:]...),
			"compressed long":       append([]byte{0x11, 0x02}, s2.Encode(nil, []byte{0, 0, 0})[1:]...),
			"after block":           append(append([]byte{0x11}, s2.Encode(nil, []byte{0, 0, 0})...), 0),
			"compressed body bad":   append([]byte{0x11}, s2.Encode(nil, []byte{0, 0, 0, 0})...),
			"too compressible":      append([]byte{0x11}, s2.Encode(nil, make([]byte, 1<<20))...),
		}
		for name, data := range cases {
			t.Run(name, func(t *testing.T) { requireCorrupt(t, data) })
		}
		// The smallest valid encodings.
		res, err := decodeResult([]byte{0x10, 0, 0, 0})
		require.NoError(t, err)
		requireSameResult(t, &rowcodec.Result{}, res)
		res, err = decodeResult(append([]byte{0x11}, s2.Encode(nil, []byte{0, 0, 0})...))
		require.NoError(t, err)
		requireSameResult(t, &rowcodec.Result{}, res)
	})
}

func TestDecodedValuesDoNotOverlap(t *testing.T) {
	t.Parallel()
	res := &rowcodec.Result{
		FieldDescriptions: []pgconn.FieldDescription{{Name: "a"}, {Name: "b"}},
		Rows:              [][][]byte{{[]byte("aa"), []byte("bb")}},
	}
	for _, e := range []resultEncoder{{compressAbove: -1}, {compressAbove: 1}} {
		data, err := e.encode(res)
		require.NoError(t, err)
		got, err := decodeResult(data)
		require.NoError(t, err)
		_ = append(got.Rows[0][0], 'X', 'X', 'X') // must not write over "bb"
		require.Equal(t, "bb", string(got.Rows[0][1]))
		require.Equal(t, "b", got.FieldDescriptions[1].Name)
	}
}

func TestSizeAccounting(t *testing.T) {
	t.Parallel()
	var nilRes *rowcodec.Result
	require.Zero(t, nilRes.Size())
	for name, res := range codecCases(t) {
		plain, err := resultEncoder{compressAbove: -1}.encode(res)
		require.NoError(t, err)
		// Size tracks the uncompressed encoding from above, roughly.
		require.GreaterOrEqual(t, res.Size()+len(res.CommandTag)+64, len(plain), name)
	}
}

func FuzzDecode(f *testing.F) {
	for name, res := range codecCases(f) {
		if name == "sample 500" {
			continue // large seeds slow every execution down
		}
		for _, e := range []resultEncoder{{compressAbove: -1}, {compressAbove: 1}} {
			data, err := e.encode(res)
			if err != nil {
				f.Fatal(err)
			}
			f.Add(data)
		}
	}
	f.Add([]byte{})
	f.Add([]byte{0x10, 0, 0, 0})
	f.Add([]byte{0x11, 0xff, 0xff, 0xff, 0xff, 0x0f, 0x01, 0x00})
	f.Fuzz(func(t *testing.T, data []byte) {
		res, err := decodeResult(data)
		if err != nil {
			if res != nil {
				t.Fatalf("Decode returned a Result with error %v", err)
			}
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("error %v does not match ErrCorrupt", err)
			}
			return
		}
		// Whatever decodes re-encodes to the same Result, both ways.
		for _, e := range []resultEncoder{{compressAbove: -1}, {compressAbove: 1}} {
			again, err := e.encode(res)
			if err != nil {
				t.Fatalf("re-encoding a decoded result: %v", err)
			}
			res2, err := decodeResult(again)
			if err != nil {
				t.Fatalf("decoding a re-encoded result: %v", err)
			}
			requireSameResult(t, res, res2)
		}
		// A replay of anything decodable must not panic either.
		rows := res.Replay(nil)
		for rows.Next() {
			_, _ = rows.Values()
		}
		rows.Close()
	})
}

// BenchmarkDecodeReplay measures what a cache hit costs after the Redis round
// trip: decoding a stored result and scanning every row out of its replay.
func BenchmarkDecodeReplay(b *testing.B) {
	type user struct {
		ID            int64              `db:"id"`
		ExternalID    pgtype.UUID        `db:"external_id"`
		Email         string             `db:"email"`
		IsActive      bool               `db:"is_active"`
		Settings      map[string]any     `db:"settings"`
		Interests     []string           `db:"interests"`
		CreditBalance pgtype.Numeric     `db:"credit_balance"`
		CreatedAt     time.Time          `db:"created_at"`
		LastLoginAt   pgtype.Timestamptz `db:"last_login_at"`
	}
	for _, n := range []int{1, 50, 500} {
		res := codecSample(b, n)
		for _, e := range []struct {
			name string
			enc  resultEncoder
		}{{"plain", resultEncoder{compressAbove: -1}}, {"compressed", resultEncoder{compressAbove: 1}}} {
			data, err := e.enc.encode(res)
			require.NoError(b, err)
			m := pgtype.NewMap()
			b.Run(fmt.Sprintf("rows=%d/%s/decode", n, e.name), func(b *testing.B) {
				b.ReportAllocs()
				b.SetBytes(int64(len(data)))
				for b.Loop() {
					if _, err := decodeResult(data); err != nil {
						b.Fatal(err)
					}
				}
			})
			b.Run(fmt.Sprintf("rows=%d/%s/decode+scan", n, e.name), func(b *testing.B) {
				b.ReportAllocs()
				var id int64
				var email string
				var created time.Time
				for b.Loop() {
					got, err := decodeResult(data)
					if err != nil {
						b.Fatal(err)
					}
					rows := got.Replay(m)
					for rows.Next() {
						if err := rows.Scan(&id, nil, &email, nil, nil, nil, nil, &created, nil); err != nil {
							b.Fatal(err)
						}
					}
					if rows.Err() != nil {
						b.Fatal(rows.Err())
					}
				}
			})
			b.Run(fmt.Sprintf("rows=%d/%s/decode+RowToStructByName", n, e.name), func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					got, err := decodeResult(data)
					if err != nil {
						b.Fatal(err)
					}
					users, err := pgx.CollectRows(got.Replay(m), pgx.RowToStructByName[user])
					if err != nil || len(users) != n {
						b.Fatal(err, len(users))
					}
				}
			})
		}
	}
}
