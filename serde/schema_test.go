package serde

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"reflect"
	"strings"
	"testing"
	"time"
)

type userID int64

type myByte uint8

type status uint8

type tree map[string]tree

type node struct {
	V    int32
	Next *node
	Kids []node
}

// ping and pong are mutually recursive; together they encode like node2.
type ping struct {
	V    int32
	Next *pong
}

type pong struct {
	V    int32
	Next *ping
}

type node2 struct {
	V    int32
	Next *node2
}

type base struct{ Created time.Time }

type embeds struct {
	base
	Base2  base
	hidden string
	Amount uint
	Raw    []myByte
	Addr   uintptr
}

func mustSchema[T any](t testing.TB) Schema {
	t.Helper()
	s, err := SchemaOf[T]()
	if err != nil {
		t.Fatalf("SchemaOf[%v]: %v", reflect.TypeFor[T](), err)
	}
	if err := s.Validate(); err != nil {
		t.Fatalf("SchemaOf[%v] is invalid: %v", reflect.TypeFor[T](), err)
	}
	return s
}

func TestSchemaOf(t *testing.T) {
	for _, tc := range []struct {
		got  Schema
		want string
	}{
		{mustSchema[bool](t), "bool"},
		{mustSchema[int8](t), "int8"},
		{mustSchema[int16](t), "int16"},
		{mustSchema[int32](t), "int32"},
		{mustSchema[int64](t), "int64"},
		{mustSchema[int](t), "int64"},
		{mustSchema[uint8](t), "uint8"},
		{mustSchema[uint16](t), "uint16"},
		{mustSchema[uint32](t), "uint32"},
		{mustSchema[uint64](t), "uint64"},
		{mustSchema[uint](t), "uint64"},
		{mustSchema[uintptr](t), "uint64"},
		{mustSchema[float32](t), "float32"},
		{mustSchema[float64](t), "float64"},
		{mustSchema[string](t), "string"},
		{mustSchema[[]byte](t), "[]byte"},
		{mustSchema[[]myByte](t), "[]byte"},
		{mustSchema[time.Time](t), "time.Time"},
		{mustSchema[[]int64](t), "[]int64"},
		{mustSchema[[3]uint16](t), "[3]uint16"},
		{mustSchema[[4]byte](t), "[4]uint8"},
		{mustSchema[map[string]int](t), "map[string]int64"},
		{mustSchema[*int32](t), "*int32"},
		{mustSchema[userID](t), "serde.userID(int64)"},
		{mustSchema[[]status](t), "[]byte"},
		{mustSchema[map[userID][]status](t), "map[serde.userID(int64)][]byte"},
		{mustSchema[struct{}](t), "struct{}"},
		{mustSchema[[]struct{ A, B string }](t), "[]struct{A string, B string}"},
		{mustSchema[sample](t), "struct serde.sample{ID int64, Name string, Score float64, OK bool, " +
			"Tags map[string]int64, Inner struct serde.inner{A int32, B []string}, " +
			"Ptr *struct serde.inner{A int32, B []string}, Blob []byte, At time.Time, Small uint8, Neg int16}"},
		{mustSchema[embeds](t), "struct serde.embeds{Base2 struct serde.base{Created time.Time}, Amount uint64, Raw []byte, Addr uint64}"},
		{mustSchema[node](t), "struct serde.node{V int32, Next *serde.node, Kids []serde.node}"},
		{mustSchema[tree](t), "serde.tree(map[string]serde.tree)"},
		{mustSchema[ping](t), "struct serde.ping{V int32, Next *struct serde.pong{V int32, Next *serde.ping}}"},
		{Custom("orders.Codec", 2), "custom(orders.Codec v2)"},
		{Schema{Kind: KindPointer, Elem: &Schema{Kind: KindRef, Up: 1}}, "*^1"},
	} {
		if got := tc.got.String(); got != tc.want {
			t.Errorf("String() = %s, want %s", got, tc.want)
		}
	}
	// The structure behind one of the strings.
	want := Schema{Kind: KindStruct, Name: "serde.node", Fields: []Field{
		{"V", Schema{Kind: KindInt32}},
		{"Next", Schema{Kind: KindPointer, Elem: &Schema{Kind: KindRef, Up: 2}}},
		{"Kids", Schema{Kind: KindSlice, Elem: &Schema{Kind: KindRef, Up: 2}}},
	}}
	if got := mustSchema[node](t); !reflect.DeepEqual(got, want) {
		t.Errorf("SchemaOf[node] = %#v, want %#v", got, want)
	}
	// An embedded unexported struct is an unexported field: not encoded.
	if got := mustSchema[embeds](t); len(got.Fields) != 4 || got.Fields[0].Name != "Base2" {
		t.Errorf("SchemaOf[embeds] fields = %v", got.Fields)
	}
}

