package serde

import (
	"encoding/binary"
	"fmt"
	"math"
)

// schemaFormat is the first byte of every encoded schema. A release that
// changes the layout below writes a new value and keeps reading the old.
const schemaFormat = 1

// AppendSchema appends the binary encoding of s to dst, the form in which
// savepoints store serializer snapshots, and returns the extended slice.
//
// The encoding is canonical (equal schemas encode to equal bytes) and is
// part of the savepoint format:
//
//	schema = format node             format is the byte 0x01
//	node   = kind payload            kind is one byte, the Kind's value
//	payload by kind:
//	  KindBool … KindTime            name
//	  KindSlice, KindPointer         name node(Elem)
//	  KindArray                      name uvarint(Len) node(Elem)
//	  KindMap                        name node(Key) node(Elem)
//	  KindStruct                     name uvarint(len(Fields)) { str(Field.Name) node(Field.Schema) }
//	  KindCustom                     name uvarint(Version)
//	  KindRef                        uvarint(Up)
//	name = str(Schema.Name)
//	str  = uvarint(length in bytes) bytes
//
// uvarints are encoding/binary's, in their shortest form.
//
// s must be valid (see Validate); AppendSchema panics otherwise. SchemaOf,
// SchemaFor and ReadSchema only return valid schemas.
func AppendSchema(dst []byte, s Schema) []byte {
	if err := s.Validate(); err != nil {
		panic(fmt.Sprintf("serde.AppendSchema: %v", err))
	}
	return appendNode(append(dst, schemaFormat), &s)
}

func appendNode(dst []byte, s *Schema) []byte {
	dst = append(dst, byte(s.Kind))
	if s.Kind == KindRef {
		return binary.AppendUvarint(dst, uint64(s.Up))
	}
	dst = appendStr(dst, s.Name)
	switch s.Kind {
	case KindSlice, KindPointer:
		dst = appendNode(dst, s.Elem)
	case KindArray:
		dst = binary.AppendUvarint(dst, uint64(s.Len))
		dst = appendNode(dst, s.Elem)
	case KindMap:
		dst = appendNode(dst, s.Key)
		dst = appendNode(dst, s.Elem)
	case KindStruct:
		dst = binary.AppendUvarint(dst, uint64(len(s.Fields)))
		for i := range s.Fields {
			dst = appendStr(dst, s.Fields[i].Name)
			dst = appendNode(dst, &s.Fields[i].Schema)
		}
	case KindCustom:
		dst = binary.AppendUvarint(dst, uint64(s.Version))
	}
	return dst
}

func appendStr(dst []byte, s string) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(s)))
	return append(dst, s...)
}

// ReadSchema decodes a schema written by AppendSchema from the start of
// src and returns it with the number of bytes it used. It accepts only
// canonical encodings of valid schemas, so AppendSchema of the result gives
// back those bytes. Errors wrap ErrInvalidSchema and give the byte offset.
//
// ReadSchema is safe on any input: it allocates in proportion to len(src),
// recurses at most 32 levels and reads at most 65536 schema parts.
func ReadSchema(src []byte) (Schema, int, error) {
	if len(src) == 0 {
		return Schema{}, 0, fmt.Errorf("%w: empty", ErrInvalidSchema)
	}
	if src[0] != schemaFormat {
		return Schema{}, 0, fmt.Errorf("%w: unknown format %d (this release reads format %d)", ErrInvalidSchema, src[0], schemaFormat)
	}
	r := schemaReader{src: src, off: 1}
	s, err := r.node(0)
	if err != nil {
		return Schema{}, 0, err
	}
	// The reader checks what bounds its work; Validate the rest (field
	// names unique, refs in range, ...).
	if err := s.Validate(); err != nil {
		return Schema{}, 0, err
	}
	return s, r.off, nil
}

type schemaReader struct {
	src   []byte
	off   int
	nodes int
}

func (r *schemaReader) errorf(format string, args ...any) error {
	return fmt.Errorf("%w: at byte %d: %s", ErrInvalidSchema, r.off, fmt.Sprintf(format, args...))
}

// node reads a schema with depth enclosing schemas.
func (r *schemaReader) node(depth int) (Schema, error) {
	r.nodes++
	if r.nodes > maxSchemaNodes {
		return Schema{}, r.errorf("more than %d parts", maxSchemaNodes)
	}
	if depth >= maxSchemaDepth {
		return Schema{}, r.errorf("nested more than %d levels deep", maxSchemaDepth)
	}
	if r.off >= len(r.src) {
		return Schema{}, r.errorf("truncated")
	}
	s := Schema{Kind: Kind(r.src[r.off])}
	if s.Kind == KindInvalid || s.Kind > kindLast {
		return Schema{}, r.errorf("unknown kind %d", r.src[r.off])
	}
	r.off++
	var err error
	if s.Kind == KindRef {
		var up uint64
		if up, err = r.uvarint(maxSchemaDepth); err != nil {
			return Schema{}, err
		}
		s.Up = int(up)
		return s, nil
	}
	if s.Name, err = r.str(); err != nil {
		return Schema{}, err
	}
	elem := func() error {
		e, err := r.node(depth + 1)
		s.Elem = &e
		return err
	}
	switch s.Kind {
	case KindSlice, KindPointer:
		err = elem()
	case KindArray:
		var n uint64
		if n, err = r.uvarint(math.MaxInt); err == nil {
			s.Len = int(n)
			err = elem()
		}
	case KindMap:
		var k Schema
		if k, err = r.node(depth + 1); err == nil {
			s.Key = &k
			err = elem()
		}
	case KindStruct:
		var n uint64
		// A field takes at least two bytes: its name's length and a kind.
		if n, err = r.uvarint(uint64(len(r.src)-r.off) / 2); err != nil {
			break
		}
		if n > 0 {
			s.Fields = make([]Field, n)
		}
		for i := range s.Fields {
			f := &s.Fields[i]
			if f.Name, err = r.str(); err != nil {
				break
			}
			if f.Schema, err = r.node(depth + 1); err != nil {
				break
			}
		}
	case KindCustom:
		var v uint64
		v, err = r.uvarint(math.MaxUint32)
		s.Version = uint32(v)
	}
	if err != nil {
		return Schema{}, err
	}
	return s, nil
}

// uvarint reads a shortest-form uvarint no greater than limit.
func (r *schemaReader) uvarint(limit uint64) (uint64, error) {
	x, n := binary.Uvarint(r.src[r.off:])
	switch {
	case n == 0:
		return 0, r.errorf("truncated")
	case n < 0 || x > limit:
		return 0, r.errorf("number out of range")
	case n != uvarintLen(x):
		return 0, r.errorf("number not in shortest form")
	}
	r.off += n
	return x, nil
}

func (r *schemaReader) str() (string, error) {
	n, err := r.uvarint(maxSchemaName)
	if err != nil {
		return "", err
	}
	if n > uint64(len(r.src)-r.off) {
		return "", r.errorf("truncated")
	}
	s := string(r.src[r.off : r.off+int(n)])
	r.off += int(n)
	return s, nil
}

func uvarintLen(x uint64) int {
	n := 1
	for ; x >= 0x80; x >>= 7 {
		n++
	}
	return n
}
