package serde

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"reflect"
	"sync"
	"time"
	"unsafe"
)

// Serializer writes and reads values of one type.
//
// Implementations must be safe for concurrent use and must not retain dst or
// src after returning.
type Serializer[T any] interface {
	// Append appends the encoding of v to dst and returns the extended slice.
	Append(dst []byte, v T) []byte
	// Read decodes one value from the start of src and returns it with the
	// number of bytes it used.
	Read(src []byte) (v T, n int, err error)
}

// ErrShortBuffer is returned when an encoding ends before its value does.
var ErrShortBuffer = errors.New("serde: truncated value")

// Of returns the default serializer for T. It panics if T cannot be
// serialized (channels, functions, unsafe pointers, interfaces); call Lookup
// first to get an error instead.
func Of[T any]() Serializer[T] {
	s, err := Lookup[T]()
	if err != nil {
		panic(err)
	}
	return s
}

// Lookup returns the default serializer for T, or an error naming the part of
// T that cannot be serialized or saying that T is too big to describe in a
// savepoint (see SchemaOf). The serializer implements Snapshotter.
func Lookup[T any]() (Serializer[T], error) {
	var zero T
	switch any(zero).(type) {
	case int64:
		return any(Int64{}).(Serializer[T]), nil
	case string:
		return any(String{}).(Serializer[T]), nil
	case int:
		return any(Int{}).(Serializer[T]), nil
	case []byte:
		return any(Bytes{}).(Serializer[T]), nil
	}
	t := reflect.TypeFor[T]()
	c, schema, err := codecFor(t)
	if err != nil {
		return nil, fmt.Errorf("serde: cannot serialize %v: %w", t, err)
	}
	return reflectSerializer[T]{c: c, schema: schema}, nil
}

// Int64 serializes int64 as 8 bytes big-endian.
type Int64 struct{}

// Append implements Serializer.
func (Int64) Append(dst []byte, v int64) []byte { return binary.BigEndian.AppendUint64(dst, uint64(v)) }

// Read implements Serializer.
func (Int64) Read(src []byte) (int64, int, error) {
	if len(src) < 8 {
		return 0, 0, ErrShortBuffer
	}
	return int64(binary.BigEndian.Uint64(src)), 8, nil
}

// Int serializes int as 8 bytes big-endian, whatever the platform's int size.
type Int struct{}

// Append implements Serializer.
func (Int) Append(dst []byte, v int) []byte { return binary.BigEndian.AppendUint64(dst, uint64(v)) }

// Read implements Serializer.
func (Int) Read(src []byte) (int, int, error) {
	if len(src) < 8 {
		return 0, 0, ErrShortBuffer
	}
	return int(int64(binary.BigEndian.Uint64(src))), 8, nil
}

// String serializes a string as a uvarint length and its bytes.
type String struct{}

// Append implements Serializer.
func (String) Append(dst []byte, v string) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(v)))
	return append(dst, v...)
}

// Read implements Serializer.
func (String) Read(src []byte) (string, int, error) {
	b, n, err := readBytes(src)
	return string(b), n, err
}

// Bytes serializes a byte slice as a uvarint length and its bytes. A nil and
// an empty slice encode alike and read back as an empty non-nil slice.
type Bytes struct{}

// Append implements Serializer.
func (Bytes) Append(dst []byte, v []byte) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(v)))
	return append(dst, v...)
}

// Read implements Serializer.
func (Bytes) Read(src []byte) ([]byte, int, error) {
	b, n, err := readBytes(src)
	if err != nil {
		return nil, 0, err
	}
	return append([]byte{}, b...), n, nil
}

func readBytes(src []byte) ([]byte, int, error) {
	l, n := binary.Uvarint(src)
	if n <= 0 {
		return nil, 0, ErrShortBuffer
	}
	if l > uint64(len(src)-n) {
		return nil, 0, ErrShortBuffer
	}
	end := n + int(l)
	return src[n:end], end, nil
}