func TestSchemaOfUnsupported(t *testing.T) {
	if _, err := SchemaOf[chan int](); err == nil {
		t.Error("SchemaOf[chan int] succeeded")
	}
	if _, err := SchemaOf[struct{ F func() }](); err == nil {
		t.Error("SchemaOf of a struct with a func field succeeded")
	}
	// 33 levels of nesting: more than a savepoint may hold.
	type deep = [][][][][][][][][][][][][][][][][][][][][][][][][][][][][][][][]int
	if _, err := SchemaOf[deep](); err == nil || !strings.Contains(err.Error(), "levels deep") {
		t.Errorf("SchemaOf of 33 levels: %v", err)
	}
	if _, err := Lookup[deep](); err == nil {
		t.Error("Lookup of 33 levels succeeded")
	}
	if _, err := SchemaOf[[][][][][][][][][][][][][][][][][][][][][][][][][][][][][][][]int](); err != nil {
		t.Errorf("SchemaOf of 32 levels: %v", err)
	}
	// 300 fields of 300 fields: more parts than a savepoint may hold.
	var fields []reflect.StructField
	for i := range 300 {
		fields = append(fields, reflect.StructField{Name: fmt.Sprintf("F%d", i), Type: reflect.TypeFor[int]()})
	}
	wide := reflect.StructOf(fields)
	for i := range fields {
		fields[i].Type = wide
	}
	if _, err := typeSchema(reflect.StructOf(fields)); err == nil || !strings.Contains(err.Error(), "parts") {
		t.Errorf("schema of 90000 parts: %v", err)
	}
}

// skipValue returns the length of the value at the start of b by following
// s alone: the proof that a schema describes its serializer's encoding.
func skipValue(s *Schema, stack []*Schema, b []byte) (int, error) {
	if s.Kind == KindRef {
		i := len(stack) - s.Up
		s, stack = stack[i], stack[:i:i]
	}
	sizes := map[Kind]int{KindBool: 1, KindInt8: 1, KindUint8: 1, KindInt16: 2, KindUint16: 2,
		KindInt32: 4, KindUint32: 4, KindFloat32: 4, KindInt64: 8, KindUint64: 8, KindFloat64: 8}
	if size, ok := sizes[s.Kind]; ok {
		if len(b) < size {
			return 0, ErrShortBuffer
		}
		return size, nil
	}
	stack = append(stack, s)
	seq := func(n int, count uint64, parts ...*Schema) (int, error) {
		for range count {
			for _, p := range parts {
				m, err := skipValue(p, stack, b[n:])
				if err != nil {
					return 0, err
				}
				n += m
			}
		}
		return n, nil
	}
	switch s.Kind {
	case KindString, KindBytes:
		_, n, err := readBytes(b)
		return n, err
	case KindTime:
		if len(b) > 0 && b[0] == 0 {
			return 1, nil
		}
		if len(b) < 9 {
			return 0, ErrShortBuffer
		}
		return 9, nil
	case KindSlice, KindMap:
		l, n := binary.Uvarint(b)
		if n <= 0 {
			return 0, ErrShortBuffer
		}
		if l == 0 {
			return n, nil
		}
		if s.Kind == KindMap {
			return seq(n, l-1, s.Key, s.Elem)
		}
		return seq(n, l-1, s.Elem)
	case KindArray:
		return seq(0, uint64(s.Len), s.Elem)
	case KindPointer:
		if len(b) < 1 {
			return 0, ErrShortBuffer
		}
		if b[0] == 0 {
			return 1, nil
		}
		return seq(1, 1, s.Elem)
	case KindStruct:
		n := 0
		for i := range s.Fields {
			m, err := skipValue(&s.Fields[i].Schema, stack, b[n:])
			if err != nil {
				return 0, err
			}
			n += m
		}
		return n, nil
	}
	return 0, fmt.Errorf("cannot skip %v", s.Kind)
}

