package serde

import (
	"errors"
	"fmt"
	"reflect"
	"strconv"
	"strings"
)

// Kind says how a value is encoded. Its numeric values are written into
// savepoints (see AppendSchema) and never change.
//
// Kinds describe encodings, not Go types: Go's int and uint are written in 64
// bits and described as KindInt64 and KindUint64, uintptr as KindUint64, and a
// slice of any uint8-based type as KindBytes.
type Kind uint8

// The kinds of encoding. The values are part of the savepoint format.
const (
	KindInvalid Kind = 0  // the zero Schema; never valid
	KindBool    Kind = 1  // one byte, 0 or 1
	KindInt8    Kind = 2  // 1 byte
	KindInt16   Kind = 3  // 2 bytes big-endian
	KindInt32   Kind = 4  // 4 bytes big-endian
	KindInt64   Kind = 5  // 8 bytes big-endian (also Go's int)
	KindUint8   Kind = 6  // 1 byte
	KindUint16  Kind = 7  // 2 bytes big-endian
	KindUint32  Kind = 8  // 4 bytes big-endian
	KindUint64  Kind = 9  // 8 bytes big-endian (also Go's uint and uintptr)
	KindFloat32 Kind = 10 // IEEE 754 bits, 4 bytes big-endian
	KindFloat64 Kind = 11 // IEEE 754 bits, 8 bytes big-endian
	KindString  Kind = 12 // uvarint length, then the bytes
	KindBytes   Kind = 13 // uvarint length, then the bytes (same encoding as KindString)
	KindTime    Kind = 14 // 0 for the zero time, else 1 and 8 bytes of Unix nanoseconds
	KindSlice   Kind = 15 // uvarint length+1 (0 for nil), then the elements
	KindArray   Kind = 16 // Len elements, no length
	KindMap     Kind = 17 // uvarint length+1 (0 for nil), then key, value pairs
	KindPointer Kind = 18 // 0 for nil, else 1 and the element
	KindStruct  Kind = 19 // the fields in order, no framing
	KindCustom  Kind = 20 // a serializer's own encoding, known by Name and Version
	KindRef     Kind = 21 // the enclosing schema Up levels up, for recursive types

	kindLast = KindRef
)

var kindNames = [...]string{
	KindInvalid: "invalid",
	KindBool:    "bool",
	KindInt8:    "int8",
	KindInt16:   "int16",
	KindInt32:   "int32",
	KindInt64:   "int64",
	KindUint8:   "uint8",
	KindUint16:  "uint16",
	KindUint32:  "uint32",
	KindUint64:  "uint64",
	KindFloat32: "float32",
	KindFloat64: "float64",
	KindString:  "string",
	KindBytes:   "[]byte",
	KindTime:    "time.Time",
	KindSlice:   "slice",
	KindArray:   "array",
	KindMap:     "map",
	KindPointer: "pointer",
	KindStruct:  "struct",
	KindCustom:  "custom",
	KindRef:     "ref",
}

// String returns the kind's name: the Go type for leaf kinds ("int64",
// "[]byte", "time.Time"), a word for the others ("slice", "struct").
func (k Kind) String() string {
	if k <= kindLast {
		return kindNames[k]
	}
	return "kind(" + strconv.Itoa(int(k)) + ")"
}

// Schema describes the encoding a serializer writes: a serializer's
// snapshot. Savepoints store the schema of every piece of state (see
// AppendSchema), and a restore checks the stored schema against the new
// serializer's with Compatible.
//
// A Schema is a tree. Which fields are used depends on Kind; the others must
// be zero (Validate checks this):
//
//	leaf kinds (KindBool … KindTime)  Name
//	KindSlice, KindPointer            Name, Elem
//	KindArray                         Name, Len, Elem
//	KindMap                           Name, Key, Elem
//	KindStruct                        Name, Fields
//	KindCustom                        Name (required), Version
//	KindRef                           Up
//
// Schemas returned by this package share their sub-schemas and must not be
// modified.
type Schema struct {
	// Kind says how values are encoded.
	Kind Kind
	// Name is the Go type's name for named types ("orders.Order"), empty for
	// unnamed and predeclared types. It is informational: two schemas that
	// differ only in names describe the same encoding and are compatible.
	// For KindCustom it is the serializer's identity and must not be empty.
	Name string
	// Version is a custom serializer's version (KindCustom only). A
	// serializer that changes its encoding bumps it.
	Version uint32
	// Len is an array's length (KindArray only).
	Len int
	// Key is a map's key schema (KindMap only).
	Key *Schema
	// Elem is the element of a slice, array or pointer, or a map's value.
	Elem *Schema
	// Fields are a struct's encoded fields in encoding order (KindStruct
	// only). Field names are unique and not empty.
	Fields []Field
	// Up says which enclosing schema a KindRef stands for: 1 is the parent,
	// 2 the grandparent, and so on. Refs describe recursive types such as
	// type Node struct{ Next *Node }.
	Up int
}

