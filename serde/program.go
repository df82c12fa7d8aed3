package serde

import (
	"encoding/binary"
	"reflect"
	"unsafe"
)

// A program is the encoding of a type compiled to a flat list of steps over
// the memory of a value: one step per scalar, string or byte slice at its
// offset, with nested structs and small arrays unrolled. Running it costs a
// switch per step where the reflect codec costs a closure call and a
// reflect.Value per field. Parts a program cannot walk directly (maps,
// slices of other than bytes, pointers, time.Time, large arrays) are steps
// that hand the part to its reflect codec. The bytes are exactly the reflect
// codec's: programs are an optimisation, never a format.
type program struct {
	steps []step
	// flat is true when no step uses the reflect codec: the program then
	// only loads from and stores to the value, and the value's address does
	// not escape.
	flat bool
}

type stepKind uint8

const (
	stepBool stepKind = iota
	step8
	step16
	step32
	step64
	// stepFloat32 is step32 with a signaling NaN made quiet, as the reflect
	// codec's round trip through float64 makes it.
	stepFloat32
	stepInt  // int: 8 bytes whatever the platform's int size
	stepUint // uint, uintptr: likewise
	stepString
	stepBytes
	stepCodec // anything else, through its reflect codec
)

type step struct {
	kind stepKind
	off  uintptr
	t    reflect.Type // stepCodec
	c    *codec       // stepCodec
}

// maxSteps bounds the steps an array unrolls to; larger arrays are one step
// through their reflect codec.
const maxSteps = 256

// compileLocked returns the program of t, whose codec c is built. codecsMu
// is held.
func compileLocked(t reflect.Type, c *codec) *program {
	p := &program{flat: true}
	p.add(t, c, 0)
	return p
}

// add appends the steps of the part of type t (codec c) at offset off.
func (p *program) add(t reflect.Type, c *codec, off uintptr) {
	kind := stepCodec
	if t != timeType {
		switch t.Kind() {
		case reflect.Bool:
			kind = stepBool
		case reflect.Int8, reflect.Uint8:
			kind = step8
		case reflect.Int16, reflect.Uint16:
			kind = step16
		case reflect.Int32, reflect.Uint32:
			kind = step32
		case reflect.Float32:
			kind = stepFloat32
		case reflect.Int64, reflect.Uint64, reflect.Float64:
			kind = step64
		case reflect.Int:
			kind = stepInt
		case reflect.Uint, reflect.Uintptr:
			kind = stepUint
		case reflect.String:
			kind = stepString
		case reflect.Slice:
			if t.Elem().Kind() == reflect.Uint8 {
				kind = stepBytes
			}
		case reflect.Struct:
			// Fields always unroll (their number is the type's); only
			// arrays are bounded by maxSteps.
			for i := 0; i < t.NumField(); i++ {
				f := t.Field(i)
				if f.IsExported() {
					p.add(f.Type, codecs[f.Type], off+f.Offset)
				}
			}
			return
		case reflect.Array:
			if countSteps(t.Elem(), 1) == 0 {
				return // elements of size 0 (struct{}) encode as nothing
			}
			if p.fits(t) {
				ec := codecs[t.Elem()]
				for i := 0; i < t.Len(); i++ {
					p.add(t.Elem(), ec, off+uintptr(i)*t.Elem().Size())
				}
				return
			}
		}
	}
	s := step{kind: kind, off: off}
	if kind == stepCodec {
		s.t, s.c = t, c
		p.flat = false
	}
	p.steps = append(p.steps, s)
}

// fits reports whether unrolling the array t keeps the program within
// maxSteps.
func (p *program) fits(t reflect.Type) bool {
	return len(p.steps)+countSteps(t, maxSteps+1) <= maxSteps
}

// countSteps counts the steps of t unrolled, stopping past limit.
func countSteps(t reflect.Type, limit int) int {
	if t == timeType {
		return 1
	}
	switch t.Kind() {
	case reflect.Struct:
		n := 0
		for i := 0; i < t.NumField() && n <= limit; i++ {
			if f := t.Field(i); f.IsExported() {
				n += countSteps(f.Type, limit-n)
			}
		}
		return n
	case reflect.Array:
		if t.Len() == 0 {
			return 0
		}
		per := countSteps(t.Elem(), limit)
		if per == 0 {
			return 0
		}
		if t.Len() > limit/per+1 {
			return limit + 1
		}
		return per * t.Len()
	}
	return 1
}

// encFlat runs a flat program on the value at v.
func (p *program) encFlat(dst []byte, v unsafe.Pointer) []byte {
	for i := range p.steps {
		s := &p.steps[i]
		dst = s.enc(dst, unsafe.Add(v, s.off))
	}
	return dst
}