func describes[T any](t *testing.T, v T) {
	t.Helper()
	ser := Of[T]()
	s, err := SchemaFor(ser)
	if err != nil {
		t.Fatal(err)
	}
	b := ser.Append(nil, v)
	n, err := skipValue(&s, nil, append(b, 0xee, 0xee))
	if err != nil || n != len(b) {
		t.Errorf("schema %v skips %d bytes (%v) of the %d-byte encoding of %#v", s, n, err, len(b), v)
	}
}

func TestSchemaDescribesEncoding(t *testing.T) {
	describes(t, int64(-1))
	describes(t, 5)
	describes(t, "héllo")
	describes(t, []byte{1, 2, 3})
	describes(t, []myByte{1, 2})
	describes(t, userID(7))
	describes(t, []string{"a", "", "c"})
	describes(t, []string(nil))
	describes(t, [3]uint16{1, 2, 3})
	describes(t, map[string]int{"a": 1, "b": 2})
	describes(t, map[userID][]status{1: {2}, 3: nil})
	describes(t, time.Time{})
	describes(t, time.Unix(5, 6))
	describes(t, uintptr(9))
	describes(t, sample{
		ID: 1, Name: "n", Score: 2.5, OK: true, Tags: map[string]int{"a": 1},
		Inner: inner{A: -3, B: []string{"x"}}, Ptr: &inner{A: 9}, Blob: []byte{1},
		At: time.Unix(1, 0), Small: 200, Neg: -300,
	})
	describes(t, sample{})
	describes(t, embeds{hidden: "not encoded", Base2: base{Created: time.Unix(3, 0)}, Amount: 4, Raw: []myByte{5}, Addr: 6})
	describes(t, node{V: 1, Next: &node{V: 2, Kids: []node{{V: 3}, {Next: &node{}}}}})
	describes(t, tree{"a": tree{"b": nil, "c": tree{}}})
	describes(t, ping{V: 1, Next: &pong{V: 2, Next: &ping{V: 3}}})
	describes(t, struct{}{})
	describes(t, [2]struct{ P *float32 }{})
}

// schemaTable has a schema of every kind and shape.
func schemaTable(t testing.TB) []Schema {
	i64 := Schema{Kind: KindInt64}
	return []Schema{
		{Kind: KindBool}, {Kind: KindInt8}, {Kind: KindInt16}, {Kind: KindInt32}, {Kind: KindInt64},
		{Kind: KindUint8}, {Kind: KindUint16}, {Kind: KindUint32}, {Kind: KindUint64},
		{Kind: KindFloat32}, {Kind: KindFloat64}, {Kind: KindString}, {Kind: KindBytes}, {Kind: KindTime},
		{Kind: KindInt64, Name: "orders.UserID"},
		{Kind: KindSlice, Elem: &i64},
		{Kind: KindArray, Len: 0, Elem: &i64},
		{Kind: KindArray, Len: math.MaxInt, Elem: &Schema{Kind: KindStruct}},
		{Kind: KindMap, Name: "m", Key: &Schema{Kind: KindString}, Elem: &i64},
		{Kind: KindPointer, Elem: &Schema{Kind: KindRef, Up: 1}},
		{Kind: KindStruct},
		{Kind: KindStruct, Name: "orders.Order", Fields: []Field{{"A", i64}, {"B", Custom("x", math.MaxUint32)}}},
		Custom("orders.Codec", 0),
		Custom(strings.Repeat("n", maxSchemaName), 300),
		mustSchema[sample](t),
		mustSchema[node](t),
		mustSchema[tree](t),
		mustSchema[ping](t),
		mustSchema[embeds](t),
		mustSchema[[][][][][][][][][][][][][][][][][][][][][][][][][][][][][][][]int](t),
	}
}