// Field is one encoded field of a struct.
type Field struct {
	// Name is the Go field name. Names let a later release match fields
	// when a struct gains or loses some.
	Name string
	// Schema is the field's encoding.
	Schema Schema
}

// Custom returns the schema of a serializer with its own encoding, known
// by name (e.g. "orders.OrderCodec") and version. Two custom schemas are
// compatible when both name and version are equal, so a serializer that
// changes its encoding must change its version.
func Custom(name string, version uint32) Schema {
	return Schema{Kind: KindCustom, Name: name, Version: version}
}

// Snapshotter is implemented by serializers that can describe the encoding
// they write. All serializers in this package implement it.
//
// A user-written serializer should implement it too: return SchemaOf[T]()
// if it writes the default encoding, or Custom(name, version) for an
// encoding of its own, bumping version whenever the encoding changes. A
// serializer that does not implement Snapshotter is described by SchemaFor
// as Custom(its Go type, 0), so a restore can only check that the same
// serializer type reads the state, not that the encoding is unchanged.
type Snapshotter interface {
	// Schema returns the schema of everything the serializer writes. It
	// must be valid (see Schema.Validate) and the same on every call.
	Schema() Schema
}

// ErrInvalidSchema is wrapped by the errors of Validate and ReadSchema.
var ErrInvalidSchema = errors.New("serde: invalid schema")

// Limits on schemas, checked by Validate and ReadSchema. They bound what a
// corrupted or malicious savepoint can make a reader do; SchemaOf and Lookup
// fail for Go types that exceed them.
const (
	maxSchemaDepth = 32      // nesting levels, the root being 1
	maxSchemaNodes = 1 << 16 // schemas in one tree, fields' included
	maxSchemaName  = 4096    // bytes in a type or field name
)

// SchemaOf returns the schema of the default serializer for T, Of[T]. It
// fails like Lookup, and for types nested more than 32 levels deep or whose
// schema has more than 65536 parts.
func SchemaOf[T any]() (Schema, error) {
	s, err := Lookup[T]()
	if err != nil {
		return Schema{}, err
	}
	return s.(Snapshotter).Schema(), nil
}

// SchemaFor returns the schema of what ser writes: its own if it implements
// Snapshotter (checked with Validate), otherwise Custom with ser's Go type
// (e.g. "orders.Codec") and version 0.
func SchemaFor[T any](ser Serializer[T]) (Schema, error) {
	if ser == nil {
		return Schema{}, errors.New("serde: SchemaFor of a nil serializer")
	}
	var s Schema
	if sn, ok := ser.(Snapshotter); ok {
		s = sn.Schema()
	} else {
		s = Custom(reflect.TypeOf(ser).String(), 0)
	}
	if err := s.Validate(); err != nil {
		return Schema{}, fmt.Errorf("serializer %T: %w", ser, err)
	}
	return s, nil
}

// Schema implements Snapshotter.
func (Int64) Schema() Schema { return Schema{Kind: KindInt64} }

// Schema implements Snapshotter. An int is written as an int64.
func (Int) Schema() Schema { return Schema{Kind: KindInt64} }

// Schema implements Snapshotter.
func (String) Schema() Schema { return Schema{Kind: KindString} }

// Schema implements Snapshotter.
func (Bytes) Schema() Schema { return Schema{Kind: KindBytes} }

// Schema implements Snapshotter.
func (s reflectSerializer[T]) Schema() Schema { return s.schema }

// typeSchema builds the schema of the reflective codec of t. It must follow
// buildLocked case by case.
func typeSchema(t reflect.Type) (Schema, error) {
	var b schemaBuilder
	return b.build(t, nil)
}

type schemaBuilder struct{ nodes int }

