package hashmap

import (
	"reflect"
	"unsafe"
)

// Encoding a shard for a snapshot visits its entries in map order, which is
// random in memory: each entry, and the bytes a slice or string value points
// to, is a cache miss of its own (and, in a heap of gigabytes, a TLB miss).
// Done one entry at a time, the misses are paid one after another. The
// encoders therefore take entries in batches of touchBatch and first load
// every entry, then one byte at each end of the memory every value refers
// to (of a pointer's target, its first byte: refs.touch), each in a tight
// loop of independent loads: the processor keeps many of their misses in
// flight at once, and the encoding that follows finds the bytes in the
// cache.
//
// Measured with BenchmarkViewEntries (8 M entries of 48-byte values, three
// alternated runs each): batches of 512 loaded this way took 89–92 ns per
// entry, where batches of 32 that loaded each value through a function
// value took 108–127. Loading the entries in the same loop as the values'
// headers, which stores two addresses per entry, took 105–120: the pending
// stores seem to bound the loads in flight. Batches of 2,048 were slower
// than 512 in an earlier series (110–127 against 91–97 ns).
const touchBatch = 512

// refKind is what a value refers to at its top level.
type refKind uint8

const (
	refNone    refKind = iota // nothing: the value lies in its entry
	refSpan                   // a string or slice: its elements
	refPointer                // a pointer: its target
)

// refs describes the memory a value of some type V refers to at its top
// level, for refs.touch.
type refs struct {
	kind refKind
	elem uintptr // the size of a span's element
}

// refsOf returns the refs of values of type V. Types that refer to nothing
// but empty memory (slices of struct{}, pointers to it) count as refNone.
func refsOf[V any]() refs {
	t := reflect.TypeFor[V]()
	switch t.Kind() {
	case reflect.String:
		return refs{kind: refSpan, elem: 1}
	case reflect.Slice:
		if size := t.Elem().Size(); size > 0 {
			return refs{kind: refSpan, elem: size}
		}
	case reflect.Pointer:
		if t.Elem().Size() > 0 {
			return refs{kind: refPointer}
		}
	}
	return refs{}
}

// touch loads, for each value vs[i] points to, the first and the last byte
// of the memory it refers to (a pointer's target: its first byte), and
// returns them xored together so that the loads are kept. It loads nothing
// for refNone, and at most touchBatch values.
func (r refs) touch(vs []unsafe.Pointer) byte {
	var (
		first, last [touchBatch]*byte
		zero        byte
		sum         byte
	)
	vs = vs[:min(len(vs), touchBatch)]
	switch r.kind {
	case refSpan:
		for i, v := range vs {
			h := (*spanHeader)(v)
			if h.len == 0 {
				first[i], last[i] = &zero, &zero
				continue
			}
			first[i] = (*byte)(h.data)
			last[i] = (*byte)(unsafe.Add(h.data, uintptr(h.len)*r.elem-1))
		}
	case refPointer:
		for i, v := range vs {
			p := *(*unsafe.Pointer)(v)
			if p == nil {
				p = unsafe.Pointer(&zero)
			}
			first[i], last[i] = (*byte)(p), &zero
		}
	default:
		return 0
	}
	for i := range vs {
		sum ^= *first[i] ^ *last[i]
	}
	return sum
}

// spanHeader is how every Go string and slice begins: the address of its
// bytes, then its length (a slice's capacity follows). It is no longer than
// a string's header, so that converting a pointer to a string into one
// stays within the string's memory (checkptr).
type spanHeader struct {
	data unsafe.Pointer
	len  int
}