func TestSchemaEncodingRoundTrip(t *testing.T) {
	for _, s := range schemaTable(t) {
		b := AppendSchema([]byte{0xaa}, s)
		if b[0] != 0xaa {
			t.Fatalf("AppendSchema overwrote dst")
		}
		b = append(b, 0xbb) // trailing bytes are not read
		got, n, err := ReadSchema(b[1:])
		if err != nil {
			t.Fatalf("ReadSchema(AppendSchema(%v)): %v", s, err)
		}
		if n != len(b)-2 {
			t.Errorf("ReadSchema(%v) used %d of %d bytes", s, n, len(b)-2)
		}
		if !reflect.DeepEqual(got, s) {
			t.Errorf("round trip of %v: got %#v, want %#v", s, got, s)
		}
		if err := Compatible(s, got); err != nil {
			t.Errorf("Compatible(%v, itself read back): %v", s, err)
		}
		for i := range n {
			if _, _, err := ReadSchema(b[1 : 1+i]); !errors.Is(err, ErrInvalidSchema) {
				t.Fatalf("ReadSchema of a %d-byte prefix of %v: %v", i, s, err)
			}
		}
	}
}

// goldenOrder's schema pins the schema encoding, which is part of the
// savepoint format: if this test fails, savepoints written by earlier
// releases no longer restore.
type goldenOrder struct {
	OrderID string
	Qty     int32
	Tags    map[string][]byte
	Items   []struct {
		SKU   string
		Price float64
	}
	At   time.Time
	Next *goldenOrder
	Pad  [2]bool
}

func TestSchemaGoldenBytes(t *testing.T) {
	for _, tc := range []struct {
		s    Schema
		want string
	}{
		{mustSchema[goldenOrder](t), "" +
			"01" + // format 1
			"13" + "11" + "73657264652e676f6c64656e4f72646572" + // struct "serde.goldenOrder"
			"07" + // 7 fields
			"07" + "4f726465724944" + "0c" + "00" + // OrderID string
			"03" + "517479" + "04" + "00" + // Qty int32
			"04" + "54616773" + "11" + "00" + "0c00" + "0d00" + // Tags map[string][]byte
			"05" + "4974656d73" + "0f" + "00" + // Items []
			"13" + "00" + "02" + // struct{} with 2 fields
			"03" + "534b55" + "0c00" + // SKU string
			"05" + "5072696365" + "0b00" + // Price float64
			"02" + "4174" + "0e00" + // At time.Time
			"04" + "4e657874" + "12" + "00" + "15" + "02" + // Next * ref up 2
			"03" + "506164" + "10" + "00" + "02" + "0100", // Pad [2]bool
		},
		{Custom("orders.Codec", 300), "01" + "14" + "0c" + "6f72646572732e436f646563" + "ac02"},
	} {
		got := hex.EncodeToString(AppendSchema(nil, tc.s))
		if got != tc.want {
			t.Errorf("AppendSchema(%v)\n got %s\nwant %s", tc.s, got, tc.want)
		}
		b, _ := hex.DecodeString(tc.want)
		if s, _, err := ReadSchema(b); err != nil || !reflect.DeepEqual(s, tc.s) {
			t.Errorf("ReadSchema(golden) = %v, %v; want %v", s, err, tc.s)
		}
	}
}

