package keyspace

import (
	"encoding/binary"
	"fmt"
	"reflect"
	"time"
	"unsafe"

	"github.com/cespare/xxhash/v2"
	"github.com/weirstream/weir/serde"
)

// HasherFor returns the function that computes the stable hash of a key of
// type K: Hash of the key's canonical serde encoding. The function neither
// allocates nor reflects, and is safe for concurrent use.
//
// Booleans, fixed-size integers and strings (including named types such as
// `type UserID string`) take a dedicated path. Arrays and structs made of
// them, at any depth, are hashed by a walker built once per type that feeds
// the encoding straight into the hash.
//
// A key type must hash equal keys alike and distinct keys, as far as the
// encoding can tell, apart. HasherFor returns a *KeyTypeError naming the
// offending part of K if K holds a floating-point or complex number, a
// pointer, an interface, a channel, or a struct with unexported fields
// (including time.Time), and the serde error if K cannot be serialized.
func HasherFor[K comparable]() (func(K) uint64, error) {
	t := reflect.TypeFor[K]()
	switch t.Kind() {
	case reflect.Bool:
		return func(k K) uint64 { return hashBool(*(*bool)(unsafe.Pointer(&k))) }, nil
	case reflect.Int8:
		return func(k K) uint64 { return hash1(uint8(*(*int8)(unsafe.Pointer(&k)))) }, nil
	case reflect.Uint8:
		return func(k K) uint64 { return hash1(*(*uint8)(unsafe.Pointer(&k))) }, nil
	case reflect.Int16:
		return func(k K) uint64 { return hash2(uint16(*(*int16)(unsafe.Pointer(&k)))) }, nil
	case reflect.Uint16:
		return func(k K) uint64 { return hash2(*(*uint16)(unsafe.Pointer(&k))) }, nil
	case reflect.Int32:
		return func(k K) uint64 { return hash4(uint32(*(*int32)(unsafe.Pointer(&k)))) }, nil
	case reflect.Uint32:
		return func(k K) uint64 { return hash4(*(*uint32)(unsafe.Pointer(&k))) }, nil
	case reflect.Int64:
		return func(k K) uint64 { return HashUint64(uint64(*(*int64)(unsafe.Pointer(&k)))) }, nil
	case reflect.Uint64:
		return func(k K) uint64 { return HashUint64(*(*uint64)(unsafe.Pointer(&k))) }, nil
	case reflect.Int:
		// serde encodes int as 8 bytes whatever the platform's int size.
		return func(k K) uint64 { return HashUint64(uint64(int64(*(*int)(unsafe.Pointer(&k))))) }, nil
	case reflect.Uint:
		return func(k K) uint64 { return HashUint64(uint64(*(*uint)(unsafe.Pointer(&k)))) }, nil
	case reflect.Uintptr:
		return func(k K) uint64 { return HashUint64(uint64(*(*uintptr)(unsafe.Pointer(&k)))) }, nil
	case reflect.String:
		return func(k K) uint64 { return hashString(*(*string)(unsafe.Pointer(&k))) }, nil
	}
	if err := checkKeyType(t, t, ""); err != nil {
		return nil, err
	}
	// The walker reproduces serde's encoding; serde must also accept K so
	// that keyed state holding it can be written to a snapshot.
	if _, err := serde.Lookup[K](); err != nil {
		return nil, fmt.Errorf("keyspace: key type %v: %w", t, err)
	}
	w := newWalker(t)
	return func(k K) uint64 { return w.hash(unsafe.Pointer(&k)) }, nil
}

// KeyTypeError reports a key type that cannot be hashed stably: Go's ==
// and the canonical encoding would disagree on which keys are the same.
type KeyTypeError struct {
	// Type is the key type.
	Type reflect.Type
	// Path is the offending part of Type as a Go selector, such as
	// "Where.Lat" or "Legs[i].Price"; empty if it is Type itself.
	Path string
	// Part is the type at Path.
	Part reflect.Type
	// Reason says why Part cannot be hashed and what to use instead.
	Reason string
}

func (e *KeyTypeError) Error() string {
	if e.Path == "" {
		return fmt.Sprintf("keyspace: key type %v cannot be hashed stably: %s", e.Type, e.Reason)
	}
	return fmt.Sprintf("keyspace: key type %v cannot be hashed stably: %s (%v): %s", e.Type, e.Path, e.Part, e.Reason)
}

var timeType = reflect.TypeFor[time.Time]()

// checkKeyType returns a *KeyTypeError for the first part of t, at path
// inside root, that cannot be hashed stably.
func checkKeyType(root, t reflect.Type, path string) error {
	fail := func(reason string) error {
		return &KeyTypeError{Type: root, Path: path, Part: t, Reason: reason}
	}
	if t == timeType {
		return fail("time.Time has unexported fields, and == also compares its location and monotonic reading; use an int64 such as t.UnixNano() instead")
	}
	switch t.Kind() {
	case reflect.Bool, reflect.String,
		reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		return nil
	case reflect.Float32, reflect.Float64, reflect.Complex64, reflect.Complex128:
		return fail("floating-point keys are not stable (+0 and -0 are equal but encode differently, and NaN never equals itself); use an integer or string representation instead")
	case reflect.Pointer, reflect.UnsafePointer:
		return fail("pointers compare by identity but would be hashed by what they point to; use the pointed-to value or an ID instead")
	case reflect.Interface:
		return fail("interface values have no fixed encoding; use a concrete type instead")
	case reflect.Array:
		return checkKeyType(root, t.Elem(), path+"[i]")
	case reflect.Struct:
		for i := 0; i < t.NumField(); i++ {
			f := t.Field(i)
			if f.Name == "_" {
				// == ignores blank fields and serde skips them.
				continue
			}
			fpath := f.Name
			if path != "" {
				fpath = path + "." + f.Name
			}
			if !f.IsExported() {
				return &KeyTypeError{Type: root, Path: fpath, Part: f.Type,
					Reason: "the field is unexported, and serde skips unexported fields, so keys differing only there would share state; export it or leave it out of the key"}
			}
			if err := checkKeyType(root, f.Type, fpath); err != nil {
				return err
			}
		}
		return nil
	default: // chan, func, map, slice
		return fail(fmt.Sprintf("%v values cannot be serialized; use a value type such as a string, an integer or a struct of them instead", t.Kind()))
	}
}

func hashBool(b bool) uint64 {
	if b {
		return hash1(1)
	}
	return hash1(0)
}

func hash1(v uint8) uint64 {
	b := [1]byte{v}
	return xxhash.Sum64(b[:])
}

func hash2(v uint16) uint64 {
	b := [2]byte{byte(v >> 8), byte(v)}
	return xxhash.Sum64(b[:])
}

func hash4(v uint32) uint64 {
	b := [4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)}
	return xxhash.Sum64(b[:])
}

// hashString hashes the canonical encoding of s: its uvarint length, then
// its bytes.
func hashString(s string) uint64 {
	var d xxhash.Digest
	d.Reset()
	var lb [binary.MaxVarintLen64]byte
	n := binary.PutUvarint(lb[:], uint64(len(s)))
	_, _ = d.Write(lb[:n])
	_, _ = d.WriteString(s)
	return d.Sum64()
}