// reflectSerializer serializes any supported type through a codec tree built
// once per type, and describes its encoding with schema.
type reflectSerializer[T any] struct {
	c      *codec
	schema Schema
}

// Append and Read run the type's program (program.go). A flat program
// works on v where it is (a zero-size type, such as struct{}, has no steps
// at all); otherwise they work on a *T taken from the codec's pool, since
// handing the address of a local variable to a reflect codec would move it
// to the heap, one allocation per call.
func (s reflectSerializer[T]) Append(dst []byte, v T) []byte {
	if s.c.prog.flat {
		return s.c.prog.encFlat(dst, unsafe.Pointer(&v))
	}
	p := s.c.vals.Get().(*T)
	*p = v
	dst = s.c.prog.enc(dst, unsafe.Pointer(p))
	var zero T
	*p = zero // hold no references in the pool
	s.c.vals.Put(p)
	return dst
}

func (s reflectSerializer[T]) Read(src []byte) (T, int, error) {
	if s.c.prog.flat {
		var v T
		n, err := s.c.prog.decFlat(src, unsafe.Pointer(&v))
		return v, n, err
	}
	p := s.c.vals.Get().(*T)
	n, err := s.c.prog.dec(src, unsafe.Pointer(p))
	v := *p
	var zero T
	*p = zero
	s.c.vals.Put(p)
	return v, n, err
}

// codec encodes and decodes one reflect.Type.
type codec struct {
	enc func(dst []byte, v reflect.Value) []byte
	dec func(src []byte, v reflect.Value) (int, error)
	// vals holds pointers to zero values of the type, for
	// reflectSerializer.
	vals sync.Pool
	// prog is the type's program, compiled for the types Lookup returns a
	// serializer of.
	prog *program
}

var (
	codecsMu sync.Mutex
	codecs   = map[reflect.Type]*codec{}
	schemas  = map[reflect.Type]Schema{} // of the root types of Lookup
	timeType = reflect.TypeFor[time.Time]()
)

// codecFor returns the codec of t and the schema of its encoding.
func codecFor(t reflect.Type) (*codec, Schema, error) {
	codecsMu.Lock()
	defer codecsMu.Unlock()
	c, err := codecForLocked(t)
	if err != nil {
		return nil, Schema{}, err
	}
	if c.prog == nil {
		c.prog = compileLocked(t, c)
	}
	s, ok := schemas[t]
	if !ok {
		if s, err = typeSchema(t); err != nil {
			return nil, Schema{}, err
		}
		schemas[t] = s
	}
	return c, s, nil
}

func codecForLocked(t reflect.Type) (*codec, error) {
	if c, ok := codecs[t]; ok {
		return c, nil
	}
	c := &codec{}
	c.vals.New = func() any { return reflect.New(t).Interface() }
	// Registered before building so that recursive types terminate.
	codecs[t] = c
	if err := buildLocked(c, t); err != nil {
		delete(codecs, t)
		return nil, err
	}
	return c, nil
}

func fixed(c *codec, size int, get func(reflect.Value) uint64, set func(reflect.Value, uint64)) {
	c.enc = func(dst []byte, v reflect.Value) []byte {
		x := get(v)
		for i := size - 1; i >= 0; i-- {
			dst = append(dst, byte(x>>(8*i)))
		}
		return dst
	}
	c.dec = func(src []byte, v reflect.Value) (int, error) {
		if len(src) < size {
			return 0, ErrShortBuffer
		}
		var x uint64
		for i := 0; i < size; i++ {
			x = x<<8 | uint64(src[i])
		}
		set(v, x)
		return size, nil
	}
}