// build returns the schema of t, whose enclosing types are stack.
func (b *schemaBuilder) build(t reflect.Type, stack []reflect.Type) (Schema, error) {
	b.nodes++
	if b.nodes > maxSchemaNodes {
		return Schema{}, fmt.Errorf("schema has more than %d parts", maxSchemaNodes)
	}
	if len(stack) >= maxSchemaDepth {
		return Schema{}, fmt.Errorf("nested more than %d levels deep", maxSchemaDepth)
	}
	for i := len(stack) - 1; i >= 0; i-- {
		if stack[i] == t {
			return Schema{Kind: KindRef, Up: len(stack) - i}, nil
		}
	}
	if t == timeType {
		return Schema{Kind: KindTime}, nil
	}
	s := Schema{}
	if t.PkgPath() != "" && t.Name() != "" {
		s.Name = t.String()
		if len(s.Name) > maxSchemaName {
			return Schema{}, fmt.Errorf("type name longer than %d bytes", maxSchemaName)
		}
	}
	stack = append(stack, t)
	elem := func(et reflect.Type) error {
		e, err := b.build(et, stack)
		s.Elem = &e
		return err
	}
	var err error
	switch t.Kind() {
	case reflect.Bool:
		s.Kind = KindBool
	case reflect.Int8:
		s.Kind = KindInt8
	case reflect.Int16:
		s.Kind = KindInt16
	case reflect.Int32:
		s.Kind = KindInt32
	case reflect.Int, reflect.Int64:
		s.Kind = KindInt64
	case reflect.Uint8:
		s.Kind = KindUint8
	case reflect.Uint16:
		s.Kind = KindUint16
	case reflect.Uint32:
		s.Kind = KindUint32
	case reflect.Uint, reflect.Uint64, reflect.Uintptr:
		s.Kind = KindUint64
	case reflect.Float32:
		s.Kind = KindFloat32
	case reflect.Float64:
		s.Kind = KindFloat64
	case reflect.String:
		s.Kind = KindString
	case reflect.Slice:
		if t.Elem().Kind() == reflect.Uint8 {
			s.Kind = KindBytes
			break
		}
		s.Kind = KindSlice
		err = elem(t.Elem())
	case reflect.Array:
		s.Kind, s.Len = KindArray, t.Len()
		err = elem(t.Elem())
	case reflect.Map:
		s.Kind = KindMap
		var k Schema
		if k, err = b.build(t.Key(), stack); err == nil {
			s.Key = &k
			err = elem(t.Elem())
		}
	case reflect.Pointer:
		s.Kind = KindPointer
		err = elem(t.Elem())
	case reflect.Struct:
		s.Kind = KindStruct
		for i := 0; i < t.NumField() && err == nil; i++ {
			f := t.Field(i)
			if !f.IsExported() {
				continue
			}
			var fs Schema
			fs, err = b.build(f.Type, stack)
			s.Fields = append(s.Fields, Field{Name: f.Name, Schema: fs})
		}
	default:
		err = fmt.Errorf("unsupported kind %v", t.Kind())
	}
	if err != nil {
		return Schema{}, err
	}
	return s, nil
}

// Validate checks that s is well formed: every Kind known, the fields a
// kind does not use zero, Elem and Key present where needed, struct field
// names unique and not empty, custom names not empty, refs pointing at an
// enclosing schema, at most 32 levels of nesting, at most 65536 parts and
// names of at most 4096 bytes. AppendSchema writes exactly the valid
// schemas and ReadSchema reads only those.
func (s Schema) Validate() error {
	var v validator
	return v.check(&s, 0, "")
}

type validator struct{ nodes int }

// check validates s, which has depth enclosing schemas and is at path.
func (v *validator) check(s *Schema, depth int, path string) error {
	fail := func(format string, args ...any) error {
		at := ""
		if path != "" {
			at = " at " + path
		}
		return fmt.Errorf("%w%s: %s", ErrInvalidSchema, at, fmt.Sprintf(format, args...))
	}
	v.nodes++
	if v.nodes > maxSchemaNodes {
		return fail("more than %d parts", maxSchemaNodes)
	}
	if depth >= maxSchemaDepth {
		return fail("nested more than %d levels deep", maxSchemaDepth)
	}
	if len(s.Name) > maxSchemaName {
		return fail("name longer than %d bytes", maxSchemaName)
	}
	k := s.Kind
	usesElem := k == KindSlice || k == KindArray || k == KindPointer || k == KindMap
	switch {
	case k == KindInvalid || k > kindLast:
		return fail("unknown kind %d", uint8(k))
	case s.Version != 0 && k != KindCustom:
		return fail("%v schema has a version", k)
	case s.Len != 0 && k != KindArray:
		return fail("%v schema has a length", k)
	case s.Key != nil && k != KindMap:
		return fail("%v schema has a key", k)
	case s.Elem != nil && !usesElem:
		return fail("%v schema has an element", k)
	case s.Fields != nil && k != KindStruct:
		return fail("%v schema has fields", k)
	case s.Up != 0 && k != KindRef:
		return fail("%v schema has a ref", k)
	case s.Elem == nil && usesElem:
		return fail("%v schema has no element", k)
	case s.Key == nil && k == KindMap:
		return fail("map schema has no key")
	case s.Len < 0:
		return fail("negative array length %d", s.Len)
	case k == KindCustom && s.Name == "":
		return fail("custom schema has no name")
	case k == KindRef && s.Name != "":
		return fail("ref schema has a name")
	case k == KindRef && (s.Up < 1 || s.Up > depth):
		return fail("ref %d levels up from a schema nested %d deep", s.Up, depth)
	}
	switch k {
	case KindSlice, KindArray, KindPointer:
		return v.check(s.Elem, depth+1, path+elemPath(k))
	case KindMap:
		if err := v.check(s.Key, depth+1, path+mapKeyPath); err != nil {
			return err
		}
		return v.check(s.Elem, depth+1, path+mapValuePath)
	case KindStruct:
		seen := make(map[string]bool, len(s.Fields))
		for i := range s.Fields {
			f := &s.Fields[i]
			switch {
			case f.Name == "":
				return fail("field %d has no name", i)
			case len(f.Name) > maxSchemaName:
				return fail("field %d has a name longer than %d bytes", i, maxSchemaName)
			case seen[f.Name]:
				return fail("field %s appears twice", f.Name)
			}
			seen[f.Name] = true
			if err := v.check(&f.Schema, depth+1, path+"."+f.Name); err != nil {
				return err
			}
		}
	}
	return nil
}