func TestReadSchemaRejects(t *testing.T) {
	for _, tc := range []struct {
		hex, want string
	}{
		{"", "empty"},
		{"02" + "0500", "unknown format 2"},
		{"01" + "0000", "unknown kind 0"},
		{"01" + "1600", "unknown kind 22"},
		{"01" + "05", "truncated"},
		{"01" + "0502", "truncated"},
		{"01" + "058000", "not in shortest form"},
		{"01" + "0f00", "truncated"},
		{"01" + "1500", "ref 0 levels up"},
		{"01" + "150a", "ref 10 levels up"},
		{"01" + "1521", "number out of range"}, // ref more than 32 levels up
		{"01" + "0f00" + "1502", "ref 2 levels up from a schema nested 1 deep"},
		{"01" + "1400" + "00", "custom schema has no name"},
		{"01" + "1401" + "78" + "8080808010", "number out of range"}, // version 2^32
		{"01" + "1000" + "ffffffffffffffffff01" + "0500", "number out of range"},
		{"01" + "1300" + "02" + "0141" + "0500" + "0141" + "0500", "field A appears twice"},
		{"01" + "1300" + "01" + "00" + "0500", "field 0 has no name"},
		{"01" + "1300" + "05" + "0141" + "0500", "number out of range"}, // more fields than bytes
		{"01" + "0580808080808080808001", "number out of range"},        // uvarint overflow
		{"01" + "05" + "812000", "number out of range"},                 // name of 4097 bytes
		{"01" + strings.Repeat("0f00", 33) + "0500", "nested more than 32 levels deep"},
	} {
		b, err := hex.DecodeString(tc.hex)
		if err != nil {
			t.Fatal(err)
		}
		_, _, err = ReadSchema(b)
		if !errors.Is(err, ErrInvalidSchema) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("ReadSchema(%s) = %v, want an ErrInvalidSchema saying %q", tc.hex, err, tc.want)
		}
	}
	// More parts than allowed: a struct of 70000 bool fields.
	b := []byte{schemaFormat, byte(KindStruct), 0}
	b = binary.AppendUvarint(b, 70000)
	for i := range 70000 {
		b = appendStr(b, fmt.Sprint(i))
		b = append(b, byte(KindBool), 0)
	}
	if _, _, err := ReadSchema(b); err == nil || !strings.Contains(err.Error(), "parts") {
		t.Errorf("ReadSchema of 70001 parts: %v", err)
	}
}