func buildLocked(c *codec, t reflect.Type) error {
	if t == timeType {
		c.enc = func(dst []byte, v reflect.Value) []byte {
			tm := v.Interface().(time.Time)
			if tm.IsZero() {
				return append(dst, 0)
			}
			dst = append(dst, 1)
			return binary.BigEndian.AppendUint64(dst, uint64(tm.UnixNano()))
		}
		c.dec = func(src []byte, v reflect.Value) (int, error) {
			if len(src) < 1 {
				return 0, ErrShortBuffer
			}
			if src[0] == 0 {
				v.Set(reflect.ValueOf(time.Time{}))
				return 1, nil
			}
			if len(src) < 9 {
				return 0, ErrShortBuffer
			}
			v.Set(reflect.ValueOf(time.Unix(0, int64(binary.BigEndian.Uint64(src[1:]))).UTC()))
			return 9, nil
		}
		return nil
	}
	switch t.Kind() {
	case reflect.Bool:
		fixed(c, 1, func(v reflect.Value) uint64 {
			if v.Bool() {
				return 1
			}
			return 0
		}, func(v reflect.Value, x uint64) { v.SetBool(x != 0) })
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		size := int(t.Size())
		if t.Kind() == reflect.Int {
			size = 8
		}
		bitsN := uint(size * 8)
		fixed(c, size, func(v reflect.Value) uint64 { return uint64(v.Int()) },
			func(v reflect.Value, x uint64) { v.SetInt(int64(x<<(64-bitsN)) >> (64 - bitsN)) })
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		size := int(t.Size())
		if t.Kind() == reflect.Uint || t.Kind() == reflect.Uintptr {
			size = 8
		}
		fixed(c, size, func(v reflect.Value) uint64 { return v.Uint() },
			func(v reflect.Value, x uint64) { v.SetUint(x) })
	case reflect.Float32:
		fixed(c, 4, func(v reflect.Value) uint64 { return uint64(math.Float32bits(float32(v.Float()))) },
			func(v reflect.Value, x uint64) { v.SetFloat(float64(math.Float32frombits(uint32(x)))) })
	case reflect.Float64:
		fixed(c, 8, func(v reflect.Value) uint64 { return math.Float64bits(v.Float()) },
			func(v reflect.Value, x uint64) { v.SetFloat(math.Float64frombits(x)) })
	case reflect.String:
		c.enc = func(dst []byte, v reflect.Value) []byte { return String{}.Append(dst, v.String()) }
		c.dec = func(src []byte, v reflect.Value) (int, error) {
			s, n, err := String{}.Read(src)
			if err == nil {
				v.SetString(s)
			}
			return n, err
		}
	case reflect.Slice:
		if t.Elem().Kind() == reflect.Uint8 {
			c.enc = func(dst []byte, v reflect.Value) []byte { return Bytes{}.Append(dst, v.Bytes()) }
			c.dec = func(src []byte, v reflect.Value) (int, error) {
				b, n, err := Bytes{}.Read(src)
				if err == nil {
					v.SetBytes(b)
				}
				return n, err
			}
			return nil
		}
		ec, err := codecForLocked(t.Elem())
		if err != nil {
			return err
		}
		c.enc = func(dst []byte, v reflect.Value) []byte {
			if v.IsNil() {
				return append(dst, 0)
			}
			dst = binary.AppendUvarint(dst, uint64(v.Len())+1)
			for i := 0; i < v.Len(); i++ {
				dst = ec.enc(dst, v.Index(i))
			}
			return dst
		}
		c.dec = func(src []byte, v reflect.Value) (int, error) {
			l, n := binary.Uvarint(src)
			if n <= 0 {
				return 0, ErrShortBuffer
			}
			if l == 0 {
				v.SetZero()
				return n, nil
			}
			l--
			if l > uint64(len(src)) { // every element takes at least one byte... or zero; bound by input size
				return 0, ErrShortBuffer
			}
			s := reflect.MakeSlice(t, int(l), int(l))
			for i := 0; i < int(l); i++ {
				m, err := ec.dec(src[n:], s.Index(i))
				if err != nil {
					return 0, err
				}
				n += m
			}
			v.Set(s)
			return n, nil
		}
	case reflect.Array:
		ec, err := codecForLocked(t.Elem())
		if err != nil {
			return err
		}
		c.enc = func(dst []byte, v reflect.Value) []byte {
			for i := 0; i < v.Len(); i++ {
				dst = ec.enc(dst, v.Index(i))
			}
			return dst
		}
		c.dec = func(src []byte, v reflect.Value) (int, error) {
			n := 0
			for i := 0; i < v.Len(); i++ {
				m, err := ec.dec(src[n:], v.Index(i))
				if err != nil {
					return 0, err
				}
				n += m
			}
			return n, nil
		}
	case reflect.Map:
		kc, err := codecForLocked(t.Key())
		if err != nil {
			return err
		}
		vc, err := codecForLocked(t.Elem())
		if err != nil {
			return err
		}
		c.enc = func(dst []byte, v reflect.Value) []byte {
			if v.IsNil() {
				return append(dst, 0)
			}
			dst = binary.AppendUvarint(dst, uint64(v.Len())+1)
			it := v.MapRange()
			for it.Next() {
				dst = kc.enc(dst, it.Key())
				dst = vc.enc(dst, it.Value())
			}
			return dst
		}
		c.dec = func(src []byte, v reflect.Value) (int, error) {
			l, n := binary.Uvarint(src)
			if n <= 0 {
				return 0, ErrShortBuffer
			}
			if l == 0 {
				v.SetZero()
				return n, nil
			}
			l--
			if l > uint64(len(src)) {
				return 0, ErrShortBuffer
			}
			m := reflect.MakeMapWithSize(t, int(l))
			k := reflect.New(t.Key()).Elem()
			e := reflect.New(t.Elem()).Elem()
			for i := 0; i < int(l); i++ {
				k.SetZero()
				e.SetZero()
				x, err := kc.dec(src[n:], k)
				if err != nil {
					return 0, err
				}
				n += x
				if x, err = vc.dec(src[n:], e); err != nil {
					return 0, err
				}
				n += x
				m.SetMapIndex(k, e)
			}
			v.Set(m)
			return n, nil
		}
	case reflect.Pointer:
		ec, err := codecForLocked(t.Elem())
		if err != nil {
			return err
		}
		c.enc = func(dst []byte, v reflect.Value) []byte {
			if v.IsNil() {
				return append(dst, 0)
			}
			return ec.enc(append(dst, 1), v.Elem())
		}
		c.dec = func(src []byte, v reflect.Value) (int, error) {
			if len(src) < 1 {
				return 0, ErrShortBuffer
			}
			if src[0] == 0 {
				v.SetZero()
				return 1, nil
			}
			p := reflect.New(t.Elem())
			n, err := ec.dec(src[1:], p.Elem())
			if err != nil {
				return 0, err
			}
			v.Set(p)
			return n + 1, nil
		}
	case reflect.Struct:
		var fields []int
		var fcs []*codec
		for i := 0; i < t.NumField(); i++ {
			f := t.Field(i)
			if !f.IsExported() {
				continue
			}
			fc, err := codecForLocked(f.Type)
			if err != nil {
				return fmt.Errorf("field %s: %w", f.Name, err)
			}
			fields = append(fields, i)
			fcs = append(fcs, fc)
		}
		c.enc = func(dst []byte, v reflect.Value) []byte {
			for j, i := range fields {
				dst = fcs[j].enc(dst, v.Field(i))
			}
			return dst
		}
		c.dec = func(src []byte, v reflect.Value) (int, error) {
			n := 0
			for j, i := range fields {
				m, err := fcs[j].dec(src[n:], v.Field(i))
				if err != nil {
					return 0, err
				}
				n += m
			}
			return n, nil
		}
	default:
		return fmt.Errorf("unsupported kind %v", t.Kind())
	}
	return nil
}
