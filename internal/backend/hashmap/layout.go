package hashmap

import (
	"encoding/binary"
	"slices"
	"strconv"
	"unsafe"

	"github.com/weirstream/weir/serde"
)

// An entry's canonical encoding gives each of its parts (key, namespace,
// value) a length prefix. In general the prefix can only be written once
// the part is encoded (encoded.fixLen), and each part costs a call through
// its serializer. For the built-in serializers of the most common key and
// value types the encoding is known in advance, and a value table writes
// such entries in one go (Value.appendKnown): a fixed eight bytes for
// serde.Int64 and serde.Int (where an int has 64 bits), a uvarint length and
// the bytes for serde.String and serde.Bytes. The bytes are the
// serializers' own (TestKnownEncoding).

// partKind is how a part of an entry encodes, where it is known in advance.
type partKind uint8

const (
	partOther partKind = iota // through its serializer
	partWord                  // serde.Int64 or serde.Int: 8 bytes, big-endian
	partSpan                  // serde.String or serde.Bytes: uvarint length, bytes
)

// partKindOf returns the partKind of values of T encoded with ser. A
// serializer that only embeds a built-in one is partOther: it may encode
// otherwise.
func partKindOf[T any](ser serde.Serializer[T]) partKind {
	switch any(ser).(type) {
	case serde.Int64:
		return partWord
	case serde.Int:
		if strconv.IntSize == 64 { // otherwise an int is not a word
			return partWord
		}
	case serde.String, serde.Bytes:
		return partSpan
	}
	return partOther
}

// partLen returns the encoded length of the part at p, of kind k (not
// partOther), and for a span its length.
func partLen(k partKind, p unsafe.Pointer) (size, n int) {
	if k == partWord {
		return 8, 0
	}
	n = (*spanHeader)(p).len
	return uvarintLen(n) + n, n
}

// appendPart appends the encoding of the part at p, of kind k (not
// partOther), whose span length is n.
func appendPart(a []byte, k partKind, p unsafe.Pointer, n int) []byte {
	if k == partWord {
		return binary.BigEndian.AppendUint64(a, *(*uint64)(p))
	}
	a = binary.AppendUvarint(a, uint64(n))
	return append(a, unsafe.Slice((*byte)((*spanHeader)(p).data), n)...)
}

// appendKnown appends the entry of x to out, for a table whose key and
// value encode in known ways and whose namespaces encode to nothing
// (Value.known).
func (t *Value[K, N, V]) appendKnown(out *encoded, x *hashed[K, N, V]) {
	kp, vp := unsafe.Pointer(&x.k.k), unsafe.Pointer(&x.e.v)
	ksize, kn := partLen(t.keyKind, kp)
	vsize, vn := partLen(t.valKind, vp)
	size := 8 + uvarintLen(ksize) + ksize + 1 + uvarintLen(vsize) + vsize
	off := len(out.arena)
	a := slices.Grow(out.arena, size)
	a = binary.LittleEndian.AppendUint64(a, x.hash)
	a = binary.AppendUvarint(a, uint64(ksize))
	a = appendPart(a, t.keyKind, kp, kn)
	a = append(a, 0) // the namespace: nothing
	a = binary.AppendUvarint(a, uint64(vsize))
	a = appendPart(a, t.valKind, vp, vn)
	out.arena = a
	out.ents = append(out.ents, encEntry{hash: x.hash, off: off, key: uint32(ksize), value: uint32(vsize), size: uint32(size)})
	out.sorted = false
}