// Paths name a part of a schema the way Go would reach it from a value: a
// struct field is ".Name", a slice or array element "[]", a map's key
// "{key}" and its value "{value}"; pointers are followed silently.
const (
	slicePath    = "[]"
	mapKeyPath   = "{key}"
	mapValuePath = "{value}"
)

func elemPath(k Kind) string {
	if k == KindPointer {
		return ""
	}
	return slicePath
}

// String returns a compact Go-like form of the schema, used in error
// messages and by weir inspect:
//
//	int64, []byte, time.Time, []string, [4]uint8, map[string]int64, *int32
//	struct{A int32, B []string}
//	struct orders.Order{OrderID string, Amount int64}
//	orders.Status(uint8)              (a named type that is not a struct)
//	custom(orders.Codec v2)
//
// A recursive reference is written as the name of the type it refers to
// (struct list.Node{Next *list.Node}), or as ^N, N levels up, if that type
// has no name.
func (s Schema) String() string {
	var b strings.Builder
	writeSchema(&b, &s, nil, false)
	return b.String()
}

// brief returns s's String with the fields of structs elided as "{...}".
func brief(s *Schema, stack []*Schema) string {
	var b strings.Builder
	writeSchema(&b, s, stack, true)
	return b.String()
}

// writeSchema writes s, enclosed by stack, to b. It copes with invalid
// schemas, for it is used in error messages.
func writeSchema(b *strings.Builder, s *Schema, stack []*Schema, short bool) {
	if s == nil {
		b.WriteString("<nil>")
		return
	}
	if len(stack) >= maxSchemaDepth {
		b.WriteString("...")
		return
	}
	switch s.Kind {
	case KindRef:
		if s.Up >= 1 && s.Up <= len(stack) && stack[len(stack)-s.Up].Name != "" {
			b.WriteString(stack[len(stack)-s.Up].Name)
		} else {
			b.WriteString("^" + strconv.Itoa(s.Up))
		}
		return
	case KindCustom:
		fmt.Fprintf(b, "custom(%s v%d)", s.Name, s.Version)
		return
	case KindStruct:
		b.WriteString("struct")
		if s.Name != "" {
			b.WriteString(" " + s.Name)
		}
		if short {
			b.WriteString("{...}")
			return
		}
		b.WriteString("{")
		stack = append(stack, s)
		for i := range s.Fields {
			if i > 0 {
				b.WriteString(", ")
			}
			b.WriteString(s.Fields[i].Name + " ")
			writeSchema(b, &s.Fields[i].Schema, stack, short)
		}
		b.WriteString("}")
		return
	}
	if s.Name != "" {
		b.WriteString(s.Name + "(")
	}
	inner := append(stack, s)
	switch s.Kind {
	case KindSlice:
		b.WriteString("[]")
		writeSchema(b, s.Elem, inner, short)
	case KindArray:
		b.WriteString("[" + strconv.Itoa(s.Len) + "]")
		writeSchema(b, s.Elem, inner, short)
	case KindPointer:
		b.WriteString("*")
		writeSchema(b, s.Elem, inner, short)
	case KindMap:
		b.WriteString("map[")
		writeSchema(b, s.Key, inner, short)
		b.WriteString("]")
		writeSchema(b, s.Elem, inner, short)
	default:
		b.WriteString(s.Kind.String())
	}
	if s.Name != "" {
		b.WriteString(")")
	}
}
