package keyspace

import (
	"encoding/binary"
	"reflect"
	"unsafe"

	"github.com/cespare/xxhash/v2"
)

// walker hashes the canonical serde encoding of values of one array or
// struct type without building the encoding: a program of ops, compiled
// once per type from field offsets, reads the value's memory and feeds the
// bytes serde would write to an xxhash digest through a stack buffer.
//
// The program covers what checkKeyType admits (booleans, fixed-size
// integers, strings, and arrays and structs of them); serde encodes a struct
// as its non-blank fields in order and an array as its elements in order,
// with nothing between them.
type walker struct {
	ops []op
}

type opKind uint8

const (
	// opRaw copies n bytes as they lie in memory: runs of adjacent int8
	// and uint8 values, whose encoding is the byte itself.
	opRaw opKind = iota
	opBool
	opBE16 // a 2-byte integer, big-endian
	opBE32
	opBE64
	opInt     // a platform int, sign-extended to 8 bytes
	opUint    // a platform uint, zero-extended to 8 bytes
	opUintptr // a uintptr, zero-extended to 8 bytes
	opString  // uvarint length, then the bytes
	opArray   // n elements stride bytes apart, each encoded by sub
)

type op struct {
	kind   opKind
	off    uintptr // from the start of the enclosing value (or array element)
	n      uintptr // opRaw: bytes; opArray: elements
	stride uintptr
	sub    []op
}

func newWalker(t reflect.Type) *walker {
	return &walker{ops: compileOps(nil, t, 0)}
}

// compileOps appends to ops the program encoding a value of type t that lies
// at offset off.
func compileOps(ops []op, t reflect.Type, off uintptr) []op {
	switch t.Kind() {
	case reflect.Bool:
		return append(ops, op{kind: opBool, off: off})
	case reflect.Int8, reflect.Uint8:
		if n := len(ops); n > 0 && ops[n-1].kind == opRaw && ops[n-1].off+ops[n-1].n == off {
			ops[n-1].n++
			return ops
		}
		return append(ops, op{kind: opRaw, off: off, n: 1})
	case reflect.Int16, reflect.Uint16:
		return append(ops, op{kind: opBE16, off: off})
	case reflect.Int32, reflect.Uint32:
		return append(ops, op{kind: opBE32, off: off})
	case reflect.Int64, reflect.Uint64:
		return append(ops, op{kind: opBE64, off: off})
	case reflect.Int:
		return append(ops, op{kind: opInt, off: off})
	case reflect.Uint:
		return append(ops, op{kind: opUint, off: off})
	case reflect.Uintptr:
		return append(ops, op{kind: opUintptr, off: off})
	case reflect.String:
		return append(ops, op{kind: opString, off: off})
	case reflect.Array:
		if t.Len() == 0 {
			return ops
		}
		stride := t.Elem().Size()
		sub := compileOps(nil, t.Elem(), 0)
		if len(sub) == 0 {
			return ops
		}
		if len(sub) == 1 && sub[0].kind == opRaw && sub[0].n == stride {
			// Elements are bytes with no padding: one run for the array.
			if n := len(ops); n > 0 && ops[n-1].kind == opRaw && ops[n-1].off+ops[n-1].n == off {
				ops[n-1].n += stride * uintptr(t.Len())
				return ops
			}
			return append(ops, op{kind: opRaw, off: off, n: stride * uintptr(t.Len())})
		}
		return append(ops, op{kind: opArray, off: off, n: uintptr(t.Len()), stride: stride, sub: sub})
	case reflect.Struct:
		for i := 0; i < t.NumField(); i++ {
			f := t.Field(i)
			if f.Name == "_" {
				continue
			}
			ops = compileOps(ops, f.Type, off+f.Offset)
		}
		return ops
	}
	panic("keyspace: walker for unchecked kind " + t.Kind().String())
}

// hashState is the digest and its input buffer; it lives on the stack of
// walker.hash.
type hashState struct {
	d   xxhash.Digest
	n   int
	buf [64]byte
}

// hash returns Hash of the encoding of the value at p.
func (w *walker) hash(p unsafe.Pointer) uint64 {
	var s hashState
	s.d.Reset()
	s.feed(p, w.ops)
	_, _ = s.d.Write(s.buf[:s.n])
	return s.d.Sum64()
}

// room makes sure the buffer has room for k more bytes, k <= len(buf).
func (s *hashState) room(k int) {
	if s.n+k > len(s.buf) {
		_, _ = s.d.Write(s.buf[:s.n])
		s.n = 0
	}
}

func (s *hashState) write(b []byte) {
	if s.n+len(b) <= len(s.buf) {
		s.n += copy(s.buf[s.n:], b)
		return
	}
	_, _ = s.d.Write(s.buf[:s.n])
	s.n = 0
	_, _ = s.d.Write(b)
}

func (s *hashState) writeString(str string) {
	if s.n+len(str) <= len(s.buf) {
		s.n += copy(s.buf[s.n:], str)
		return
	}
	_, _ = s.d.Write(s.buf[:s.n])
	s.n = 0
	_, _ = s.d.WriteString(str)
}

func (s *hashState) be64(x uint64) {
	s.room(8)
	binary.BigEndian.PutUint64(s.buf[s.n:], x)
	s.n += 8
}

func (s *hashState) feed(p unsafe.Pointer, ops []op) {
	for i := range ops {
		o := &ops[i]
		q := unsafe.Add(p, o.off)
		switch o.kind {
		case opRaw:
			s.write(unsafe.Slice((*byte)(q), o.n))
		case opBool:
			s.room(1)
			s.buf[s.n] = 0
			if *(*bool)(q) {
				s.buf[s.n] = 1
			}
			s.n++
		case opBE16:
			s.room(2)
			binary.BigEndian.PutUint16(s.buf[s.n:], *(*uint16)(q))
			s.n += 2
		case opBE32:
			s.room(4)
			binary.BigEndian.PutUint32(s.buf[s.n:], *(*uint32)(q))
			s.n += 4
		case opBE64:
			s.be64(*(*uint64)(q))
		case opInt:
			s.be64(uint64(int64(*(*int)(q))))
		case opUint:
			s.be64(uint64(*(*uint)(q)))
		case opUintptr:
			s.be64(uint64(*(*uintptr)(q)))
		case opString:
			str := *(*string)(q)
			s.room(binary.MaxVarintLen64)
			s.n += binary.PutUvarint(s.buf[s.n:], uint64(len(str)))
			s.writeString(str)
		case opArray:
			for j := uintptr(0); j < o.n; j++ {
				s.feed(unsafe.Add(q, j*o.stride), o.sub)
			}
		}
	}
}
