package hashmap

import (
	"math/bits"
	"slices"
	"unsafe"
)

// hashOf returns the hash an element of a hash-sorted index starts with.
// It and sortByHash are for encEntry and hashed only, which both begin with
// their hash as a uint64 (TestHashFirst).
func hashOf[T any](x *T) uint64 { return *(*uint64)(unsafe.Pointer(x)) }

// sortByHash orders ents by their hashes (hashOf), equal hashes in no
// particular order, and returns them sorted, in ents or in tmp, with the
// other slice for reuse as tmp; counts is scratch.
//
// The hashes of a shard are spread evenly below its prefix, so one counting
// pass on their highest differing bits leaves about one entry per bucket;
// buckets are then ordered on their own. It costs a few nanoseconds per
// entry where a comparison sort costs tens (BenchmarkEncodedSort).
func sortByHash[T any](ents, tmp []T, counts *[]int32) (sorted, spare []T) {
	if len(ents) < 2 {
		return ents, tmp
	}
	first := hashOf(&ents[0])
	var diff uint64
	for i := range ents {
		diff |= hashOf(&ents[i]) ^ first
	}
	if diff == 0 {
		return ents, tmp // one hash
	}
	// The hashes agree on every bit from top up, so their order is that of
	// bits [0, top); bucket on the highest width of those.
	top := bits.Len64(diff)
	width := min(bits.Len(uint(len(ents))), top, 16)
	shift := uint(top - width)
	mask := uint64(1)<<width - 1
	if n := int(mask) + 1; cap(*counts) < n {
		*counts = make([]int32, n)
	} else {
		*counts = (*counts)[:n]
		clear(*counts)
	}
	c := *counts
	for i := range ents {
		c[hashOf(&ents[i])>>shift&mask]++
	}
	sum := int32(0)
	for b, n := range c {
		c[b] = sum
		sum += n
	}
	tmp = slices.Grow(tmp[:0], len(ents))[:len(ents)]
	for i := range ents {
		b := hashOf(&ents[i]) >> shift & mask
		tmp[c[b]] = ents[i]
		c[b]++
	}
	// c[b] is now where bucket b ends.
	start := int32(0)
	for _, end := range c {
		switch n := end - start; {
		case n <= 1:
		case n <= 12:
			insertionSortByHash(tmp[start:end])
		default:
			slices.SortFunc(tmp[start:end], func(a, b T) int {
				ha, hb := hashOf(&a), hashOf(&b)
				switch {
				case ha < hb:
					return -1
				case ha > hb:
					return 1
				}
				return 0
			})
		}
		start = end
	}
	return tmp, ents
}

// insertionSortByHash sorts a few elements by hash.
func insertionSortByHash[T any](ents []T) {
	for i := 1; i < len(ents); i++ {
		x := ents[i]
		h := hashOf(&x)
		j := i
		for ; j > 0 && hashOf(&ents[j-1]) > h; j-- {
			ents[j] = ents[j-1]
		}
		ents[j] = x
	}
}