// enc runs a program that is not flat on the value at v, which must be on
// the heap: the reflect steps let v escape. encFlat is the same loop
// without them, so that a flat program's value may stay on the stack.
func (p *program) enc(dst []byte, v unsafe.Pointer) []byte {
	for i := range p.steps {
		s := &p.steps[i]
		q := unsafe.Add(v, s.off)
		if s.kind == stepCodec {
			dst = s.c.enc(dst, reflect.NewAt(s.t, q).Elem())
		} else {
			dst = s.enc(dst, q)
		}
	}
	return dst
}

// enc appends one scalar, string or byte slice step of the value at q.
func (s *step) enc(dst []byte, q unsafe.Pointer) []byte {
	switch s.kind {
	case stepBool:
		b := byte(0)
		if *(*bool)(q) {
			b = 1
		}
		return append(dst, b)
	case step8:
		return append(dst, *(*uint8)(q))
	case step16:
		return binary.BigEndian.AppendUint16(dst, *(*uint16)(q))
	case step32:
		return binary.BigEndian.AppendUint32(dst, *(*uint32)(q))
	case stepFloat32:
		return binary.BigEndian.AppendUint32(dst, quietNaN32(*(*uint32)(q)))
	case step64:
		return binary.BigEndian.AppendUint64(dst, *(*uint64)(q))
	case stepInt:
		return binary.BigEndian.AppendUint64(dst, uint64(int64(*(*int)(q))))
	case stepUint:
		return binary.BigEndian.AppendUint64(dst, uint64(*(*uint)(q)))
	case stepString:
		v := *(*string)(q)
		dst = binary.AppendUvarint(dst, uint64(len(v)))
		return append(dst, v...)
	case stepBytes:
		v := *(*[]byte)(q)
		dst = binary.AppendUvarint(dst, uint64(len(v)))
		return append(dst, v...)
	}
	panic("serde: a reflect step in a flat program")
}

// decFlat decodes into the zero value at v with a flat program.
func (p *program) decFlat(src []byte, v unsafe.Pointer) (int, error) {
	n := 0
	for i := range p.steps {
		s := &p.steps[i]
		q := unsafe.Add(v, s.off)
		m, err := s.dec(src[n:], q)
		if err != nil {
			return 0, err
		}
		n += m
	}
	return n, nil
}

// dec decodes into the zero value at v with a program that is not flat; v
// must be on the heap (see enc).
func (p *program) dec(src []byte, v unsafe.Pointer) (int, error) {
	n := 0
	for i := range p.steps {
		s := &p.steps[i]
		q := unsafe.Add(v, s.off)
		var m int
		var err error
		if s.kind == stepCodec {
			m, err = s.c.dec(src[n:], reflect.NewAt(s.t, q).Elem())
		} else {
			m, err = s.dec(src[n:], q)
		}
		if err != nil {
			return 0, err
		}
		n += m
	}
	return n, nil
}

// dec decodes one scalar, string or byte slice step into q.
func (s *step) dec(src []byte, q unsafe.Pointer) (int, error) {
	switch s.kind {
	case stepBool:
		if len(src) < 1 {
			return 0, ErrShortBuffer
		}
		*(*bool)(q) = src[0] != 0
		return 1, nil
	case step8:
		if len(src) < 1 {
			return 0, ErrShortBuffer
		}
		*(*uint8)(q) = src[0]
		return 1, nil
	case step16:
		if len(src) < 2 {
			return 0, ErrShortBuffer
		}
		*(*uint16)(q) = binary.BigEndian.Uint16(src)
		return 2, nil
	case step32, stepFloat32:
		if len(src) < 4 {
			return 0, ErrShortBuffer
		}
		x := binary.BigEndian.Uint32(src)
		if s.kind == stepFloat32 {
			x = quietNaN32(x)
		}
		*(*uint32)(q) = x
		return 4, nil
	case step64, stepInt, stepUint:
		if len(src) < 8 {
			return 0, ErrShortBuffer
		}
		x := binary.BigEndian.Uint64(src)
		switch s.kind {
		case step64:
			*(*uint64)(q) = x
		case stepInt:
			*(*int)(q) = int(int64(x))
		default:
			*(*uint)(q) = uint(x)
		}
		return 8, nil
	case stepString:
		b, n, err := readBytes(src)
		if err != nil {
			return 0, err
		}
		*(*string)(q) = string(b)
		return n, nil
	case stepBytes:
		b, n, err := readBytes(src)
		if err != nil {
			return 0, err
		}
		*(*[]byte)(q) = append([]byte{}, b...)
		return n, nil
	}
	panic("serde: a reflect step in a flat program")
}

// quietNaN32 returns the bits of the float32 with bits b after a round trip
// through float64, which the reflect codec makes (v.Float, SetFloat): a
// signaling NaN gets its quiet bit set, every other value is unchanged.
func quietNaN32(b uint32) uint32 {
	if b&0x7f800000 == 0x7f800000 && b&0x007fffff != 0 {
		b |= 0x00400000
	}
	return b
}