func TestValidate(t *testing.T) {
	i64 := &Schema{Kind: KindInt64}
	cyclic := &Schema{Kind: KindPointer}
	cyclic.Elem = cyclic
	for _, tc := range []struct {
		s    Schema
		want string // "" for valid
	}{
		{Schema{Kind: KindMap, Key: i64, Elem: i64}, ""}, // shared parts are fine
		{Schema{}, "unknown kind 0"},
		{Schema{Kind: 99}, "unknown kind 99"},
		{Schema{Kind: KindInt64, Len: 1}, "int64 schema has a length"},
		{Schema{Kind: KindInt64, Version: 1}, "int64 schema has a version"},
		{Schema{Kind: KindInt64, Elem: i64}, "int64 schema has an element"},
		{Schema{Kind: KindSlice, Key: i64, Elem: i64}, "slice schema has a key"},
		{Schema{Kind: KindString, Fields: []Field{}}, "string schema has fields"},
		{Schema{Kind: KindBool, Up: 1}, "bool schema has a ref"},
		{Schema{Kind: KindSlice}, "slice schema has no element"},
		{Schema{Kind: KindMap, Elem: i64}, "map schema has no key"},
		{Schema{Kind: KindArray, Len: -1, Elem: i64}, "negative array length"},
		{Schema{Kind: KindCustom}, "custom schema has no name"},
		{Schema{Kind: KindRef, Up: 1}, "ref 1 levels up from a schema nested 0 deep"},
		{Schema{Kind: KindSlice, Elem: &Schema{Kind: KindRef, Up: 1, Name: "x"}}, "at []: ref schema has a name"},
		{Schema{Kind: KindStruct, Fields: []Field{{"A", *i64}, {"B", Schema{Kind: KindSlice}}}}, "at .B: slice schema has no element"},
		{Schema{Kind: KindStruct, Name: strings.Repeat("x", maxSchemaName+1)}, "name longer than 4096 bytes"},
		{*cyclic, "nested more than 32 levels deep"},
	} {
		err := tc.s.Validate()
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("Validate(%v) = %v", tc.s, err)
		case tc.want != "" && (!errors.Is(err, ErrInvalidSchema) || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("Validate(%v) = %v, want an ErrInvalidSchema saying %q", tc.s, err, tc.want)
		}
		if err != nil {
			func() {
				defer func() {
					if recover() == nil {
						t.Errorf("AppendSchema(%v) did not panic", tc.s)
					}
				}()
				AppendSchema(nil, tc.s)
			}()
			_ = tc.s.String() // must not panic or loop on invalid schemas
			if err := Compatible(tc.s, tc.s); !errors.Is(err, ErrInvalidSchema) {
				t.Errorf("Compatible(invalid) = %v", err)
			}
		}
	}
}

// Two packages' views of the same order: same layout, other names.
type orderV1 struct {
	OrderID  string
	UserID   string
	CreateTS int64
}

type renamedOrder struct {
	OrderID  string
	UserID   string
	CreateTS int64
}

