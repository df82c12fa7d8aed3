package keyspace

import (
	"fmt"
	"reflect"
	"unsafe"

	"github.com/cespare/xxhash/v2"
	"github.com/weirstream/weir/serde"
)

// HasherFor returns the function that computes the stable hash of a key of
// type K: Hash of the key's canonical serde encoding. Integer, string and
// bool kinds (including named types such as `type UserID string`) take a fast
// path that neither allocates nor reflects; other types go through serde.Of.
// It returns an error if K cannot be serialized.
func HasherFor[K comparable]() (func(K) uint64, error) {
	t := reflect.TypeFor[K]()
	switch t.Kind() {
	case reflect.Int64, reflect.Int, reflect.Uint64, reflect.Uint, reflect.Uintptr:
		if t.Size() == 8 {
			return func(k K) uint64 { return HashUint64(*(*uint64)(unsafe.Pointer(&k))) }, nil
		}
	case reflect.String:
		return func(k K) uint64 {
			s := *(*string)(unsafe.Pointer(&k))
			// Canonical encoding: uvarint length, then the bytes.
			var d xxhash.Digest
			d.Reset()
			var lb [10]byte
			n := putUvarint(lb[:], uint64(len(s)))
			_, _ = d.Write(lb[:n])
			_, _ = d.WriteString(s)
			return d.Sum64()
		}, nil
	}
	s, err := serde.Lookup[K]()
	if err != nil {
		return nil, fmt.Errorf("keyspace: key type %v: %w", t, err)
	}
	return func(k K) uint64 {
		var buf [64]byte
		return Hash(s.Append(buf[:0], k))
	}, nil
}

func putUvarint(b []byte, x uint64) int {
	i := 0
	for x >= 0x80 {
		b[i] = byte(x) | 0x80
		x >>= 7
		i++
	}
	b[i] = byte(x)
	return i + 1
}
