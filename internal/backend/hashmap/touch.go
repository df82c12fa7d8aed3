package hashmap

import (
	"reflect"
	"unsafe"
)

// Encoding a shard for a snapshot visits its entries in map order, which is
// random in memory: each entry's value, and the bytes a slice or string
// value points to, is a cache miss of its own. Done one entry at a time, the
// misses are paid one after another. The encoders therefore take entries in
// batches of touchBatch and first load one byte of every value in the batch
// in a tight loop (touch): the loads are independent, so the processor
// overlaps their misses, and the encoding that follows finds the bytes in
// the cache. Measured by BenchmarkViewEntries.
const touchBatch = 32

// toucher loads the first and last byte of the memory a value of type V
// refers to at its top level (the bytes of a string or slice, the target of
// a pointer) and returns them, so that the load cannot be optimized away.
// It is nil for types that refer to nothing at their top level.
type toucher[V any] func(*V) byte

// toucherFor returns the toucher for V.
func toucherFor[V any]() toucher[V] {
	t := reflect.TypeFor[V]()
	switch t.Kind() {
	case reflect.String:
		return func(v *V) byte {
			s := *(*string)(unsafe.Pointer(v))
			if len(s) == 0 {
				return 0
			}
			return s[0] ^ s[len(s)-1]
		}
	case reflect.Slice:
		size := t.Elem().Size()
		if size == 0 {
			return nil
		}
		return func(v *V) byte {
			h := (*sliceHeader)(unsafe.Pointer(v))
			if h.len == 0 {
				return 0
			}
			return *(*byte)(h.data) ^ *(*byte)(unsafe.Add(h.data, uintptr(h.len)*size-1))
		}
	case reflect.Pointer:
		if t.Elem().Size() == 0 {
			return nil
		}
		return func(v *V) byte {
			p := *(*unsafe.Pointer)(unsafe.Pointer(v))
			if p == nil {
				return 0
			}
			return *(*byte)(p)
		}
	}
	return nil
}

// sliceHeader is the memory layout of every Go slice.
type sliceHeader struct {
	data     unsafe.Pointer
	len, cap int
}