func TestCompatible(t *testing.T) {
	type idAsInt struct {
		OrderID  int64
		UserID   string
		CreateTS int64
	}
	type withAmount struct {
		OrderID  string
		UserID   string
		CreateTS int64
		Amount   int64
	}
	type noCreateTS struct {
		OrderID string
		UserID  string
	}
	type renamedField struct {
		OrderID   string
		UserID    string
		CreatedAt int64
	}
	type reordered struct {
		UserID   string
		OrderID  string
		CreateTS int64
	}
	type nested struct {
		Orders map[string][]orderV1
	}
	type nestedChanged struct {
		Orders map[string][]idAsInt
	}
	type node3 struct {
		V    int64
		Next *node3
	}
	for _, tc := range []struct {
		name     string
		old, new Schema
		path     string // of the mismatch
		reason   string // "" for compatible
	}{
		{"identical", mustSchema[orderV1](t), mustSchema[orderV1](t), "", ""},
		{"type renamed", mustSchema[orderV1](t), mustSchema[renamedOrder](t), "", ""},
		{"named basic type", mustSchema[int64](t), mustSchema[userID](t), "", ""},
		{"int is int64", mustSchema[int](t), Int64{}.Schema(), "", ""},
		{"string to bytes", mustSchema[string](t), mustSchema[[]byte](t), "", ""},
		{"recursion by other types", mustSchema[ping](t), mustSchema[node2](t), "", ""},
		{"recursion by other types reversed", mustSchema[node2](t), mustSchema[pong](t), "", ""},
		{"field type changed", mustSchema[orderV1](t), mustSchema[idAsInt](t), ".OrderID", "string became int64"},
		{"field added", mustSchema[orderV1](t), mustSchema[withAmount](t), "", "field Amount added"},
		{"field removed", mustSchema[orderV1](t), mustSchema[noCreateTS](t), "", "field CreateTS removed"},
		{"field renamed", mustSchema[orderV1](t), mustSchema[renamedField](t), "", "field CreateTS removed, field CreatedAt added"},
		{"fields reordered", mustSchema[orderV1](t), mustSchema[reordered](t), "",
			"fields reordered (OrderID, UserID, CreateTS became UserID, OrderID, CreateTS); fields are encoded by position"},
		{"int32 to int64", mustSchema[int32](t), mustSchema[int64](t), "", "int32 became int64"},
		{"map value", mustSchema[map[string]int32](t), mustSchema[map[string]float32](t), "{value}", "int32 became float32"},
		{"map key", mustSchema[map[int32]string](t), mustSchema[map[uint32]string](t), "{key}", "int32 became uint32"},
		{"slice elem", mustSchema[[]int64](t), mustSchema[[]string](t), "[]", "int64 became string"},
		{"slice to array", mustSchema[[]int64](t), mustSchema[[2]int64](t), "", "[]int64 became [2]int64"},
		{"array length", mustSchema[[2]int64](t), mustSchema[[3]int64](t), "", "[2]int64 became [3]int64"},
		{"pointer added", mustSchema[struct{ A int8 }](t), mustSchema[struct{ A *int8 }](t), ".A", "int8 became *int8"},
		{"through pointer", mustSchema[struct{ A *int8 }](t), mustSchema[struct{ A *bool }](t), ".A", "int8 became bool"},
		{"deep", mustSchema[nested](t), mustSchema[nestedChanged](t), ".Orders{value}[].OrderID", "string became int64"},
		{"struct to map", mustSchema[orderV1](t), mustSchema[map[string]int](t), "", "struct serde.orderV1{...} became map[string]int64"},
		{"recursive elem", mustSchema[node2](t), mustSchema[node3](t), ".V", "int32 became int64"},
		{"recursion deeper", mustSchema[node2](t), mustSchema[struct {
			V    int32
			Next *struct {
				V    int32
				Next *int32
			}
		}](t), ".Next.Next", "struct serde.node2{...} became int32"},
		{"custom same", Custom("c", 1), Custom("c", 1), "", ""},
		{"custom version", Custom("c", 1), Custom("c", 2), "", "custom(c v1) became custom(c v2)"},
		{"custom name", Custom("c", 1), Custom("d", 1), "", "custom(c v1) became custom(d v1)"},
		{"custom to default", Custom("c", 1), mustSchema[string](t), "", "custom(c v1) became string"},
	} {
		err := Compatible(tc.old, tc.new)
		if tc.reason == "" {
			if err != nil {
				t.Errorf("%s: Compatible(%v, %v) = %v", tc.name, tc.old, tc.new, err)
			}
			continue
		}
		var ie *IncompatibleError
		if !errors.As(err, &ie) {
			t.Errorf("%s: Compatible(%v, %v) = %v, want an IncompatibleError", tc.name, tc.old, tc.new, err)
			continue
		}
		if ie.Path != tc.path || ie.Reason != tc.reason {
			t.Errorf("%s: mismatch at %q: %q; want at %q: %q", tc.name, ie.Path, ie.Reason, tc.path, tc.reason)
		}
		if !reflect.DeepEqual(ie.Old, tc.old) || !reflect.DeepEqual(ie.New, tc.new) {
			t.Errorf("%s: error's schemas are %v and %v", tc.name, ie.Old, ie.New)
		}
	}
}

func TestIncompatibleErrorMessage(t *testing.T) {
	type order struct {
		OrderID  int64
		UserID   string
		CreateTS int64
	}
	err := Compatible(mustSchema[orderV1](t), mustSchema[order](t))
	want := "schema mismatch at .OrderID: string became int64 " +
		"(old: struct serde.orderV1{OrderID string, UserID string, CreateTS int64}, " +
		"new: struct serde.order{OrderID int64, UserID string, CreateTS int64})"
	if err == nil || err.Error() != want {
		t.Errorf("error = %v\nwant %s", err, want)
	}
	err = Compatible(mustSchema[int32](t), mustSchema[int64](t))
	if want := "schema mismatch: int32 became int64 (old: int32, new: int64)"; err == nil || err.Error() != want {
		t.Errorf("error = %v\nwant %s", err, want)
	}
}

// opaque is a user serializer that does not describe itself.
type opaque struct{}

func (opaque) Append(dst []byte, v string) []byte   { return String{}.Append(dst, v) }
func (opaque) Read(src []byte) (string, int, error) { return String{}.Read(src) }

type versioned struct{ String }

func (versioned) Schema() Schema { return Custom("orders.Name", 3) }

type broken struct{ String }

func (broken) Schema() Schema { return Schema{Kind: KindSlice} }

func TestSchemaFor(t *testing.T) {
	for _, tc := range []struct {
		got  func() (Schema, error)
		want Schema
	}{
		{func() (Schema, error) { return SchemaFor[int64](Int64{}) }, Schema{Kind: KindInt64}},
		{func() (Schema, error) { return SchemaFor[int](Int{}) }, Schema{Kind: KindInt64}},
		{func() (Schema, error) { return SchemaFor[string](String{}) }, Schema{Kind: KindString}},
		{func() (Schema, error) { return SchemaFor[[]byte](Bytes{}) }, Schema{Kind: KindBytes}},
		{func() (Schema, error) { return SchemaFor(Of[[]int32]()) }, Schema{Kind: KindSlice, Elem: &Schema{Kind: KindInt32}}},
		{func() (Schema, error) { return SchemaFor[string](opaque{}) }, Custom("serde.opaque", 0)},
		{func() (Schema, error) { return SchemaFor[string](&opaque{}) }, Custom("*serde.opaque", 0)},
		{func() (Schema, error) { return SchemaFor[string](versioned{}) }, Custom("orders.Name", 3)},
	} {
		got, err := tc.got()
		if err != nil || !reflect.DeepEqual(got, tc.want) {
			t.Errorf("SchemaFor = %v, %v; want %v", got, err, tc.want)
		}
	}
	if _, err := SchemaFor[string](broken{}); !errors.Is(err, ErrInvalidSchema) || !strings.Contains(err.Error(), "serde.broken") {
		t.Errorf("SchemaFor(broken) = %v", err)
	}
	if _, err := SchemaFor[string](nil); err == nil {
		t.Error("SchemaFor(nil) succeeded")
	}
	// Every serializer of this package describes itself, fast or not.
	for _, s := range []any{Int64{}, Int{}, String{}, Bytes{}, Of[sample](), Of[userID]()} {
		if _, ok := s.(Snapshotter); !ok {
			t.Errorf("%T does not implement Snapshotter", s)
		}
	}
}

func FuzzReadSchema(f *testing.F) {
	for _, s := range schemaTable(f) {
		f.Add(AppendSchema(nil, s))
	}
	f.Add([]byte{schemaFormat, byte(KindStruct), 0, 2, 1, 'A', byte(KindRef), 1, 1, 'B', byte(KindInt8), 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		s, n, err := ReadSchema(b)
		if err != nil {
			if !errors.Is(err, ErrInvalidSchema) {
				t.Fatalf("error %v does not wrap ErrInvalidSchema", err)
			}
			return
		}
		if n < 2 || n > len(b) {
			t.Fatalf("used %d of %d bytes", n, len(b))
		}
		if err := s.Validate(); err != nil {
			t.Fatalf("ReadSchema returned an invalid schema: %v", err)
		}
		if again := AppendSchema(nil, s); !bytes.Equal(again, b[:n]) {
			t.Fatalf("not canonical: read %x, wrote %x", b[:n], again)
		}
		_ = s.String()
		if err := Compatible(s, s); err != nil {
			t.Fatalf("Compatible(s, s) = %v", err)
		}
		if err := Compatible(s, Schema{Kind: KindInt8}); err == nil && s.Kind != KindInt8 {
			t.Fatalf("%v is compatible with int8", s)
		}
	})
}
